"""The shared vocabulary of a run: statuses, target levels, the result record.

Every layer imports these from here (the loops and engines that produce a :class:`Result`, the
tables built from it, the report that reads the tables); no layer takes them from another's
internals. Nothing here needs torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from gradexp.errors import ConfigError

#: A start's status: its code in a :class:`Result` is the index in this tuple; the name is what
#: summary.csv says. (A job that failed before it had results is recorded as ``error``.)
STATUS = ("running", "converged", "diverged", "max_steps", "interrupted")
RUNNING, CONVERGED, DIVERGED, MAX_STEPS, INTERRUPTED = range(5)
ERROR = "error"

#: The default Δf targets (``report.targets=default``; the targets of COCO's aRT tables), recorded
#: exactly while running: a start's runtime for Δf is the first step with f ≤ f* + Δf (f ≥ f* − Δf
#: when maximizing).
TARGETS = (1e1, 1e-1, 1e-3, 1e-5, 1e-7)
#: COCO's target ladder for runtime distributions on bbob (``report.targets=coco``): Δf = 10^2,
#: 10^1.8, ..., 10^-8, 51 targets, five per decade. Each is at most cocopp's own value of the
#: same target (which numpy's ``10 ** arange(2, -8.2, -0.2)`` puts up to 6e-15 above), so data
#: written at these targets reads as reached there in cocopp too.
COCO_TARGETS = tuple(10.0 ** (k / 5) for k in range(10, -41, -1))
#: ``report.targets`` by name.
TARGET_SETS = {"default": TARGETS, "coco": COCO_TARGETS}
#: Most targets a run records (two summary columns each).
MAX_TARGETS = 100

#: A start "reached" a known optimum when it ends within this (Euclidean) distance of it
#: (summary.csv's ``minimum`` column).
CLOSE_TO_OPTIMUM = 1e-2


def target_label(delta: float) -> str:
    """A target's name in column names and the report: ``1e-3`` for 0.001, ``1e1.8`` for 10^1.8
    (a power of ten to one decimal of its exponent), else the number itself (``0.5``)."""
    exp = math.log10(delta)
    if abs(exp * 10 - round(exp * 10)) < 1e-6:
        tenths = int(round(exp * 10))
        return f"1e{tenths // 10}" if tenths % 10 == 0 else f"1e{tenths / 10:.1f}"
    return f"{delta:g}"


def target_column(delta: float) -> str:
    """Summary column holding the first step that reached f* + ``delta``: ``rt_1e-3`` etc."""
    return f"rt_{target_label(delta)}"


def evals_column(delta: float) -> str:
    """Summary column holding the evaluations (COCO's count) up to that step: ``evals_1e-3`` etc."""
    return f"evals_{target_label(delta)}"


def parse_targets(value) -> tuple[float, ...]:
    """``report.targets`` checked: a name (``default``, ``coco``) or a list of positive numbers Δf.

    Returns the targets from the loosest to the tightest, without repeats (two targets with the same
    name, e.g. 0.1 and 0.1000000000000002, count once). ``None`` gives the default five. A bad value
    raises :class:`~gradexp.errors.ConfigError` (one line naming what is accepted).
    """
    if value is None:
        return TARGETS
    if isinstance(value, str):
        if value in TARGET_SETS:
            return TARGET_SETS[value]
        raise ConfigError(f"report.targets={value!r} is not accepted; use {' or '.join(TARGET_SETS)} "
                         "or a list of positive numbers, e.g. [1e1,1e-2,1e-8]")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]  # one target
    items = list(value) if isinstance(value, Sequence) else None
    ok = items is not None and 0 < len(items) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in items)
    if not ok:
        raise ConfigError(f"report.targets={value!r} is not accepted; use a list of positive numbers Δf "
                         f"(e.g. [1e1,1e-2,1e-8]) or one of {', '.join(TARGET_SETS)}")
    seen, out = set(), []
    for v in sorted((float(v) for v in items), reverse=True):
        if target_label(v) not in seen:
            seen.add(target_label(v))
            out.append(v)
    if len(out) > MAX_TARGETS:
        raise ConfigError(f"report.targets has {len(out)} targets; use at most {MAX_TARGETS}")
    return tuple(out)


def targets_of(config) -> tuple[float, ...]:
    """The targets a composed config (a mapping, e.g. a job's ``.hydra/config.yaml``) records."""
    report = config.get("report") if hasattr(config, "get") else None
    return parse_targets(report.get("targets") if hasattr(report, "get") else None)


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
    hits: object = None     # [M, T] first step reaching each target (Settings.targets), -1 if never
    lr_final: object = None  # [M] lr each start had at its last step
    extra_evals: list = field(default_factory=list)  # closure optimizers: evaluations beyond the loop's before step k
    interrupted: bool = False
