"""``objective=bbob``: COCO's noiseless BBOB suite (functions 1–24, any instance, dims 2–44).

``objective.function=F objective.instance=I objective.dim=D`` selects COCO's function F, instance I
in D dimensions: the same x_opt, f_opt and rotations as COCO's ``bbob`` suite (its legacy
instance generator, :mod:`gradexp.objectives.bbob_instances`), the same formulas
(:mod:`gradexp.objectives.bbob_functions`). f* is COCO's f_opt and x_opt the known optimum;
bounds are COCO's [-5, 5]^D (the functions are defined, and penalised, outside them too).

Every function is evaluated internally in float64 (x cast up, f cast back to x's dtype; gradients
flow through the casts): float32 cannot hold f16's 3^11 · z or f23's 2^32 · z, nor x − x_opt near the
optimum (x_opt has four decimals, which float32 rounds), nor f19's cos of values in the thousands.
So a float32 run sees COCO's value at its float32 point, rounded once.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from gradexp.errors import ConfigError
from gradexp.objectives.bbob_functions import BUILDERS
from gradexp.objectives.bbob_instances import MAX_DIM, fopt
from gradexp.objectives.core import Critical, Objective

FUNCTIONS = tuple(sorted(BUILDERS))


class BBOBFunction:
    """One BBOB problem (function, instance, dim) as a batched ``f(x[..., dim]) -> [...]``."""

    def __init__(self, function: int, instance: int, dim: int):
        raw, consts, x_opt = BUILDERS[function](function, instance, dim)
        self.function, self.instance, self.dim = function, instance, dim
        self.f_opt = fopt(function, instance)
        self.x_opt = tuple(float(v) for v in x_opt)
        self._raw, self._consts, self._cache = raw, consts, {}

    def constants(self, dtype, device) -> dict:
        """The instance's constants as tensors of ``dtype`` on ``device`` (cached)."""
        key = (dtype, str(device))
        if key not in self._cache:
            self._cache[key] = {k: torch.tensor(v, device=device) if v.dtype == np.bool_ else
                                torch.tensor(v, dtype=dtype, device=device) for k, v in self._consts.items()}
        return self._cache[key]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x64 = x.to(torch.float64)
        return (self._raw(x64, self.constants(torch.float64, x.device)) + self.f_opt).to(x.dtype)


@functools.lru_cache(maxsize=64)
def problem_function(function: int, instance: int, dim: int) -> BBOBFunction:
    """The (cached) :class:`BBOBFunction` of a function, instance and dimension."""
    return BBOBFunction(function, instance, dim)


def _whole(value, key: str, lo: int, hi: int | None, what: str) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= lo and (hi is None or value <= hi)
    if not ok:
        raise ConfigError(f"objective.{key}={value!r} is not accepted for bbob: use {what}")
    return value


def _check(params):
    function = _whole(params["function"], "function", 1, 24, "an integer from 1 to 24 (COCO's BBOB functions)")
    instance = _whole(params["instance"], "instance", 1, None, "an integer >= 1 (COCO's instance number)")
    return {**params, "function": function, "instance": instance}


def _make(dim, params):
    return problem_function(params["function"], params["instance"], dim), dim


def _facts(dim, params):
    p = problem_function(params["function"], params["instance"], dim)
    return (Critical(p.x_opt, p.f_opt, "global_min"),)


def _bbob(x: torch.Tensor, function: int = 1, instance: int = 1) -> torch.Tensor:
    """COCO's BBOB function ``function``, instance ``instance``, in x's last dimension."""
    return problem_function(function, instance, x.shape[-1])(x)


bbob = Objective(
    name="bbob", fn=_bbob, bounds=(-5.0, 5.0), dims=(2, MAX_DIM), default_dim=2,
    params={"function": 1, "instance": 1}, check=_check, make=_make, facts=_facts,
)
