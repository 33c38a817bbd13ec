"""Scale-out goes through Hydra's own launcher plugins: a joblib sweep gives the same results."""

import importlib.util

import pandas as pd
import pytest

from gradexp.runner import run
from tests.conftest import compose, run_cli

pytestmark = pytest.mark.skipif(importlib.util.find_spec("hydra_plugins.hydra_joblib_launcher") is None,
                                reason="hydra-joblib-launcher is not installed")


def test_joblib_launcher_sweep_matches_in_process_runs(tmp_path):
    args = ["-m", "optimizer=sgd", "optimizer.lr=1e-3,1e-2", "start.n=2", "run.steps=30", "plot.enabled=false"]
    par = run_cli([*args, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path / 'par'}"],
                  cwd=tmp_path)
    assert par.returncode == 0, par.stderr
    for job, lr in (("0", "1e-3"), ("1", "1e-2")):
        a = pd.read_csv(tmp_path / "par" / job / "summary.csv")
        _, b = run(compose("optimizer=sgd", f"optimizer.lr={lr}", "start.n=2", "run.steps=30"))
        assert (a[["x0", "x1", "f_final"]].to_numpy("float32") == b[["x0", "x1", "f_final"]].to_numpy("float32")).all()
    assert (tmp_path / "par" / "metrics.csv").is_file() and (tmp_path / "par" / "report.md").is_file()
