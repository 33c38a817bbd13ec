"""How many torch intra-op threads a run uses (``run.threads`` overrides the choice).

torch parallelises an element-wise op only above about 32768 elements, yet wakes its pool for some
small ones too; a woken thread that has to wait for a busy core costs milliseconds per op. So a run
takes one thread when

- its tensor is small (rows × d below ``MIN_ELEMENTS``: splitting gains nothing, waking may cost),
- it runs under a parallel launcher (joblib, submitit, ray: the jobs share the cores), or
- no other core is idle now (other processes runnable on them: a second thread would wait);

otherwise as many as there are idle cores, at most torch's own count. The compiled and vector
engines keep their own rule (``run.threads``, else one thread: see gradexp.fast).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

MIN_ELEMENTS = 1 << 15  # torch's grain size: below it an element-wise op runs on one thread anyway
SAMPLES = 3  # samples of the machine's runnable threads, 1 ms apart
BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


def parallel_launcher() -> bool:
    """True inside a job started by a Hydra launcher other than the basic (in-process, in-order) one."""
    try:
        from hydra.core.hydra_config import HydraConfig

        if not HydraConfig.initialized():
            return False
        target = HydraConfig.get().launcher.get("_target_")
    except Exception:  # noqa: BLE001  (no Hydra config: a plain gradexp.run call)
        return False
    return bool(target) and target != BASIC_LAUNCHER


def _runnable_threads(stat_paths) -> int:
    n = 0
    for path in stat_paths:
        try:
            if Path(path).read_text().rsplit(")", 1)[1].split()[0] == "R":
                n += 1
        except (OSError, IndexError):
            continue
    return n


def idle_cores() -> int:
    """Cores this process may use that nothing else wants now (Linux ``/proc``; elsewhere all of them).

    ``/proc/loadavg``'s count of runnable threads, minus this process's own, against the cores of
    this process's CPU affinity."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    idle = 0
    for i in range(SAMPLES):  # the most idle of a few samples: a passing process does not count
        try:
            runnable = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
        except (OSError, IndexError, ValueError):
            return cores
        own = _runnable_threads(Path("/proc/self/task").glob("*/stat"))
        idle = max(idle, cores - max(0, runnable - own))
        if i + 1 < SAMPLES:
            time.sleep(0.001)
    return idle


def choose(threads, elements: int, engine: str = "exact") -> int | None:
    """The thread count for a run of ``elements`` = rows × d numbers; None leaves torch's as it is.

    ``threads``: the user's ``run.threads`` (used as given when set)."""
    import torch

    if threads is not None:
        return int(threads)
    if engine != "exact":
        return None  # gradexp.fast sets its own
    if elements < MIN_ELEMENTS or parallel_launcher():
        return 1
    return max(1, min(torch.get_num_threads(), idle_cores()))


@contextlib.contextmanager
def policy(cfg, rows: int, dim: int, engine: str = "exact"):
    """Run the body with the chosen number of torch threads (see the module doc); restored after."""
    import torch

    n = choose((cfg.get("run") or {}).get("threads"), rows * dim, engine)
    old = torch.get_num_threads()
    if n is not None and n != old:
        torch.set_num_threads(n)
    try:
        yield n if n is not None else old
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)
