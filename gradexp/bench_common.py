"""What the benchmark's cases share: the configs of a row, and a timed run of the runner.

(:mod:`gradexp.bench` and its extra cases :mod:`gradexp.bench_busy`, :mod:`gradexp.bench_lion` import
these; none of them imports another.)"""

from __future__ import annotations

import math
import time

OPT_KW = {"sgd": dict(lr=1e-3), "adam": dict(lr=1e-3), "rmsprop": dict(lr=1e-3), "lbfgs": dict(lr=1.0)}
OBJECTIVE_KEYS = {"bbob": ["objective.function=10"]}  # BBOB's rotated ellipsoid f10, beside Rosenbrock d=10


def _overrides(objective, dim, opt, n, steps):
    ov = [f"objective={objective}", f"optimizer={opt}", f"run.steps={steps}", "run.progress=false",
          "run.stop_at_target=false"]  # (every step of the budget, as the bare loops run)
    if objective != "himmelblau":
        ov.append(f"objective.dim={dim}")
    ov += OBJECTIVE_KEYS.get(objective, [])
    if opt != "lbfgs":
        ov.append(f"optimizer.lr={OPT_KW[opt]['lr']}")
    if dim == 2 and math.isqrt(n) ** 2 == n:
        ov += ["start=grid", f"start.n={math.isqrt(n)}"]
    else:
        ov += ["start=uniform", f"start.n={n}"]
    return ov


def _compose(overrides):
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="gradexp.conf", version_base=None):
        return compose("config", overrides=["plot.enabled=false", *overrides])


def runner_run(overrides):
    """``gradexp.runner.run`` on a composed config; returns (seconds, summary)."""
    from gradexp.runner import run

    cfg = _compose(overrides)
    t0 = time.perf_counter()
    _, summary = run(cfg)
    return time.perf_counter() - t0, summary
