"""python -m gradexp.reproduce: reruns reproduce byte for byte, differences are named, untrusted imports refused."""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli, run_cli_inprocess
from gradexp.reproduce.__main__ import main as reproduce_main
from gradexp.reproduce.diff import first_difference

SMALL = ["run.steps=40", "start=grid", "start.n=3", "plot.enabled=false"]


def _digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _reproduce(capsys, *args):
    code = reproduce_main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder written by the command line in its own process."""
    base = tmp_path_factory.mktemp("run")
    res = run_cli([*SMALL, "optimizer=sgd", "optimizer.lr=0.01", "hydra.run.dir=r"], cwd=base)
    assert res.returncode == 0, res.stderr
    return base / "r"


def test_run_reproduces_identical_and_original_untouched(run_dir, tmp_path, capsys):
    before = _digest(run_dir)
    code, out, err = _reproduce(capsys, run_dir, "--out", tmp_path / "again")
    assert code == 0, out + err
    assert "trace.csv: identical" in out and "summary.csv: identical" in out
    assert str(tmp_path / "again") in out.splitlines()[-1]
    assert _digest(run_dir) == before
    for name in ("trace.csv", "summary.csv"):  # the comparison itself, checked independently
        assert (tmp_path / "again" / name).read_bytes() == (run_dir / name).read_bytes()


def test_tampered_csv_is_named_by_file_row_and_column(run_dir, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    lines = (copy / "trace.csv").read_text().split("\n")
    header = lines[0].split(",")
    col = header.index("f")
    fields = lines[7].split(",")
    fields[col] = "123.5"
    lines[7] = ",".join(fields)
    (copy / "trace.csv").write_text("\n".join(lines))
    code, out, _ = _reproduce(capsys, copy, "--out", tmp_path / "again")
    assert code == 1
    assert "trace.csv: different" in out and "summary.csv: identical" in out
    assert "trace.csv: first difference at row 7, column f: '123.5'" in out
    assert "recorded facts" in out


def test_sweep_reproduces_every_job_and_metrics(tmp_path, capsys):
    res = run_cli_inprocess(["-m", *SMALL, "optimizer=sgd,adam", "hydra.sweep.dir=s"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    sweep = tmp_path / "s"
    code, out, err = _reproduce(capsys, sweep, "--out", tmp_path / "again")
    assert code == 0, out + err
    for name in ("0/trace.csv", "0/summary.csv", "1/trace.csv", "1/summary.csv", "metrics.csv"):
        assert f"{name}: identical" in out
        assert (tmp_path / "again" / name).read_bytes() == (sweep / name).read_bytes()
    # one job tampered: the sweep is different and the job's file named
    shutil.copytree(sweep, tmp_path / "t")
    summary = tmp_path / "t" / "1" / "summary.csv"
    summary.write_text(summary.read_text().replace("max_steps", "converged", 1))
    code, out, _ = _reproduce(capsys, tmp_path / "t", "--out", tmp_path / "again2")
    assert code == 1
    assert "1/summary.csv: first difference at row 1, column status: 'converged'" in out


@pytest.mark.parametrize("engine", ["exact", "vector"])
def test_same_config_and_seed_give_identical_bytes(engine, tmp_path, cfg_of):
    """Two runs of one config and seed (uniform random starts, gradient noise where the engine has it)."""
    import gradexp

    extra = ["run.grad_noise=0.01"] if engine == "exact" else []
    cfg = cfg_of("objective=rastrigin", "optimizer=adam", "optimizer.lr=0.05", "start=uniform", "start.n=16",
                 "seed=5", "run.steps=60", f"run.engine={engine}", *extra)
    gradexp.run(cfg, out_dir=tmp_path / "a")
    gradexp.run(cfg, out_dir=tmp_path / "b")
    for name in ("trace.csv", "summary.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.slow
def test_compiled_engine_gives_identical_bytes(tmp_path, cfg_of):
    import gradexp

    cfg = cfg_of("objective=rosenbrock", "optimizer=adam", "start=uniform", "start.n=32", "seed=2",
                 "run.steps=64", "run.engine=compiled")
    gradexp.run(cfg, out_dir=tmp_path / "a")
    gradexp.run(cfg, out_dir=tmp_path / "b")
    for name in ("trace.csv", "summary.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_not_a_gradexp_folder_is_exit_2(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "sub").mkdir()
    for target in (tmp_path, tmp_path / "missing", tmp_path / "notes.txt"):
        code, out, err = _reproduce(capsys, target)
        assert code == 2 and out == ""
        assert len(err.strip().splitlines()) == 1 and err.startswith("gradexp.reproduce: error:")
    bad = tmp_path / "broken"
    (bad / ".hydra").mkdir(parents=True)
    (bad / ".hydra" / "config.yaml").write_text("objective: [unclosed\n")
    (bad / "summary.csv").write_text("start\n")
    code, _, err = _reproduce(capsys, bad)
    assert code == 2 and "not readable YAML" in err


def test_out_inside_the_original_is_refused(run_dir, capsys):
    code, _, err = _reproduce(capsys, run_dir, "--out", run_dir / "again")
    assert code == 2 and "overlaps" in err
    assert not (run_dir / "again").exists()


def _evil_folder(run_dir, where: Path, target: str) -> Path:
    folder = where / "evil"
    shutil.copytree(run_dir, folder)
    cfg = folder / ".hydra" / "config.yaml"
    text = cfg.read_text()
    assert "_target_: gradexp.objectives." in text
    cfg.write_text(text.replace("_target_: gradexp.objectives.himmelblau", f"_target_: {target}"))
    return folder


def _reproduce_process(args, cwd):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "gradexp.reproduce", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_untrusted_objective_module_never_runs(run_dir, tmp_path):
    (tmp_path / "evilmod.py").write_text(
        "open('PWNED', 'w').write('ran')\n"
        "def f(x):\n    return (x ** 2).sum(-1)\n")
    _evil_folder(run_dir, tmp_path, "evilmod.f")
    res = _reproduce_process(["evil"], cwd=tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert not (tmp_path / "PWNED").exists()
    assert "evilmod.f" in res.stderr and "--allow" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "outputs").exists()  # nothing written
    # allowed by the user, the same folder runs (so the refusal above is what kept it from running)
    res = _reproduce_process(["evil", "--allow", "evilmod", "--out", "again"], cwd=tmp_path)
    assert (tmp_path / "PWNED").exists(), res.stdout + res.stderr


def test_allowed_prefix_leading_elsewhere_is_refused(run_dir, tmp_path, capsys):
    """A path through an allowed module to another module's object (os.system) is refused too."""
    folder = _evil_folder(run_dir, tmp_path, "gradexp.files.os.system")
    code, out, err = _reproduce(capsys, folder, "--out", tmp_path / "again")
    assert code == 2 and "posix" in err
    assert not (tmp_path / "again").exists()


