"""The ``run:`` settings of a config, declared once (one field each) and checked once, at the edge.

(Plus ``report.targets``, the Δf targets the loop records: see :func:`gradexp.outcome.parse_targets`.)

Each field of :class:`Settings` carries its rule (a number, a whole number, an int, one of a few
words; a least value; whether null is accepted) and its key under ``run:`` (``log.points`` for
``log_points``). :meth:`Settings.from_cfg` checks every key by its rule and answers a bad value with
one line naming the key, the value and what is accepted. The loop and the engines trust the result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields

from gradexp.errors import ConfigError
from gradexp.outcome import TARGETS, parse_targets

ENGINES = ("exact", "compiled", "vector")  # run.engine: gradexp.loop, or gradexp.fast (two modes)


def _rule(default=MISSING, *, kind: str = "number", lo=None, above=None, null: bool = False, key=None,
          choices=None):
    """A setting's field: ``kind`` ``number`` (finite int or float), ``whole`` (a number with no
    fraction), ``int`` (an int as written), ``choice`` (one of ``choices``) or ``any``; ``lo``: least
    value, ``above``: exclusive bound; ``null``: None accepted; ``key``: its path under ``run:``."""
    meta = dict(kind=kind, lo=lo, above=above, null=null, key=key, choices=choices)
    return field(default=default, metadata=meta)


@dataclass
class Settings:
    """The ``run`` config, checked once."""

    steps: int = _rule(kind="whole", lo=0)
    grad_tol: float = _rule(0.0, lo=0)
    f_target: float | None = _rule(None, null=True)
    clip_grad_norm: float | None = _rule(None, above=0, null=True)
    grad_noise: float = _rule(0.0, lo=0)
    diverge_factor: float = _rule(1000.0, lo=0)
    log_points: int = _rule(100, kind="int", lo=0, key="log.points")
    log_every: int | None = _rule(None, kind="int", lo=1, null=True, key="log.every")
    log_max_rows: int = _rule(200_000, kind="int", lo=1, key="log.max_rows")
    progress: object = _rule("auto", kind="any")
    per_start: bool = _rule(False, kind="any")
    engine: str = _rule("exact", kind="choice", choices=ENGINES)
    threads: int | None = _rule(None, kind="int", lo=1, null=True)
    targets: tuple = field(default=TARGETS, metadata=dict(section="report"))  # report.targets, loosest first

    @classmethod
    def from_cfg(cls, run, report=None) -> "Settings":
        """The settings of a composed config's ``run`` section (a mapping; ``run.steps`` required) and
        ``report.targets`` (of ``report``, when given)."""
        if run is not None and not isinstance(run, Mapping):
            raise ConfigError(f"run={run!r} is not accepted; run is a group of settings such as run.steps=1000")
        if "steps" not in (run or {}):
            raise ConfigError("run.steps is missing; give the number of optimizer steps per start, e.g. run.steps=1000")
        values = {}
        for f in fields(cls):
            if f.metadata.get("section") == "report":
                continue
            key = f.metadata["key"] or f.name
            value = _lookup(run, key, f.default)
            values[f.name] = _check(key, value, f.metadata)
        values["per_start"] = bool(values["per_start"])
        values["targets"] = parse_targets(report.get("targets") if isinstance(report, Mapping) else None)
        return cls(**values)


def _lookup(run, key: str, default):
    """``run[key]`` (``key`` may be dotted: ``log.points``), ``default`` where it is not set."""
    node = run
    *path, last = key.split(".")
    for part in path:
        node = node.get(part, None) if node is not None else None
    if node is None:
        return default
    return node.get(last, default)


def _check(key: str, v, rule):
    """``v`` checked by ``rule`` (and converted: a whole number to int, a number to float)."""
    if v is None and rule["null"]:
        return None
    kind, lo, above = rule["kind"], rule["lo"], rule["above"]
    if kind == "any":
        return v
    if kind == "choice":
        if v not in rule["choices"]:
            raise ConfigError(f"run.{key}={v!r} is not accepted; use {', '.join(rule['choices'])}")
        return v
    if kind == "int":
        ok = isinstance(v, int) and not isinstance(v, bool) and v >= lo
    else:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        ok = ok and (kind != "whole" or float(v).is_integer())
        if ok and above is not None and not v > above:
            ok, v = False, float(v)  # (named as the number it was read as)
        ok = ok and (lo is None or v >= lo)
    if not ok:
        what = "a whole number" if kind in ("whole", "int") else "a number"
        bound = f" >= {lo}" if lo is not None else f" > {above}" if above is not None else ""
        raise ConfigError(f"run.{key}={v!r} is not accepted; use {what}{bound}" + (" or null" if rule["null"] else ""))
    return v if kind == "int" else int(v) if kind == "whole" else float(v)
