"""report.targets: which Δf targets a run records exactly (rt_* / evals_* columns), the default
stopping rule that follows the tightest, the closing line, the sweep report and bad values.

Expected runtimes come from plain torch loops written here (the first step whose float32 f is at or
below float32(f* + Δf)) or, for the approximate engines, from every logged step of their own trace.
"""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import gradexp
from gradexp.errors import ConfigError
from gradexp.outcome import COCO_TARGETS, TARGETS, parse_targets, target_column
from tests.conftest import compose, run_cli_inprocess
from tests.helpers import first_step, himmelblau, plain_loop

POINTS = "start.points=[[0,0],[-1,-1],[4,-4],[-4.5,4.5]]"


def _expected_rt(fs, delta, f_star=0.0):
    threshold = np.float32(f_star + delta)  # the threshold is compared in float32, as f is
    return first_step(fs <= threshold)


# ---------------------------------------------------------------------------------------------
# the setting itself

def test_named_sets_and_lists():
    assert parse_targets(None) == parse_targets("default") == (10.0, 0.1, 1e-3, 1e-5, 1e-7)
    # COCO's ladder: 10^2 .. 10^-8, five per decade, loosest first
    assert len(COCO_TARGETS) == 51 and COCO_TARGETS[0] == 100.0 and COCO_TARGETS[-1] == 1e-8
    assert all(math.isclose(t, 10 ** (2 - 0.2 * i), rel_tol=1e-13) for i, t in enumerate(COCO_TARGETS))
    assert parse_targets("coco") == COCO_TARGETS
    # a list: sorted loosest first, repeats once, a single number is one target
    assert parse_targets([1e-3, 10, 0.5, 1e-3]) == (10.0, 0.5, 1e-3)
    assert parse_targets(0.25) == (0.25,)


def test_coco_ladder_never_above_cocopps_own_targets():
    """A line written at one of our targets must read as reached at cocopp's value of that target."""
    cocopp = pytest.importorskip("cocopp.testbedsettings", reason="cocopp (pip install cocopp)")
    theirs = np.asarray(cocopp.GECCOBBOBTestbed.settings["pprldmany_target_values"], dtype=float)
    assert len(theirs) == len(COCO_TARGETS)
    assert all(ours <= t and math.isclose(ours, t, rel_tol=1e-13) for ours, t in zip(COCO_TARGETS, theirs))
    for t in cocopp.GECCOBBOBTestbed.settings["ppfigdim_target_values"]:  # the tables' targets: ours exactly
        assert any(ours == t for ours in COCO_TARGETS), t


@pytest.mark.parametrize("value", ["cocoa", [], [1, 0], [1, -1e-3], [1, float("inf")], [True], "[1,2]", {"a": 1},
                                   [1e-3] * 0 + [float(10 ** -k) for k in range(101)]])
def test_bad_values_are_refused_in_one_line(value):
    with pytest.raises(ConfigError) as err:
        parse_targets(value)
    text = str(err.value)
    assert "report.targets" in text and "\n" not in text


