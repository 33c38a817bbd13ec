"""What an objective is: a batched function plus facts (bounds, dimension rule, known optima).

- :class:`Objective` is the spec an ``objective/<name>.yaml`` points at with ``_target_``: the
  function, its default bounds, which dimensions it accepts, its parameters and its known critical
  points for a given dimension.
- :class:`Problem` is an objective bound to one dimension and parameter set: what the runner needs.
- :func:`build` turns the composed ``objective`` config node into a :class:`Problem`; a ``_target_``
  that is any other callable (``objective._target_=mymod.func``) is wrapped as a Problem without
  known facts.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from gradexp.errors import ConfigError
from gradexp.safe_expr import parse_number

KINDS = ("global_min", "local_min", "local_max", "global_max", "saddle")
USER_BOUNDS = (-5.0, 5.0)  # default bounds of a user function


@dataclass(frozen=True)
class Critical:
    """A known critical point: its coordinates, value and kind (one of :data:`KINDS`)."""

    x: tuple[float, ...]
    f: float
    kind: str

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r} is not one of {KINDS}")


@dataclass(frozen=True)
class Problem:
    """An objective bound to a dimension and parameters: everything a run needs.

    ``f`` maps ``x[..., dim]`` to ``[...]`` (rows independent; float32 or float64; any batch
    shape). ``lower``/``upper`` are the bounds per axis, ``f_star`` the global minimum value
    (``None`` if unknown) and ``critical`` the known critical points.
    """

    name: str
    dim: int
    f: Callable
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    f_star: float | None
    critical: tuple[Critical, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)

    def optima(self, maximize: bool) -> tuple[float | None, tuple[Critical, ...]]:
        """``(f_opt, points)`` for the run's sense.

        Minimize: ``(f_star, minima)`` with the global minima first, then the local ones.
        Maximize: ``(largest known maximum value or None, maxima)``, global maxima first.
        """
        if maximize:
            points = tuple(c for c in self.critical if c.kind == "global_max") + tuple(
                c for c in self.critical if c.kind == "local_max")
            return (max(c.f for c in points) if points else None), points
        points = tuple(c for c in self.critical if c.kind == "global_min") + tuple(
            c for c in self.critical if c.kind == "local_min")
        return self.f_star, points


def _accepted_dims(dims: tuple[int, int | None]) -> str:
    lo, hi = dims
    if hi == lo:
        return f"it is defined for dim {lo} only"
    if hi is None:
        return f"use an integer >= {lo}"
    return f"use an integer from {lo} to {hi}"


@dataclass(frozen=True, eq=False)
class Objective:
    """A named test function and its facts; ``objective/<name>.yaml`` targets one of these.

    ``fn(x, **params)`` is the batched function. ``bounds`` is one ``(lo, hi)`` pair for every
    axis or a pair per axis (fixed-dimension objectives). ``dims`` = (smallest, largest or None).
    ``facts(dim, params)`` lists the known critical points. With ``infer_dim`` a missing dim is
    left to ``make`` (an expression's dim follows from the variables it uses). ``check(params)`` validates the
    parameters (returns them normalised); ``make(dim, params)`` builds ``(f, dim)`` when the
    function depends on the parameters in a way ``functools.partial`` cannot express.
    Calling the objective itself evaluates ``fn``.
    """

    name: str
    fn: Callable
    bounds: tuple
    dims: tuple[int, int | None] = (2, 2)
    default_dim: int = 2
    facts: Callable[[int, Mapping[str, Any]], Iterable[Critical]] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    check: Callable[[dict], dict] | None = None
    make: Callable[[int | None, dict], tuple[Callable, int]] | None = None
    infer_dim: bool = False  # dim None: let ``make`` infer it (expression) instead of default_dim

    def __call__(self, x, **params):
        """Evaluate the function on a batch ``x[..., d]``."""
        return self.fn(x, **params)

    def problem(self, dim: int | None = None, bounds=None, **params) -> Problem:
        """Bind to ``dim`` (None: the default) and parameters; validate them; return a Problem."""
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            accepted = ", ".join(["dim", "maximize", "bounds", *self.params])
            raise ConfigError(f"unknown key objective.{unknown[0]} for objective {self.name}: "
                              f"accepted keys are {accepted}")
        values = {**self.params, **params}
        if self.check is not None:
            values = self.check(values)
        if dim is None and not (self.infer_dim and self.make is not None):
            dim = self.default_dim
        if dim is not None:
            dim = _read_dim(dim, self.name, self.dims)
        if self.make is not None:
            f, dim = self.make(dim, values)
            dim = _read_dim(dim, self.name, self.dims)
        elif values:
            f = functools.partial(self.fn, **values)
        else:
            f = self.fn
        lower, upper = read_bounds(self.bounds if bounds is None else bounds, dim, self.name)
        critical = tuple(self.facts(dim, values)) if self.facts is not None else ()
        global_min = [c.f for c in critical if c.kind == "global_min"]
        f_star = min(global_min) if global_min else None
        return Problem(self.name, dim, f, lower, upper, f_star, critical, dict(values))


MAX_DIM = 100_000  # beyond this a run is a typo, not an experiment (one column per coordinate)


def _read_dim(value, name: str, dims: tuple[int, int | None]) -> int:
    lo, hi = dims
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        raise ConfigError(f"objective.dim={value!r} is not accepted for {name}: {_accepted_dims(dims)}")
    if value > MAX_DIM:
        raise ConfigError(f"objective.dim={value!r} is not accepted for {name}: at most {MAX_DIM:,} dimensions")
    return value


def read_bounds(value, dim: int, name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``[lo, hi]`` for every axis, or one ``[lo, hi]`` per axis -> ``(lower, upper)`` tuples.

    Numbers may be written as arithmetic of numbers, ``pi`` and ``e``.
    """
    help_ = (f"objective.bounds={_show(value)} is not accepted for {name}: use [lo, hi] or one "
             f"[lo, hi] per axis ({dim} pairs), numbers with lo < hi")
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(help_)
    try:
        if all(not isinstance(v, (list, tuple)) for v in value):
            if len(value) != 2:
                raise ConfigError(help_)
            pairs = [(parse_number(value[0]), parse_number(value[1]))] * dim
        else:
            if len(value) != dim or any(not isinstance(p, (list, tuple)) or len(p) != 2 for p in value):
                raise ConfigError(help_)
            pairs = [(parse_number(p[0]), parse_number(p[1])) for p in value]
    except ConfigError as err:
        raise ConfigError(help_ if str(err) == help_ else f"{help_} ({err})") from None
    if any(not lo < hi for lo, hi in pairs):
        raise ConfigError(help_)
    return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)


