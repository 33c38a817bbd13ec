"""gradexp.objectives: every config file's function, facts, gradients, batching and build() errors.

Expected values come from closed forms, the tutorial's printed tables (tests/data), central finite
differences and plain torch loops written here.
"""

import csv
import dataclasses
import math
from functools import lru_cache
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from hypothesis import given, settings
from hypothesis import strategies as st

from gradexp.errors import ConfigError
from gradexp.objectives import OBJECTIVES, Critical, Problem, build
from tests.helpers import himmelblau

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
CONFIG_NAMES = sorted(p.stem for p in (ROOT / "conf" / "objective").glob("*.yaml"))
CONTRACT_NAMES = {"cos_squared", "himmelblau", "rosenbrock", "rastrigin", "ackley", "beale", "booth",
                  "goldstein_price", "six_hump_camel", "styblinski_tang", "matyas", "levi13", "sphere",
                  "quadratic", "expression"}


def _dims(name):
    lo, hi = OBJECTIVES[name].dims
    if name == "expression":  # the default formula uses x0 and x1
        lo = 2
    return [2] if hi == 2 else sorted({lo, 2, 3, 5})


CASES = [(name, dim) for name in CONFIG_NAMES for dim in _dims(name)]
IDS = [f"{name}-{dim}d" for name, dim in CASES]


def compose_objective(*overrides):
    with initialize_config_module(config_module="gradexp.conf", version_base=None):
        return compose("config", overrides=list(overrides)).objective


@lru_cache(maxsize=None)
def problem(name, dim):
    """The Problem built from the composed config (as the runner builds it)."""
    return build(compose_objective(f"objective={name}", f"objective.dim={dim}"))


def value_and_grad(p, x):
    x = torch.as_tensor(x, dtype=torch.float64).clone().requires_grad_(True)
    y = p.f(x)
    (g,) = torch.autograd.grad(y, x)
    return y.item(), g


def random_unit(n, dim, seed):
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(n, dim, generator=gen, dtype=torch.float64)
    return u / u.norm(dim=-1, keepdim=True)


# ---------------------------------------------------------------------------------------------
# the configs
def test_every_contract_objective_has_a_config():
    assert CONTRACT_NAMES <= set(CONFIG_NAMES)
    assert set(CONFIG_NAMES) == set(OBJECTIVES)


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_config_composes_and_builds(name):
    cfg = compose_objective(f"objective={name}")
    assert cfg._target_ == f"gradexp.objectives.{name}"
    assert cfg.maximize is False
    p = build(cfg)
    assert isinstance(p, Problem)
    assert p.name == name
    assert p.dim == (cfg.dim if cfg.dim is not None else 2)
    assert len(p.lower) == len(p.upper) == p.dim
    assert all(lo < hi for lo, hi in zip(p.lower, p.upper))


# ---------------------------------------------------------------------------------------------
# facts
def _facts(name, dim):
    p = problem(name, dim)
    return [(name, dim, i) for i in range(len(p.critical))]


FACT_CASES = [case for name, dim in CASES for case in _facts(name, dim)]


@pytest.mark.parametrize("name, dim, i", FACT_CASES, ids=[f"{n}-{d}d-{i}" for n, d, i in FACT_CASES])
def test_critical_point_value_and_zero_gradient(name, dim, i):
    p = problem(name, dim)
    c = p.critical[i]
    assert len(c.x) == dim
    f, g = value_and_grad(p, c.x)
    assert f == pytest.approx(c.f, rel=1e-10, abs=1e-10)
    assert g.abs().max().item() <= 1e-6 * max(1.0, abs(c.f))
    assert all(lo <= v <= hi for v, lo, hi in zip(c.x, p.lower, p.upper))


@pytest.mark.parametrize("name, dim, i", FACT_CASES, ids=[f"{n}-{d}d-{i}" for n, d, i in FACT_CASES])
def test_critical_point_kind(name, dim, i):
    p = problem(name, dim)
    c = p.critical[i]
    x = torch.tensor(c.x, dtype=torch.float64)
    f0 = p.f(x).item()
    if c.kind == "saddle":
        hessian = torch.autograd.functional.hessian(p.f, x)
        eig = torch.linalg.eigvalsh(hessian)
        assert eig.min().item() < 0 < eig.max().item()
        return
    ball = p.f(x + 1e-3 * random_unit(64, dim, seed=i))
    if c.kind.endswith("min"):
        assert torch.all(ball > f0).item()
    else:
        assert torch.all(ball < f0).item()


