"""report.coco: COCO's data format from a BBOB sweep, read back by COCO's own post-processing (cocopp).

cocopp's success counts and aRT are compared with gradexp's runtimes counted as COCO counts
evaluations (the evaluation at step k is number k + 1); the evaluation count of a closure optimizer
is compared with a counter wrapped around the objective.
"""

import importlib
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import gradexp
from gradexp.report.metrics import TARGETS
from gradexp.outcome import target_column
from tests.conftest import compose

CALLS = []


def counted_sphere(x):
    """Σ x², recording how many points each call evaluates."""
    CALLS.append(x.shape[0] if x.dim() > 1 else 1)
    return (x ** 2).sum(-1)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_evals_count_every_f_and_gradient_evaluation(optimizer):
    calls = importlib.import_module("tests.test_coco").CALLS  # the module objective._target_ imports
    calls.clear()
    cfg = compose("objective=sphere", "objective._target_=tests.test_coco.counted_sphere", "objective.dim=2",
                  f"optimizer={optimizer}", "run.steps=6", "start=points", "start.points=[[1,2],[-3,0.5]]")
    _, summary = gradexp.run(cfg)
    assert summary["evals"].sum() == sum(calls)
    if optimizer == "adam":  # one evaluation per step: the evaluation at step k is number k + 1
        assert (summary["evals"] == summary["steps"] + 1).all()
    else:  # LBFGS's line of iterations inside a step evaluates f again
        assert (summary["evals"] > summary["steps"] + 1).all()


