"""The ``lion`` case of ``python -m gradexp.bench``: a third-party optimizer batched after the probe.

pytorch_optimizer.Lion (``optimizer=custom``, batched because gradexp.probe finds its rows
independent) against torch.optim.Adam at the same starts and steps, interleaved; target: Lion within
2x of Adam's wall time.
"""

from __future__ import annotations

import importlib.util
import statistics

TARGET = 2.0


def bench_lion(b, steps: int, repeat: int, n: int = 1024) -> None:
    """Add the Adam and Lion rows and the target to ``b`` (a gradexp.bench.Bench)."""
    from gradexp.bench_common import _overrides, runner_run

    if importlib.util.find_spec("pytorch_optimizer") is None:
        b.target(f"7. Lion batched within {TARGET}x of Adam", None, "pytorch-optimizer is not installed")
        return
    adam = _overrides("himmelblau", 2, "adam", n, steps) + ["optimizer.lr=0.001"]
    lion = [*(o for o in adam if not o.startswith("optimizer")), "optimizer=custom",
            "optimizer._target_=pytorch_optimizer.Lion", "optimizer.lr=0.0001"]
    runner_run(lion[:-1] + ["run.steps=2"])  # the probe and Lion's imports out of the timings
    times = {"adam": [], "lion": []}
    for _ in range(max(3, repeat)):
        times["adam"].append(runner_run(adam)[0])
        times["lion"].append(runner_run(lion)[0])
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["lion"] / med["adam"]
    for k in ("adam", "lion"):
        b.add(case="lion", objective="himmelblau", dim=2, optimizer=k, N=n, steps=steps, seconds=med[k],
              note=f"Lion/Adam {ratio:.2f}; median of {len(times[k])}, interleaved")
    b.target(f"7. Lion batched within {TARGET}x of Adam ({n} starts)", ratio <= TARGET, f"{ratio:.2f}x")
