"""The functional engines (``run.engine=compiled`` and ``run.engine=vector``): fast, approximate,
same outputs as the exact runner.

``vector`` runs the step function (:mod:`gradexp.fast_step`) eagerly (no compiling), one step per call; every
hyper-parameter is a per-group tensor, so thousands of ``run.hparams`` settings in one job cost
about as much as one. ``compiled`` compiles chunks of steps (below) and suits many starts.

The exact runner (:mod:`gradexp.runner`) drives a real ``torch.optim`` optimizer and pays Python
dispatch for every small tensor op of every step. This engine instead writes the optimizer's
update out as a pure function of tensors and has ``torch.compile`` (inductor, C++ on CPU) fuse
``CHUNK`` whole steps — f and its gradient (``torch.func.grad_and_value`` of the objective), the
optimizer update and all per-start bookkeeping (stopping, divergence, best f, first hitting step
of each target) — into a few loops over memory per call.

- The state is stored transposed, ``[d, M]`` (M = starts × hyper-parameter groups, group-major),
  so the compiled loops vectorise along the starts.
- Every per-step scalar (lr from the schedule, Adam's bias corrections, SGD's first momentum
  step) is computed on the host in double precision exactly as ``torch.optim`` computes it and
  passed in as a float32 tensor ``[K, G, 1]``: a schedule or several ``run.hparams`` settings need
  no recompilation.
- Outputs are the exact runner's: the same trace steps, statuses, stop steps and exact first
  hitting steps (``rt_*``), computed per step inside the compiled chunk. The floating-point
  results are *not* bit-identical to ``torch.optim`` (fused arithmetic, different op order); the
  deviation is reported by ``python -m gradexp.bench``.

Supported optimizers: :data:`SUPPORTED` (SGD with momentum/dampening/nesterov/weight decay, Adam,
AdamW, RMSprop incl. centered and momentum, pytorch-optimizer's Lion). Anything else is refused
with a ``ConfigError``.
"""

from __future__ import annotations

import math
import time

import torch

from gradexp import startup
from gradexp.errors import ConfigError
from gradexp.fast_step import make_step
from gradexp.outcome import INTERRUPTED, MAX_STEPS, Result

CHUNK = 4  # optimizer steps fused into one compiled call
COEF_BLOCK = 512  # steps of per-step scalars computed at a time
SUPPORTED = ("torch.optim.SGD", "torch.optim.Adam", "torch.optim.AdamW", "torch.optim.RMSprop",
             "pytorch_optimizer.Lion")
# constructor keywords that only choose torch.optim's implementation, not the arithmetic
_IMPL_KEYS = ("foreach", "fused", "capturable", "differentiable")
# keywords each supported optimizer understands here, with their torch defaults
_DEFAULTS = {
    "SGD": dict(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False),
    "Adam": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False,
                 decoupled_weight_decay=False),
    "AdamW": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, maximize=False),
    "RMSprop": dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                    maximize=False),
    "Lion": dict(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, weight_decouple=True, fixed_decay=False,
                 maximize=False),
}
N_STATE = {"SGD": 1, "Adam": 2, "AdamW": 2, "RMSprop": 3, "Lion": 1}
# the compile statistics of the last run in this process (read by the benchmark)
LAST_STATS: dict = {}


def supported_message(name: str, engine: str = "compiled") -> str:
    """The error for an optimizer the functional engines do not write out."""
    return (f"run.engine={engine} does not support optimizer {name}; it supports "
            f"{', '.join(s.rsplit('.', 1)[1].lower() for s in SUPPORTED)} "
            f"(use run.engine=exact for any other optimizer)")


def _path(cls) -> str:
    from gradexp.optim import class_path

    path = class_path(cls)
    if path.startswith("pytorch_optimizer.") and cls.__name__ == "Lion":
        return "pytorch_optimizer.Lion"
    return path


