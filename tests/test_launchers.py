"""Hydra's launchers for real (no mocks): the same sweep gives the same files on every launcher, a job
killed by SIGKILL loses nothing that finished and is redone by the printed resume command, the Optuna
sweeper ranks a diverged run last, and the Slurm launcher's config composes."""

import importlib.util
import json
import shlex
import signal
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gradexp.runner import run
from tests.conftest import compose, run_cli

ROOT = Path(__file__).resolve().parents[1]
ENV = {"PYTHONPATH": str(ROOT)}  # job processes import tests.launch_helpers


def _have(plugin):
    return importlib.util.find_spec(f"hydra_plugins.{plugin}") is not None


def _needs(plugin):
    return pytest.mark.skipif(not _have(plugin), reason=f"{plugin} is not installed (pip install -e '.[scale]')")


LAUNCHERS = {
    "basic": [],
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "submitit_local": ["hydra/launcher=submitit_local"],
    "ray": ["hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2",
            "+hydra.launcher.ray.init.include_dashboard=false"],
}
PLUGIN = {"joblib": "hydra_joblib_launcher", "submitit_local": "hydra_submitit_launcher",
          "ray": "hydra_ray_launcher"}
SWEEP = ["-m", "optimizer=sgd,adam", "optimizer.lr=1e-3,3e-2", "start.n=2", "run.steps=40", "plot.enabled=false"]


def _launcher_param(name):
    marks = [_needs(PLUGIN[name])] if name in PLUGIN else []
    if name == "ray":
        marks.append(pytest.mark.slow)
    return pytest.param(name, marks=marks, id=name)


@pytest.fixture(scope="module")
def basic_sweep(tmp_path_factory):
    """The 4-job sweep on Hydra's basic (in-order, in-process) launcher."""
    where = tmp_path_factory.mktemp("basic")
    proc = run_cli([*SWEEP, f"hydra.sweep.dir={where / 'sweep'}"], cwd=where)
    assert proc.returncode == 0, proc.stderr
    return where / "sweep"


def _job_files(sweep):
    return sorted(p.relative_to(sweep) for p in sweep.glob("[0-9]*/*.csv"))


