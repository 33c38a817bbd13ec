"""The runner against independent references: plain torch loops written here, closed forms."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from gradexp.outcome import TARGETS, target_column
from gradexp.runner import log_schedule, run
from tests.conftest import compose, same_bits
from tests.helpers import himmelblau

ELEMENTWISE = ["sgd", "adam", "adamw", "adamax", "nadam", "radam", "rmsprop", "adagrad", "adadelta", "asgd", "rprop"]
POINTS = "start.points=[[0,0],[1,-1],[-4,4],[3.5,-1.5],[-2.7,3.3]]"


def tutorial_loop(cls, kw, steps, start=(0.0, 0.0)):
    """The tutorial's loop on Himmelblau: f and x at every step 0..steps."""
    x = torch.tensor(list(start), requires_grad=True)
    o = cls([x], **kw)
    fs, xs = [], []
    for step in range(steps + 1):
        if step:
            o.zero_grad()
            f.backward()
            o.step()
        f = himmelblau(x)
        fs.append(f.item())
        xs.append(x.detach().clone().numpy())
    return fs, xs


@pytest.mark.parametrize("opt", ELEMENTWISE)
def test_batched_equals_alone_bit_for_bit(opt):
    """Every start of a batch ends exactly where it ends when run alone."""
    extra = ["optimizer.momentum=0.9"] if opt in ("sgd", "rmsprop") else []
    base = [f"optimizer={opt}", "objective=himmelblau", "run.steps=300", *extra]
    _, together = run(compose(*base, "start=points", POINTS))
    for i, row in together.iterrows():
        x = f"start.x=[{row['start_x0']!r},{row['start_x1']!r}]"
        _, alone = run(compose(*base, "start=point", x))
        assert same_bits(alone[["x0", "x1"]].to_numpy()[0], row[["x0", "x1"]].to_numpy(dtype=np.float32)), (opt, i)
        assert same_bits(alone["f_final"].to_numpy()[0], row["f_final"])


@pytest.mark.parametrize("opt,cls,kw", [
    ("sgd", torch.optim.SGD, dict(lr=0.01, momentum=0.9, nesterov=True)),
    ("adam", torch.optim.Adam, dict()),
    ("rmsprop", torch.optim.RMSprop, dict(lr=0.01)),
])
def test_matches_plain_torch_loop(opt, cls, kw):
    """The runner's path equals the tutorial-style loop written here, step for step."""
    steps = 200
    overrides = [f"optimizer.{k}={v}" for k, v in kw.items()]
    trace, summary = run(compose(f"optimizer={opt}", *overrides, "start=point", "start.x=[0,0]",
                                 f"run.steps={steps}", "run.log.every=1", "run.stop_at_target=false"))
    fs, xs = tutorial_loop(cls, kw, steps)
    assert list(trace["step"]) == list(range(steps + 1))
    assert same_bits(trace["f"].to_numpy(), np.array(fs))
    assert same_bits(trace[["x0", "x1"]].to_numpy(), np.stack(xs))


def test_lbfgs_per_start_equals_alone():
    """LBFGS couples rows, so each start gets its own optimizer: each equals a plain loop alone."""
    _, summary = run(compose("optimizer=lbfgs", "run.steps=5", "start=points", "start.points=[[0,0],[-4,4]]"))
    for i, p in enumerate([[0.0, 0.0], [-4.0, 4.0]]):
        x = torch.tensor(p, requires_grad=True)
        o = torch.optim.LBFGS([x])

        def closure():
            o.zero_grad()
            loss = himmelblau(x)
            loss.backward()
            return loss

        for _ in range(5):
            o.step(closure)
        assert same_bits(summary.loc[i, ["x0", "x1"]].to_numpy(dtype=np.float32), x.detach().numpy())