def _settings(cls, kwargs: dict, groups: list[dict], engine: str = "compiled") -> tuple[str, list[dict]]:
    """Check the optimizer and return ``(name, one full settings dict per group)``."""
    path = _path(cls)
    if path not in SUPPORTED:
        raise ConfigError(supported_message(path, engine))
    name = path.rsplit(".", 1)[1]
    defaults = _DEFAULTS[name]
    out = []
    for grp in groups:
        merged = {**defaults}
        for key, value in {**kwargs, **grp}.items():
            if key in _IMPL_KEYS:
                continue
            if key not in defaults:
                raise ConfigError(f"run.engine={engine} does not support optimizer.{key} for {name}; "
                                  f"accepted: {', '.join(defaults)} (or use run.engine=exact)")
            merged[key] = value
        if merged.get("amsgrad") or merged.get("maximize"):
            key = "amsgrad" if merged.get("amsgrad") else "maximize"
            raise ConfigError(f"run.engine={engine} does not support optimizer.{key}=true; use run.engine=exact")
        if name == "Adam" and merged.pop("decoupled_weight_decay"):
            name = "AdamW"
        out.append(merged)
    for key in ("nesterov", "centered", "weight_decouple", "fixed_decay"):
        if len({bool(m.get(key, False)) for m in out}) > 1:
            raise ConfigError(f"run.engine={engine} needs one value of optimizer.{key} for all run.hparams groups")
    return name, out


def _lr_table(cls, kwargs, groups, make_sched, steps: int) -> list[list[float]]:
    """The lr of every group before each step 0..steps, from the real scheduler on dummy params."""
    def build(param_groups):
        try:
            return cls(param_groups, **kwargs)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"optimizer {cls.__name__} refused its settings: {exc}") from None

    if make_sched is None:  # no schedule: the lrs are constant; check each group's settings alone
        # (torch.optim checks every new group against all earlier ones: quadratic in the groups)
        table = []
        for g in groups:
            opt = build([{"params": [torch.zeros(1, requires_grad=True)], **g}])
            table.append(float(opt.param_groups[0]["lr"]))
        return [table] * (steps + 1)
    opt = build([{"params": [torch.zeros(1, requires_grad=True)], **g} for g in groups])
    table = [[float(g["lr"]) for g in opt.param_groups]]
    sched = make_sched(opt)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(steps):
            opt.step()  # no gradients: parameters untouched; keeps the scheduler's call order
            sched.step()
            table.append([float(g["lr"]) for g in opt.param_groups])
    return table


def coefficient_table(name: str, sets: list[dict], lr_table, k0: int, k1: int) -> torch.Tensor:
    """Per-step, per-group scalars of steps ``k0 .. k1 - 1`` as float32 ``[k1 - k0, C, G, 1]``.

    Computed once, vectorised over steps and groups in double precision, with the formulas
    torch.optim evaluates on Python floats (lr from the schedule, bias corrections, SGD's first
    momentum step), then rounded to float32.
    """
    f64 = torch.float64
    last = len(lr_table) - 1
    lr = torch.tensor([lr_table[min(k, last)] for k in range(k0, k1)], dtype=f64)  # [S, G]
    S, G = lr.shape
    t = torch.arange(k0 + 1, k1 + 1, dtype=f64)[:, None].expand(S, G)  # torch.optim's step counter after ++

    def per_group(key, index=None):
        vals = [s[key] if index is None else s[key][index] for s in sets]
        return torch.tensor([float(v) for v in vals], dtype=f64)[None, :].expand(S, G)

    if name == "SGD":
        mom, damp, wd = per_group("momentum"), per_group("dampening"), per_group("weight_decay")
        first = t == 1
        cols = [lr, wd, torch.where(first, 0.0, mom), torch.where(first, 1.0, 1.0 - damp), mom]
    elif name in ("Adam", "AdamW"):
        b1, b2 = per_group("betas", 0), per_group("betas", 1)
        wd = per_group("weight_decay")
        step_size = lr / (1 - b1 ** t)
        bc2_sqrt = torch.sqrt(1 - b2 ** t)
        decay = 1 - lr * wd if name == "AdamW" else wd
        cols = [step_size, bc2_sqrt, 1 - b1, b2, 1 - b2, per_group("eps"), decay]
    elif name == "RMSprop":
        alpha = per_group("alpha")
        cols = [lr, per_group("weight_decay"), alpha, 1 - alpha, per_group("eps"), per_group("momentum")]
    else:  # Lion (pytorch_optimizer): decoupled decay p *= 1 - wd * lr (or 1 - wd when fixed)
        b1, b2, wd = per_group("betas", 0), per_group("betas", 1), per_group("weight_decay")
        if sets[0]["weight_decouple"]:
            decay = 1 - wd * (1.0 if sets[0]["fixed_decay"] else lr)
        else:
            decay = wd
        cols = [lr, 1 - b1, 1 - b2, decay]
    c = torch.stack(cols, dim=1)  # [S, C, G]
    return c.unsqueeze(-1).to(torch.float32).contiguous()