@pytest.mark.parametrize("name, dim", CASES, ids=IDS)
def test_f_star_is_the_lowest_value_in_the_bounds(name, dim):
    p = problem(name, dim)
    minima = [c for c in p.critical if c.kind == "global_min"]
    if name == "expression":
        assert p.f_star is None and p.critical == ()
        return
    assert minima and p.f_star == min(c.f for c in minima)
    gen = torch.Generator().manual_seed(dim)
    lo, hi = torch.tensor(p.lower, dtype=torch.float64), torch.tensor(p.upper, dtype=torch.float64)
    x = lo + (hi - lo) * torch.rand(4000, dim, generator=gen, dtype=torch.float64)
    assert p.f(x).min().item() >= p.f_star - 1e-9


def test_optima_for_each_sense():
    gp = problem("goldstein_price", 2)
    f_opt, points = gp.optima(False)
    assert f_opt == 3.0
    assert [c.f for c in points] == [3.0, 30.0, 84.0, 840.0]
    assert [c.kind for c in points] == ["global_min"] + ["local_min"] * 3
    assert gp.optima(True) == (None, ())

    hb = problem("himmelblau", 2)
    f_opt, points = hb.optima(False)
    assert f_opt == 0.0 and len(points) == 4 and points[0].x == (3.0, 2.0)
    f_opt, points = hb.optima(True)
    assert f_opt == pytest.approx(181.617, abs=1e-3)
    assert [c.kind for c in points] == ["local_max"]
    assert points[0].x == pytest.approx((-0.270845, -0.923039), abs=1e-6)

    cs = problem("cos_squared", 2)
    f_opt, points = cs.optima(False)
    assert f_opt == -4.0 and points[0].x == (0.0, 0.0)
    f_opt, points = cs.optima(True)
    assert f_opt == 0.0 and all(c.kind == "global_max" for c in points)


def test_literature_values():
    hb = {c.x: c for c in problem("himmelblau", 2).critical}
    literature = [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)]
    for point in literature:
        assert any(c.kind == "global_min" and max(abs(a - b) for a, b in zip(c.x, point)) < 1e-6
                   for c in hb.values())
    camel = problem("six_hump_camel", 2)
    assert camel.f_star == pytest.approx(-1.0316, abs=1e-4)
    assert camel.critical[0].x == pytest.approx((0.0898, -0.7126), abs=1e-4)
    st5 = problem("styblinski_tang", 5)
    assert st5.f_star == pytest.approx(-39.16617 * 5, abs=1e-4)
    assert st5.critical[0].x == pytest.approx((-2.903534,) * 5, abs=1e-6)
    assert problem("rosenbrock", 5).critical[0].x == (1.0,) * 5
    assert problem("cos_squared", 3).f_star == -9.0


@pytest.mark.parametrize(
    "name, point, expected",
    [
        ("himmelblau", (0.0, 0.0), 170.0),        # the tutorial's step 0
        ("cos_squared", (0.0, 0.0), -4.0),
        ("rosenbrock", (0.0, 0.0, 0.0), 2.0),
        ("rastrigin", (0.5, 0.5), 40.5),
        ("beale", (0.0, 0.0), 1.5**2 + 2.25**2 + 2.625**2),
        ("booth", (0.0, 0.0), 74.0),
        ("goldstein_price", (0.0, 0.0), 600.0),
        ("matyas", (1.0, 1.0), 0.04),
        ("levi13", (0.0, 0.0), 2.0),
        ("sphere", (1.0, 2.0), 5.0),
        ("styblinski_tang", (1.0, 1.0), 0.5 * (1 - 16 + 5) * 2),
        ("ackley", (0.0, 0.0), 0.0),
        ("ackley", (1.0, 1.0), -20 * math.exp(-0.2) - math.e + 20 + math.e),
        ("six_hump_camel", (1.0, 1.0), 4 - 2.1 + 1 / 3 + 1),
        ("quadratic", (1.0, 1.0, 1.0), 0.5 * (1 + 10 + 100)),
        ("expression", (0.0, 0.0), 170.0),
    ],
)
def test_closed_form_values(name, point, expected):
    p = problem(name, len(point))
    assert p.f(torch.tensor(point, dtype=torch.float64)).item() == pytest.approx(expected, rel=1e-13, abs=1e-13)