@pytest.mark.parametrize("extra, kw, sense", [
    ([], {}, 1.0),
    (["optimizer.line_search_fn=strong_wolfe", "optimizer.max_iter=5"], {"line_search_fn": "strong_wolfe", "max_iter": 5}, 1.0),
    (["objective.maximize=true", "optimizer.lr=0.1"], {"lr": 0.1}, -1.0),
])
def test_lbfgs_every_logged_step_equals_a_plain_loop(extra, kw, sense):
    """The loop's own evaluation at x_k is handed to LBFGS as its first closure call: every step's
    x and f still equal a plain LBFGS loop's (which evaluates the closure itself)."""
    steps = 40
    trace, _ = run(compose("optimizer=lbfgs", f"run.steps={steps}", "start=points", "start.points=[[0.5,-1],[-4,4]]",
                           "run.log.every=1", *extra))
    for i, p in enumerate([[0.5, -1.0], [-4.0, 4.0]]):
        x = torch.tensor(p, requires_grad=True)
        o = torch.optim.LBFGS([x], **kw)

        def closure():
            o.zero_grad()
            loss = himmelblau(x) * sense
            loss.backward()
            return loss

        xs, fs = [x.detach().clone()], [himmelblau(x).item()]
        for _ in range(steps):
            o.step(closure)
            xs.append(x.detach().clone())
            fs.append(himmelblau(x).item())
        mine = trace[trace["start"] == i]
        n = len(mine)  # a start that converged exactly stops early; the plain loop stays put after it
        assert n >= 2
        assert same_bits(mine[["x0", "x1"]].to_numpy(), torch.stack(xs[:n]).numpy())
        assert same_bits(mine["f"].to_numpy(), np.array(fs[:n], dtype=np.float32))


def test_maximize_finds_himmelblau_maximum():
    _, s = run(compose("objective.maximize=true", "start=point", "start.x=[-0.5,-1]", "optimizer=sgd",
                       "optimizer.lr=0.01", "run.steps=2000", "run.stop_at_target=false"))
    assert s.loc[0, "x0"] == pytest.approx(-0.270845, abs=1e-4)
    assert s.loc[0, "x1"] == pytest.approx(-0.923039, abs=1e-4)
    assert s.loc[0, "f_final"] == pytest.approx(181.617, abs=1e-3)
    assert s.loc[0, "minimum"] == 0  # the known maximum


def test_exact_runtimes_and_best_f():
    """rt_<Δf> is the first step with f <= f* + Δf, checked against a full plain-loop history."""
    steps = 3000
    _, s = run(compose("start=point", "start.x=[0,0]", f"run.steps={steps}"))
    fs, _ = tutorial_loop(torch.optim.Adam, {}, steps)
    fs = np.array(fs, dtype=np.float32)
    for t in TARGETS:
        reached = np.flatnonzero(fs <= np.float32(0.0 + t))
        got = s.loc[0, target_column(t)]
        if len(reached):
            assert got == reached[0], t
        else:
            assert pd.isna(got), t
    assert s.loc[0, "f_best"] == fs.min()
    assert s.loc[0, "f_start"] == 170.0


def test_divergence_isolated_and_others_untouched():
    """Starts that blow up are marked diverged and frozen; the others are bit-identical to a clean run."""
    base = ["optimizer=sgd", "optimizer.lr=0.02", "run.steps=200", "run.stop_at_target=false"]
    _, mixed = run(compose(*base, "start=points", "start.points=[[0,0],[1e4,1e4],[3.5,-1.5],[-1e4,2]]"))
    _, clean = run(compose(*base, "start=points", "start.points=[[0,0],[3.5,-1.5]]"))
    assert list(mixed["status"]) == ["max_steps", "diverged", "max_steps", "diverged"]
    assert (mixed.loc[[1, 3], "steps"] < 200).all()
    assert same_bits(mixed.loc[[0, 2], ["x0", "x1"]].to_numpy(dtype=np.float32),
                     clean[["x0", "x1"]].to_numpy(dtype=np.float32))


