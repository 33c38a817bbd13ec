"""Benchmark metrics on per-start tables (COCO/BBOB and Dolan–Moré conventions).

Everything here is a plain function of numbers or small DataFrames; nothing reads files.

* A start's *runtime* for a target Δf is the first step at which f ≤ f* + Δf (f ≥ f* − Δf when
  maximizing). A start that never reaches the target costs every step it ran (diverged starts
  included); a start that errored or was interrupted without running (``steps`` empty or 0)
  costs the full budget ``run.steps``.
* aRT (average runtime, COCO) = (sum of the costs of all starts) / (number of successes);
  ``inf`` when no start succeeded.
* The runtime ECDF (COCO) is the fraction of (start, target) pairs whose runtime is ≤ a budget.
* The performance profile (Dolan & Moré 2002) of a solver is the fraction of problems it solves
  within a factor τ of the best solver's cost on each problem.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from gradexp.outcome import TARGETS, target_label  # noqa: F401  (the default targets; a target's label)

#: Floor for f − f* on log axes and in ratios.
EPS = 1e-12
#: Golden-ratio increment of the holdout split (a Weyl sequence over start indices).
_PHI = (math.sqrt(5.0) - 1.0) / 2.0


def quantile(values, q: float) -> float:
    """Linear-interpolation quantile that treats NaN as +inf (a failure) and is safe with inf.

    ``numpy.quantile`` turns ``finite + (inf - finite) * 0`` into NaN; here an exact order
    statistic is returned as is and any interpolation towards inf gives inf.
    """
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        return float("nan")
    v = np.sort(np.where(np.isnan(v), np.inf, v))
    pos = q * (v.size - 1)
    lo, hi = int(math.floor(pos)), int(math.ceil(pos))
    frac = pos - lo
    if frac == 0.0 or v[lo] == v[hi]:
        return float(v[lo])
    if not np.isfinite(v[hi]):
        return float("inf")
    return float(v[lo] + (v[hi] - v[lo]) * frac)


def start_costs(rt, steps, status, budget) -> tuple[np.ndarray, np.ndarray]:
    """Cost and success of each start for one target.

    ``rt``: first step reaching the target (NaN when never reached); ``steps``: steps the start
    ran; ``status``: its status string; ``budget``: ``run.steps`` of its job (the cost of an
    ``error`` or ``interrupted`` start that ran no steps). Returns ``(cost, success)`` arrays.
    """
    rt = np.asarray(rt, dtype=float)
    steps = np.asarray(steps, dtype=float)
    status = np.asarray(status, dtype=object)
    budget = np.broadcast_to(np.asarray(budget, dtype=float), rt.shape)
    success = np.isfinite(rt)
    no_steps = ~np.isfinite(steps) | ((steps <= 0) & np.isin(status, ["error", "interrupted"]))
    ran = np.where(no_steps, budget, steps)
    ran = np.where(np.isfinite(ran), ran, 0.0)
    return np.where(success, rt, ran), success


def average_runtime(costs, success) -> float:
    """aRT = sum of all starts' costs / number of successful starts (``inf`` when none)."""
    n = int(np.count_nonzero(success))
    return float(np.sum(costs)) / n if n else float("inf")


def final_gap(f_final, f_star, status, maximize=False, eps: float = EPS) -> np.ndarray:
    """f − f* (f* − f when maximizing) at the end of each start, floored at ``eps``.

    Diverged or errored starts and non-finite values count as ``inf`` (a failure, never dropped).
    """
    f = np.asarray(f_final, dtype=float)
    fs = np.broadcast_to(np.asarray(f_star, dtype=float), f.shape)
    mx = np.broadcast_to(np.asarray(maximize, dtype=bool), f.shape)
    gap = np.where(mx, fs - f, f - fs)
    bad = ~np.isfinite(gap) | np.isin(np.asarray(status, dtype=object), ["diverged", "error"])
    return np.where(bad, np.inf, np.maximum(gap, eps))


def first_hit(steps, f, f_star: float, target: float, maximize: bool = False) -> float:
    """First logged step whose f is within ``target`` of ``f_star`` (NaN if none).

    Used when f* is not known and runtimes come from trace.csv: the answer is only as exact
    as the logged steps.
    """
    steps = np.asarray(steps, dtype=float)
    f = np.asarray(f, dtype=float)
    hit = f >= f_star - target if maximize else f <= f_star + target
    idx = np.flatnonzero(hit & np.isfinite(f))
    return float(steps[idx].min()) if idx.size else float("nan")


def ecdf(runtimes, grid) -> np.ndarray:
    """Fraction of runtimes ≤ each value of ``grid``; NaN/inf runtimes are failures (never reached)."""
    r = np.asarray(runtimes, dtype=float).ravel()
    grid = np.asarray(grid, dtype=float)
    if r.size == 0:
        return np.zeros(grid.shape)
    r = np.sort(np.where(np.isnan(r), np.inf, r))
    return np.searchsorted(r, grid, side="right") / r.size


