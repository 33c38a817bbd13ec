"""The ``ladder`` case of ``python -m gradexp.bench``: the cost of recording COCO's 51 targets.

The same Adam run on Himmelblau with ``report.targets=default`` (5 targets) and ``report.targets=coco``
(51), interleaved, for the exact loop and the vector engine. The exact loop scans a block of steps
only for the rows that passed a target in it, all their targets at once (target: within 1.25x on
Himmelblau, whose cheap step shows the bookkeeping most); the fast engines compare every target
at every step (reported, no target).
"""

from __future__ import annotations

import statistics

TARGET = 1.25


def bench_ladder(b, steps: int, repeat: int, n: int = 16384) -> None:
    """Add one row per engine and target set, and the exact loop's target, to ``b`` (a gradexp.bench.Bench)."""
    from gradexp.bench_common import _overrides, runner_run

    base = _overrides("himmelblau", 2, "adam", n, steps) + ["optimizer.lr=0.01", "run.log.points=10"]
    ratios = {}
    for engine in ("exact", "vector"):
        runs = {spec: base + [f"run.engine={engine}", f"report.targets={spec}"] for spec in ("default", "coco")}
        times = {spec: [] for spec in runs}
        for _ in range(max(3, repeat)):
            for spec, ov in runs.items():
                times[spec].append(runner_run(ov)[0])
        med = {k: statistics.median(v) for k, v in times.items()}
        ratios[engine] = med["coco"] / med["default"]
        for spec in runs:
            b.add(case="ladder", objective="himmelblau", dim=2, optimizer=f"adam/{engine}", N=n, steps=steps,
                  seconds=med[spec], note=f"report.targets={spec}; coco/default {ratios[engine]:.2f}; "
                                          f"median of {len(times[spec])}, interleaved")
    b.target(f"8. COCO's 51 targets within {TARGET}x of the default 5 (exact loop, {n} starts)",
             ratios["exact"] <= TARGET, f"{ratios['exact']:.2f}x (vector engine {ratios['vector']:.2f}x)")