# ---------------------------------------------------------------------------------------------
# gradients and batching
@pytest.mark.parametrize("name, dim", CASES, ids=IDS)
@settings(max_examples=15, deadline=None)
@given(u=st.lists(st.floats(0.02, 0.98), min_size=5, max_size=5))
def test_gradient_matches_central_differences(name, dim, u):
    p = problem(name, dim)
    lo, hi = torch.tensor(p.lower, dtype=torch.float64), torch.tensor(p.upper, dtype=torch.float64)
    x = lo + (hi - lo) * torch.tensor(u[:dim] + [0.5] * (dim - len(u[:dim])), dtype=torch.float64)
    f, g = value_and_grad(p, x)
    h = 1e-6 * max(1.0, x.abs().max().item())
    eye = torch.eye(dim, dtype=torch.float64)
    fd = torch.stack([(p.f(x + h * e) - p.f(x - h * e)) / (2 * h) for e in eye])
    tol = 1e-5 * (1 + g.abs()) + 1e-9 * abs(f) / h
    assert torch.all((g - fd).abs() <= tol).item(), (x, g, fd)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name, dim", CASES, ids=IDS)
def test_batch_equals_each_point_alone(name, dim, dtype):
    p = problem(name, dim)
    gen = torch.Generator().manual_seed(1)
    lo, hi = torch.tensor(p.lower, dtype=dtype), torch.tensor(p.upper, dtype=dtype)
    x = lo + (hi - lo) * torch.rand(4, 16, dim, generator=gen, dtype=dtype)
    x.requires_grad_(True)
    y = p.f(x)
    assert y.shape == (4, 16) and y.dtype == dtype
    (grad,) = torch.autograd.grad(y.sum(), x)
    for i in range(4):
        for j in range(16):
            xi = x[i, j].detach().clone().requires_grad_(True)
            yi = p.f(xi)
            assert torch.equal(yi, y[i, j])
            assert torch.equal(torch.autograd.grad(yi, xi)[0], grad[i, j])
    assert torch.equal(p.f(x.reshape(64, dim)), y.reshape(64))
    assert p.f(x[:0].reshape(0, dim)).shape == (0,)


@pytest.mark.parametrize("name, dim", CASES, ids=IDS)
def test_float64_is_computed_in_float64(name, dim):
    p = problem(name, dim)
    x64 = torch.tensor([(lo + 0.3 * (hi - lo)) for lo, hi in zip(p.lower, p.upper)], dtype=torch.float64)
    y64 = p.f(x64)
    assert y64.dtype == torch.float64
    # float64 input gives the float64 value, not a float32 one widened: a move far below float32's
    # resolution (x + 1e-10 of the bounds' width rounds to the same float32 x) still changes f
    y32 = p.f(x64.float()).double()
    moved = x64 + 1e-10 * torch.tensor([hi - lo for lo, hi in zip(p.lower, p.upper)], dtype=torch.float64)
    assert torch.equal(moved.float(), x64.float())
    assert p.f(moved).item() != y64.item()
    assert abs(y64.item() - y32.item()) <= 1e-4 * (1 + abs(y64.item()))


# ---------------------------------------------------------------------------------------------
# the tutorial, bit for bit
def test_cos_squared_float32_tutorial_gradient():
    p = problem("cos_squared", 2)
    x = torch.tensor([math.pi / 3, math.pi / 6], requires_grad=True)
    f = p.f(x)
    assert f.dtype == torch.float32 and f.shape == ()
    assert f.item() == -1.0
    f.backward()
    assert torch.allclose(x.grad, torch.tensor([1.7321, 1.7321]), atol=5e-5)
    # the tutorial's own expression gives the same bits
    y = torch.tensor([math.pi / 3, math.pi / 6], requires_grad=True)
    g = -((y.cos() ** 2).sum()) ** 2
    g.backward()
    assert torch.equal(f.detach(), g.detach()) and torch.equal(x.grad, y.grad)


