"""objective=bbob against COCO itself (cocoex, PyPI coco-experiment): values, optima, gradients, batching.

The reference numbers come from COCO's own C code through cocoex, evaluated in float64 at the same
points gradexp evaluates; gradients are checked against central finite differences.
"""

import math

import numpy as np
import pytest
import torch

from gradexp.errors import ConfigError
from gradexp.objectives import build
from gradexp.objectives.bbob import problem_function
from tests.conftest import compose

cocoex = pytest.importorskip("cocoex", reason="cocoex (pip install coco-experiment) is the reference for BBOB")

FUNCTIONS = range(1, 25)
INSTANCES = (1, 2, 7, 15)
DIMS = (2, 3, 5, 10, 20, 40)
#: not differentiable on sets a finite difference meets (f7's steps, f23's fractal)
NOT_SMOOTH = {7, 23}


@pytest.fixture(scope="module")
def suite():
    return cocoex.Suite("bbob", "instances: 1-15", "dimensions: 2,3,5,10,20,40")


def coco(suite, fn, dim, inst):
    return suite.get_problem_by_function_dimension_instance(fn, dim, inst)


def points(fn, inst, dim, dtype=np.float32):
    """Random points in the box, near x_opt (scales 1e-1 ... 1e-6) and far outside the box."""
    rng = np.random.default_rng(1000 * fn + 10 * inst + dim)
    x_opt = np.array(problem_function(fn, inst, dim).x_opt)
    near = x_opt + rng.normal(size=(12, dim)) * np.repeat(10.0 ** -np.arange(1, 7), 2)[:, None]
    far = rng.uniform(-30, 30, (8, dim))
    return np.concatenate([rng.uniform(-5, 5, (20, dim)), near, far]).astype(dtype)


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_values_equal_coco_float32_points(suite, fn):
    for inst in INSTANCES:
        for dim in DIMS:
            p, q = coco(suite, fn, dim, inst), problem_function(fn, inst, dim)
            x = points(fn, inst, dim)
            want = np.array([p(row.astype(np.float64)) for row in x])
            got = q(torch.from_numpy(x))
            assert got.dtype == torch.float32
            rel = np.abs(got.double().numpy() - want) / np.abs(want)
            assert rel.max() <= 1e-5, (fn, inst, dim, int(rel.argmax()), rel.max())


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_values_equal_coco_float64(suite, fn):
    """In float64 the values agree to rounding (a tighter check than the float32 one)."""
    for inst in (1, 15):
        for dim in (2, 5, 20):
            p, q = coco(suite, fn, dim, inst), problem_function(fn, inst, dim)
            x = points(fn, inst, dim, np.float64)
            want = np.array([p(row) for row in x])
            got = q(torch.from_numpy(x)).numpy()
            scale = np.maximum(np.abs(want), abs(q.f_opt))
            assert np.max(np.abs(got - want) / scale) <= 1e-9, (fn, inst, dim)


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_x_opt_and_f_opt_are_coco_s(suite, fn, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for inst in INSTANCES:
        for dim in (2, 10, 40):
            p, q = coco(suite, fn, dim, inst), problem_function(fn, inst, dim)
            p._best_parameter("print")
            coco_x = np.array((tmp_path / "._bbob_problem_best_parameter.txt").read_text().split(), float)
            assert np.allclose(coco_x, q.x_opt, rtol=0, atol=1e-12), (fn, inst, dim)
            assert p(np.array(q.x_opt)) == pytest.approx(q.f_opt, rel=1e-12, abs=1e-10)
            f = q(torch.tensor(q.x_opt, dtype=torch.float64)).item()
            assert f == pytest.approx(q.f_opt, rel=1e-12, abs=1e-10)


@pytest.mark.parametrize("fn", sorted(set(FUNCTIONS) - NOT_SMOOTH))
def test_gradient_matches_finite_differences(fn):
    h = {16: 1e-9, 19: 1e-8}.get(fn, 1e-6)  # f16: frequency 2π·3^11; f19: cos of values in the thousands
    for inst, dim in ((1, 2), (7, 5), (15, 10)):
        q = problem_function(fn, inst, dim)
        x = torch.from_numpy(points(fn, inst, dim, np.float64)[:20:4]).requires_grad_(True)
        (g,) = torch.autograd.grad(q(x).sum(), x)
        eye = torch.eye(dim, dtype=torch.float64)
        with torch.no_grad():
            fd = torch.stack([(q(x + h * e) - q(x - h * e)) / (2 * h) for e in eye], -1)
        scale = g.abs().amax(-1, keepdim=True) + 1.0
        assert torch.all((g - fd).abs() <= 1e-4 * scale), (fn, inst, dim, (g - fd).abs().max())


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_float32_gradient_is_the_float64_gradient_rounded(fn):
    """The float32 path computes in float64: its gradient is the float64 gradient, cast once."""
    q = problem_function(fn, 2, 5)
    x32 = torch.from_numpy(points(fn, 2, 5)).requires_grad_(True)
    x64 = x32.detach().double().requires_grad_(True)
    (g64,) = torch.autograd.grad(q(x64).sum(), x64)
    (g32,) = torch.autograd.grad(q(x32).sum(), x32)
    assert torch.equal(g32, g64.float())
    assert torch.isfinite(g32).all()


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_batch_equals_each_point_alone(fn):
    """Every row of a batch gets the bits it gets alone (the runner's exactness rests on it)."""
    q = problem_function(fn, 7, 10)
    rng = np.random.default_rng(fn)
    x = torch.from_numpy(rng.uniform(-5, 5, (2, 256, 10)).astype(np.float32)).requires_grad_(True)
    y = q(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    for i, j in ((0, 0), (0, 1), (1, 100), (1, 255)):
        xi = x[i, j].detach().clone().requires_grad_(True)
        yi = q(xi)
        assert torch.equal(yi, y[i, j]) and torch.equal(torch.autograd.grad(yi, xi)[0], g[i, j])
    assert torch.equal(q(x.detach()[:, :7]), y.detach()[:, :7])


def test_gradient_at_the_optimum_is_finite_and_zero_where_smooth():
    for fn in FUNCTIONS:
        q = problem_function(fn, 1, 5)
        x = torch.tensor(q.x_opt, dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(q(x), x)
        assert torch.isfinite(g).all(), fn
        if fn not in (5, 7):  # f5's optimum is a corner of the box; f7's the edge of a step
            assert g.abs().max().item() <= 1e-6, (fn, g)


def test_config_builds_the_coco_problem():
    p = build(compose("objective=bbob", "objective.function=10", "objective.instance=7",
                      "objective.dim=5").objective)
    q = problem_function(10, 7, 5)
    assert p.dim == 5 and p.f_star == q.f_opt and p.critical[0].x == q.x_opt
    assert p.lower == (-5.0,) * 5 and p.upper == (5.0,) * 5
    x = torch.rand(7, 5)
    assert torch.equal(p.f(x), q(x))


@pytest.mark.parametrize("override, match", [
    ("objective.function=25", r"objective.function=25 is not accepted for bbob: use an integer from 1 to 24"),
    ("objective.function=0", r"objective.function=0 is not accepted"),
    ("objective.instance=0", r"objective.instance=0 is not accepted for bbob: use an integer >= 1"),
    ("objective.dim=45", r"objective.dim=45 is not accepted for bbob: use an integer from 2 to 44"),
    ("objective.dim=1", r"objective.dim=1 is not accepted for bbob"),
])
def test_bad_values_name_what_is_accepted(override, match):
    with pytest.raises(ConfigError, match=match):
        build(compose("objective=bbob", override).objective)


def test_f_opt_rule_for_f4_and_f18():
    """COCO draws f4's f_opt from function 3's seed and f18's from 17's, with their own x_opt."""
    assert problem_function(4, 3, 2).f_opt == problem_function(3, 3, 2).f_opt
    assert problem_function(18, 3, 2).f_opt == problem_function(17, 3, 2).f_opt
    assert problem_function(18, 3, 2).x_opt == problem_function(17, 3, 2).x_opt
    assert math.isfinite(problem_function(24, 99, 44).f_opt)