def _compile(fn, label: str):
    """``torch.compile`` (inductor) with a higher recompile limit; eager when compiling is impossible."""
    cfg = torch._dynamo.config
    for key in ("recompile_limit", "cache_size_limit"):
        if hasattr(cfg, key):
            setattr(cfg, key, max(getattr(cfg, key), 64))
    return torch.compile(fn, dynamic=False)


def compiled_loop(problem, x0, cls, kwargs, groups, make_sched, st, log_steps, maximize, f_opt,
                  stop_flag=None, chunk: int | None = None, engine: str = "compiled", threads: int | None = None):
    """Run all rows of ``x0 [M, d]`` (group-major, ``len(groups)`` groups) with a functional engine.

    ``engine="compiled"``: ``torch.compile``'d chunks of steps, run with ``threads`` torch threads
    (default 1: Inductor's OpenMP kernels on a shared small machine are far slower with more).
    ``engine="vector"``: the same step function run eagerly, one step per call: no compile time;
    every hyper-parameter is a per-group ``[G, 1]`` tensor, so thousands of ``run.hparams``
    settings cost about as much as one (``torch.optim`` loops over param groups in Python).

    Returns a :class:`gradexp.outcome.Result` exactly like the exact loop's, so records and plots
    work unchanged. Compile time is kept in :data:`LAST_STATS` (``compile_seconds``).
    """
    if engine == "vector":
        return _run(problem, x0, cls, kwargs, groups, make_sched, st, log_steps, maximize, f_opt, stop_flag,
                    1, engine)
    old = torch.get_num_threads()
    torch.set_num_threads(int(threads or 1))
    try:
        return _run(problem, x0, cls, kwargs, groups, make_sched, st, log_steps, maximize, f_opt, stop_flag,
                    int(chunk or CHUNK), engine)
    finally:
        torch.set_num_threads(old)


def _run(problem, x0, cls, kwargs, groups, make_sched, st, log_steps, maximize, f_opt, stop_flag, K, engine):
    startup.resume()  # the command line's imports are done: collect again (compiling makes garbage)

    if st.grad_noise > 0:
        raise ConfigError(f"run.engine={engine} does not support run.grad_noise; use run.engine=exact")
    eager = engine == "vector"
    name, sets = _settings(cls, kwargs, groups, engine)
    G, N = len(groups), x0.shape[0] // len(groups)
    sense = -1.0 if maximize else 1.0
    dev = x0.device
    lr_table = _lr_table(cls, kwargs, groups, make_sched, st.steps)
    center, radius, thresholds = _geometry(problem, st, f_opt, sense, dev)
    step = make_step(problem, name, sets, G, st, sense, center, radius, thresholds, eager=eager)
    coefficients = _Coefficients(name, sets, lr_table, st.steps, dev, fresh=not eager)
    state = _initial_state(x0, name, st.steps, len(st.targets), dev)
    chunks = _Chunks(step, K, st.steps, eager, coefficients, state, engine)
    res = Result()
    t_run = time.perf_counter()
    k, interrupted, f_k, gn_k = _drive(chunks, res, lr_table, log_steps, st.steps, stop_flag)
    chunks.stats["run_seconds"] = time.perf_counter() - t_run - chunks.stats["compile_seconds"]
    LAST_STATS.clear()
    LAST_STATS.update(chunks.stats)
    _finish(res, chunks.state, k, interrupted, f_k, gn_k, sense, f_opt)
    per_group = torch.tensor(lr_table, dtype=torch.float64)
    group_of_row = torch.arange(G).repeat_interleave(N)
    res.lr_final = per_group[res.stop.clamp(max=per_group.shape[0] - 1), group_of_row]
    return res