def _table(name):
    with open(DATA / name, newline="") as fh:
        return list(csv.DictReader(fh))


def test_cos_squared_reproduces_the_tutorial_sgd_loop():
    """Our f in the tutorial's SGD loop: the same bits as the tutorial's own formula in this torch,
    and the tutorial's printed table to float32 precision (its last bits came from another build)."""
    rows = _table("seed_sgd.csv")
    f_obj = problem("cos_squared", 2).f

    def tutorial_func(x):
        return - ((x.cos() ** 2).sum()) ** 2

    x = torch.tensor([math.pi / 3, math.pi / 6], requires_grad=True)
    y = torch.tensor([math.pi / 3, math.pi / 6], requires_grad=True)
    opt_x = torch.optim.SGD([x], lr=0.1, momentum=0)
    opt_y = torch.optim.SGD([y], lr=0.1, momentum=0)
    f, g = f_obj(x), tutorial_func(y)
    for step, row in enumerate(rows):
        if step:
            for opt, val in ((opt_x, f), (opt_y, g)):
                opt.zero_grad()
                val.backward()
                opt.step()
        f, g = f_obj(x), tutorial_func(y)
        assert torch.equal(x, y) and torch.equal(f, g), step
        assert x.tolist() == pytest.approx([float(row["x0"]), float(row["x1"])], rel=1e-5, abs=1e-9), step
        assert f.item() == pytest.approx(float(row["f"]), rel=1e-6), step


def test_himmelblau_reproduces_the_tutorial_adam_table():
    rows = {int(r["step"]): r for r in _table("seed_adam_himmelblau.csv")}
    f_obj = problem("himmelblau", 2).f

    x = torch.tensor([0.0, 0.0], requires_grad=True)
    opt = torch.optim.Adam([x])
    for step in range(3001):
        if step:
            opt.zero_grad()
            f.backward()
            opt.step()
        f = f_obj(x)
        assert torch.equal(f, himmelblau(x)), step
        if step in rows:
            assert x.tolist() == pytest.approx([float(rows[step]["x0"]), float(rows[step]["x1"])], rel=1e-4)
            assert f.item() == pytest.approx(float(rows[step]["f"]), rel=1e-3)


def test_expression_default_equals_himmelblau_bitwise():
    expr, hb = problem("expression", 2), problem("himmelblau", 2)
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(50, 2, generator=gen) * 10 - 5
    assert torch.equal(expr.f(x), hb.f(x))


def test_quadratic_condition_number():
    p = build(compose_objective("objective=quadratic", "objective.dim=4", "objective.cond=1e4"))
    x = torch.zeros(4, dtype=torch.float64)
    eig = torch.linalg.eigvalsh(torch.autograd.functional.hessian(p.f, x))
    assert eig.max().item() / eig.min().item() == pytest.approx(1e4, rel=1e-12)
    assert eig.min().item() == pytest.approx(1.0, rel=1e-12)
    assert build(compose_objective("objective=quadratic", "objective.dim=1")).f(
        torch.tensor([2.0])).item() == 2.0


# ---------------------------------------------------------------------------------------------
# build(): bounds, user callables, errors
def test_bounds_override():
    p = build(compose_objective("objective=rosenbrock", "objective.dim=3", "objective.bounds=[-1,pi]"))
    assert p.lower == (-1.0,) * 3 and p.upper == (math.pi,) * 3
    p = build(compose_objective("objective=himmelblau", "objective.bounds=[[0,1],[-2,'2*e']]"))
    assert p.lower == (0.0, -2.0) and p.upper == (1.0, 2 * math.e)


def my_func(x, scale=1.0):
    """A user objective: scale · Σ |x_i|³ (batched on the last axis)."""
    return scale * (x.abs() ** 3).sum(-1)


