"""The runner: drive every start of a run with a real torch.optim optimizer.

All starts of a run form one float32 tensor ``[M, d]`` (M = starts × hyper-parameter groups)
stepped by ONE optimizer when the optimizer is element-wise (see ``gradexp.optim.ELEMENTWISE``):
the loss is the sum of the per-row values, so every row receives exactly the gradient it would
receive alone and follows, bit for bit, the path it would follow alone. Any other optimizer
(LBFGS, third-party classes) runs one optimizer per start through the same loop.

Per-start bookkeeping (stopping, divergence, first hitting steps of the targets, best f) is kept
on the device as tensors: a step reads two scalars (f's sum and x's norm over all starts) and does
per-start work only when one of them shows that something happened; best f and the targets' first
steps are found once per block of steps from a buffer of the block's f. Logging copies the state on
a precomputed schedule of steps.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from dataclasses import dataclass

import torch

from gradexp import startup
from gradexp.errors import ConfigError
from gradexp.optim import expand_hparams, is_elementwise, optimizer_spec, schedule_factory
from gradexp.outcome import CONVERGED, DIVERGED, INTERRUPTED, MAX_STEPS, TARGETS, Result

PROGRESS_EVERY = 64  # steps between looks at the clock for the progress line
FLT_MAX = float(torch.finfo(torch.float32).max)
ENGINES = ("exact", "compiled", "vector")  # run.engine: this module's loop, or gradexp.fast (two modes)


@dataclass
class Settings:
    """The ``run`` config, checked once."""

    steps: int
    grad_tol: float = 0.0
    f_target: float | None = None
    clip_grad_norm: float | None = None
    grad_noise: float = 0.0
    diverge_factor: float = 1000.0
    log_points: int = 100
    log_every: int | None = None
    log_max_rows: int = 200_000
    progress: object = "auto"
    per_start: bool = False

    @classmethod
    def from_cfg(cls, run) -> "Settings":
        def num(key, default, lo=None, allow_none=False, integer=False):
            v = run.get(key, default) if run is not None else default
            if v is None and allow_none:
                return None
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            if integer:
                ok = ok and float(v).is_integer()
            if not ok or (lo is not None and v < lo):
                kind = "a whole number" if integer else "a number"
                bound = f" >= {lo}" if lo is not None else ""
                raise ConfigError(f"run.{key}={v!r} is not accepted; use {kind}{bound}" + (" or null" if allow_none else ""))
            return int(v) if integer else float(v)

        from collections.abc import Mapping

        if run is not None and not isinstance(run, Mapping):
            raise ConfigError(f"run={run!r} is not accepted; run is a group of settings such as run.steps=1000")
        log = run.get("log", {}) if run is not None else {}
        log = {} if log is None else log
        if "steps" not in (run or {}):
            raise ConfigError("run.steps is missing; give the number of optimizer steps per start, e.g. run.steps=1000")
        s = cls(
            steps=num("steps", None, lo=0, integer=True),
            grad_tol=num("grad_tol", 0.0, lo=0),
            f_target=num("f_target", None, allow_none=True),
            clip_grad_norm=num("clip_grad_norm", None, allow_none=True),
            grad_noise=num("grad_noise", 0.0, lo=0),
            diverge_factor=num("diverge_factor", 1000.0, lo=0),
            progress=run.get("progress", "auto"),
            per_start=bool(run.get("per_start", False)),
        )
        if s.clip_grad_norm is not None and s.clip_grad_norm <= 0:
            raise ConfigError(f"run.clip_grad_norm={s.clip_grad_norm!r} is not accepted; use a number > 0 or null")
        for key, attr, lo in (("points", "log_points", 0), ("every", "log_every", 1), ("max_rows", "log_max_rows", 1)):
            v = log.get(key, getattr(s, attr))
            if v is None and key == "every":
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ConfigError(f"run.log.{key}={v!r} is not accepted; use a whole number >= {lo}")
            setattr(s, attr, v)
        return s


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


class _StopFlag:
    """SIGINT/SIGTERM set a flag the loop checks each step; a second Ctrl-C raises as usual."""

    def __init__(self):
        self.set = False
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    self._old[sig] = signal.signal(sig, self._handle)
                except (ValueError, OSError):
                    pass
        return self

    def _handle(self, signum, frame):
        if self.set and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.set = True

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


class _Progress:
    """A one-line progress report on stderr every few seconds for long runs."""

    def __init__(self, mode, steps: int, label: str):
        tty = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
        self.on = bool(mode is True or mode == "true" or (mode == "auto" and tty))
        self.steps, self.label, self.t0 = steps, label, time.monotonic()
        self.next = self.t0 + 2.0

    def update(self, k: int, active) -> None:
        now = time.monotonic()
        if not self.on or now < self.next:
            return
        self.next = now + 2.0
        rate = k / max(now - self.t0, 1e-9)
        eta = (self.steps - k) / rate if rate > 0 else float("inf")
        sys.stderr.write(
            f"\r{self.label}: step {k}/{self.steps} ({100 * k / max(self.steps, 1):.0f}%), "
            f"{int(active.sum())} starts running, ~{eta:.0f} s left   "
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.on and time.monotonic() - self.t0 > 2.0:
            sys.stderr.write("\n")


def _loop(problem, x0, make_opt, make_sched, groups_of_rows, st: Settings, log_steps, maximize, f_opt,
          printer=None, stop_flag=None, progress=None, noise_gen=None, printer_tensors=False) -> Result:
    """Run the optimisation of the rows ``x0 [M, d]`` for ``st.steps``.

    ``groups_of_rows`` lists the ``range`` of rows of each param group (consecutive blocks).

    Each iteration k evaluates f and its gradient at x_k, records what is due, then steps to
    x_{k+1}. Bookkeeping is event-driven: a few whole-tensor reductions per step tell whether
    anything happened (a start left the bounds, met a stopping rule or reached a target); only
    then are the per-row updates done. Stopped starts are frozen at the point where they stopped.
    """
    sense = -1.0 if maximize else 1.0
    steps = st.steps
    params = [x0[rows.start:rows.stop].clone().requires_grad_(True) for rows in groups_of_rows]
    opt = make_opt(params)
    sched = make_sched(opt) if make_sched else None
    startup.resume()  # the command line's imports are done (torch.optim's included): collect again
    needs_closure = not is_elementwise(type(opt)) and _takes_closure(opt)
    # A closure optimizer's first evaluation in a step is at the point the loop has just evaluated
    # (f and its gradient by the same operations): it is handed over instead of computed twice,
    # unless the loop's gradient was changed (clipped, noised) on its way to the optimizer.
    reuse_first = st.clip_grad_norm is None and st.grad_noise == 0
    M, d = x0.shape
    dev = x0.device
    group_of_row = torch.cat([torch.full((len(r),), gi, dtype=torch.long) for gi, r in enumerate(groups_of_rows)])

    active = torch.ones(M, dtype=torch.bool, device=dev)
    status = torch.zeros(M, dtype=torch.int8, device=dev)
    stop = torch.full((M,), steps, dtype=torch.long, device=dev)
    f_best = torch.full((M,), math.inf, dtype=torch.float32, device=dev)  # in the minimised sense
    center = torch.tensor([(lo + hi) / 2 for lo, hi in zip(problem.lower, problem.upper)], dtype=torch.float32, device=dev)
    width = max(hi - lo for lo, hi in zip(problem.lower, problem.upper))
    radius = min(width / 2 + st.diverge_factor * width, FLT_MAX)
    x_lo = min(problem.lower) - (radius - width / 2)
    x_hi = max(problem.upper) + (radius - width / 2)
    hits = thresholds = thr_next = None
    if f_opt is not None:
        thresholds = torch.tensor([sense * f_opt + t for t in TARGETS], dtype=torch.float32, device=dev)
        thr_ext = torch.cat([thresholds, torch.tensor([math.nan], device=dev)])  # NaN: none left
        hits = torch.full((M, len(TARGETS)), -1, dtype=torch.long, device=dev)
        thr_next = thresholds[0].expand(M).clone()  # the next target of each row (NaN after the last)
        level = torch.zeros(M, dtype=torch.long, device=dev)  # how many targets each row has reached
    # The f of the last few steps are copied into one [window, M] buffer (the same memory every
    # block: holding each step's own f instead made every step allocate fresh memory, ~10 % at 16384
    # starts). Every `window` steps, f_best takes the block's least f (a NaN never counts) and the
    # rows whose f_best passed their next target are scanned: the exact first step reaching each
    # target. (After every scan, each row's next target is below its f_best.) Without targets (f*
    # unknown) f_best follows every step instead (one minimum). A scan is a dozen small
    # operations that run cold whatever the block's length: with few rows the blocks are longer
    # (128 steps, at most 512 KB of held f), so that there are fewer of them.
    window = 128 if M <= 1024 else max(1, min(32, (1 << 22) // max(M, 1)))
    f_block = f_rows = None  # [window, M]: the block's f, one row per step (made at the first step)
    n_held = 0  # steps of the block in f_block
    held_nan = False  # some f in f_block may be NaN
    held_from = 0  # the step of f_block's first row
    # the first step of a block at or below a target is `window - max(at_or_below * countdown)`
    # (a multiply and a max: torch.where with a broadcast operand is ~50x slower on the CPU)
    countdown = torch.arange(window, 0, -1, device=dev).to(torch.uint8)[:, None]  # window <= 128
    minimum = torch.minimum

    threads = torch.get_num_threads()
    # a small block's work runs on one thread: for these few ops every `window` steps, waking a
    # second intra-op thread (and its spinning afterwards) costs more than it saves (~1-2 % at 1024
    # starts); a large block's (half a million f at 16384 starts) is faster on all of them
    solo = threads > 1 and window * M <= 1 << 17

    def scan_window():
        """The block's f_best and target scan."""
        nonlocal n_held, held_nan
        if not n_held:  # (f is held only when there are targets)
            return
        if solo:
            torch.set_num_threads(1)
        try:
            F = f_block[:n_held]
            if held_nan:
                F = _nan_to_inf(F)
            minimum(f_best, F.amin(0), out=f_best)
            rows = torch.nonzero(f_best <= thr_next).squeeze(1)
            if rows.numel():
                scan_rows(rows, F)
        finally:
            if solo:
                torch.set_num_threads(threads)
        n_held = 0
        held_nan = False

    def scan_rows(rows, F):
        # these rows reach their next target in the block, first at the least step with f at or
        # below it (NaN compares false); then maybe the next target too
        F = F.index_select(1, rows)  # [held, rows]
        while True:
            lv = level.index_select(0, rows)
            at_or_below = F <= thr_next.index_select(0, rows)
            from_end = (at_or_below.view(torch.uint8) * countdown[:len(F)]).amax(0)
            hits.index_put_((rows, lv), (held_from + window) - from_end.long())
            lv += 1
            level.index_copy_(0, rows, lv)
            thr = thr_ext.index_select(0, lv)
            thr_next.index_copy_(0, rows, thr)
            more = torch.nonzero(f_best.index_select(0, rows) <= thr).squeeze(1)  # NaN (none left): false
            if not more.numel():
                return
            if more.numel() < rows.numel():  # (index_select: a boolean mask over F's columns is ~2x slower)
                rows, F = rows.index_select(0, more), F.index_select(1, more)

    need_gn_each_step = st.grad_tol > 0 or st.clip_grad_norm is not None
    any_stopped = False
    keep_masks = None  # per parameter: which of its coordinates still move (once some start stopped)
    res = Result()
    log_iter = iter(log_steps)
    next_log = next(log_iter, None)
    grad_used = None

    def current_lrs():
        return [float(g["lr"]) if "lr" in g else math.nan for g in opt.param_groups]

    lr_now = current_lrs()
    lr_hist = [] if sched is not None else None
    # the per-step path reads locals only (attribute lookups add up over millions of steps)
    fn, grad_of, aminmax, isfinite = problem.f, torch.autograd.grad, torch.aminmax, math.isfinite
    vnorm = torch.linalg.vector_norm
    # x's Euclidean norm over all starts bounds each coordinate: while it is within half the box
    # [x_lo, x_hi] that contains 0 (diverge_factor widths wide: the usual case), that one reduction
    # shows no start has run away; once it cannot tell, x's exact range (aminmax) decides instead
    norm_ok = 0.5 * min(-x_lo, x_hi) if x_lo < 0 < x_hi else -1.0
    one_param = len(params) == 1
    grad_tol, f_target = st.grad_tol, st.f_target
    check_conv = grad_tol > 0 or f_target is not None
    k = 0
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
        gn = torch.linalg.vector_norm(g, dim=-1) if (need_gn_each_step or last or k == next_log) else None

        # --- events: cheap whole-tensor tests, per-row work only when something happened ---
        # f's sum (non-finite?) and x's norm (runaway?): two reductions, two scalars read.
        finite = isfinite(loss.item())
        inside = finite and norm_ok > 0 and vnorm(Xd).item() <= norm_ok
        if finite and not inside:  # the norm could not tell: x's exact range decides, from now on
            norm_ok = -1.0
            mn, mx = aminmax(Xd)
            inside = mn.item() >= x_lo and mx.item() <= x_hi
        done = None if inside else ~(((Xd - center).abs().amax(-1) <= radius) & (fsd.abs() <= FLT_MAX))
        conv = None
        if check_conv:
            if grad_tol > 0:
                conv = gn <= grad_tol
            if f_target is not None:
                hit = fsd <= sense * f_target
                conv = hit if conv is None else conv | hit
        stopping = done if conv is None else (conv if done is None else done | conv)
        if last or stopping is not None:
            newly = active.clone() if last else active & stopping
            if last or bool(newly.any()):
                code = torch.full_like(status, MAX_STEPS if last else CONVERGED)
                if conv is not None:
                    code.masked_fill_(conv, CONVERGED)
                if done is not None:
                    code.masked_fill_(done, DIVERGED)
                status = torch.where(newly, code, status)
                stop.masked_fill_(newly, k)
                active &= ~newly
                any_stopped = True
                keep_masks = None
        if thresholds is None:
            if finite:  # (f's sum is finite, so no f is NaN)
                minimum(f_best, fsd, out=f_best)
            else:  # a NaN f never counts
                minimum(f_best, _nan_to_inf(fsd), out=f_best)
        else:  # (f_best: at the block's end)
            held_nan = held_nan or not finite
            if not n_held:
                held_from = k
                if f_block is None:
                    f_block = torch.empty((window, M), dtype=fsd.dtype, device=dev)
                    f_rows = f_block.unbind(0)
            f_rows[n_held].copy_(fsd)
            n_held += 1
            if n_held == window:
                scan_window()
        if lr_hist is not None:
            lr_hist.append(lr_now)

        if printer is not None:
            if k == 0 and printer_tensors:
                printer.tensors(fd[0], g[0] * sense)  # f's own gradient, as f.backward() gives it
            if printer.wants(k, last):
                printer.step(k, Xd, fd, grad_used)
        if k == next_log:
            res.log_steps.append(k)
            # x changes in place, f and gn are new tensors every step (unless f is a view of x, as
            # for an objective like x0: then the step would change it too)
            res.log_x.append(Xd.clone())
            res.log_f.append(fd.clone() if f._is_view() else fd)
            res.log_g.append(gn)
            res.log_lr.append(lr_now)
            next_log = next(log_iter, None)
        if last:
            break
        if stop_flag is not None and stop_flag.set:
            res.interrupted = True
            break
        if any_stopped and not bool(active.any()):
            break
        if progress is not None and k % PROGRESS_EVERY == 0:
            progress.update(k, active)

        # --- the optimizer step ---
        if st.clip_grad_norm is not None:
            coef = torch.clamp(st.clip_grad_norm / (gn + 1e-6), max=1.0)
            g = g * coef[:, None]
        if st.grad_noise > 0:
            g = g + st.grad_noise * torch.randn(g.shape, generator=noise_gen, dtype=g.dtype)
        before = [p.detach().clone() for p in params] if any_stopped else None
        if needs_closure:
            first = [reuse_first]

            def closure(top_loss=loss, top_g=g):
                if first[0]:  # the first evaluation is at x_k, just done above: the same numbers
                    first[0] = False
                    _assign_grads(params, top_g)
                    return top_loss
                opt.zero_grad()
                Xc = params[0] if len(params) == 1 else torch.cat(params)
                fc = problem.f(Xc)
                loss = (fc if sense > 0 else -fc).sum()  # (as the loop's own loss: no multiply by 1)
                loss.backward()
                if st.clip_grad_norm is not None:
                    for p in params:
                        torch.nn.utils.clip_grad_norm_([p], st.clip_grad_norm)
                return loss
            opt.step(closure)
        else:
            _assign_grads(params, g)
            opt.step()
        if printer is not None:
            grad_used = torch.cat([p.grad for p in params]).detach().clone()
        if sched is not None:
            sched.step()
            lr_now = current_lrs()
        if before is not None:  # freeze the starts that have stopped where they stopped
            with torch.no_grad():
                if keep_masks is None:  # (after each change of `active`) as p's own shape: torch.where
                    # with a broadcast [n, 1] condition is ~4x slower
                    keep_masks = [active[rows.start:rows.stop, None].expand(p.shape).contiguous()
                                  for p, rows in zip(params, groups_of_rows)]
                for p, b, keep in zip(params, before, keep_masks):
                    p.copy_(torch.where(keep, p, b))

    scan_window()
    # --- the final state: the last evaluated step (stopped starts are frozen there) ---
    if gn is None:
        gn = torch.linalg.vector_norm(g, dim=-1)
    if res.interrupted or bool(active.any()):
        code = INTERRUPTED if res.interrupted else MAX_STEPS
        status = torch.where(active, torch.full_like(status, code), status)
        stop.masked_fill_(active, k)
    res.x, res.f, res.g = Xd.cpu(), fd.cpu(), gn.detach().cpu()
    res.status, res.stop = status.cpu(), stop.cpu()
    res.f_best = (f_best if sense > 0 else -f_best).cpu()
    res.hits = hits.cpu() if hits is not None else None
    if lr_hist:
        per_group = torch.tensor(lr_hist, dtype=torch.float64)  # [evaluated steps, G]
        res.lr_final = per_group[res.stop.clamp(max=per_group.shape[0] - 1), group_of_row]
    else:
        res.lr_final = torch.tensor(lr_now, dtype=torch.float64)[group_of_row]
    return res