FUNCTIONS, INSTANCE, DIM = (1, 2, 8), 3, 2


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("bbob_sweep")
    cmd = [sys.executable, "-m", "gradexp", "-m", "objective=bbob",
           "objective.function=" + ",".join(map(str, FUNCTIONS)), f"objective.instance={INSTANCE}",
           f"objective.dim={DIM}", "optimizer=adam,sgd", "optimizer.lr=0.05", "run.steps=300", "start=uniform",
           "start.n=6", "plot.enabled=false", "report.coco=true", f"hydra.sweep.dir={out}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return out


def _datasets(folder):
    cocopp = pytest.importorskip("cocopp", reason="cocopp (pip install cocopp) reads COCO's data format")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {ds.funcId: ds for ds in cocopp.pproc.DataSetList(str(folder))}


def test_coco_folders_one_per_configuration(sweep):
    algs = sorted(p.name for p in (sweep / "coco").iterdir())
    assert algs == ["adam", "sgd"]  # short: cocopp's legends show the first 9 or so characters
    for alg in algs:
        names = sorted(p.name for p in (sweep / "coco" / alg).rglob("*") if p.is_file())
        assert names == sorted([f"bbobexp_f{f}.info" for f in FUNCTIONS]
                               + [f"bbobexp_f{f}_DIM{DIM}.{ext}" for f in FUNCTIONS for ext in ("dat", "tdat")])
        info = (sweep / "coco" / alg / "bbobexp_f1.info").read_text()
        assert "data_format = 'bbob-new2'" in info and "one evaluation per f-and-gradient evaluation" in info


def test_cocopp_counts_and_art_equal_gradexp_s(sweep):
    table = pd.read_csv(sweep / "sweep_summary.csv")
    metrics = pd.read_csv(sweep / "metrics.csv")
    checked = 0
    for opt in ("adam", "sgd"):
        data = _datasets(sweep / "coco" / opt)
        assert sorted(data) == list(FUNCTIONS)
        for fn in FUNCTIONS:
            ds = data[fn]
            assert ds.dim == DIM and list(ds.instancenumbers) == [INSTANCE] * 6
            starts = table[(table["optimizer"] == opt) & (table["objective.function"] == fn)]
            rows = metrics[(metrics["optimizer"] == opt) & (metrics["objective.function"] == fn)]
            evals = ds.detEvals(list(TARGETS))
            art = ds.detERT(list(TARGETS))
            for t, runtimes, coco_art in zip(TARGETS, evals, art):
                rt = starts[target_column(t)].to_numpy(float)
                ok = np.isfinite(rt)
                # gradexp's runtimes in steps; COCO counts the evaluation at step k as number k + 1
                assert np.isfinite(runtimes).sum() == ok.sum()
                assert sorted(runtimes[np.isfinite(runtimes)]) == sorted(rt[ok] + 1)
                costs = np.where(ok, rt, starts["steps"].to_numpy(float)) + 1
                want = costs.sum() / ok.sum() if ok.any() else np.inf
                assert coco_art == pytest.approx(want, rel=1e-12)
                row = rows[np.isclose(rows["target"], t)].iloc[0]
                assert row["successes"] == ok.sum()
                if ok.any():  # the README's relation: aRT(COCO) = aRT(metrics.csv) + starts / successes
                    assert coco_art == pytest.approx(row["aRT"] + row["starts"] / row["successes"], rel=1e-12)
                    checked += 1
    assert checked >= 5


def test_algorithm_names_short_unless_they_collide():
    from gradexp.report.coco import algorithm_names

    a, b = (("optimizer", "adam"), ("optimizer.lr", "0.001")), (("optimizer", "sgd"), ("optimizer.momentum", "0.9"))
    assert algorithm_names([a, b]) == {a: "adam-lr1e-3", b: "sgd-momentum0.9"}
    e = (("optimizer", "sgd"), ("optimizer.lr", "0.05"), ("optimizer.momentum", "1"), ("seed", "10"))
    assert algorithm_names([e]) == {e: "sgd-lr0.05-momentum1-seed10"}
    f = (("optimizer", "sgd"), ("run.clip_grad_norm", "inf"), ("run.f_target", "nan"), ("optimizer.lr", "0"))
    assert algorithm_names([f]) == {f: "sgd-clip-grad-norminf-f-targetnan-lr0"}  # (no crash on inf, nan, 0)
    # optimizer.lr=0.1 and schedule.lr=0.1 would both be lr0.1: the long names tell them apart
    c, d = (("optimizer.lr", "0.1"),), (("schedule.lr", "0.1"),)
    assert algorithm_names([c, d]) == {c: "optimizer.lr=0.1", d: "schedule.lr=0.1"}
    assert algorithm_names([()]) == {(): "gradexp"}


def test_first_lines_are_evaluation_one_and_best_f_never_rises(sweep):
    for dat in (sweep / "coco").rglob("*.dat"):
        trials = [block for block in dat.read_text().split("%") if block.strip()]
        assert len(trials) == 6
        for block in trials:
            lines = [ln.split() for ln in block.splitlines()[1:] if ln.strip()]
            evals = [int(ln[0]) for ln in lines]
            best = [float(ln[2]) for ln in lines]
            assert evals[0] == 1 and evals == sorted(evals)
            assert all(b2 <= b1 for b1, b2 in zip(best, best[1:]))


def test_report_command_rebuilds_the_coco_folder(sweep):
    import shutil

    from gradexp.report.__main__ import main

    before = {p.relative_to(sweep): p.read_bytes() for p in (sweep / "coco").rglob("*") if p.is_file()}
    shutil.rmtree(sweep / "coco")
    assert main([str(sweep), "--coco", "--no-figures", "-q"]) == 0
    after = {p.relative_to(sweep): p.read_bytes() for p in (sweep / "coco").rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.slow
def test_the_printed_cocopp_command_builds_its_pages(sweep, tmp_path, capsys):
    """The report names the command that builds COCO's pages; run as printed, cocopp builds them."""
    import shlex
    import shutil

    from gradexp.report.__main__ import main

    pytest.importorskip("cocopp", reason="cocopp (pip install cocopp) builds COCO's pages")
    copy = tmp_path / "sweep copy"  # (a space in the path: the command quotes it)
    shutil.copytree(sweep, copy)
    assert main([str(copy), "--coco", "--no-figures"]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if "its pages: " in ln][0]
    command = line.split("its pages: ", 1)[1]
    assert command.startswith("python -m cocopp -o ")
    done = subprocess.run(["bash", "-c", shlex.quote(sys.executable) + command[len("python"):]],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (copy / "cocopp" / "index.html").is_file()
    pages = list((copy / "cocopp").rglob("pprldmany.html"))
    assert pages, sorted(p.name for p in (copy / "cocopp").iterdir())
    assert "`coco/` holds COCO's data for 2 configurations (`adam`, `sgd`)" in (copy / "report.md").read_text()


@pytest.fixture(scope="module")
def coco_targets_sweep(tmp_path_factory):
    """The same kind of sweep recording COCO's own 51 targets (report.targets=coco), the traces holding
    only the first and last steps (run.log.points=0): every other target line is read from the record."""
    out = tmp_path_factory.mktemp("bbob_coco_targets")
    cmd = [sys.executable, "-m", "gradexp", "-m", "objective=bbob", "objective.function=1,8,15",
           f"objective.instance={INSTANCE}", f"objective.dim={DIM}", "optimizer=adam,sgd", "optimizer.lr=0.05",
           "run.steps=400", "run.log.points=0", "start=uniform", "start.n=6", "plot.enabled=false",
           "report.coco=true", "report.targets=coco", f"hydra.sweep.dir={out}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return out


def test_cocopp_runtimes_exact_at_every_target_it_uses(coco_targets_sweep):
    """With report.targets=coco, every runtime cocopp reads (its ECDF ladder and its tables' targets) is
    gradexp's exact first evaluation reaching that target, though almost no step was logged."""
    from cocopp.testbedsettings import GECCOBBOBTestbed

    from gradexp.outcome import target_label

    ladder = list(GECCOBBOBTestbed.settings["pprldmany_target_values"])
    tables = list(GECCOBBOBTestbed.settings["ppfigdim_target_values"]) + \
        list(GECCOBBOBTestbed.settings["pprldistr_target_values"])
    table = pd.read_csv(coco_targets_sweep / "sweep_summary.csv")
    between = 0
    for opt in ("adam", "sgd"):
        data = _datasets(coco_targets_sweep / "coco" / opt)
        for fn, ds in data.items():
            starts = table[(table["optimizer"] == opt) & (table["objective.function"] == fn)]
            for t, runtimes in zip(ladder + tables, ds.detEvals(ladder + tables)):
                ours = starts[f"evals_{target_label(t)}"].to_numpy(float)
                assert sorted(runtimes[np.isfinite(runtimes)]) == sorted(ours[np.isfinite(ours)]), (opt, fn, t)
                assert np.isfinite(runtimes).sum() == np.isfinite(ours).sum()
                # a target between two logged steps: exact only because it was recorded
                logged = set(pd.read_csv(coco_targets_sweep / str(starts["job"].iloc[0]) / "trace.csv")["step"] + 1)
                between += sum(1 for v in ours[np.isfinite(ours)] if v not in logged)
    assert between > 50
    info = next((coco_targets_sweep / "coco").rglob("*.info")).read_text()
    assert "exact at the recorded targets (51: 1e2 .. 1e-8)" in info


def test_the_bbob_preset_from_the_command_line(tmp_path):
    """experiment=bbob_lr_sweep, cut down on the command line: its sweep counts its own jobs, records
    COCO's 51 targets and writes one COCO folder per optimizer."""
    out = tmp_path / "bbob"
    done = subprocess.run([sys.executable, "-m", "gradexp", "-m", "experiment=bbob_lr_sweep", "objective.function=1,21",
                           "optimizer.lr=0.01", "objective.dim=2", "run.steps=40", "start.n=2",
                           f"hydra.sweep.dir={out}"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "4/4 jobs done" in done.stderr  # 2 functions x adam,sgd (the preset's) x one lr (the command line's)
    summary = pd.read_csv(out / "0" / "summary.csv")
    assert sum(c.startswith("rt_") for c in summary.columns) == 51
    assert sorted(p.name for p in (out / "coco").iterdir()) == ["adam", "sgd"]
    text = (out / "report.md").read_text()  # one budget for both objectives: said once
    assert "- **Budget per configuration:** 40 steps × 2 starts (every objective)" in text
