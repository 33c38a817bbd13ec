"""N-dimensional test functions (any dim within their rule), the tutorial's cos_squared and
the user-formula objective ``expression``.

Every function reduces only over the last axis, so rows of a batch are independent; constants
are Python numbers, so float64 input is evaluated in float64 throughout. Powers are written with
exponents 2 and 3 only (``x**4`` as ``(x**2)**2``): torch computes other powers differently in
its vectorised and scalar loops, which would make a point's value depend on its place in a batch.
"""

from __future__ import annotations

import math

import torch

from gradexp.errors import ConfigError
from gradexp.objectives.core import Critical, Objective, grid_points
from gradexp.safe_expr import compile_expression, parse_number

_2PI = 2 * math.pi
_FULL_LIST = 3  # list every symmetric copy of an optimum up to this dim


def _cos_squared(x: torch.Tensor) -> torch.Tensor:
    """The tutorial's −(Σ cos² x_i)², written exactly as there so float32 bits match."""
    return -((x.cos() ** 2).sum(-1)) ** 2


def _cos_squared_facts(dim, params):
    origin = (0.0,) * dim
    minima = [Critical(origin, -float(dim * dim), "global_min")]
    maxima = [Critical((math.pi / 2,) * dim, 0.0, "global_max")]
    if dim <= _FULL_LIST:
        minima += [Critical(p, -float(dim * dim), "global_min")
                   for p in grid_points((0.0, -math.pi, math.pi), dim) if p != origin]
        maxima = [Critical(p, 0.0, "global_max")
                  for p in grid_points((math.pi / 2, -math.pi / 2), dim)]
    return tuple(minima + maxima)


cos_squared = Objective(
    name="cos_squared", fn=_cos_squared, bounds=(-math.pi, math.pi), dims=(1, None),
    facts=_cos_squared_facts,
)


def _rosenbrock(x: torch.Tensor) -> torch.Tensor:
    """Rosenbrock: Σ 100(x_{i+1} − x_i²)² + (1 − x_i)²."""
    head, tail = x[..., :-1], x[..., 1:]
    return (100 * (tail - head**2)**2 + (1 - head)**2).sum(-1)


rosenbrock = Objective(
    name="rosenbrock", fn=_rosenbrock, bounds=(-2.048, 2.048), dims=(2, None),
    facts=lambda dim, params: (Critical((1.0,) * dim, 0.0, "global_min"),),
)


def _rastrigin(x: torch.Tensor) -> torch.Tensor:
    """Rastrigin (A = 10): 10d + Σ (x_i² − 10 cos(2πx_i))."""
    return 10 * x.shape[-1] + (x**2 - 10 * torch.cos(_2PI * x)).sum(-1)


# The nearest local minima: one coordinate at ±0.99496 (root of x + 10π sin 2πx = 0), rest 0.
_RASTRIGIN_X1 = 0.9949586376523348
_RASTRIGIN_F1 = 0.9949590570932916


def _rastrigin_facts(dim, params):
    facts = [Critical((0.0,) * dim, 0.0, "global_min")]
    for i in range(dim):
        for sign in (1.0, -1.0):
            x = [0.0] * dim
            x[i] = sign * _RASTRIGIN_X1
            facts.append(Critical(tuple(x), _RASTRIGIN_F1, "local_min"))
    return tuple(facts)


rastrigin = Objective(
    name="rastrigin", fn=_rastrigin, bounds=(-5.12, 5.12), dims=(1, None), facts=_rastrigin_facts,
)


def _ackley(x: torch.Tensor) -> torch.Tensor:
    """Ackley (a=20, b=0.2, c=2π): −20 exp(−0.2 ‖x‖/√d) − exp(mean cos 2πx_i) + 20 + e.

    ‖x‖/√d equals sqrt(mean x_i²); the norm's gradient at the origin is taken as 0 (a subgradient),
    so a start at the minimum stays there instead of turning into NaN.
    """
    d = x.shape[-1]
    radius = torch.linalg.vector_norm(x, dim=-1) / math.sqrt(d)
    return -20 * torch.exp(-0.2 * radius) - torch.exp(torch.cos(_2PI * x).mean(-1)) + 20 + math.e


ackley = Objective(
    name="ackley", fn=_ackley, bounds=(-32.768, 32.768), dims=(1, None),
    facts=lambda dim, params: (Critical((0.0,) * dim, 0.0, "global_min"),),
)


