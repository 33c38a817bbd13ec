"""The exact loop: every start of a run stepped by a real torch.optim optimizer (computation only).

All rows ``[M, d]`` (M = starts × hyper-parameter groups) are stepped by ONE optimizer when it is
element-wise (see ``gradexp.optim.ELEMENTWISE``): the loss is the sum of the per-row values, so
every row receives exactly the gradient it would receive alone and follows, bit for bit, the path
it would follow alone. Any other optimizer (LBFGS, third-party classes) runs one optimizer per
start through the same loop (the runner calls it once per start).

Each iteration k evaluates f and its gradient at x_k, hands them to the bookkeeping
(:mod:`gradexp.bookkeeping`, :mod:`gradexp.targets`), then steps to x_{k+1}. Progress and printing
are observers. The loop returns a :class:`gradexp.outcome.Result` and writes nothing.
"""

from __future__ import annotations

import inspect

import torch

from gradexp import startup
from gradexp.bookkeeping import Convergence, DivergenceGuard, Rates, Stopping, TraceLog
from gradexp.optim import is_elementwise
from gradexp.outcome import Result
from gradexp.targets import BestAndTargets

PROGRESS_EVERY = 64  # steps between looks at the clock for the progress line


def run_rows(problem, x0, make_opt, make_sched, groups_of_rows, st, log_steps, maximize, f_opt,
             printer=None, stop_flag=None, progress=None, noise_gen=None, printer_tensors=False) -> Result:
    """Run the rows ``x0 [M, d]`` for ``st.steps`` (``st``: :class:`gradexp.settings.Settings`).

    ``groups_of_rows``: the ``range`` of rows of each param group (consecutive blocks). ``printer``
    (report.format), ``progress`` (progress line), ``stop_flag`` (SIGINT/SIGTERM): observers."""
    sense = -1.0 if maximize else 1.0
    steps = st.steps
    params = [x0[rows.start:rows.stop].clone().requires_grad_(True) for rows in groups_of_rows]
    opt = make_opt(params)
    sched = make_sched(opt) if make_sched else None
    startup.resume()  # the command line's imports are done (torch.optim's included): collect again
    stepper, M, dev = Stepper(opt, params, problem, st, sense, noise_gen), x0.shape[0], x0.device
    guard, rules = DivergenceGuard(problem, st.diverge_factor, dev), Convergence(st, sense)
    stopping, res = Stopping(M, steps, dev, groups_of_rows), Result()
    best = BestAndTargets(M, f_opt, sense, dev, st.targets)
    log, rates, scheduled = TraceLog(log_steps, res), Rates(opt, sched), sched is not None
    need_gn_each_step = st.grad_tol > 0 or st.clip_grad_norm is not None
    show = _Printing(printer, printer_tensors, sense, params) if printer is not None else None
    # the per-step path reads locals only (attribute lookups add up over millions of steps)
    fn, grad_of, vnorm = problem.f, torch.autograd.grad, torch.linalg.vector_norm
    one_param, k = len(params) == 1, 0
    for k in range(steps + 1):
        X = params[0] if one_param else torch.cat(params)
        f = fn(X)
        fs = f if sense > 0 else -f
        loss = fs.sum()
        grads = grad_of(loss, params)
        g = grads[0] if one_param else torch.cat(grads)
        Xd, fd = X.detach(), f.detach()
        fsd = fd if sense > 0 else fs.detach()
        last = k == steps
        gn = vnorm(g, dim=-1) if (need_gn_each_step or last or k == log.next) else None

        finite, done = guard.check(loss, Xd, fsd)
        conv = rules.check(gn, fsd) if rules.on else None
        if last or done is not None or conv is not None:  # (the usual step: nothing happened)
            stopping.update(k, last, conv, done)
        best.update(k, fsd, finite)
        if scheduled:
            rates.record()
        if show is not None:
            show.before(k, last, Xd, fd, g)
        if k == log.next:
            log.record(k, Xd, fd, f, gn, rates.now)
        if last:
            break
        if stop_flag is not None and stop_flag.set or stopping.all_stopped():
            res.interrupted = stop_flag is not None and stop_flag.set  # (a signal: the starts still running)
            break
        if progress is not None and k % PROGRESS_EVERY == 0:
            progress.update(k, stopping.active)

        before = stopping.snapshot(params) if stopping.any_stopped else None
        if stepper.needs_closure:
            stepper.count_evals(res, k)
        stepper.step(g, gn, loss)
        if show is not None:
            show.after()
        if scheduled:
            rates.step()
        if before is not None:  # freeze the starts that have stopped where they stopped
            stopping.freeze(params, before)

    best.flush()
    if stepper.needs_closure:
        stepper.count_evals(res, k)
    stopping.finish(k, res.interrupted)
    return _final(res, Xd, fd, g if gn is None else None, gn, stopping, best, rates, sense, groups_of_rows)


