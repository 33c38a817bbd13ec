"""The ``run`` settings of a config, declared once and checked once (at the edge)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from gradexp.errors import ConfigError


@dataclass
class Settings:
    """The ``run`` config, checked once."""

    steps: int
    grad_tol: float = 0.0
    f_target: float | None = None
    clip_grad_norm: float | None = None
    grad_noise: float = 0.0
    diverge_factor: float = 1000.0
    log_points: int = 100
    log_every: int | None = None
    log_max_rows: int = 200_000
    progress: object = "auto"
    per_start: bool = False

    @classmethod
    def from_cfg(cls, run) -> "Settings":
        def num(key, default, lo=None, allow_none=False, integer=False):
            v = run.get(key, default) if run is not None else default
            if v is None and allow_none:
                return None
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            if integer:
                ok = ok and float(v).is_integer()
            if not ok or (lo is not None and v < lo):
                kind = "a whole number" if integer else "a number"
                bound = f" >= {lo}" if lo is not None else ""
                raise ConfigError(f"run.{key}={v!r} is not accepted; use {kind}{bound}" + (" or null" if allow_none else ""))
            return int(v) if integer else float(v)

        from collections.abc import Mapping

        if run is not None and not isinstance(run, Mapping):
            raise ConfigError(f"run={run!r} is not accepted; run is a group of settings such as run.steps=1000")
        log = run.get("log", {}) if run is not None else {}
        log = {} if log is None else log
        if "steps" not in (run or {}):
            raise ConfigError("run.steps is missing; give the number of optimizer steps per start, e.g. run.steps=1000")
        s = cls(
            steps=num("steps", None, lo=0, integer=True),
            grad_tol=num("grad_tol", 0.0, lo=0),
            f_target=num("f_target", None, allow_none=True),
            clip_grad_norm=num("clip_grad_norm", None, allow_none=True),
            grad_noise=num("grad_noise", 0.0, lo=0),
            diverge_factor=num("diverge_factor", 1000.0, lo=0),
            progress=run.get("progress", "auto"),
            per_start=bool(run.get("per_start", False)),
        )
        if s.clip_grad_norm is not None and s.clip_grad_norm <= 0:
            raise ConfigError(f"run.clip_grad_norm={s.clip_grad_norm!r} is not accepted; use a number > 0 or null")
        for key, attr, lo in (("points", "log_points", 0), ("every", "log_every", 1), ("max_rows", "log_max_rows", 1)):
            v = log.get(key, getattr(s, attr))
            if v is None and key == "every":
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ConfigError(f"run.log.{key}={v!r} is not accepted; use a whole number >= {lo}")
            setattr(s, attr, v)
        return s
