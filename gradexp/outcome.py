"""The shared vocabulary of a run: statuses, target levels, the result record.

Every layer imports these from here (the loops and engines that produce a :class:`Result`, the
tables built from it, the report that reads the tables); no layer takes them from another's
internals. Nothing here needs torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: A start's status: its code in a :class:`Result` is the index in this tuple; the name is what
#: summary.csv says. (A job that failed before it had results is recorded as ``error``.)
STATUS = ("running", "converged", "diverged", "max_steps", "interrupted")
RUNNING, CONVERGED, DIVERGED, MAX_STEPS, INTERRUPTED = range(5)
ERROR = "error"

#: The Δf targets of the report (COCO's usual ladder), recorded exactly while running: a start's
#: runtime for Δf is the first step with f ≤ f* + Δf (f ≥ f* − Δf when maximizing).
TARGETS = (1e1, 1e-1, 1e-3, 1e-5, 1e-7)

#: A start "reached" a known optimum when it ends within this (Euclidean) distance of it
#: (summary.csv's ``minimum`` column).
CLOSE_TO_OPTIMUM = 1e-2


def target_column(delta: float) -> str:
    """Summary column holding the first step that reached f* + ``delta``: ``rt_1e-3`` etc."""
    exp = math.log10(delta)
    return f"rt_1e{int(round(exp))}" if abs(exp - round(exp)) < 1e-9 else f"rt_{delta:g}"


@dataclass
class Result:
    """What one pass of a loop produced (tensors on the host)."""

    log_steps: list[int] = field(default_factory=list)
    log_x: list = field(default_factory=list)      # each [M, d]
    log_f: list = field(default_factory=list)      # each [M]
    log_g: list = field(default_factory=list)      # each [M]
    log_lr: list = field(default_factory=list)     # each list[G] of floats
    x: object = None        # final points [M, d]
    f: object = None        # f at the final points [M]
    g: object = None        # gradient norm at the final points [M]
    status: object = None   # [M] int
    stop: object = None     # [M] step at which each start stopped
    f_best: object = None   # [M] best f seen (objective's own value)
    hits: object = None     # [M, T] first step reaching each target, -1 if never
    lr_final: object = None  # [M] lr each start had at its last step
    extra_evals: list = field(default_factory=list)  # closure optimizers: evaluations beyond the loop's before step k
    interrupted: bool = False