def _geometry(problem, st, f_opt, sense: float, dev):
    """``(center [d, 1], radius, thresholds [T, 1])``: the divergence box and the targets (NaN
    without f*) in the optimised sense."""
    center = torch.tensor([(lo + hi) / 2 for lo, hi in zip(problem.lower, problem.upper)],
                          dtype=torch.float32, device=dev)[:, None]
    width = max(hi - lo for lo, hi in zip(problem.lower, problem.upper))
    radius = min(width / 2 + st.diverge_factor * width, float(torch.finfo(torch.float32).max))
    if f_opt is not None:
        thresholds = torch.tensor([sense * f_opt + t for t in st.targets], dtype=torch.float32, device=dev)[:, None]
    else:
        thresholds = torch.full((len(st.targets), 1), math.nan, dtype=torch.float32, device=dev)
    return center, radius, thresholds


def _initial_state(x0, name: str, steps: int, n_targets: int, dev) -> list:
    """``[x, s1, s2, s3, act, status, stop, f_best, hits]`` at step 0 (x transposed to ``[d, M]``)."""
    M = x0.shape[0]
    x = x0.t().contiguous().clone()
    zeros = torch.zeros_like(x)
    s1, s2, s3 = (zeros.clone() if j < N_STATE[name] else None for j in range(3))
    act = torch.ones(M, dtype=torch.float32, device=dev)
    status = torch.zeros(M, dtype=torch.float32, device=dev)  # status codes as floats (see gradexp.fast_step)
    stop = torch.full((M,), steps, dtype=torch.int32, device=dev)
    f_best = torch.full((M,), math.inf, dtype=torch.float32, device=dev)
    hits = torch.full((n_targets, M), -1, dtype=torch.int32, device=dev)
    return [x, s1, s2, s3, act, status, stop, f_best, hits]


class _Coefficients:
    """The per-step scalars of steps ``k .. k + n - 1``, computed ``COEF_BLOCK`` steps at a time."""

    def __init__(self, name, sets, lr_table, steps: int, dev, fresh: bool):
        self.name, self.sets, self.lr_table, self.steps, self.dev, self.fresh = name, sets, lr_table, steps, dev, fresh
        self.k0 = self.k1 = 0
        self.c = None  # [B, C, G, 1]

    def __call__(self, k: int, n: int):
        if not (self.k0 <= k and k + n <= self.k1):
            k1 = min(max(k + n, k + COEF_BLOCK), self.steps + 1)
            self.k0, self.k1 = k, k1
            self.c = coefficient_table(self.name, self.sets, self.lr_table, k, k1).to(self.dev)
        c = self.c[k - self.k0:k - self.k0 + n]
        return c.clone() if self.fresh else c  # compiled: a fresh, aligned input


def _chunk(step, n: int):
    """``n`` steps in one call; returns the state after them and f, |g| of the first one."""
    def chunk_fn(x, s1, s2, s3, act, status, stop, f_best, hits, c, k0, last):
        f0 = gn0 = None
        for i in range(n):
            x, s1, s2, s3, act, status, stop, f_best, hits, f, gn = step(
                x, s1, s2, s3, act, status, stop, f_best, hits, c[i], k0 + i, last)
            if i == 0:
                f0, gn0 = f, gn
        return x, s1, s2, s3, act, status, stop, f_best, hits, f0, gn0
    return chunk_fn