@pytest.mark.parametrize("launcher", [_launcher_param(n) for n in ("joblib", "submitit_local", "ray")])
def test_every_launcher_gives_the_basic_launchers_files(launcher, basic_sweep, tmp_path):
    args = [*SWEEP, *LAUNCHERS[launcher], f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    proc = run_cli(args, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    sweep = tmp_path / "sweep"
    files = _job_files(sweep)
    assert len(files) == 8 and files == _job_files(basic_sweep)  # trace.csv and summary.csv of 4 jobs
    for rel in files:
        assert (sweep / rel).read_bytes() == (basic_sweep / rel).read_bytes(), rel
    for name in ("sweep_summary.csv", "metrics.csv", "report.md"):
        assert (sweep / name).read_bytes() == (basic_sweep / name).read_bytes(), name
    for job in range(4):  # the user's command, not the worker's (submitit's _submit.py, ray's default_worker.py)
        prov = json.loads((sweep / str(job) / "provenance.json").read_text())
        assert prov["command"][1:] == args and prov["command"][0].endswith(("__main__.py", "gradexp"))


KILL = ["-m", "optimizer=custom", "optimizer._target_=tests.launch_helpers.KillOnce",
        "optimizer.lr=0.01,0.02,0.005,0.001", "+optimizer.kill_lr=0.02", "start.n=2", "run.steps=40",
        "plot.enabled=false"]


@pytest.mark.parametrize("launcher", [_launcher_param(n) for n in ("joblib", "submitit_local")])
def test_a_killed_job_loses_nothing_and_the_printed_command_resumes(launcher, tmp_path):
    flag = tmp_path / "kill-once"
    flag.touch()
    sweep = tmp_path / "sweep"
    first = run_cli([*KILL, f"+optimizer.flag={flag}", *LAUNCHERS[launcher], f"hydra.sweep.dir={sweep}"],
                    cwd=tmp_path, env=ENV, timeout=600)
    assert first.returncode != 0 and not flag.exists()
    assert "Traceback" not in first.stderr
    assert "job 1: started, no results" in first.stderr, first.stderr
    if launcher == "joblib":
        assert f"killed by signal {int(signal.SIGKILL)} (SIGKILL)" in first.stderr
    report = (sweep / "report.md").read_text()
    lost_rows = [ln for ln in report.splitlines() if ln.startswith("| 1 |") and "lost:" in ln]
    assert lost_rows and "optimizer.lr=0.02" in lost_rows[0]
    summary = pd.read_csv(sweep / "sweep_summary.csv")
    done = sorted({int(j) for j in summary.loc[summary["status"] != "error", "job"]})
    assert 1 not in done and (sweep / "metrics.csv").is_file()
    if launcher == "submitit_local":  # every job ran at once: only the killed one is lost
        assert done == [0, 2, 3]
    kept = {job: (sweep / str(job) / "provenance.json").read_bytes() for job in done}
    resume = first.stderr.strip().splitlines()[-1].strip()
    argv = shlex.split(resume)
    assert argv[:3] == ["python", "-m", "gradexp"] and argv[-1] == f"hydra.sweep.dir={sweep.resolve()}"
    second = run_cli(argv[3:], cwd=tmp_path, env=ENV, timeout=600)
    assert second.returncode == 0, second.stderr
    for job in done:  # what finished is kept, not rerun (a rerun writes a new provenance record)
        assert (sweep / str(job) / "provenance.json").read_bytes() == kept[job], job
    assert "Failed jobs" not in (sweep / "report.md").read_text()
    for job, lr in enumerate((0.01, 0.02, 0.005, 0.001)):  # KillOnce is SGD: the same numbers as optimizer=sgd
        _, expected = run(compose("optimizer=sgd", f"optimizer.lr={lr}", "start.n=2", "run.steps=40"))
        got = pd.read_csv(sweep / str(job) / "summary.csv")
        cols = ["x0", "x1", "f_final"]
        assert (got[cols].to_numpy("float32") == expected[cols].to_numpy("float32")).all(), job


@_needs("hydra_joblib_launcher")
def test_a_job_that_raises_is_recorded_and_the_sweep_goes_on(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli(["-m", "optimizer=sgd", "optimizer.lr=0.01,-1", "start.n=2", "run.steps=20", "plot.enabled=false",
                    *LAUNCHERS["joblib"], f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "gradexp: job 1 failed: optimizer.lr=-1" in proc.stderr and "lost" not in proc.stderr
    report = (sweep / "report.md").read_text()
    assert "### Failed jobs" in report and "| 1 | `optimizer=sgd optimizer.lr=-1" in report
    assert pd.read_csv(sweep / "0" / "summary.csv")["status"].isin(["converged", "max_steps"]).all()


def _median_gap(summary):
    """The Optuna score computed here from the job's summary: inf when the median start diverged."""
    f, fs = (summary[c].to_numpy("float32").astype(float) for c in ("f_final", "f_star"))  # the runner's float32
    gap = np.where(summary["status"] == "diverged", np.inf, np.abs(f - fs))
    return float(np.median(gap))


@_needs("hydra_optuna_sweeper")
def test_optuna_gets_inf_for_diverged_runs_and_agrees_with_the_report(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli(["-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=4", "hydra.sweeper.sampler.seed=1",
                    "optimizer.lr=choice(0.001,0.1)", "optimizer=sgd", "objective=rosenbrock", "start.n=4",
                    "run.steps=200", "plot.enabled=false", f"hydra.sweep.dir={sweep}",
                    "+hydra.callbacks.score._target_=tests.launch_helpers.RecordScore"], cwd=tmp_path, env=ENV)
    assert proc.returncode == 0, proc.stderr
    scores = {}
    for job in sorted(p for p in sweep.iterdir() if p.name.isdigit()):
        summary = pd.read_csv(job / "summary.csv")
        got = float((job / "score.txt").read_text())
        lr = float(json.loads((job / "provenance.json").read_text())["lr"])
        assert got == _median_gap(summary)
        scores.setdefault(lr, got)
    assert scores[0.1] == np.inf  # SGD at lr 0.1 on Rosenbrock: every start diverges
    assert any(np.isfinite(v) for v in scores.values())
    import yaml

    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == min(scores.values())
    first = next(ln for ln in (sweep / "report.md").read_text().splitlines() if ln.startswith("| 1 |"))
    assert f"optimizer.lr={best['best_params']['optimizer.lr']}`" in first


@_needs("hydra_submitit_launcher")
def test_slurm_launcher_config_composes(tmp_path):
    proc = run_cli(["hydra/launcher=submitit_slurm", "hydra.launcher.partition=batch",
                    "hydra.launcher.timeout_min=30", "hydra.launcher.cpus_per_task=1",
                    "hydra.launcher.array_parallelism=8", "--cfg", "hydra"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    import yaml

    launcher = yaml.safe_load(proc.stdout)["hydra"]["launcher"]
    assert launcher["_target_"] == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher["partition"], launcher["timeout_min"], launcher["cpus_per_task"],
            launcher["array_parallelism"]) == ("batch", 30, 1, 8)
    assert "signal_delay_s" in launcher


def test_the_launchers_error_in_a_few_words():
    from gradexp.launch import what_happened

    joblib_text = ("A worker process managed by the executor was unexpectedly terminated. This could be caused by "
                   "a segmentation fault.\n\nThe exit codes of the workers are {SIGKILL(-9)}")
    assert what_happened(RuntimeError(joblib_text)) == "killed by signal 9 (SIGKILL)"
    assert what_happened(ValueError("Job 12 (task: 0) with path /x has not produced any output (state: X)\nmore")) \
        == "ValueError: Job 12 (task: 0)"


def test_the_resume_command_keeps_the_overrides_and_fixes_the_folder():
    from gradexp.launch import resume_command

    argv = ["/x/gradexp/__main__.py", "-m", "optimizer.lr=1,2", "hydra.sweep.dir=elsewhere", "resume=false",
            "objective.expr=x0 ** 2"]
    assert shlex.split(resume_command(argv, "/s/w")) == ["python", "-m", "gradexp", "-m", "optimizer.lr=1,2",
                                                         "objective.expr=x0 ** 2", "hydra.sweep.dir=/s/w"]


def test_the_jobs_of_a_sweep_are_known_before_they_run():
    from hydra import compose as hcompose
    from hydra import initialize_config_module

    from gradexp.launch import expected_jobs

    from omegaconf import open_dict

    with initialize_config_module(config_module="gradexp.conf", version_base=None):
        cfg = hcompose("config", return_hydra_config=True)
    with open_dict(cfg):  # as Hydra records a multirun's command line
        cfg.hydra.overrides.task = ["optimizer=sgd,adam", "optimizer.lr=1,2", "run.steps=3"]
    assert expected_jobs(cfg) == [[f"optimizer={o}", f"optimizer.lr={lr}", "run.steps=3"]
                                  for o in ("sgd", "adam") for lr in (1, 2)]