def _final(res, X, f, g, gn, stopping, best, rates, sense, groups_of_rows) -> Result:
    """The Result's final state: the last evaluated step (stopped starts are frozen there); the
    gradient norm from ``g`` when it was not computed at that step."""
    if gn is None:
        gn = torch.linalg.vector_norm(g, dim=-1)
    res.x, res.f, res.g = X.cpu(), f.cpu(), gn.detach().cpu()
    res.status, res.stop = stopping.status.cpu(), stopping.stop.cpu()
    res.f_best = (best.f_best if sense > 0 else -best.f_best).cpu()
    res.hits = best.hits.cpu() if best.hits is not None else None
    group_of_row = torch.cat([torch.full((len(r),), gi, dtype=torch.long) for gi, r in enumerate(groups_of_rows)])
    res.lr_final = rates.final(res.stop, group_of_row)
    return res


class Stepper:
    """One optimizer step from the loop's gradient ``g`` at x_k: clipping (``run.clip_grad_norm``),
    gradient noise (``run.grad_noise``), then ``opt.step`` (with a closure where the optimizer
    needs one, e.g. LBFGS)."""

    def __init__(self, opt, params, problem, st, sense: float, noise_gen):
        self.opt, self.params, self.problem, self.sense = opt, params, problem, sense
        self.clip, self.noise, self.noise_gen = st.clip_grad_norm, st.grad_noise, noise_gen
        self.needs_closure = not is_elementwise(type(opt)) and _takes_closure(opt)
        # A closure optimizer's first evaluation in a step is at the point the loop has just evaluated
        # (f and its gradient by the same operations): it is handed over instead of computed twice,
        # unless the loop's gradient was changed (clipped, noised) on its way to the optimizer.
        self.reuse_first = self.clip is None and self.noise == 0
        self.extra = 0  # a closure optimizer's evaluations so far beyond the loop's one per step

    def count_evals(self, res, k: int) -> None:
        """``res.extra_evals[j]`` for j <= k: the further evaluations made in the steps before step j."""
        res.extra_evals.extend([self.extra] * (k + 1 - len(res.extra_evals)))

    def step(self, g, gn, loss) -> None:
        if self.clip is not None:
            coef = torch.clamp(self.clip / (gn + 1e-6), max=1.0)
            g = g * coef[:, None]
        if self.noise > 0:
            g = g + self.noise * torch.randn(g.shape, generator=self.noise_gen, dtype=g.dtype)
        if self.needs_closure:
            self.opt.step(self._closure(loss, g))
        else:
            _assign_grads(self.params, g)
            self.opt.step()

    def _closure(self, top_loss, top_g):
        params, opt, problem, sense, clip = self.params, self.opt, self.problem, self.sense, self.clip
        first = [self.reuse_first]
        stepper = self

        def closure():
            if first[0]:  # the first evaluation is at x_k, just done by the loop: the same numbers
                first[0] = False
                _assign_grads(params, top_g)
                return top_loss
            stepper.extra += 1  # a further f-and-gradient evaluation (COCO counts it)
            opt.zero_grad()
            Xc = params[0] if len(params) == 1 else torch.cat(params)
            fc = problem.f(Xc)
            loss = (fc if sense > 0 else -fc).sum()  # (as the loop's own loss: no multiply by 1)
            loss.backward()
            if clip is not None:
                for p in params:
                    torch.nn.utils.clip_grad_norm_([p], clip)
            return loss
        return closure


class _Printing:
    """The printer (``report.format``) as an observer of the loop: step lines and the start's tensors."""

    def __init__(self, printer, tensors: bool, sense: float, params):
        self.printer, self.tensors, self.sense, self.params = printer, tensors, sense, params
        self.grad_used = None  # the gradient the optimizer used in the step before

    def before(self, k, last, X, f, g) -> None:
        if k == 0 and self.tensors:
            self.printer.tensors(f[0], g[0] * self.sense)  # f's own gradient, as f.backward() gives it
        if self.printer.wants(k, last):
            self.printer.step(k, X, f, self.grad_used)

    def after(self) -> None:
        self.grad_used = torch.cat([p.grad for p in self.params]).detach().clone()


def _assign_grads(params, g) -> None:
    """Give each parameter its rows of the gradient ``g`` (params are row blocks of one [M, d])."""
    if len(params) == 1:
        params[0].grad = g
    else:
        for p, gp in zip(params, torch.split(g, [p.shape[0] for p in params])):
            p.grad = gp


def _takes_closure(opt) -> bool:
    try:
        sig = inspect.signature(opt.step)
    except (TypeError, ValueError):
        return False
    p = sig.parameters.get("closure")
    return p is not None and p.default is inspect.Parameter.empty or type(opt).__name__ == "LBFGS"