@pytest.mark.parametrize("factor", [1000.0, 0.5, 3.0])
def test_runaway_step_is_the_first_step_outside_the_radius(factor):
    """A finite start that runs away stops at the first step its point is more than the divergence
    radius from the box's centre (a plain loop decides); the start at the minimum goes on. Factor 0.5
    leaves the box's own starts near the edge of the divergence box (x's exact range decides)."""
    points = [[1.0, -0.75], [0.0, 0.0], [-3.0, 5.0]]
    _, s = run(compose("objective=sphere", "optimizer=sgd", "optimizer.lr=1.5", "run.steps=60",
                       f"run.diverge_factor={factor}", "start=points", f"start.points={points}",
                       "run.stop_at_target=false"))
    width = 5.12 * 2
    radius = np.float64(width / 2 + factor * width)
    for i, p in enumerate(points):
        x = torch.tensor(p, requires_grad=True)
        opt = torch.optim.SGD([x], lr=1.5)
        out = None
        for k in range(61):
            if x.detach().abs().max().item() > radius:
                out = k
                break
            if k == 60:
                break
            opt.zero_grad()
            (x ** 2).sum().backward()
            opt.step()
        if out is None:
            assert s.loc[i, "status"] == "max_steps" and s.loc[i, "steps"] == 60
        else:
            assert s.loc[i, "status"] == "diverged" and s.loc[i, "steps"] == out, (i, out)
    assert s.loc[1, "status"] == "max_steps"


def test_grad_tol_stops_and_freezes_one_start():
    """A start that converges stops there; its trace ends at its stop step; others go on."""
    _, s = run(compose("start=points", "start.points=[[3,2],[0,0]]", "run.steps=500", "run.grad_tol=1e-3"))
    assert s.loc[0, "status"] == "converged" and s.loc[0, "steps"] == 0
    assert (s.loc[0, "x0"], s.loc[0, "x1"]) == (3.0, 2.0)
    assert s.loc[1, "status"] == "max_steps" and s.loc[1, "steps"] == 500
    t, _ = run(compose("start=points", "start.points=[[3,2],[0,0]]", "run.steps=500", "run.grad_tol=1e-3"))
    assert t[t["start"] == 0]["step"].max() == 0
    assert t[t["start"] == 1]["step"].max() == 500


def test_f_target_stops():
    _, s = run(compose("start=point", "start.x=[0,0]", "run.steps=20000", "run.f_target=1e-3"))
    assert s.loc[0, "status"] == "converged"
    assert s.loc[0, "f_final"] <= 1e-3
    assert s.loc[0, "steps"] == s.loc[0, "rt_1e-3"]  # f* = 0 for Himmelblau


def test_clip_is_per_start_like_clip_grad_norm_alone():
    """Clipping uses each start's own norm: it equals torch's clip_grad_norm_ on that start alone."""
    steps = 50
    _, s = run(compose("optimizer=sgd", "optimizer.lr=0.01", "run.clip_grad_norm=1.0", f"run.steps={steps}",
                       "start=points", "start.points=[[0,0],[0.1,0.1]]"))
    for i, p in enumerate([[0.0, 0.0], [0.1, 0.1]]):
        x = torch.tensor(p, requires_grad=True)
        o = torch.optim.SGD([x], lr=0.01)
        for _ in range(steps):
            o.zero_grad()
            himmelblau(x).backward()
            torch.nn.utils.clip_grad_norm_([x], 1.0)
            o.step()
        assert same_bits(s.loc[i, ["x0", "x1"]].to_numpy(dtype=np.float32), x.detach().numpy())


def test_schedule_steps_once_per_step():
    steps = 100
    t, s = run(compose("optimizer=sgd", "optimizer.lr=0.01", "schedule=step", "schedule.step_size=10",
                       "schedule.gamma=0.5", "start=point", "start.x=[0,0]", f"run.steps={steps}", "run.log.every=1"))
    x = torch.tensor([0.0, 0.0], requires_grad=True)
    o = torch.optim.SGD([x], lr=0.01)
    sch = torch.optim.lr_scheduler.StepLR(o, step_size=10, gamma=0.5)
    lrs = []
    for _ in range(steps):
        lrs.append(o.param_groups[0]["lr"])
        o.zero_grad()
        himmelblau(x).backward()
        o.step()
        sch.step()
    lrs.append(o.param_groups[0]["lr"])
    assert np.allclose(t["lr"].to_numpy(), lrs, rtol=0, atol=0)
    assert same_bits(s.loc[0, ["x0", "x1"]].to_numpy(dtype=np.float32), x.detach().numpy())