def _nan_to_inf(t):
    """``t`` with NaN as +inf (infinities kept): a NaN f never counts as a best f.

    (``torch.nan_to_num`` with explicit infinities: the same values as ``torch.where(isnan(t), inf,
    t)`` at 1/6 to 1/10 of its cost on the CPU.)"""
    return torch.nan_to_num(t, nan=math.inf, posinf=math.inf, neginf=-math.inf)


def _assign_grads(params, g) -> None:
    """Give each parameter its rows of the gradient ``g`` (params are row blocks of one [M, d])."""
    if len(params) == 1:
        params[0].grad = g
    else:
        for p, gp in zip(params, torch.split(g, [p.shape[0] for p in params])):
            p.grad = gp


def _takes_closure(opt) -> bool:
    import inspect

    try:
        sig = inspect.signature(opt.step)
    except (TypeError, ValueError):
        return False
    p = sig.parameters.get("closure")
    return p is not None and p.default is inspect.Parameter.empty or type(opt).__name__ == "LBFGS"


@dataclass
class RunTables:
    """A finished (or interrupted) run: its tables and what the run folder records about it."""

    trace: object
    summary: object
    problem: object
    cls: type
    kwargs: dict
    maximize: bool
    f_opt: float | None
    interrupted: bool
    t_start: float