class _Chunks:
    """The state and the step functions: ``one`` step per call, or ``many`` (``K``) compiled together."""

    def __init__(self, step, K: int, steps: int, eager: bool, coefficients, state, engine: str):
        self.K, self.coefficients, self.state = K, coefficients, state
        self.dev = state[0].device
        if eager:
            self.fns = {"one": _chunk(step, 1), "many": None}
        else:
            self.fns = {"one": _compile(_chunk(step, 1), "one"),
                        "many": _compile(_chunk(step, K), "many") if steps >= K else None}
        self.compiled = {"one", "many"} if eager else set()  # eager: no call is counted as compiling
        self.stats = {"compile_seconds": 0.0, "calls": 0, "chunk": K, "engine": engine,
                      "threads": torch.get_num_threads()}
        self.false, self.true = torch.tensor(0.0, device=self.dev), torch.tensor(1.0, device=self.dev)

    def call(self, key: str, k: int, n: int, is_last: bool):
        """Run steps ``k .. k + n - 1``; return ``(x_k, f_k, |g_k|)`` (the first step's point, f, norm)."""
        c = self.coefficients(k, n)
        t0 = time.perf_counter()
        out = self.fns[key](*self.state, c, torch.tensor(k, dtype=torch.int32, device=self.dev),
                            self.true if is_last else self.false)
        if key not in self.compiled:  # the first call of each variant compiles it
            self.compiled.add(key)
            self.stats["compile_seconds"] += time.perf_counter() - t0
        self.stats["calls"] += 1
        x_in = self.state[0]
        self.state = list(out[:9])
        return x_in, out[9], out[10]

    def running(self) -> bool:
        return bool((self.state[4] > 0).any())


def _drive(chunks: _Chunks, res, lr_table, log_steps, steps: int, stop_flag):
    """Step to the end (or a stop); log the scheduled steps. Returns ``(k, interrupted, f_k, |g_k|)``
    of the last evaluated step, whose point becomes the state's x (no update after it)."""
    logs = sorted(set(log_steps) | {steps})
    li = k = 0
    while True:
        flagged = stop_flag is not None and stop_flag.set
        if k == steps or flagged or (k > 0 and not chunks.running()):
            x_k, f_k, gn_k = chunks.call("one", k, 1, k == steps)
            if li < len(logs) and logs[li] == k:
                _log(res, k, x_k, f_k, gn_k, lr_table)
            chunks.state[0] = x_k  # the final state is the evaluated point
            return k, k < steps and flagged, f_k, gn_k
        next_log = logs[li] if li < len(logs) else steps
        if k == next_log:
            x_k, f_k, gn_k = chunks.call("one", k, 1, False)
            _log(res, k, x_k, f_k, gn_k, lr_table)
            li += 1
            k += 1
        elif chunks.fns["many"] is not None and next_log - k >= chunks.K:
            chunks.call("many", k, chunks.K, False)
            k += chunks.K
        else:
            chunks.call("one", k, 1, False)
            k += 1


def _log(res, k: int, x, f, gn, lr_table) -> None:
    res.log_steps.append(k)
    res.log_x.append(x.t().cpu().clone())
    res.log_f.append(f.cpu().clone())
    res.log_g.append(gn.cpu().clone())
    res.log_lr.append(list(lr_table[k]))


def _finish(res, state, k: int, interrupted: bool, f_k, gn_k, sense: float, f_opt) -> None:
    """The Result's final state; starts still running stopped at k (max_steps or interrupted)."""
    x, _, _, _, act, status, stop, f_best, hits = state
    act = act > 0
    if interrupted or bool(act.any()):
        code = INTERRUPTED if interrupted else MAX_STEPS
        status = torch.where(act, torch.full_like(status, code), status)
        stop = torch.where(act, torch.full_like(stop, k), stop)
    stop, hits, status = stop.long(), hits.long(), status.to(torch.int8)
    res.interrupted = interrupted
    res.x, res.f, res.g = x.t().cpu().contiguous(), f_k.cpu(), gn_k.cpu()
    res.status, res.stop = status.cpu(), stop.cpu()
    res.f_best = (f_best if sense > 0 else -f_best).cpu()
    res.hits = hits.t().contiguous().cpu() if f_opt is not None else None