def _styblinski_tang(x: torch.Tensor) -> torch.Tensor:
    """Styblinski–Tang: ½ Σ (x_i⁴ − 16x_i² + 5x_i)."""
    x2 = x**2
    return 0.5 * (x2**2 - 16 * x2 + 5 * x).sum(-1)


# Per-axis minima of ½(t⁴ − 16t² + 5t): the global one and the other local one.
_ST_X, _ST_F = -2.903534027771177, -39.16616570377141
_ST_X2, _ST_F2 = 2.746802770990837, -25.02944665528394


def _styblinski_tang_facts(dim, params):
    facts = [Critical((_ST_X,) * dim, _ST_F * dim, "global_min")]
    if dim <= _FULL_LIST:
        others = [p for p in grid_points((_ST_X, _ST_X2), dim) if p != (_ST_X,) * dim]
        others.sort(key=lambda p: sum(v == _ST_X2 for v in p))
    else:
        others = [(_ST_X2,) * dim]
    for p in others:
        n2 = sum(v == _ST_X2 for v in p)
        facts.append(Critical(p, _ST_F * (dim - n2) + _ST_F2 * n2, "local_min"))
    return tuple(facts)


styblinski_tang = Objective(
    name="styblinski_tang", fn=_styblinski_tang, bounds=(-5.0, 5.0), dims=(1, None),
    facts=_styblinski_tang_facts,
)


def _sphere(x: torch.Tensor) -> torch.Tensor:
    """Sphere: Σ x_i²."""
    return (x**2).sum(-1)


sphere = Objective(
    name="sphere", fn=_sphere, bounds=(-5.12, 5.12), dims=(1, None),
    facts=lambda dim, params: (Critical((0.0,) * dim, 0.0, "global_min"),),
)


def quadratic_coefficients(dim: int, cond: float) -> list[float]:
    """c_i = cond^(i/(d−1)) for i = 0..d−1 (c = [1] when d = 1), in double precision."""
    if dim == 1:
        return [1.0]
    return [float(cond) ** (i / (dim - 1)) for i in range(dim)]


def _quadratic(x: torch.Tensor, cond: float = 100.0) -> torch.Tensor:
    """Ill-conditioned quadratic: ½ Σ c_i x_i², c_i = cond^(i/(d−1)) (condition number cond)."""
    c = torch.tensor(quadratic_coefficients(x.shape[-1], cond), dtype=x.dtype, device=x.device)
    return 0.5 * (c * x**2).sum(-1)


def _check_cond(params):
    value = params["cond"]
    try:
        cond = parse_number(value)
    except ConfigError:
        cond = math.nan
    if not cond >= 1 or not math.isfinite(cond):
        raise ConfigError(f"objective.cond={value!r} is not accepted for quadratic: use a number >= 1 "
                          "(the ratio of the largest to the smallest curvature)")
    return {**params, "cond": cond}


def _make_quadratic(dim, params):
    coefficients = quadratic_coefficients(dim, params["cond"])

    def f(x: torch.Tensor) -> torch.Tensor:
        c = torch.tensor(coefficients, dtype=x.dtype, device=x.device)
        return 0.5 * (c * x**2).sum(-1)

    return f, dim


quadratic = Objective(
    name="quadratic", fn=_quadratic, bounds=(-5.0, 5.0), dims=(1, None), params={"cond": 100.0},
    check=_check_cond, make=_make_quadratic,
    facts=lambda dim, params: (Critical((0.0,) * dim, 0.0, "global_min"),),
)

HIMMELBLAU_EXPR = "(x0**2 + x1 - 11)**2 + (x0 + x1**2 - 7)**2"


def _expression(x: torch.Tensor, expr: str = HIMMELBLAU_EXPR) -> torch.Tensor:
    """Evaluate a formula of x0..x{d-1} (see gradexp.safe_expr) on a batch."""
    f, _ = compile_expression(expr, x.shape[-1])
    return f(x)


def _check_expr(params):
    expr = params["expr"]
    if not isinstance(expr, str):
        raise ConfigError(f"objective.expr={expr!r} is not accepted: use a formula string of "
                          "x0..x{d-1}, e.g. 'objective.expr=\"x0**2 + 3*x1**2\"'")
    return params


def _make_expression(dim, params):
    return compile_expression(params["expr"], dim)


expression = Objective(
    name="expression", fn=_expression, bounds=(-5.0, 5.0), dims=(1, None), default_dim=2,
    params={"expr": HIMMELBLAU_EXPR}, check=_check_expr, make=_make_expression, infer_dim=True,
)
