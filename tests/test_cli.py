"""End-to-end: the command line into a temporary folder, and a normal (non-editable) install."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_cli
from tests.helpers import himmelblau

ROOT = Path(__file__).resolve().parents[1]


def check_png(path, min_px=200):
    import matplotlib.image as mpimg

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    img = mpimg.imread(path)
    assert img.shape[0] >= min_px and img.shape[1] >= min_px


def test_default_experiment_writes_run_folder(tmp_path):
    out = tmp_path / "run"
    p = run_cli(["optimizer=adam", "objective=himmelblau", "run.steps=300", f"hydra.run.dir={out}"], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    trace = pd.read_csv(out / "trace.csv")
    summary = pd.read_csv(out / "summary.csv")
    assert list(trace.columns[:7]) == ["start", "step", "x0", "x1", "f", "grad_norm", "lr"]
    assert list(summary.columns[:7]) == ["start", "status", "steps", "f_final", "x0", "x1", "grad_norm"]
    assert len(summary) == 25 and set(summary["status"]) <= {"converged", "max_steps", "diverged"}
    # step 0 is the start point itself, and the last step of every start is logged
    first = trace[trace["step"] == 0].set_index("start")
    assert np.array_equal(first["x0"].to_numpy(), summary.set_index("start").loc[first.index, "start_x0"].to_numpy())
    assert (trace.groupby("start")["step"].max() == summary.set_index("start")["steps"]).all()
    # f at step 0 is Himmelblau's value at the start, closed form
    x0, x1 = first["x0"].to_numpy(np.float64), first["x1"].to_numpy(np.float64)
    assert np.allclose(first["f"], himmelblau((x0, x1)), rtol=1e-6)
    prov = json.loads((out / "provenance.json").read_text())
    for key in ("python", "torch", "gradexp", "seed", "command", "git_commit"):
        assert key in prov
    assert prov["status"] == "complete" and prov["optimizer"] == "torch.optim.Adam"
    check_png(out / "convergence.png")
    check_png(out / "trajectory.png")
    assert (out / ".hydra" / "config.yaml").is_file()


def test_nd_objective_gets_convergence_plot_only(tmp_path):
    out = tmp_path / "run"
    p = run_cli(["optimizer=sgd", "optimizer.lr=0.001", "optimizer.momentum=0.9", "objective=rosenbrock",
                 "objective.dim=10", "start=uniform", "start.n=8", "run.steps=100", f"hydra.run.dir={out}"], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    s = pd.read_csv(out / "summary.csv")
    assert [f"x{i}" for i in range(10)] == [c for c in s.columns if c.startswith("x")]
    check_png(out / "convergence.png")
    assert not (out / "trajectory.png").exists()


def test_contract_commands_run():
    """The overrides written in the public interface compose and run as written (short runs, in process)."""
    from gradexp.runner import run
    from tests.conftest import compose

    cases = [
        ["start=point", "start.x=[pi/3,pi/6]", "objective=cos_squared", "optimizer=sgd", "optimizer.lr=0.1", "run.steps=10"],
        ["start=points", "start.points=[[0,0],[1,-1],[-4,4]]", "run.steps=20"],
        ["start=grid", "start.n=7", "run.steps=20"],
        ["start=uniform", "start.n=256", "seed=3", "run.steps=20"],
        ["objective=himmelblau", "objective.maximize=true", "start=point", "start.x=[-0.5,-1]", "run.steps=20"],
        ["objective=expression", 'objective.expr="(x0**2+x1-11)**2+(x0+x1**2-7)**2"', "run.steps=20"],
        ["optimizer=custom", "optimizer._target_=torch.optim.SGD", "optimizer.lr=0.01", "+optimizer.momentum=0.5",
         "run.steps=20"],
        ["schedule=cosine", "run.steps=20"],
    ]
    sizes = [len(run(compose(*args))[1]) for args in cases]
    assert sizes == [1, 3, 49, 256, 1, 25, 25, 25]


def test_help_is_quick_to_reach_and_lists_groups(tmp_path):
    p = run_cli(["--help"], cwd=tmp_path)
    assert p.returncode == 0
    for group in ("objective:", "optimizer:", "schedule:", "start:", "experiment:"):
        assert group in p.stdout


@pytest.mark.skipif(importlib.util.find_spec("setuptools") is None, reason="needs setuptools to build")
def test_non_editable_install_runs_from_another_folder(tmp_path):
    """A wheel built from the tree, installed into a plain folder, finds its configs and presets."""
    wheels, site, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(wheels), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    wheel = next(wheels.glob("gradexp-*.whl"))
    inst = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert inst.returncode == 0, inst.stderr
    assert (site / "gradexp" / "conf" / "experiment" / "seed_sgd.yaml").is_file()
    env = dict(os.environ, PYTHONPATH=str(site), MPLBACKEND="Agg")
    where = subprocess.run([sys.executable, "-c", "import gradexp; print(gradexp.__file__)"], cwd=elsewhere, env=env,
                           capture_output=True, text=True)
    assert where.stdout.strip().startswith(str(site)), where.stdout
    out = elsewhere / "run"
    p = subprocess.run([sys.executable, "-m", "gradexp", "experiment=seed_sgd", f"hydra.run.dir={out}"],
                       cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[1].startswith("step 1: x = [0.87399")
    assert (out / "summary.csv").is_file()


def test_python_api_run_returns_tables_and_writes_a_folder(tmp_path):
    """``gradexp.run(cfg)`` (the public Python entry) returns the trace and summary and can write them."""
    import gradexp
    from tests.conftest import compose

    trace, summary = gradexp.run(compose("run.steps=7"), out_dir=tmp_path / "api")
    assert len(summary) == 25 and trace["step"].max() == 7
    back = pd.read_csv(tmp_path / "api" / "summary.csv")
    assert (back["f_final"].to_numpy("float32") == summary["f_final"].to_numpy("float32")).all()
