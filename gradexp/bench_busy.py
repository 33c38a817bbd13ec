"""The busy-neighbour case of ``python -m gradexp.bench``: one spinning process beside the run.

For 64, 1024 and 16384 starts (Adam on Himmelblau), the runner with its default threads
(gradexp.threads' choice), with ``run.threads=1`` and with ``run.threads=2``, interleaved, while a
second process keeps one core busy; the median of each and the ratio default / faster fixed choice.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

BUSY_SIZES = (64, 1024, 16384)
SETTINGS = (("default", []), ("1 thread", ["run.threads=1"]), ("2 threads", ["run.threads=2"]))
TARGET = 1.1  # default <= 1.1 x the faster of one and two threads


def spinner() -> subprocess.Popen:
    """A process that keeps one core busy until it is killed."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def bench_busy(b, steps: int, repeat: int, sizes=BUSY_SIZES) -> None:
    """Add one row per size and setting to ``b`` (a gradexp.bench.Bench) and the target."""
    from gradexp.bench_common import _overrides, runner_run
    from gradexp.threads import choose

    spin = spinner()
    worst = 0.0
    try:
        for n in sizes:
            base = _overrides("himmelblau", 2, "adam", n, steps)
            times = {name: [] for name, _ in SETTINGS}
            for r in range(max(3, repeat)):  # interleaved, in rotated order: drift and order cost alike for all
                for name, extra in SETTINGS[r % 3:] + SETTINGS[:r % 3]:
                    times[name].append(runner_run([*base, *extra])[0])
            med = {name: statistics.median(v) for name, v in times.items()}
            best = min(med["1 thread"], med["2 threads"])
            ratio = med["default"] / best
            worst = max(worst, ratio)
            chosen = choose(None, n * 2)
            for name, _ in SETTINGS:
                b.add(case="busy", objective="himmelblau", dim=2, optimizer="adam", N=n, steps=steps,
                      seconds=med[name],
                      note=f"{name}; one core kept busy; default/best fixed {ratio:.2f} "
                           f"(default chose {chosen} now); median of {len(times[name])}")
    finally:
        spin.kill()
        spin.wait()
    b.target(f"6. busy neighbour: default <= {TARGET}x the faster of 1 and 2 threads", worst <= TARGET,
             f"worst {worst:.2f}x")