def performance_ratios(costs) -> np.ndarray:
    """Dolan–Moré ratios r[p, s] = cost[p, s] / min_s cost[p, s].

    ``costs`` is problems × solvers; NaN/inf mean "not solved" (ratio inf). A problem nobody
    solved gives inf for every solver. Costs must be > 0 (add 1 to step counts first).
    """
    c = np.asarray(costs, dtype=float)
    c = np.where(np.isfinite(c), c, np.inf)
    best = c.min(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = c / best
    return np.where(np.isfinite(best), r, np.inf)


def performance_profile(costs, taus) -> np.ndarray:
    """ρ_s(τ) = fraction of problems with ratio ≤ τ, shape (len(taus), solvers)."""
    r = performance_ratios(costs)
    taus = np.asarray(taus, dtype=float)
    if r.shape[0] == 0:
        return np.zeros((taus.size, r.shape[1]))
    return (r[None, :, :] <= taus[:, None, None]).mean(axis=1)


def holdout_mask(start_index, fraction: float) -> np.ndarray:
    """True for held-out starts: frac((i + 1) · φ) < fraction (φ = golden-ratio conjugate).

    Depends only on the start index, so every configuration splits its starts the same way,
    and about ``fraction`` of any run of consecutive indices is held out.
    """
    i = np.asarray(start_index, dtype=float)
    return np.mod((i + 1.0) * _PHI, 1.0) < fraction


def configuration_metrics(starts: pd.DataFrame, budget_per_start, targets=TARGETS) -> list[dict]:
    """Per-target metrics of one configuration's starts.

    ``starts`` holds one row per start with columns ``cost_<label>``, ``ok_<label>`` (from
    :func:`start_costs`; label: :func:`target_label`), ``gap`` and ``status``. Returns one dict per
    target of ``targets``.
    """
    n = len(starts)
    gap = starts["gap"].to_numpy(float) if n else np.array([])
    common = {
        "starts": n,
        "budget": float(np.sum(budget_per_start)) if n else 0.0,
        "diverged": int((starts["status"] == "diverged").sum()) if n else 0,
        "gap_median": quantile(gap, 0.5),
        "gap_q1": quantile(gap, 0.25),
        "gap_q3": quantile(gap, 0.75),
    }
    rows = []
    for t in targets:
        lab = target_label(t)
        ok = starts[f"ok_{lab}"].to_numpy(bool) if n else np.array([], bool)
        cost = starts[f"cost_{lab}"].to_numpy(float) if n else np.array([])
        succ = int(ok.sum())
        rows.append({"target": t, "successes": succ, "success_rate": succ / n if n else 0.0,
                     "aRT": average_runtime(cost, ok), **common})
    return rows


def at_target(frame: pd.DataFrame, target: float):
    """Rows of a metrics table at ``target`` (a mask; targets can be 10^0.2 apart down to 1e-8, so
    relative closeness only)."""
    return np.isclose(frame["target"].to_numpy(float), target, rtol=1e-9, atol=0.0)


def shown_targets(targets, most: int = 6) -> tuple:
    """At most ``most`` of ``targets`` (loosest first) for a table: all when they fit, else evenly
    spaced ones from the loosest to the tightest (COCO's 51: 1e2, 1e0, 1e-2, 1e-4, 1e-6, 1e-8)."""
    targets = tuple(targets)
    if len(targets) <= most:
        return targets
    idx = sorted({round(i * (len(targets) - 1) / (most - 1)) for i in range(most)})
    return tuple(targets[i] for i in idx)


def tightest_reached(metrics: pd.DataFrame):
    """The smallest target Δf that at least one row of ``metrics`` reached (None if none)."""
    reached = metrics.loc[metrics["successes"] > 0, "target"]
    return float(reached.min()) if len(reached) else None


def rank_configurations(metrics: pd.DataFrame, key: str = "config"):
    """Order configurations best first; return ``(ordered keys, deciding target or None)``.

    The deciding target is the tightest Δf that any configuration reached; configurations are
    sorted by aRT at that target, then by median final gap, then by success rate (descending).
    When no configuration reached any target, by median final gap alone.
    """
    t = tightest_reached(metrics)
    per = metrics.groupby(key, sort=False).first()[["gap_median"]].copy()
    if t is None:
        per["art"] = np.inf
        per["rate"] = 0.0
    else:
        at = metrics[at_target(metrics, t)].set_index(key)
        per["art"] = at["aRT"]
        per["rate"] = at["success_rate"]
    per["gap_median"] = per["gap_median"].fillna(np.inf)
    per["rate"] = per["rate"].fillna(0.0)
    per = per.sort_values(["art", "gap_median", "rate"], ascending=[True, True, False], kind="stable")
    return list(per.index), t
