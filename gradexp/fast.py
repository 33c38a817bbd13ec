"""The functional engines (``run.engine=compiled`` and ``run.engine=vector``): fast, approximate,
same outputs as the exact runner.

``vector`` runs the step function below eagerly (no compiling), one step per call; every
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

from gradexp.errors import ConfigError
from gradexp.outcome import CONVERGED, DIVERGED, INTERRUPTED, MAX_STEPS, TARGETS, Result

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


def _make_step(problem, name: str, sets: list[dict], G: int, st, sense: float, center, radius: float, thresholds,
               eager: bool = False):
    """The pure function of one step (eval, bookkeeping, update) on the ``[d, M]`` state.

    ``eager``: the gradient by ``torch.autograd.grad`` (cheaper than ``torch.func`` outside a
    compiled graph); otherwise by ``torch.func.grad_and_value`` so that ``torch.compile`` traces it.
    """
    from torch.func import grad_and_value

    f_obj = problem.f
    grad_tol = st.grad_tol
    f_target = None if st.f_target is None else sense * st.f_target
    clip = st.clip_grad_norm
    momentum = name == "SGD" and any(s["momentum"] != 0 for s in sets)
    nesterov = name == "SGD" and bool(sets[0]["nesterov"])
    rms_momentum = name == "RMSprop" and any(s["momentum"] != 0 for s in sets)
    centered = name == "RMSprop" and bool(sets[0]["centered"])
    wd = any(s["weight_decay"] != 0 for s in sets)
    lion_decoupled = name == "Lion" and bool(sets[0]["weight_decouple"])
    flt_max = float(torch.finfo(torch.float32).max)

    def loss(xt):
        f = f_obj(xt.t())
        fs = f if sense > 0 else -f
        return fs.sum(), f

    if eager:
        def gv(x):
            # f on a contiguous [M, d] copy, as the exact runner evaluates it: the same kernels, so
            # the same bits of f and of its gradient
            with torch.enable_grad():
                xr = x.t().contiguous().requires_grad_(True)
                f = f_obj(xr)
                fs = f if sense > 0 else -f
                (g,) = torch.autograd.grad(fs.sum(), xr)
            return g.t(), (torch.linalg.vector_norm(g, dim=-1), f.detach())
    else:
        gv = grad_and_value(loss, has_aux=True)

    def step(x, s1, s2, s3, act, status, stop, f_best, hits, c, k, last):
        """x [d, M]; s1..s3 optimizer state; c [C, G, 1] this step's scalars; k step (0-d)."""
        d, M = x.shape
        g, (gn, f) = gv(x)
        fs = f if sense > 0 else -f
        if not eager:
            gn = torch.linalg.vector_norm(g, dim=0)
        # masks as float 1/0 (bool vectors take slow, partly scalar paths in Inductor's C++ code)
        done = torch.where(((x - center).abs().amax(0) <= radius) & (fs.abs() <= flt_max), 0.0, 1.0)
        conv = None
        if grad_tol > 0:
            conv = torch.where(gn <= grad_tol, 1.0, 0.0)
        if f_target is not None:
            hit = torch.where(fs <= f_target, 1.0, 0.0)
            conv = hit if conv is None else torch.maximum(conv, hit)
        stopping = torch.maximum(done, last) if conv is None else torch.maximum(torch.maximum(done, conv), last)
        newly = act * stopping
        if conv is None:
            code = torch.where(done > 0, float(DIVERGED), float(MAX_STEPS))
        else:
            code = torch.where(done > 0, float(DIVERGED), torch.where(conv > 0, float(CONVERGED), float(MAX_STEPS)))
        status = torch.where(newly > 0, code, status)
        stop = torch.where(newly > 0, k, stop)
        act = act - newly
        f_best = torch.where(fs < f_best, fs, f_best)  # fmin: a NaN f never replaces the best
        hits = torch.where((hits < 0) & (fs <= thresholds), k, hits)
        if clip is not None:
            g = g * torch.clamp(clip / (gn + 1e-6), max=1.0)
        # --- the optimizer update on the [d, G, N] view (one set of scalars per group) ---
        xv, gv3 = x.view(d, G, -1), g.view(d, G, -1)
        v1, v2, v3 = (s.view(d, G, -1) if s is not None else None for s in (s1, s2, s3))
        if name == "SGD":
            lr, wdc, cm, cg, mom = c[0], c[1], c[2], c[3], c[4]
            if wd:
                gv3 = gv3 + wdc * xv
            if momentum:
                v1 = v1 * cm + cg * gv3
                gv3 = gv3 + mom * v1 if nesterov else v1
            new = xv - lr * gv3
        elif name in ("Adam", "AdamW"):
            step_size, bc2_sqrt, one_b1, b2, one_b2, eps, decay = (c[j] for j in range(7))
            if name == "AdamW":
                xv = xv * decay if wd else xv
            elif wd:
                gv3 = gv3 + decay * xv
            v1 = v1 + (gv3 - v1) * one_b1
            v2 = v2 * b2 + one_b2 * gv3 * gv3
            new = xv - step_size * (v1 / (v2.sqrt() / bc2_sqrt + eps))
        elif name == "Lion":
            lr, one_b1, one_b2, decay = c[0], c[1], c[2], c[3]
            if wd and lion_decoupled:
                xv = xv * decay
            elif wd:
                gv3 = gv3 + decay * xv
            upd = torch.sign(v1 + (gv3 - v1) * one_b1)
            v1 = v1 + (gv3 - v1) * one_b2
            new = xv - lr * upd
        else:  # RMSprop
            lr, wdc, alpha, one_alpha, eps, mom = (c[j] for j in range(6))
            if wd:
                gv3 = gv3 + wdc * xv
            v1 = v1 * alpha + one_alpha * gv3 * gv3
            if centered:
                v2 = v2 + (gv3 - v2) * one_alpha
                avg = (v1 - v2 * v2).sqrt() + eps
            else:
                avg = v1.sqrt() + eps
            if rms_momentum:
                v3 = v3 * mom + gv3 / avg
                new = xv - lr * v3
            else:
                new = xv - lr * gv3 / avg
        new = new.reshape(d, M)
        x = torch.where(act > 0, new, x)
        s1, s2, s3 = (v.reshape(d, M) if v is not None else None for v in (v1, v2, v3))
        return x, s1, s2, s3, act, status, stop, f_best, hits, f, gn

    return step


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
    from gradexp import startup

    startup.resume()  # the command line's imports are done: collect again (compiling makes garbage)

    if st.grad_noise > 0:
        raise ConfigError(f"run.engine={engine} does not support run.grad_noise; use run.engine=exact")
    eager = engine == "vector"
    name, sets = _settings(cls, kwargs, groups, engine)
    G = len(groups)
    M, d = x0.shape
    N = M // G
    sense = -1.0 if maximize else 1.0
    steps = st.steps
    dev = x0.device
    lr_table = _lr_table(cls, kwargs, groups, make_sched, steps)
    block = {"k0": 0, "k1": 0, "c": None}  # the coefficients of a block of steps, [B, C, G, 1]

    def coefficients(k, n):
        if not (block["k0"] <= k and k + n <= block["k1"]):
            k1 = min(max(k + n, k + COEF_BLOCK), steps + 1)
            block.update(k0=k, k1=k1, c=coefficient_table(name, sets, lr_table, k, k1).to(dev))
        c = block["c"][k - block["k0"]:k - block["k0"] + n]
        return c if eager else c.clone()  # compiled: a fresh, aligned input

    center = torch.tensor([(lo + hi) / 2 for lo, hi in zip(problem.lower, problem.upper)],
                          dtype=torch.float32, device=dev)[:, None]
    width = max(hi - lo for lo, hi in zip(problem.lower, problem.upper))
    radius = min(width / 2 + st.diverge_factor * width, float(torch.finfo(torch.float32).max))
    T = len(TARGETS)
    if f_opt is not None:
        thresholds = torch.tensor([sense * f_opt + t for t in TARGETS], dtype=torch.float32, device=dev)[:, None]
    else:
        thresholds = torch.full((T, 1), math.nan, dtype=torch.float32, device=dev)

    step = _make_step(problem, name, sets, G, st, sense, center, radius, thresholds, eager=eager)

    def chunk_fn(x, s1, s2, s3, act, status, stop, f_best, hits, c, k0, last, n: int):
        f0 = gn0 = None
        for i in range(n):
            x, s1, s2, s3, act, status, stop, f_best, hits, f, gn = step(
                x, s1, s2, s3, act, status, stop, f_best, hits, c[i], k0 + i, last)
            if i == 0:
                f0, gn0 = f, gn
        return x, s1, s2, s3, act, status, stop, f_best, hits, f0, gn0

    if eager:
        one, many = (lambda *a: chunk_fn(*a, n=1)), None
    else:
        one = _compile(lambda *a: chunk_fn(*a, n=1), "one")
        many = _compile(lambda *a: chunk_fn(*a, n=K), "many") if steps >= K else None

    x = x0.t().contiguous().clone()
    zeros = torch.zeros_like(x)
    n_state = N_STATE[name]
    s1, s2, s3 = (zeros.clone() if j < n_state else None for j in range(3))
    act = torch.ones(M, dtype=torch.float32, device=dev)
    status = torch.zeros(M, dtype=torch.float32, device=dev)  # status codes as floats (see _make_step)
    stop = torch.full((M,), steps, dtype=torch.int32, device=dev)
    f_best = torch.full((M,), math.inf, dtype=torch.float32, device=dev)
    hits = torch.full((T, M), -1, dtype=torch.int32, device=dev)
    false, true = torch.tensor(0.0, device=dev), torch.tensor(1.0, device=dev)

    res = Result()
    stats = {"compile_seconds": 0.0, "calls": 0, "chunk": K, "engine": engine, "threads": torch.get_num_threads()}
    if eager:
        compiled_once = {"one", "many"}  # nothing to compile: no call is counted as compiling
    else:
        compiled_once = set()

    def call(fn, key, k, n, is_last):
        nonlocal x, s1, s2, s3, act, status, stop, f_best, hits
        c = coefficients(k, n)
        t0 = time.perf_counter()
        out = fn(x, s1, s2, s3, act, status, stop, f_best, hits, c,
                 torch.tensor(k, dtype=torch.int32, device=dev), true if is_last else false)
        if key not in compiled_once:  # the first call of each variant compiles it
            compiled_once.add(key)
            stats["compile_seconds"] += time.perf_counter() - t0
        stats["calls"] += 1
        x_in = x
        x, s1, s2, s3, act, status, stop, f_best, hits, f0, gn0 = out
        return x_in, f0, gn0

    logs = sorted(set(log_steps) | {steps})
    li = 0
    k = 0
    interrupted = False
    t_run = time.perf_counter()
    while True:
        if k == steps or (stop_flag is not None and stop_flag.set) or (k > 0 and not bool((act > 0).any())):
            interrupted = k < steps and stop_flag is not None and stop_flag.set
            x_k, f_k, gn_k = call(one, "one", k, 1, k == steps)
            if li < len(logs) and logs[li] == k:
                res.log_steps.append(k)
                res.log_x.append(x_k.t().cpu().clone())
                res.log_f.append(f_k.cpu().clone())
                res.log_g.append(gn_k.cpu().clone())
                res.log_lr.append(list(lr_table[k]))
            x = x_k  # the final state is the evaluated point (no update after it)
            break
        next_log = logs[li] if li < len(logs) else steps
        if k == next_log:
            x_k, f_k, gn_k = call(one, "one", k, 1, False)
            res.log_steps.append(k)
            res.log_x.append(x_k.t().cpu().clone())
            res.log_f.append(f_k.cpu().clone())
            res.log_g.append(gn_k.cpu().clone())
            res.log_lr.append(list(lr_table[k]))
            li += 1
            k += 1
            continue
        room = next_log - k
        if many is not None and room >= K:
            call(many, "many", k, K, False)
            k += K
        else:
            call(one, "one", k, 1, False)
            k += 1
    stats["run_seconds"] = time.perf_counter() - t_run - stats["compile_seconds"]
    LAST_STATS.clear()
    LAST_STATS.update(stats)

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
    per_group = torch.tensor(lr_table, dtype=torch.float64)
    group_of_row = torch.arange(G).repeat_interleave(N)
    res.lr_final = per_group[res.stop.clamp(max=per_group.shape[0] - 1), group_of_row]
    return res
