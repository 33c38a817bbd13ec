"""Property-based tests (hypothesis): batching, CSV round trips, start points.

Gradients against finite differences and the known optima (zero gradient, local minimum) are
property-tested in tests/test_objectives.py; they are not repeated here.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradexp import files
from gradexp.errors import ConfigError
from gradexp.runner import run
from gradexp.starts import make_starts
from tests.conftest import compose, same_bits


# ------------------------------------------------------------------------------------------------
# batched == alone, bit for bit, for random starts, optimizers and hyper-parameters
def hyper_parameters(opt: str):
    """A strategy of override lists for ``opt``: lr and one or two of its own keywords."""
    lr = st.sampled_from(["0.0003", "0.001", "0.01", "0.05"]).map(lambda v: [f"optimizer.lr={v}"])
    wd = st.sampled_from(["0", "0.01"]).map(lambda v: [f"optimizer.weight_decay={v}"])
    extra = {
        "sgd": st.tuples(st.sampled_from(["0", "0.5", "0.9"]), st.booleans()).map(
            lambda t: [f"optimizer.momentum={t[0]}", f"optimizer.nesterov={t[1] and t[0] != '0'}"]),
        "adam": st.tuples(st.sampled_from(["0.8", "0.9"]), st.booleans()).map(
            lambda t: [f"optimizer.betas=[{t[0]},0.999]", f"optimizer.amsgrad={t[1]}"]),
        "adamw": st.sampled_from(["0.0", "0.1"]).map(lambda v: [f"optimizer.weight_decay={v}"]),
        "rmsprop": st.tuples(st.sampled_from(["0", "0.9"]), st.booleans()).map(
            lambda t: [f"optimizer.momentum={t[0]}", f"optimizer.centered={t[1]}"]),
        "adagrad": st.sampled_from(["0", "0.01"]).map(lambda v: [f"optimizer.lr_decay={v}"]),
        "adadelta": st.sampled_from(["0.9", "0.5"]).map(lambda v: [f"optimizer.rho={v}"]),
        "rprop": st.just([]),
        "asgd": st.sampled_from(["0.0001", "0.01"]).map(lambda v: [f"optimizer.lambd={v}"]),
    }[opt]
    keys = st.tuples(lr, extra) if opt in ("adamw", "rprop") else st.tuples(lr, extra, wd)
    return keys.map(lambda parts: [ov for part in parts for ov in part])


OPTIMIZERS = ["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "rprop", "asgd"]
point = st.tuples(st.floats(-6, 6, width=32), st.floats(-6, 6, width=32))


@st.composite
def batch_case(draw):
    opt = draw(st.sampled_from(OPTIMIZERS))
    return opt, draw(hyper_parameters(opt)), draw(st.lists(point, min_size=2, max_size=5)), \
        draw(st.sampled_from(["himmelblau", "rosenbrock", "rastrigin"]))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=batch_case())
def test_batched_equals_alone(case):
    opt, hp, points, objective = case
    base = [f"objective={objective}", f"optimizer={opt}", *hp, "run.steps=40", "run.log.points=5"]
    pts = "start.points=[" + ",".join(f"[{x!r},{y!r}]" for x, y in points) + "]"
    trace, together = run(compose(*base, "start=points", pts))
    for i, (x, y) in enumerate(points):
        t_alone, alone = run(compose(*base, "start=point", f"start.x=[{x!r},{y!r}]"))
        for col in ("x0", "x1", "f_final", "grad_norm", "f_best"):
            assert same_bits(alone[col].to_numpy(), together.loc[[i], col].to_numpy()), (opt, hp, i, col)
        assert alone.loc[0, "status"] == together.loc[i, "status"] and alone.loc[0, "steps"] == together.loc[i, "steps"]
        mine = trace[trace["start"] == i].reset_index(drop=True)
        for col in ("step", "x0", "x1", "f"):
            assert same_bits(mine[col].to_numpy(), t_alone[col].to_numpy()), (opt, hp, i, col)


# ------------------------------------------------------------------------------------------------
# CSV round trip: every float32 reads back to the same bits
float32s = st.floats(width=32, allow_nan=True, allow_infinity=True)
special = st.sampled_from([0.0, -0.0, 1e-45, -1e-45, 1.17549435e-38, 3.4028235e38, -3.4028235e38, 1e-30, 0.1,
                           1 / 3, math.pi, 16777217.0])


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(float32s, special), min_size=1, max_size=50))
def test_csv_round_trip_is_exact_for_float32(values, tmp_path_factory):
    x32 = np.array(values, dtype=np.float32)
    frame = pd.DataFrame({"start": np.arange(len(x32)), "f": x32, "x0": x32.astype(np.float64), "x1": -x32})
    path = tmp_path_factory.mktemp("csv") / "trace.csv"
    files.write_csv(frame, path)
    back = pd.read_csv(path)
    for col in ("f", "x0", "x1"):
        got = back[col].to_numpy(dtype=np.float64).astype(np.float32)
        assert same_bits(got, frame[col].to_numpy()), (col, values)
        zero = frame[col].to_numpy() == 0   # signed zeros keep their sign
        assert np.array_equal(np.signbit(got[zero]), np.signbit(frame[col].to_numpy()[zero]))
    assert list(back["start"]) == list(range(len(x32)))


# ------------------------------------------------------------------------------------------------
# start points: inside the bounds, the grid's edges included, reproducible with the seed
@st.composite
def box(draw):
    dim = draw(st.integers(1, 4))
    lows = draw(st.lists(st.floats(-1e6, 1e6), min_size=dim, max_size=dim))
    widths = draw(st.lists(st.floats(1e-3, 1e3), min_size=dim, max_size=dim))  # relative to the magnitude
    lower = tuple(float(lo) for lo in lows)
    upper = tuple(lo + w * max(1.0, abs(lo)) for lo, w in zip(lower, widths))
    return SimpleNamespace(dim=dim, lower=lower, upper=upper)


def inside(x: torch.Tensor, problem) -> bool:
    """Every point within the bounds as float32 (the start tensor's precision)."""
    lo = torch.tensor(problem.lower, dtype=torch.float32)
    hi = torch.tensor(problem.upper, dtype=torch.float32)
    return bool(((x >= lo) & (x <= hi)).all())


@settings(max_examples=40, deadline=None)
@given(problem=box(), n=st.integers(1, 300), seed=st.integers(0, 2**31 - 1))
def test_uniform_starts_inside_and_reproducible(problem, n, seed):
    x = make_starts({"kind": "uniform", "n": n}, problem, seed)
    assert x.shape == (n, problem.dim) and x.dtype == torch.float32
    assert inside(x, problem)
    assert torch.equal(x, make_starts({"kind": "uniform", "n": n}, problem, seed))
    if n >= 4:
        assert not torch.equal(x, make_starts({"kind": "uniform", "n": n}, problem, seed + 1))


@settings(max_examples=40, deadline=None)
@given(problem=box(), n=st.integers(1, 9))
def test_grid_starts_cover_the_box_edges_included(problem, n):
    x = make_starts({"kind": "grid", "n": n}, problem, seed=0)
    assert x.shape == (n ** problem.dim, problem.dim) and x.dtype == torch.float32
    assert inside(x, problem)
    assert torch.equal(x, make_starts({"kind": "grid", "n": n}, problem, seed=123))   # no randomness
    for axis in range(problem.dim):
        values = torch.unique(x[:, axis])
        lo, hi = np.float32(problem.lower[axis]), np.float32(problem.upper[axis])
        if n == 1:
            assert values.numel() == 1
            assert values[0].item() == np.float32((problem.lower[axis] + problem.upper[axis]) / 2)
        else:
            assert values[0].item() == lo and values[-1].item() == hi
            assert values.numel() <= n   # float32 may merge neighbours of a very fine grid, never add


@settings(max_examples=30, deadline=None)
@given(x=st.lists(st.floats(-1e12, 1e12), min_size=2, max_size=2))
def test_point_start_is_the_float32_of_the_number(x):
    problem = SimpleNamespace(dim=2, lower=(-5.0, -5.0), upper=(5.0, 5.0))
    got = make_starts({"kind": "point", "x": x}, problem, seed=0)
    assert same_bits(got.numpy()[0], np.array(x, dtype=np.float32))
    text = make_starts({"kind": "point", "x": [repr(v) for v in x]}, problem, seed=0)   # the same as text
    assert torch.equal(got, text)


@settings(max_examples=30, deadline=None)
@given(v=st.one_of(st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: not abs(v) <= 1e12),
                   st.text(alphabet="abcxyz_()[].'\" ", min_size=1, max_size=12)))
def test_bad_start_coordinates_are_refused(v):
    problem = SimpleNamespace(dim=2, lower=(-5.0, -5.0), upper=(5.0, 5.0))
    with pytest.raises(ConfigError, match=r"start\.x\[0\]"):
        make_starts({"kind": "point", "x": [v, 0.0]}, problem, seed=0)


def test_huge_start_requests_are_refused_or_cheap():
    """A one-point grid in very many dimensions is the centre (no mesh); too many coordinates are refused."""
    dim = 200_000
    problem = SimpleNamespace(dim=dim, lower=(-1.0,) * dim, upper=(3.0,) * dim)
    x = make_starts({"kind": "grid", "n": 1}, problem, seed=0)
    assert x.shape == (1, dim) and bool((x == 1.0).all())
    with pytest.raises(ConfigError, match="start=grid with start.n=2 in 200000 dimensions"):
        make_starts({"kind": "grid", "n": 2}, problem, seed=0)
    with pytest.raises(ConfigError, match=r"start.n=300 in 200000 dimensions makes 60,000,000 coordinates"):
        make_starts({"kind": "uniform", "n": 300}, problem, seed=0)
