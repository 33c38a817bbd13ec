"""SIGINT and SIGTERM while a run is stepping, in this process: the objective sends the signal to its
own process on its 10th evaluation. The run stops at the next step with every start `interrupted`
(README "Outputs"), each start's last step logged, and the command line exits 130."""

import signal

import pandas as pd
import pytest

import gradexp
from tests import helpers
from tests.conftest import compose, run_cli_inprocess

TARGET = ["objective._target_=tests.helpers.bowl_that_signals", "objective.dim=2", "start=grid", "start.n=2",
          "run.steps=100000"]


class Caught(Exception):
    pass


@pytest.fixture
def guard():
    """A handler of the test's own for both signals: a signal the run ignores lands here instead of
    ending the test process, and the test fails."""
    def raise_caught(signum, frame):
        raise Caught(signal.Signals(signum).name)

    old = {s: signal.signal(s, raise_caught) for s in (signal.SIGINT, signal.SIGTERM)}
    helpers.CALLS["n"] = 0
    yield
    for s, h in old.items():
        signal.signal(s, h)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_the_run_with_every_start_interrupted(sig, guard, tmp_path):
    """gradexp.run writes the run folder of the interrupted starts."""
    try:
        gradexp.run(compose(*TARGET, f"+objective.signum={int(sig)}"), out_dir=tmp_path)
    except KeyboardInterrupt:  # raised again once the folder is written, as Ctrl-C is
        pass
    trace, summary = pd.read_csv(tmp_path / "trace.csv"), pd.read_csv(tmp_path / "summary.csv")
    assert list(summary["status"]) == ["interrupted"] * 4
    assert summary["steps"].between(1, 100).all()
    assert (trace.groupby("start")["step"].max().to_numpy() == summary["steps"].to_numpy()).all()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_through_the_command_line_exits_130_with_the_files(sig, guard, tmp_path):
    out = tmp_path / "run"
    res = run_cli_inprocess([*TARGET, f"+objective.signum={int(sig)}", "plot.enabled=false",
                             f"hydra.run.dir={out}"], tmp_path)
    assert res.returncode == 130, res.stderr
    assert "Traceback" not in res.stderr and "interrupted" in res.stderr
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["status"]) == ["interrupted"] * 4 and summary["steps"].between(1, 100).all()