def run(cfg):
    """Run one composed config; return ``(trace, summary)`` as pandas DataFrames.

    Writes nothing (``gradexp.run(cfg, out_dir)`` also writes the run folder). A run cut short by
    SIGINT/SIGTERM raises ``KeyboardInterrupt`` after its starts have been recorded in the tables.
    """
    done = execute(cfg)
    if done.interrupted:
        raise KeyboardInterrupt
    return done.trace, done.summary


def execute(cfg) -> RunTables:
    """Run one composed config into its tables (an interrupted run too: see ``interrupted``)."""
    from gradexp import records
    from gradexp.objectives import build
    from gradexp.starts import make_starts

    t_start = time.time()
    problem = build(cfg.objective)
    maximize = bool(cfg.objective.get("maximize", False))
    st = Settings.from_cfg(cfg.get("run"))
    seed = cfg.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed={seed!r} is not accepted; use a whole number")
    device = str(cfg.get("device", "cpu"))
    try:
        dev = torch.device(device)
        torch.empty(0, device=dev)
    except (RuntimeError, AssertionError) as exc:
        raise ConfigError(f"device={device!r} is not available here ({str(exc).splitlines()[0]}); use cpu") from None
    engine = (cfg.get("run") or {}).get("engine", "exact")
    if engine not in ENGINES:
        raise ConfigError(f"run.engine={engine!r} is not accepted; use {', '.join(ENGINES)}")
    threads = (cfg.get("run") or {}).get("threads", None)
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"run.threads={threads!r} is not accepted; use a whole number >= 1 or null")
    cls, kwargs = optimizer_spec(cfg.optimizer)
    groups = expand_hparams(cfg.run.get("hparams"), cls, kwargs)
    make_sched = schedule_factory(cfg.get("schedule"))
    starts = make_starts(cfg.start, problem, seed).to(dev)
    N = starts.shape[0]
    G = len(groups)
    f_opt, optima = problem.optima(maximize)
    x0 = starts.repeat(G, 1)  # group-major: row g*N + i is start i with group g's settings
    M = x0.shape[0]
    log_steps = log_schedule(st.steps, st.log_points, st.log_every, M, st.log_max_rows)

    printer, print_tensors = None, False
    if cfg.get("report") is not None:
        from gradexp.printing import make_printer

        printer = make_printer(cfg.report, problem, maximize)
    print_tensors = printer is not None and bool(cfg.report.get("print_tensors", False))

    def make_opt_for(rows_per_group):
        def make(params):
            param_groups = [{"params": [p], **groups[gi]} for p, gi in zip(params, rows_per_group)]
            try:
                return cls(param_groups, **kwargs)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"optimizer {cls.__name__} refused its settings: {exc}") from None
        return make

    noise_gen = torch.Generator().manual_seed(seed) if st.grad_noise > 0 else None
    label = f"{problem.name} × {cls.__name__}"
    progress = _Progress(st.progress, st.steps, label)
    per_start = st.per_start or not is_elementwise(cls)
    with _StopFlag() as flag:
        if engine != "exact":  # gradexp.fast: functional steps, compiled or eager-vectorised (approximate)
            from gradexp.fast import compiled_loop

            if printer is not None and (printer.every is not None or print_tensors):
                raise ConfigError("report.print_every / report.print_tensors need run.engine=exact")
            results = [compiled_loop(problem, x0, cls, kwargs, groups, make_sched, st, log_steps, maximize,
                                     f_opt, flag, engine=engine, threads=threads)]
            order = [list(range(M))]
        elif not per_start:
            rows = [range(gi * N, (gi + 1) * N) for gi in range(G)]
            results = [_loop(problem, x0, make_opt_for(range(G)), make_sched, rows, st, log_steps, maximize,
                             f_opt, printer, flag, progress, noise_gen, print_tensors)]
            order = [list(range(M))]
        else:
            results, order = [], []
            for i in range(M):
                gi = i // N
                r = _loop(problem, x0[i:i + 1], make_opt_for([gi]), make_sched, [range(1)], st, log_steps, maximize,
                          f_opt, printer if M == 1 else None, flag, None, noise_gen, print_tensors and i == 0)
                if G > 1:  # the records index the lrs by global group: place this start's at its group
                    r.log_lr = [[math.nan] * gi + list(lrs) + [math.nan] * (G - gi - 1) for lrs in r.log_lr]
                results.append(r)
                order.append([i])
                progress.update(int(st.steps * (i + 1) / M), torch.ones(M - i - 1))
                if r.interrupted:
                    break
    progress.close()
    interrupted = any(r.interrupted for r in results)
    trace, summary = records.tables(problem, results, order, M, N, groups, maximize, f_opt, optima, x0.cpu())
    if printer is not None:
        printer.finish(summary)
    return RunTables(trace, summary, problem, cls, kwargs, maximize, f_opt, interrupted, t_start)