def test_user_callable_target():
    target = f"{__name__}.my_func"
    p = build(compose_objective("objective=sphere", f"objective._target_={target}", "objective.dim=3"))
    assert p.name == target and p.dim == 3
    assert p.lower == (-5.0,) * 3 and p.upper == (5.0,) * 3
    assert p.f_star is None and p.critical == () and p.optima(False) == (None, ())
    x = torch.tensor([[1.0, -2.0, 0.5], [0.0, 0.0, 1.0]])
    assert torch.equal(p.f(x), torch.tensor([1 + 8 + 0.125, 1.0]))
    p = build({"_target_": target, "dim": 2, "bounds": [-1, 1], "scale": 2.0, "maximize": True})
    assert p.lower == (-1.0, -1.0) and p.f(torch.tensor([1.0, 1.0])).item() == 4.0
    with pytest.raises(ConfigError, match="objective.dim is required"):
        build({"_target_": target})


@pytest.mark.parametrize(
    "overrides, match",
    [
        (["objective=himmelblau", "objective.dim=3"], r"objective.dim=3 .*himmelblau.*dim 2 only"),
        (["objective=six_hump_camel", "objective.dim=1"], r"objective.dim=1 .*dim 2 only"),
        (["objective=rosenbrock", "objective.dim=1"], r"objective.dim=1 .*rosenbrock.*>= 2"),
        (["objective=sphere", "objective.dim=0"], r"objective.dim=0 .*>= 1"),
        (["objective=sphere", "objective.dim=2.5"], r"objective.dim=2.5"),
        (["objective=sphere", "objective.dim=abc"], r"objective.dim='abc'"),
        (["objective=quadratic", "objective.cond=0.5"], r"objective.cond=0.5 .*>= 1"),
        (["objective=quadratic", "objective.cond=-3"], r"objective.cond=-3 .*>= 1"),
        (["objective=quadratic", "objective.cond=foo"], r"objective.cond='foo' .*>= 1"),
        (["objective=himmelblau", "objective._target_=no_such_module.f"], r"no_such_module.f does not import"),
        (["objective=himmelblau", "objective._target_=gradexp.objectives.nope"], r"does not import"),
        (["objective=himmelblau", "objective._target_=math.pi"], r"math.pi is not callable"),
        (["objective=himmelblau", "+objective.foo=1"], r"unknown key objective.foo .*himmelblau"),
        (["objective=quadratic", "+objective.condition=3"], r"unknown key objective.condition .*cond"),
        (["objective=himmelblau", "objective.bounds=[1]"], r"objective.bounds=\[1\]"),
        (["objective=himmelblau", "objective.bounds=[3,1]"], r"lo < hi"),
        (["objective=himmelblau", "objective.bounds=[[0,1]]"], r"2 pairs"),
        (["objective=himmelblau", "objective.bounds=[0,foo]"], r"objective.bounds"),
        (["objective=expression", "objective.expr=x0+x3", "objective.dim=2"], r"x3 needs dim >= 4"),
        (["objective=expression", "objective.expr='__import__(\"os\")'"], r"cannot read expression"),
        (["objective=expression", "objective.expr=3"], r"objective.expr=3"),
    ],
)
def test_build_errors(overrides, match):
    with pytest.raises(ConfigError, match=match):
        build(compose_objective(*overrides))


def test_build_without_target():
    with pytest.raises(ConfigError, match="_target_"):
        build({"dim": 2})


def test_expression_dim_is_inferred_or_given():
    p = build(compose_objective("objective=expression", "objective.expr='x0**2 + x3**2'"))
    assert p.dim == 4 and p.f_star is None
    p = build(compose_objective("objective=expression", "objective.expr='x0**2'", "objective.dim=3"))
    assert p.dim == 3
    assert p.f(torch.tensor([[2.0, 5.0, 7.0]])).tolist() == [4.0]


def test_objectives_are_callable_and_facts_are_frozen():
    from gradexp.objectives import himmelblau

    assert himmelblau(torch.tensor([3.0, 2.0])).item() == 0.0
    c = Critical((1.0,), 0.0, "global_min")
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'f'"):
        c.f = 1.0
    with pytest.raises(ValueError, match="kind 'minimum' is not one of"):
        Critical((1.0,), 0.0, "minimum")
