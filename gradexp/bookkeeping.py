"""The exact loop's per-start bookkeeping: small collaborators, each with its own state.

- :class:`DivergenceGuard`: is every start still finite and inside its box? which ones left it?
- :class:`Convergence`: the stopping rules ``run.grad_tol`` and ``run.f_target``.
- :class:`Stopping`: which starts still run, their status and stop step; freezes stopped starts.
- :class:`BestAndTargets`: best f and the exact first step reaching each Δf target.
- :class:`TraceLog`: copies the state on the logging schedule (:func:`log_schedule`).
- :class:`Rates`: each param group's lr per step (for the final lr of every start).

All state is kept on the device as tensors. A step reads two scalars (f's sum and x's norm over
all starts) and does per-start work only when one of them shows that something happened; best f
and the targets' first steps are found once per block of steps from a buffer of the block's f.
"""

from __future__ import annotations

import math

import torch

from gradexp.outcome import CONVERGED, DIVERGED, INTERRUPTED, MAX_STEPS

FLT_MAX = float(torch.finfo(torch.float32).max)


def log_schedule(steps: int, points: int, every: int | None, starts: int, max_rows: int) -> list[int]:
    """Steps to log: 0, about ``points`` log-spaced steps, every ``every``-th step, and ``steps``.

    With many starts the number of log-spaced points shrinks so that ``starts × logged steps``
    stays near ``max_rows`` (at least step 0 and the last step are always kept).
    """
    points = min(points, max(2, max_rows // max(starts, 1)))
    chosen = {0, steps}
    if steps > 0 and points > 0:
        for i in range(points):
            chosen.add(int(round(steps ** (i / max(points - 1, 1)))) if points > 1 else steps)
    if every:
        chosen.update(range(0, steps + 1, every))
    return sorted(s for s in chosen if 0 <= s <= steps)


def _nan_to_inf(t):
    """``t`` with NaN as +inf (infinities kept): a NaN f never counts as a best f.

    (``torch.nan_to_num`` with explicit infinities: the same values as ``torch.where(isnan(t), inf,
    t)`` at 1/6 to 1/10 of its cost on the CPU.)"""
    return torch.nan_to_num(t, nan=math.inf, posinf=math.inf, neginf=-math.inf)


class DivergenceGuard:
    """A start diverges when f is not finite or x leaves the box ``diverge_factor`` widths around
    the objective's bounds (capped at float32's range)."""

    def __init__(self, problem, diverge_factor: float, dev):
        self.center = torch.tensor([(lo + hi) / 2 for lo, hi in zip(problem.lower, problem.upper)],
                                   dtype=torch.float32, device=dev)
        width = max(hi - lo for lo, hi in zip(problem.lower, problem.upper))
        self.radius = min(width / 2 + diverge_factor * width, FLT_MAX)
        self.x_lo = min(problem.lower) - (self.radius - width / 2)
        self.x_hi = max(problem.upper) + (self.radius - width / 2)
        # x's Euclidean norm over all starts bounds each coordinate: while it is within half the box
        # [x_lo, x_hi] that contains 0 (diverge_factor widths wide: the usual case), that one reduction
        # shows no start has run away; once it cannot tell, x's exact range (aminmax) decides instead
        self.norm_ok = 0.5 * min(-self.x_lo, self.x_hi) if self.x_lo < 0 < self.x_hi else -1.0

    def check(self, loss, X, fs):
        """``(finite, done)``: whether f's sum ``loss`` is finite, and None when every start is
        inside, else the [M] mask of the starts that left the box or have a non-finite f."""
        finite = math.isfinite(loss.item())
        inside = finite and self.norm_ok > 0 and torch.linalg.vector_norm(X).item() <= self.norm_ok
        if finite and not inside:  # the norm could not tell: x's exact range decides, from now on
            self.norm_ok = -1.0
            mn, mx = torch.aminmax(X)
            inside = mn.item() >= self.x_lo and mx.item() <= self.x_hi
        done = None if inside else ~(((X - self.center).abs().amax(-1) <= self.radius) & (fs.abs() <= FLT_MAX))
        return finite, done


class Convergence:
    """``run.grad_tol`` (gradient norm at or below) and ``run.f_target`` (f at or past, in the
    optimised sense): :meth:`check` gives the [M] mask of starts meeting one, or None without rules."""

    def __init__(self, st, sense: float):
        self.grad_tol = st.grad_tol
        self.f_target = None if st.f_target is None else sense * st.f_target
        self.on = self.grad_tol > 0 or self.f_target is not None

    def check(self, gn, fs):
        conv = None
        if self.grad_tol > 0:
            conv = gn <= self.grad_tol
        if self.f_target is not None:
            hit = fs <= self.f_target
            conv = hit if conv is None else conv | hit
        return conv


class Stopping:
    """Which starts still run, each one's status and the step it stopped at; stopped starts are
    frozen where they stopped (:meth:`snapshot` before the optimizer step, :meth:`freeze` after)."""

    def __init__(self, M: int, steps: int, dev, groups_of_rows):
        self.active = torch.ones(M, dtype=torch.bool, device=dev)
        self.status = torch.zeros(M, dtype=torch.int8, device=dev)
        self.stop = torch.full((M,), steps, dtype=torch.long, device=dev)
        self.groups_of_rows = groups_of_rows
        self.any_stopped = False
        self.keep_masks = None  # per parameter: which of its coordinates still move (once some start stopped)

    def update(self, k: int, last: bool, conv, done) -> None:
        """Stop the running starts that converged (``conv``) or diverged (``done``) at step k, or all at the last."""
        stopping = done if conv is None else (conv if done is None else done | conv)
        if last or stopping is not None:
            newly = self.active.clone() if last else self.active & stopping
            if last or bool(newly.any()):
                code = torch.full_like(self.status, MAX_STEPS if last else CONVERGED)
                if conv is not None:
                    code.masked_fill_(conv, CONVERGED)
                if done is not None:
                    code.masked_fill_(done, DIVERGED)
                self.status = torch.where(newly, code, self.status)
                self.stop.masked_fill_(newly, k)
                self.active &= ~newly
                self.any_stopped = True
                self.keep_masks = None

    def all_stopped(self) -> bool:
        return self.any_stopped and not bool(self.active.any())

    def snapshot(self, params):
        """The parameters before the step, when some start has stopped (else None)."""
        return [p.detach().clone() for p in params] if self.any_stopped else None

    def freeze(self, params, before) -> None:
        """Put the stopped starts back where they were ``before`` the step."""
        with torch.no_grad():
            if self.keep_masks is None:  # (after each change of `active`) as p's own shape: torch.where
                # with a broadcast [n, 1] condition is ~4x slower
                self.keep_masks = [self.active[rows.start:rows.stop, None].expand(p.shape).contiguous()
                                   for p, rows in zip(params, self.groups_of_rows)]
            for p, b, keep in zip(params, before, self.keep_masks):
                p.copy_(torch.where(keep, p, b))

    def finish(self, k: int, interrupted: bool) -> None:
        """The starts still running at the loop's end stopped at step k (max_steps or interrupted)."""
        if interrupted or bool(self.active.any()):
            code = INTERRUPTED if interrupted else MAX_STEPS
            self.status = torch.where(self.active, torch.full_like(self.status, code), self.status)
            self.stop.masked_fill_(self.active, k)


class TraceLog:
    """Copies x, f, the gradient norm and the lrs at the scheduled steps into a Result."""

    def __init__(self, log_steps, res):
        self.res = res
        self._steps = iter(log_steps)
        self.next = next(self._steps, None)  # the next step to log

    def record(self, k: int, X, fd, f, gn, lrs) -> None:
        res = self.res
        res.log_steps.append(k)
        # x changes in place, f and gn are new tensors every step (unless f is a view of x, as
        # for an objective like x0: then the step would change it too)
        res.log_x.append(X.clone())
        res.log_f.append(fd.clone() if f._is_view() else fd)
        res.log_g.append(gn)
        res.log_lr.append(lrs)
        self.next = next(self._steps, None)


class Rates:
    """Each param group's lr at every step (kept only when a schedule changes it)."""

    def __init__(self, opt, sched):
        self.opt, self.sched = opt, sched
        self.now = self._current()
        self.history = [] if sched is not None else None

    def _current(self):
        return [float(g["lr"]) if "lr" in g else math.nan for g in self.opt.param_groups]

    def record(self) -> None:
        if self.history is not None:
            self.history.append(self.now)

    def step(self) -> None:
        if self.sched is not None:
            self.sched.step()
            self.now = self._current()

    def final(self, stop, group_of_row):
        """The lr each row had at its last step (``stop``: each row's stop step)."""
        if self.history:
            per_group = torch.tensor(self.history, dtype=torch.float64)  # [evaluated steps, G]
            return per_group[stop.clamp(max=per_group.shape[0] - 1), group_of_row]
        return torch.tensor(self.now, dtype=torch.float64)[group_of_row]
