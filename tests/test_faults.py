"""Faults: diverging starts, failing jobs, interrupts, resumed sweeps, output folders that cannot be written.

The end-to-end cases run the real command line in a fresh folder; the expected files and statuses are
those of the data contract (/summary.csv, trace.csv, provenance.json of a run folder).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradexp import files
from gradexp.errors import ConfigError
from gradexp.runner import run
from tests.conftest import compose, run_cli, run_cli_inprocess, same_bits

ELEMENTWISE = ["sgd", "adam", "adamw", "adamax", "nadam", "radam", "rmsprop", "adagrad", "adadelta", "asgd", "rprop"]


def one_line(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.strip()]


def tmp_files(folder) -> list:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


# ------------------------------------------------------------------------------------------------
# divergence isolation: starts that blow up never disturb the others
# f = Himmelblau + log(x0 + 6): NaN for x0 < -6, -inf at x0 = -6, finite inside the bounds [-5, 5].
EXPR = "objective.expr='(x0**2+x1-11)**2+(x0+x1**2-7)**2+log(x0+6)'"
clean_point = st.tuples(st.floats(-4.5, 4.5, width=32), st.floats(-4.5, 4.5, width=32))
bad_point = st.one_of(
    st.tuples(st.floats(-1e3, -6.5, width=32), st.floats(-4, 4, width=32)),       # NaN at step 0
    st.just((-6.0, 0.0)),                                                           # -inf at step 0
    st.tuples(st.floats(2e4, 1e6, width=32), st.floats(-4, 4, width=32)),         # beyond the runaway radius
)


def _points(points) -> str:
    return "start.points=[" + ",".join(f"[{x!r},{y!r}]" for x, y in points) + "]"


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(opt=st.sampled_from(ELEMENTWISE), lr=st.sampled_from([1e-3, 1e-2, 3e-2]),
       clean=st.lists(clean_point, min_size=1, max_size=4), bad=st.lists(bad_point, min_size=1, max_size=3),
       data=st.data())
def test_diverging_starts_leave_the_others_bit_identical(opt, lr, clean, bad, data):
    """Random clean starts mixed with NaN/Inf/runaway starts at random places: the clean ones end exactly
    where a clean run puts them, every bad one is marked diverged."""
    order = data.draw(st.permutations(["c"] * len(clean) + ["b"] * len(bad)))
    ci, bi = iter(clean), iter(bad)
    mixed = [next(ci) if k == "c" else next(bi) for k in order]
    base = ["objective=expression", EXPR, f"optimizer={opt}", f"optimizer.lr={lr}", "run.steps=60", "start=points"]
    _, together = run(compose(*base, _points(mixed)))
    _, alone = run(compose(*base, _points(clean)))
    is_clean = np.array([k == "c" for k in order])
    assert (together.loc[~is_clean, "status"] == "diverged").all()
    assert (together.loc[~is_clean, "message"].str.contains("non-finite or runaway")).all()
    got = together.loc[is_clean]
    for col in ("x0", "x1", "f_final", "grad_norm", "f_best"):
        assert same_bits(got[col].to_numpy(), alone[col].to_numpy()), col
    assert list(got["status"]) == list(alone["status"]) and list(got["steps"]) == list(alone["steps"])


@settings(max_examples=8, deadline=None)
@given(lr=st.floats(0.01, 0.03), far=st.lists(st.floats(100, 1000), min_size=1, max_size=3),
       clean=st.lists(clean_point, min_size=1, max_size=3))
def test_runaway_mid_run_is_frozen_and_isolated(lr, far, clean):
    """SGD from far away blows up after a step or more; those starts stop, the others go on untouched."""
    base = ["objective=himmelblau", "optimizer=sgd", f"optimizer.lr={lr}", "run.steps=80", "start=points"]
    mixed = [(x, -x) for x in far] + list(clean)
    _, together = run(compose(*base, _points(mixed)))
    _, alone = run(compose(*base, _points(clean)))
    n = len(far)
    assert (together["status"][:n] == "diverged").all() and (together["steps"][:n] >= 1).all()
    assert (together["steps"][:n] < 80).all()
    for col in ("x0", "x1", "f_final"):
        assert same_bits(together[col][n:].to_numpy(), alone[col].to_numpy()), col


# ------------------------------------------------------------------------------------------------
# a failing job in a sweep is recorded; the sweep goes on
def test_failing_jobs_are_recorded_and_the_sweep_finishes(tmp_path):
    sweep = tmp_path / "sweep"
    res = run_cli(["-m", "objective._target_=gradexp.objectives.himmelblau,math.sqrt", "optimizer.lr=0.01,-1",
                   "start=grid", "start.n=2", "run.steps=20", "plot.enabled=false", f"hydra.sweep.dir={sweep}"],
                  cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    jobs = {}
    for job in sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()):
        overrides = (job / ".hydra" / "overrides.yaml").read_text()
        jobs[("math.sqrt" in overrides, "-1" in overrides)] = job
    assert len(jobs) == 4
    good = jobs[(False, False)]
    summary = pd.read_csv(good / "summary.csv")
    assert len(summary) == 4 and set(summary["status"]) <= {"max_steps", "converged"}
    assert json.loads((good / "provenance.json").read_text())["status"] == "complete"
    for key, needle in (((False, True), "optimizer.lr=-1"), ((True, True), "optimizer.lr=-1"),
                        ((True, False), "ValueError: only one element tensors")):
        job = jobs[key]
        s = pd.read_csv(job / "summary.csv")
        assert len(s) == 1 and s.loc[0, "status"] == "error" and needle in s.loc[0, "message"], (key, s)
        prov = json.loads((job / "provenance.json").read_text())
        assert prov["status"] == "error" and needle in prov["error"], prov
        assert not (job / "trace.csv").exists()
        assert f"gradexp: job {job.name} failed: " in res.stderr
    assert tmp_files(sweep) == []


# ------------------------------------------------------------------------------------------------
# interrupts: SIGINT and SIGTERM stop the run at the next step, with every file written
def _start_long_run(run_dir, cwd, *extra):
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.Popen([sys.executable, "-m", "gradexp", f"hydra.run.dir={run_dir}", "run.steps=100000000",
                             "start=grid", "start.n=3", "run.progress=true", "run.stop_at_target=false",
                             "plot.enabled=false", *extra],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    chunks: list[str] = []

    def read_until_running(timeout=120):
        """Read stderr until the progress line shows the loop running."""
        t0 = time.monotonic()
        buf = ""
        os.set_blocking(proc.stderr.fileno(), False)
        while time.monotonic() - t0 < timeout:
            try:
                piece = os.read(proc.stderr.fileno(), 4096).decode()
            except BlockingIOError:
                piece = ""
            buf += piece
            if "starts running" in buf:
                chunks.append(buf)
                os.set_blocking(proc.stderr.fileno(), True)
                return True
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        chunks.append(buf)
        return False

    return proc, read_until_running, chunks


@pytest.mark.parametrize("sig", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)],
                         ids=["SIGINT", "SIGTERM"])
def test_interrupt_writes_every_file_with_status_interrupted(sig, tmp_path):
    run_dir = tmp_path / "run"
    proc, wait_running, chunks = _start_long_run(run_dir, tmp_path)
    try:
        assert wait_running(), "".join(chunks)
        assert run_dir.is_dir()
        proc.send_signal(sig)
        out, rest = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = "".join(chunks) + rest
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    summary = pd.read_csv(run_dir / "summary.csv")
    assert len(summary) == 9 and (summary["status"] == "interrupted").all()
    assert (summary["steps"] > 0).all() and (summary["steps"] < 100000000).all()
    trace = pd.read_csv(run_dir / "trace.csv")
    last = trace.groupby("start")["step"].max()
    assert (last.to_numpy() == summary["steps"].to_numpy()).all()   # each start's last step is logged
    prov = json.loads((run_dir / "provenance.json").read_text())
    assert prov["status"] == "interrupted" and prov["finished"]
    assert tmp_files(run_dir) == []


@pytest.mark.slow
def test_sigterm_before_the_run_starts_is_recorded(tmp_path):
    """A signal while the job is still starting (importing torch): exit 130, provenance says interrupted."""
    run_dir = tmp_path / "run"
    proc, *_ = _start_long_run(run_dir, tmp_path)
    try:
        t0 = time.monotonic()
        while not (run_dir / ".hydra" / "overrides.yaml").exists() and time.monotonic() - t0 < 60:
            time.sleep(0.01)
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    prov = json.loads((run_dir / "provenance.json").read_text())
    assert prov["status"] == "interrupted"
    assert pd.read_csv(run_dir / "summary.csv")["status"].eq("interrupted").all()
    assert tmp_files(run_dir) == []


# ------------------------------------------------------------------------------------------------
# resume: a re-run of the same sweep redoes only the jobs without complete, identical results
def test_resume_redoes_only_missing_jobs(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["-m", "optimizer.lr=0.001,0.01,0.1", "start=grid", "start.n=2", "run.steps=20", "plot.enabled=false",
            f"hydra.sweep.dir={sweep}"]
    first = run_cli_inprocess(args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    mtimes = {j: (sweep / j / "summary.csv").stat().st_mtime_ns for j in "012"}
    before = {j: (sweep / j / "summary.csv").read_text() for j in "012"}
    (sweep / "1" / "summary.csv").unlink()
    (sweep / "2" / "provenance.json").write_text(
        (sweep / "2" / "provenance.json").read_text().replace('"complete"', '"interrupted"'))
    again = run_cli_inprocess(args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "job 0 already complete" in again.stdout and "skipped" in again.stdout
    assert "job 1 already complete" not in again.stdout and "job 2 already complete" not in again.stdout
    assert (sweep / "0" / "summary.csv").stat().st_mtime_ns == mtimes["0"]
    assert (sweep / "2" / "summary.csv").stat().st_mtime_ns != mtimes["2"]
    assert {j: (sweep / j / "summary.csv").read_text() for j in "012"} == before   # same numbers again
    assert json.loads((sweep / "2" / "provenance.json").read_text())["status"] == "complete"


def test_resume_follows_the_config_and_can_be_turned_off(tmp_path):
    """The command line's own code path in this process (no torch import per sweep): a few seconds."""
    sweep = tmp_path / "sweep"
    args = ["-m", "optimizer.lr=0.001", "start=point", "run.steps=5", "plot.enabled=false",
            f"hydra.sweep.dir={sweep}"]
    assert run_cli_inprocess(args, cwd=tmp_path).returncode == 0
    changed = run_cli_inprocess([a if a != "run.steps=5" else "run.steps=6" for a in args], cwd=tmp_path)
    assert changed.returncode == 0 and "already complete" not in changed.stdout    # another config: redone
    off = run_cli_inprocess([*args, "resume=false"], cwd=tmp_path)
    assert off.returncode == 0 and "already complete" not in off.stdout
    back = run_cli_inprocess(args, cwd=tmp_path)   # resume=false wrote the same config: skipped again
    assert back.stdout.count("already complete") == 1, back.stdout