def test_hparam_groups_equal_separate_runs():
    """Several lrs in one job (param groups) give exactly the separate jobs' results."""
    lrs = [1e-3, 1e-2, 5e-2]
    _, together = run(compose("optimizer=sgd", "optimizer.momentum=0.9", "run.steps=150", "start=grid", "start.n=3",
                              f"+run.hparams={{lr: {lrs}}}".replace("'", "")))
    assert sorted(together["optimizer.lr"].unique()) == lrs
    for lr in lrs:
        _, alone = run(compose("optimizer=sgd", "optimizer.momentum=0.9", f"optimizer.lr={lr}", "run.steps=150",
                               "start=grid", "start.n=3"))
        part = together[together["optimizer.lr"] == lr]
        assert same_bits(part[["x0", "x1", "f_final"]].to_numpy(dtype=np.float32),
                         alone[["x0", "x1", "f_final"]].to_numpy(dtype=np.float32))


def test_log_schedule_keeps_first_and_last():
    s = log_schedule(20000, 50, 1000, 10, 10**9)
    assert s[0] == 0 and s[-1] == 20000
    assert all(k in s for k in range(0, 20001, 1000))
    assert s == sorted(set(s))
    # many starts: fewer rows per start, never fewer than the first and last step
    assert len(log_schedule(20000, 100, None, 10**6, 200000)) <= 3


def test_trace_columns_and_last_step_logged():
    t, s = run(compose("start=grid", "start.n=2", "run.steps=137", "run.log.points=5"))
    assert list(t.columns[:7]) == ["start", "step", "x0", "x1", "f", "grad_norm", "lr"]
    assert list(s.columns[:7]) == ["start", "status", "steps", "f_final", "x0", "x1", "grad_norm"]
    for i, g in t.groupby("start"):
        assert g["step"].iloc[0] == 0 and g["step"].iloc[-1] == 137
        assert g["step"].is_monotonic_increasing


def test_steps_zero_evaluates_only():
    t, s = run(compose("objective=cos_squared", "start=point", "start.x=[pi/3,pi/6]", "run.steps=0"))
    assert len(t) == 1 and s.loc[0, "steps"] == 0
    assert s.loc[0, "f_final"] == pytest.approx(-1.0, rel=1e-6)
    assert s.loc[0, "grad_norm"] == pytest.approx(math.sqrt(2) * math.sqrt(3), rel=1e-5)


DIVERGING = ["optimizer=sgd", "optimizer.lr=0.02", "start=points",
             "start.points=[[0,0],[1e4,1e4],[3.5,-1.5],[-1e4,2],[1,1],[-3,-3],[4,4]]"]


# (3, 2) is a minimum (f = 0: every target at step 0); the start next to it passes several targets
# within one block of steps
AT_AND_NEAR_A_MINIMUM = ["start=points", "start.points=[[3,2],[3.001,2.001],[0,0]]", "optimizer.lr=0.05"]


@pytest.mark.parametrize("extra", [["start=grid", "start.n=4"], ["start=grid", "start.n=4", "run.f_target=1e-4"],
                                   DIVERGING, AT_AND_NEAR_A_MINIMUM])
def test_runtimes_and_best_f_agree_with_every_step_of_the_trace(extra):
    """With every step logged, rt_<Δf> is the first logged f <= f* + Δf and f_best the least f, per start.

    Covers many starts, blocks of steps, stopping (frozen starts) and diverging starts (SGD lr 0.02
    blows up from the far-away starts).
    """
    t, s = run(compose("run.steps=700", "run.log.every=1", *extra))
    for _, row in s.iterrows():
        f = t[t["start"] == row["start"]].sort_values("step")
        fv = f["f"].to_numpy(np.float32)
        for target in TARGETS:
            reached = f["step"].to_numpy()[fv <= np.float32(target)]
            got = row[target_column(target)]
            assert (pd.isna(got) and len(reached) == 0) or got == reached[0], (row["start"], target)
        finite = fv[~np.isnan(fv)]
        assert row["f_best"] == (finite.min() if len(finite) else np.inf)
    if extra == DIVERGING:
        assert (s["status"] == "diverged").any() and (s["status"] != "diverged").any()