def _show(value) -> str:
    try:
        return str(list(value)) if isinstance(value, tuple) else str(value)
    except Exception:  # pragma: no cover - defensive
        return repr(value)


def _to_dict(cfg) -> dict:
    if cfg is None:
        raise ConfigError("no objective given: choose objective=<name> (e.g. objective=himmelblau)")
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            return dict(OmegaConf.to_container(cfg, resolve=True))
    except ImportError:  # pragma: no cover - omegaconf ships with hydra
        pass
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"objective config {cfg!r} is not accepted: use a mapping with _target_")
    return dict(cfg)


def _locate(target):
    if not isinstance(target, str) or not target.strip():
        raise ConfigError(f"objective._target_={target!r} is not accepted: use an import path such as "
                          "gradexp.objectives.himmelblau or mymodule.my_function")
    from gradexp.imports import import_object

    try:
        return import_object(target)
    except ImportError as err:
        reason = str(err)
        raise ConfigError(f"objective._target_={target} does not import ({reason}): use "
                          "objective=<name> or the import path of a batched function") from None


def build(cfg) -> Problem:
    """Build the :class:`Problem` described by the composed ``objective`` config node.

    ``_target_`` names one of gradexp's objectives (``gradexp.objectives.<name>``) or any callable
    ``f(x[..., d]) -> [...]``; for the latter ``dim`` is required, ``bounds`` defaults to
    ``[-5, 5]`` and extra keys are passed to it as keyword arguments. ``maximize`` is accepted and
    left to the runner. Bad values raise :class:`ConfigError`.
    """
    data = _to_dict(cfg)
    if "_target_" not in data:
        raise ConfigError("objective has no _target_: choose objective=<name> (e.g. objective=himmelblau) "
                          "or set objective._target_=<module.function>")
    target = data.pop("_target_")
    obj = _locate(target)
    dim = data.pop("dim", None)
    bounds = data.pop("bounds", None)
    data.pop("maximize", None)
    if isinstance(obj, Objective):
        return obj.problem(dim=dim, bounds=bounds, **data)
    if not callable(obj):
        raise ConfigError(f"objective._target_={target} is not callable: use an objective name or a "
                          "function f(x[..., d]) -> [...]")
    return wrap_callable(target, obj, dim, bounds, data)


def wrap_callable(name: str, fn: Callable, dim, bounds=None, kwargs: Mapping[str, Any] | None = None) -> Problem:
    """Wrap a user's batched function (``x[..., dim] -> [...]``) as a Problem without known facts."""
    if dim is None:
        raise ConfigError(f"objective.dim is required for objective._target_={name}: "
                          "set objective.dim=<integer >= 1>")
    dim = _read_dim(dim, name, (1, None))
    lower, upper = read_bounds(USER_BOUNDS if bounds is None else bounds, dim, name)
    f = functools.partial(fn, **kwargs) if kwargs else fn
    return Problem(name, dim, f, lower, upper, None, (), dict(kwargs or {}))


def grid_points(values: Iterable[float], dim: int) -> list[tuple[float, ...]]:
    """Every point whose coordinates are drawn from ``values`` (first value varies slowest)."""
    points: list[tuple[float, ...]] = [()]
    values = list(values)
    for _ in range(dim):
        points = [p + (v,) for p in points for v in values]
    return points