# ------------------------------------------------------------------------------------------------
# output folders that cannot be created or written
@pytest.mark.parametrize("where", ["run", "sweep"])
def test_output_folder_under_a_file_is_one_line(where, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder\n")
    target = blocker / "out"
    args = [f"hydra.run.dir={target}"] if where == "run" else ["-m", f"hydra.sweep.dir={target}"]
    res = run_cli([*args, "run.steps=3", "plot.enabled=false"], cwd=tmp_path)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    lines = one_line(res.stderr)
    assert len(lines) == 1, res.stderr
    assert str(target) in lines[0] and "not a directory" in lines[0].lower() and "hydra." in lines[0]
    assert blocker.read_text() == "not a folder\n"


def test_output_under_proc_is_one_line(tmp_path):
    res = run_cli(["hydra.run.dir=/proc/gradexp_cannot_write_here/run", "run.steps=3"], cwd=tmp_path)
    assert res.returncode != 0 and "Traceback" not in res.stderr
    lines = one_line(res.stderr)
    assert len(lines) == 1 and "/proc/gradexp_cannot_write_here" in lines[0], res.stderr


def test_result_file_that_cannot_be_written_is_one_line(tmp_path):
    """Our own writes (after Hydra made the folder): summary.csv blocked by a folder of that name."""
    run_dir = tmp_path / "run"
    (run_dir / "summary.csv").mkdir(parents=True)
    res = run_cli([f"hydra.run.dir={run_dir}", "start=point", "run.steps=3", "plot.enabled=false"], cwd=tmp_path)
    assert res.returncode != 0 and "Traceback" not in res.stderr
    lines = one_line(res.stderr)
    assert len(lines) == 1 and str(run_dir / "summary.csv") in lines[0], res.stderr
    assert tmp_files(run_dir) == []


def test_disk_full_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    """A write that fails half-way (ENOSPC) raises one clear error naming the file; nothing half-written stays."""
    path = tmp_path / "summary.csv"
    path.write_text("old\n")

    real_fdopen = os.fdopen

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()
            return False

        def fileno(self):
            return self.fh.fileno()

        def write(self, text):
            self.fh.write(text[: len(text) // 2])
            self.fh.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fdopen", lambda *a, **k: Full(real_fdopen(*a, **k)))
    with pytest.raises(ConfigError) as err:
        files.write_csv(pd.DataFrame({"a": [1.5, 2.5] * 1000}), path)
    assert str(path) in str(err.value) and "No space left on device" in str(err.value)
    assert "\n" not in str(err.value)
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.csv"]


def test_written_files_have_the_usual_mode(tmp_path):
    """Atomic writes go through a private temporary file; the result gets the mode any new file gets."""
    mask = os.umask(0o022)
    try:
        files.atomic_write_text(tmp_path / "a.txt", "x\n")
    finally:
        os.umask(mask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