def test_a_nan_after_targets_in_the_same_block_leaves_their_steps_exact():
    """f passes two targets, then turns NaN a few steps later (the same block of held f) while
    another start goes on: the first steps and the best f are those of a plain loop over the finite
    values; the NaN stops the start as diverged at that step."""
    from gradexp.objectives.core import Problem
    from gradexp.outcome import DIVERGED, MAX_STEPS
    from gradexp.loop import run_rows as _loop
    from gradexp.settings import Settings

    def f(x):  # x0² (f* = 0); NaN once x0 is below 0.05 where x1 > 0
        return torch.where((x[..., 0] < 0.05) & (x[..., 1] > 0), math.nan, x[..., 0] ** 2 + 0 * x[..., 1])

    problem = Problem("nan_below", 2, f, (-5.0, -5.0), (5.0, 5.0), 0.0)
    starts = [[4.0, 1.0], [3.0, 1.0], [4.0, -1.0]]
    steps = 60
    res = _loop(problem, torch.tensor(starts), lambda p: torch.optim.SGD(p, lr=0.1), None, [range(3)],
                Settings(steps=steps), [0, steps], False, 0.0)
    for i, start in enumerate(starts):
        x = torch.tensor(start, requires_grad=True)
        opt = torch.optim.SGD([x], lr=0.1)
        fs = []
        for k in range(steps + 1):
            fk = f(x[None])[0]
            fs.append(fk.item())
            if math.isnan(fs[-1]) or k == steps:
                break
            opt.zero_grad()
            fk.backward()
            opt.step()
        fs = np.array(fs, dtype=np.float32)
        for j, t in enumerate(TARGETS):
            reached = np.flatnonzero(fs <= np.float32(t))
            assert res.hits[i, j].item() == (reached[0] if len(reached) else -1), (start, t)
        assert res.f_best[i].item() == fs[~np.isnan(fs)].min()
        status = DIVERGED if np.isnan(fs[-1]) else MAX_STEPS
        assert res.status[i].item() == status and res.stop[i].item() == len(fs) - 1
    assert (res.hits[:2, 1] >= 0).all() and (res.status[:2] == DIVERGED).all()  # the case this test is about


def test_an_objective_that_is_a_view_of_x_is_logged_as_it_was():
    """f = x0 is a view of x (the optimizer changes it in place): every logged f still equals the
    x0 logged at the same step, and the path is the plain loop's x0 - lr * k."""
    t, s = run(compose("objective=expression", "objective.expr=x0", "start=point", "start.x=[1]",
                       "optimizer=sgd", "optimizer.lr=0.1", "run.steps=20", "run.log.every=1"))
    t = t.sort_values("step")
    assert len(t) == 21
    assert (t["f"].to_numpy(np.float32) == t["x0"].to_numpy(np.float32)).all()
    x = torch.tensor([1.0], requires_grad=True)
    opt = torch.optim.SGD([x], lr=0.1)
    want = []
    for _ in range(21):
        want.append(x.item())
        opt.zero_grad()
        x.sum().backward()
        opt.step()
    assert t["f"].to_numpy(np.float32).tolist() == np.float32(want).tolist()


def test_nan_to_inf_turns_only_nan_into_plus_infinity():
    from gradexp.bookkeeping import _nan_to_inf

    t = torch.tensor([math.nan, math.inf, -math.inf, 3.0e38, -0.0, 1.5, math.nan], dtype=torch.float32)
    out = _nan_to_inf(t)
    expected = [math.inf, math.inf, -math.inf, 3.0e38, -0.0, 1.5, math.inf]
    assert [float(v) for v in out] == [float(torch.tensor(e, dtype=torch.float32)) for e in expected]
    assert math.copysign(1.0, float(out[4])) == -1.0  # -0.0 kept
    assert out.dtype == torch.float32