def test_first_difference_cases(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("x,y\n1,2\n3,4\n")
    b.write_text("x,y\n1,2\n3,4\n")
    assert first_difference("t", a, b) is None
    b.write_text("x,z\n1,2\n3,4\n")
    d = first_difference("t", a, b)
    assert (d.row, d.column, d.original, d.rerun) == (0, "y", "y", "z")
    b.write_text("x,y\n1,2\n3,4\n5,6\n")
    d = first_difference("t", a, b)
    assert d.row is None and "original has 2 data rows, the rerun 3" in d.describe()
    b.write_text('x,y\n1,2\n3,"4"\n')
    d = first_difference("t", a, b)
    assert d.row == 2 and d.column is None


@pytest.fixture(scope="module")
def runs_report(tmp_path_factory, run_dir):
    """A report over two separate runs (python -m gradexp.report RUN RUN --out ...)."""
    from gradexp.report.__main__ import main as report_main

    base = tmp_path_factory.mktemp("runs")
    res = run_cli([*SMALL, "optimizer=adam", "optimizer.lr=0.05", "hydra.run.dir=adam"], cwd=base)
    assert res.returncode == 0, res.stderr
    shutil.copytree(run_dir, base / "sgd")
    assert report_main([str(base / "adam"), str(base / "sgd"), "--out", str(base / "report"), "-q",
                        "--no-figures"]) == 0
    return base


def test_runs_report_reproduces_every_run_and_the_report(runs_report, tmp_path, capsys):
    before = _digest(runs_report)
    code, out, err = _reproduce(capsys, runs_report / "report", "--out", tmp_path / "again")
    assert code == 0, out + err
    for name in ("adam/trace.csv", "adam/summary.csv", "sgd/trace.csv", "sgd/summary.csv", "metrics.csv",
                 "sweep_summary.csv"):
        assert f"{name}: identical" in out
    for name in ("adam/summary.csv", "sgd/trace.csv", "metrics.csv"):  # checked independently too
        original = runs_report / ("report/" + name if "/" not in name else name)
        assert (tmp_path / "again" / name).read_bytes() == original.read_bytes()
    assert _digest(runs_report) == before


def test_runs_report_names_the_run_that_differs(runs_report, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(runs_report, copy)
    lines = (copy / "sgd" / "summary.csv").read_text().split("\n")
    fields = lines[1].split(",")
    fields[2] = str(int(fields[2]) + 1)  # the first start's steps
    lines[1] = ",".join(fields)
    (copy / "sgd" / "summary.csv").write_text("\n".join(lines))
    code, out, _ = _reproduce(capsys, copy / "report", "--out", tmp_path / "again")
    assert code == 1
    assert "sgd/summary.csv: different" in out and "adam/summary.csv: identical" in out


def test_runs_report_whose_run_is_gone(runs_report, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(runs_report, copy)
    shutil.rmtree(copy / "adam")
    code, _, err = _reproduce(capsys, copy / "report", "--out", tmp_path / "again")
    assert code == 2 and "runs.csv lists" in err and "adam" in err
    assert not (tmp_path / "again").exists()
