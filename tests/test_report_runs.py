"""python -m gradexp.report RUN_DIR RUN_DIR ...: separate runs compared in one report."""

import csv
import math
from pathlib import Path

import pandas as pd

from conftest import run_cli_inprocess
from gradexp.report.__main__ import main as report_main

SMALL = ["run.steps=80", "start=grid", "start.n=3", "plot.enabled=false"]


def _run(base: Path, name: str, *overrides) -> Path:
    res = run_cli_inprocess([*SMALL, *overrides, f"hydra.run.dir={name}"], cwd=base)
    assert res.returncode == 0, res.stderr
    return base / name


def _successes(summary: Path, column: str) -> int:
    with open(summary, newline="") as fh:
        return sum(1 for row in csv.DictReader(fh) if row[column] != "")


def test_runs_compared_in_one_report(tmp_path, capsys):
    a = _run(tmp_path, "a", "optimizer=sgd", "optimizer.lr=0.01")
    b = _run(tmp_path, "b", "optimizer=adam")  # lr not overridden: its recorded value is used
    out = tmp_path / "cmp"
    assert report_main([str(a), str(b), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"gradexp.report: open {out / 'report.html'}"
    m = pd.read_csv(out / "metrics.csv", dtype={"optimizer.lr": str})
    assert set(m["job"]) == {"a", "b"}
    assert dict(zip(m["job"], m["optimizer"])) == {"a": "sgd", "b": "adam"}
    assert dict(zip(m["job"], m["optimizer.lr"])) == {"a": "0.01", "b": "0.001"}
    for job, folder in (("a", a), ("b", b)):  # successes per target, counted from each run's own summary
        for t, col in ((10.0, "rt_1e1"), (1e-3, "rt_1e-3")):
            row = m[(m["job"] == job) & m["target"].map(lambda v: math.isclose(v, t))].iloc[0]
            assert row["successes"] == _successes(folder / "summary.csv", col)
            assert row["starts"] == 9
    page = (out / "report.html").read_text()
    assert 'href="../a/index.html"' in page and 'href="../b/index.html"' in page
    # rebuilt from its runs.csv alone: the same tables
    before = (out / "metrics.csv").read_bytes()
    (out / "metrics.csv").unlink()
    assert report_main([str(out), "-q", "--no-figures"]) == 0
    assert (out / "metrics.csv").read_bytes() == before


def test_a_folder_that_is_not_a_run_is_refused(tmp_path, capsys):
    a = _run(tmp_path, "a", "optimizer=sgd")
    (tmp_path / "junk").mkdir()
    assert report_main([str(a), str(tmp_path / "junk"), "--out", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err
    assert "junk: not a run folder" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "cmp").exists()