def test_the_command_line_refuses_bad_targets_before_running(tmp_path):
    done = run_cli_inprocess(["report.targets=[1,0]", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("gradexp: error: report.targets=[1, 0] is not accepted")
    assert "Traceback" not in done.stderr and not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------------------------
# runs: the recorded runtimes against plain loops

@pytest.mark.parametrize("spec", ["[30,0.5,1e-2,1e-4]", "coco"])
def test_exact_loop_records_each_target_as_a_plain_loop_reaches_it(spec):
    steps = 400
    cfg = compose("optimizer=adam", "optimizer.lr=0.05", f"run.steps={steps}", "run.stop_at_target=false",
                  "start=points", POINTS, f"report.targets={spec}")
    _, summary = gradexp.run(cfg)
    targets = parse_targets([30, 0.5, 1e-2, 1e-4] if spec != "coco" else "coco")
    rt_cols = [c for c in summary.columns if c.startswith("rt_")]
    assert rt_cols == [target_column(t) for t in targets]  # one column per target, loosest first
    assert [c for c in summary.columns if c.startswith("evals_")] == ["evals_" + c[3:] for c in rt_cols]
    reached = 0
    for i, start in enumerate([[0, 0], [-1, -1], [4, -4], [-4.5, 4.5]]):
        fs, _ = plain_loop(torch.optim.Adam, {"lr": 0.05}, steps, start)
        for t in targets:
            want = _expected_rt(fs, t)
            got = summary.loc[i, target_column(t)]
            assert (pd.isna(got) and math.isnan(want)) or got == want, (i, t)
            reached += not math.isnan(want)
            ev = summary.loc[i, "evals_" + target_column(t)[3:]]
            assert (pd.isna(ev) and math.isnan(want)) or ev == want + 1  # evaluation k + 1 at step k
    assert reached >= 2 * len(targets)  # most targets are reached by some start


def test_default_stop_follows_the_tightest_target():
    cfg = compose("optimizer=adam", "optimizer.lr=0.05", "run.steps=3000", "start=points", POINTS,
                  "report.targets=[1,1e-2]")
    _, summary = gradexp.run(cfg)
    for i, start in enumerate([[0, 0], [-1, -1], [4, -4], [-4.5, 4.5]]):
        fs, _ = plain_loop(torch.optim.Adam, {"lr": 0.05}, 3000, start)
        stop = _expected_rt(fs, 1e-2)
        assert not math.isnan(stop)
        assert summary.loc[i, "status"] == "converged" and summary.loc[i, "steps"] == stop
        assert summary.loc[i, "rt_1e-2"] == stop
        assert summary.loc[i, "f_final"] == pytest.approx(fs[int(stop)], rel=1e-6)


def test_closing_line_names_the_tightest_target(tmp_path):
    done = run_cli_inprocess(["optimizer.lr=0.05", "run.steps=3000", "start=points", POINTS,
                              "report.targets=[1,1e-2]", "plot.enabled=false", f"hydra.run.dir={tmp_path / 'r'}"],
                             tmp_path)
    assert done.returncode == 0, done.stderr
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("gradexp: 4 starts")][0]
    assert "4 reached f* + 1e-2 (f* = 0)" in line


@pytest.mark.parametrize("engine", ["vector", "compiled"])
def test_fast_engines_record_the_targets_their_own_steps_reach(engine):
    """The approximate engines: each rt_ is the first of their own (logged every step) f at or below the target."""
    if engine == "compiled" and not hasattr(torch, "compile"):
        pytest.skip("torch.compile is not available")
    targets = [50, 3, 0.2, 1e-3]
    cfg = compose("optimizer=adam", "optimizer.lr=0.05", f"run.engine={engine}", "run.steps=150", "run.log.every=1",
                  "run.stop_at_target=false", "start=points", POINTS, f"report.targets={targets}")
    trace, summary = gradexp.run(cfg)
    n_reached = 0
    for i in range(4):
        fs = trace[trace["start"] == i].sort_values("step")["f"].to_numpy(np.float32)
        assert len(fs) == 151
        for t in targets:
            want = _expected_rt(fs, t)
            got = summary.loc[i, target_column(t)]
            assert (pd.isna(got) and math.isnan(want)) or got == want, (i, t)
            n_reached += not math.isnan(want)
    assert n_reached >= 8


def test_maximizing_records_targets_below_the_maximum():
    f_max = 181.61652  # Himmelblau's local maximum (README "Objectives")
    cfg = compose("objective.maximize=true", "optimizer=adam", "optimizer.lr=0.01", "run.steps=600",
                  "run.stop_at_target=false", "start=points", "start.points=[[-0.5,-1],[0,-0.5]]",
                  "report.targets=[1,1e-2]")
    _, summary = gradexp.run(cfg)
    f_star = float(summary["f_star"].iloc[0])
    assert f_star == pytest.approx(f_max, rel=1e-6)
    for i, start in enumerate([[-0.5, -1], [0, -0.5]]):
        fs, _ = plain_loop(torch.optim.Adam, {"lr": 0.01}, 600, start, f=himmelblau, maximize=True)
        for t in (1, 1e-2):
            want = first_step(fs >= np.float32(f_star - t))
            got = summary.loc[i, target_column(t)]
            assert (pd.isna(got) and math.isnan(want)) or got == want
        assert not pd.isna(summary.loc[i, "rt_1e0"])


# ---------------------------------------------------------------------------------------------
# the sweep report

def _sweep(tmp_path, *overrides):
    out = tmp_path / "sweep"
    done = run_cli_inprocess(["-m", "optimizer=adam,sgd", "optimizer.lr=0.01", "run.steps=200", "start=points",
                              POINTS, "plot.enabled=false", *overrides, f"hydra.sweep.dir={out}"], tmp_path)
    assert done.returncode == 0, done.stderr
    return out


def test_sweep_report_uses_the_runs_targets(tmp_path):
    out = _sweep(tmp_path, "report.targets=coco")
    metrics = pd.read_csv(out / "metrics.csv")
    table = pd.read_csv(out / "sweep_summary.csv")
    for opt in ("adam", "sgd"):
        m = metrics[metrics["optimizer"] == opt]
        assert np.allclose(m["target"], COCO_TARGETS, rtol=1e-12, atol=0)
        starts = table[table["optimizer"] == opt]
        for t in COCO_TARGETS:  # aRT = Σ cost / successes, the cost of a failure being the steps it ran
            rt = starts[target_column(t)].to_numpy(float)
            ok = np.isfinite(rt)
            want = np.where(ok, rt, starts["steps"]).sum() / ok.sum() if ok.any() else np.inf
            row = m[np.isclose(m["target"], t, rtol=1e-12, atol=0)].iloc[0]
            assert row["successes"] == ok.sum() and row["aRT"] == pytest.approx(want, rel=1e-12)
    md = (out / "report.md").read_text()
    assert "51 targets from 1e2 to 1e-8" in md
    header = [ln for ln in md.splitlines() if ln.startswith("| # | configuration")][0]
    assert [c.strip() for c in header.split("|") if c.strip().startswith("Δf=")] == \
        ["Δf=1e2", "Δf=1e0", "Δf=1e-2", "Δf=1e-4", "Δf=1e-6", "Δf=1e-8"]


def test_jobs_with_different_targets_are_reported_on_the_ones_they_share(tmp_path):
    out = _sweep(tmp_path, "report.targets=default,[10,1e-3,1e-9]")
    metrics = pd.read_csv(out / "metrics.csv")
    assert sorted(set(metrics["target"])) == [1e-3, 10.0]
    assert len(metrics) == 2 * 2 * 2  # 2 optimizers x 2 target sets, 2 shared targets each
    assert "the jobs recorded different targets" in (out / "report.md").read_text()


def test_default_targets_keep_the_five_columns():
    _, summary = gradexp.run(compose("run.steps=5", "start=points", "start.points=[[0,0]]"))
    assert [c for c in summary.columns if c.startswith("rt_")] == [target_column(t) for t in TARGETS] == \
        ["rt_1e1", "rt_1e-1", "rt_1e-3", "rt_1e-5", "rt_1e-7"]


# ---------------------------------------------------------------------------------------------
# the recorder itself, against a brute-force first step

@settings(max_examples=60, deadline=None)
@given(M=st.sampled_from([1, 2, 5, 1500]), steps=st.integers(1, 300), seed=st.integers(0, 2 ** 31),
       targets=st.lists(st.sampled_from([50.0, 10.0, 3.0, 1.0, 0.5, 0.1, 1e-2, 1e-3, 1e-8]), min_size=1, max_size=9),
       f_opt=st.sampled_from([0.0, -3.5, 79.48]), nan_rate=st.sampled_from([0.0, 0.05]))
def test_best_and_targets_equals_the_first_step_by_brute_force(M, steps, seed, targets, f_opt, nan_rate):
    from gradexp.targets import BestAndTargets

    rng = np.random.default_rng(seed)
    targets = tuple(sorted(set(targets), reverse=True))
    # noisy descents from ~100 above f* towards it, at different rates, some passing several targets at once
    k = np.arange(steps)[:, None]
    gap = 100 * np.exp(-k * rng.uniform(0.001, 0.3, M)) * np.exp(rng.normal(0, 0.5, (steps, M)))
    f = (f_opt + gap - rng.uniform(0, 1e-6, M)).astype(np.float32)
    f[rng.random((steps, M)) < nan_rate] = np.nan
    rec = BestAndTargets(M, f_opt, 1.0, torch.device("cpu"), targets)
    for i in range(steps):
        rec.update(i, torch.from_numpy(f[i].copy()), bool(np.isfinite(f[i]).all()))
    rec.flush()
    for j, t in enumerate(targets):
        below = f <= np.float32(f_opt + t)  # NaN compares false
        want = np.where(below.any(0), below.argmax(0), -1)
        assert np.array_equal(rec.hits[:, j].numpy(), want), (j, t)
    best = np.where(np.isnan(f), np.inf, f).min(0)
    assert np.array_equal(rec.f_best.numpy(), best)
