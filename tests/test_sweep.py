"""A real multirun through the CLI: the sweep callback writes the summary, metrics and report."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from tests.conftest import run_cli, run_cli_inprocess

TARGETS = ("1e1", "1e-1", "1e-3", "1e-5", "1e-7")


def _art_by_hand(starts: pd.DataFrame, label: str) -> float:
    """COCO aRT from summary rows: reached -> rt, else all steps run; divided by the successes."""
    rt = starts[f"rt_{label}"]
    ok = rt.notna()
    total = rt[ok].sum() + starts.loc[~ok, "steps"].sum()
    return total / ok.sum() if ok.sum() else math.inf


def test_sweep_writes_summary_metrics_and_report(tmp_path):
    sweep = tmp_path / "sweep"
    r = run_cli(["-m", "optimizer=sgd,adam", "optimizer.lr=1e-3,10", "objective=himmelblau",
                 "start=grid", "start.n=3", "run.steps=200", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "gradexp sweep: 4 jobs (4 done, 0 failed" in r.stdout
    assert str(sweep / "report.md") in r.stdout

    ss = pd.read_csv(sweep / "sweep_summary.csv", dtype={"optimizer.lr": str})
    assert len(ss) == 4 * 9                              # 4 jobs x 3x3 grid starts
    for c in ("job", "optimizer", "optimizer.lr", "override.start", "start.n", "run.steps", "start", "status"):
        assert c in ss.columns
    assert sorted(ss["optimizer.lr"].unique()) == ["0.001", "10"]

    m = pd.read_csv(sweep / "metrics.csv", dtype={"optimizer.lr": str})
    assert len(m) == 4 * 5
    sgd10 = m[(m["optimizer"] == "sgd") & (m["optimizer.lr"] == "10")]
    assert (sgd10["successes"] == 0).all() and (sgd10["diverged"] == 9).all()
    assert (sgd10["aRT"] == math.inf).all() and (sgd10["starts"] == 9).all()
    # every aRT equals the definition applied by hand to the jobs' own summary rows
    for (opt, lr), starts in ss.groupby(["optimizer", "optimizer.lr"]):
        for t, lab in zip((10, 0.1, 1e-3, 1e-5, 1e-7), TARGETS):
            got = m[(m["optimizer"] == opt) & (m["optimizer.lr"] == lr) & (m["target"] == t)]["aRT"].iloc[0]
            assert got == pytest.approx(_art_by_hand(starts, lab)), (opt, lr, lab)
    assert (m.loc[(m["optimizer"] == "sgd") & (m["optimizer.lr"] == "0.001") & (m["target"] == 10),
                  "successes"] > 0).all()

    report = sweep / "report.md"
    text = report.read_text()
    assert "**Best configuration:**" in text
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert {"ecdf_himmelblau.png", "lr_himmelblau.png", "convergence_himmelblau.png",
            "basins_himmelblau.png", "profile.png"} <= set(images)
    assert all((sweep / name).is_file() for name in images)

    again = run_cli([sweep], cwd=tmp_path, module="gradexp.report")
    assert again.returncode == 0, again.stderr
    assert report.read_text() == text


@pytest.mark.slow
def test_failed_job_is_recorded_and_others_kept(tmp_path):
    sweep = tmp_path / "sweep"
    r = run_cli_inprocess(["-m", "optimizer=sgd", "optimizer.lr=0.01,-1", "start=grid", "start.n=2",
                           "run.steps=50", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "1 done, 1 failed" in r.stdout
    ss = pd.read_csv(sweep / "sweep_summary.csv", dtype={"optimizer.lr": str})
    assert len(ss[ss["optimizer.lr"] == "0.01"]) == 4
    failed = ss[ss["optimizer.lr"] == "-1"]
    assert (failed["status"] == "error").all() and failed["message"].notna().all()
    text = (sweep / "report.md").read_text()
    assert "### Failed jobs" in text and "| 1 | `optimizer=sgd optimizer.lr=-1 start=grid" in text
    assert text.count("\n## himmelblau\n") == 1       # the failed job joins its objective's section
