"""Bad input through the real command line: one line on stderr, non-zero exit, no traceback, no results.

Every case runs ``python -m gradexp`` in a fresh folder (tests.conftest.run_cli) and checks that the
error line names the bad value and what is accepted. Expression attacks prove that nothing runs: a
marker file the attack would create never appears and the run folder holds no results.
"""

from __future__ import annotations


import pytest

from tests.conftest import run_cli, run_cli_inprocess

RESULT_FILES = ("summary.csv", "trace.csv", "provenance.json", "convergence.png", "trajectory.png")


def error_lines(stderr: str) -> list[str]:
    """The meaningful (non-blank) lines of stderr."""
    return [ln for ln in stderr.splitlines() if ln.strip()]


def assert_one_line_error(res, *words, code=None):
    """Non-zero exit, exactly one meaningful stderr line, no traceback, every word in that line."""
    assert res.returncode != 0, (res.stdout, res.stderr)
    if code is not None:
        assert res.returncode == code, res.stderr
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout, res.stderr
    lines = error_lines(res.stderr)
    assert len(lines) == 1, res.stderr
    line = lines[0]
    assert line.startswith("gradexp: error: "), line
    for w in words:
        assert w.lower() in line.lower(), (w, line)
    return line


def hydra_quote(text: str) -> str:
    """``text`` as a Hydra quoted override value (single quotes, backslash escapes)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def no_results(run_dir) -> bool:
    return not any((run_dir / name).exists() for name in RESULT_FILES)


# (id, overrides, words the error line must contain)
BAD_INPUT = [
    ("unknown-optimizer", ["optimizer=nosuch"], ["optimizer", "'nosuch'", "available", "adam", "sgd", "lbfgs"]),
    ("unknown-objective", ["objective=nosuch"], ["objective", "'nosuch'", "available", "himmelblau", "rosenbrock"]),
    ("unknown-start", ["start=nosuch"], ["start", "'nosuch'", "available", "grid", "point", "uniform"]),
    ("unknown-schedule", ["schedule=nosuch"], ["schedule", "'nosuch'", "available", "cosine"]),
    ("unknown-in-sweep", ["-m", "optimizer=adam,nosuch"], ["optimizer", "'nosuch'", "available"]),
    ("negative-lr", ["optimizer.lr=-1"], ["optimizer.lr=-1", "> 0"]),
    ("zero-lr", ["optimizer.lr=0"], ["optimizer.lr=0", "> 0"]),
    ("empty-lr", ["optimizer.lr="], ["optimizer.lr", "> 0"]),
    ("negative-steps", ["run.steps=-3"], ["run.steps=-3", "whole number", ">= 0"]),
    ("dim-zero", ["objective=rosenbrock", "objective.dim=0"], ["objective.dim=0", "rosenbrock", ">= 2"]),
    ("dim-zero-2d-only", ["objective.dim=0"], ["objective.dim=0", "himmelblau", "dim 2"]),
    ("dim-too-large", ["objective=sphere", "objective.dim=1000000"], ["objective.dim=1000000", "at most"]),
    ("dim-unsupported", ["objective=himmelblau", "objective.dim=3"], ["objective.dim=3", "himmelblau", "dim 2 only"]),
    ("start-wrong-length", ["start=point", "start.x=[1,2,3]"], ["start.x", "3 coordinates", "dim 2", "2 numbers"]),
    ("start-wrong-length-dim-1", ["objective=expression", "objective.expr=x0**2", "start=point", "start.x=[1,2]"],
     ["start.x", "2 coordinates", "dim 1", "give 1 number"]),
    ("start-huge", ["start=point", "start.x=[1e300,1]"], ["start.x[0]", "1e+300", "out of range", "|x| <="]),
    ("start-not-a-number", ["start=point", "start.x=[foo,1]"], ["start.x[0]", "'foo'", "pi"]),
    ("points-wrong-length", ["start=points", "start.points=[[0,0],[1]]"], ["start.points[1]", "1 coordinate but", "give 2 numbers"]),
    ("start-n-zero", ["start=uniform", "start.n=0"], ["start.n", ">= 1", "0"]),
    ("grid-too-big", ["objective=rosenbrock", "objective.dim=10", "start=grid", "start.n=100"],
     ["start.n=100", "10 dimensions", "at most", "uniform"]),
    ("unknown-optimizer-keyword", ["+optimizer.foo=1"], ["optimizer.foo", "torch.optim.Adam", "accepted", "betas"]),
    ("target-does-not-import", ["optimizer=custom", "optimizer._target_=nosuch.Class"],
     ["optimizer._target_", "nosuch.Class", "does not import", "No module named 'nosuch'"]),
    ("optimizer-refuses-value", ["optimizer.betas=[0.9,2.0]"], ["Adam", "beta", "2.0"]),
    ("unknown-key", ["run.stepz=3"], ["run.stepz", "not a config key", "steps", "grad_tol", "+run.stepz"]),
    ("unknown-top-key", ["nosuch=3"], ["nosuch", "not a config key", "seed", "run", "+nosuch"]),
    ("unknown-objective-key", ["objective.nosuch=1"], ["objective.nosuch", "not a config key", "dim", "bounds"]),
    ("new-objective-key", ["+objective.nosuch=1"], ["objective.nosuch", "himmelblau", "accepted", "dim"]),
    ("malformed-list", ["start.x=[1,"], ["[1,", "key=value"]),
    ("malformed-override", ["=5"], ["=5", "key=value"]),
    ("unknown-flag", ["--nosuchflag"], ["--nosuchflag", "--help"]),
    ("section-replaced", ["run=5"], ["run=5", "group of settings", "run.steps"]),
    ("bad-interpolation", ["seed=${nosuch}"], ["seed", "nosuch", "not found"]),
    ("hydra-bad-bool", ["hydra.job.chdir=maybe"], ["hydra.job.chdir", "maybe", "bool"]),
    ("bad-seed", ["seed=abc"], ["seed='abc'", "whole number"]),
    ("bad-device", ["device=nosuchdevice"], ["device", "nosuchdevice"]),
    ("expression-var-beyond-dim", ["objective=expression", "objective.expr=x0+x5", "objective.dim=2"],
     ["x5", "dim >= 6", "dim is 2"]),
    ("duplicate-group", ["+optimizer=adam"], ["optimizer", "more than once"]),
]


# Each case runs the command line's code in this process (fast); a few also as a real process below.
IN_A_PROCESS = {"unknown-optimizer", "negative-lr", "unknown-key", "start-not-a-number"}
BAD_PARAMS = [pytest.param(args, words, id=name) for name, args, words in BAD_INPUT]
PROCESS_PARAMS = [pytest.param(args, words, id=name) for name, args, words in BAD_INPUT if name in IN_A_PROCESS]


@pytest.mark.parametrize("args, words", BAD_PARAMS)
def test_bad_input_is_one_line(args, words, tmp_path):
    check_bad_input(run_cli_inprocess, args, words, tmp_path)


@pytest.mark.parametrize("args, words", PROCESS_PARAMS)
def test_bad_input_is_one_line_in_a_real_process(args, words, tmp_path):
    check_bad_input(run_cli, args, words, tmp_path)


def check_bad_input(runner, args, words, tmp_path):
    run_dir = tmp_path / "run"
    flags = [a for a in args if a.startswith("-")]
    overrides = [a for a in args if not a.startswith("-")]
    res = runner([*flags, f"hydra.run.dir={run_dir}", "run.steps=3", "plot.enabled=false", *overrides],
                 cwd=tmp_path)
    assert_one_line_error(res, *words, code=2)
    assert res.stdout.strip() == ""   # no log lines (e.g. Hydra's own "Error getting object ...")
    assert no_results(run_dir)
    assert not (tmp_path / "outputs").exists() or not list((tmp_path / "outputs").rglob("summary.csv"))


def test_good_input_passes(tmp_path):
    """The same command line without the mistake runs (the cases above fail for their own reason)."""
    run_dir = tmp_path / "run"
    res = run_cli(["start=point", "start.x=[pi/3,-1]", "optimizer.lr=0.01", "run.steps=3", "plot.enabled=false",
                   f"hydra.run.dir={run_dir}"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert error_lines(res.stderr) == []
    assert (run_dir / "summary.csv").is_file()


def test_hydra_flags_still_work(tmp_path):
    """Hydra's own flags with a value (``--cfg job``) are not mistaken for overrides."""
    res = run_cli(["--cfg", "job", "run.steps=7"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "steps: 7" in res.stdout


def test_full_error_shows_the_traceback(tmp_path):
    """``HYDRA_FULL_ERROR=1`` brings back the traceback, for Hydra's errors and for ours."""
    for args, where in ((["run.stepz=3"], "ConfigCompositionException"), (["run.steps=-3"], "ConfigError")):
        res = run_cli([*args, f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path, env={"HYDRA_FULL_ERROR": "1"})
        assert res.returncode != 0
        assert "Traceback" in res.stderr and where in res.stderr, res.stderr


# ------------------------------------------------------------------------------------------------
# expressions: anything outside the whitelist is refused before anything runs
ATTACKS = [
    "__import__('os').system('touch MARKER')",
    "().__class__.__bases__[0].__subclasses__()",
    "x0.__class__.__mro__[-1].__subclasses__()",
    "open('MARKER','w').write('x')",
    "(lambda: open('MARKER','w'))()",
    "[open('MARKER','w') for _ in (1,)]",
    "exec(\"open('MARKER','w')\")",
    "eval(\"open('MARKER','w')\")",
    "getattr(x0, '__class__')",
    "'MARKER'",
    "9**9**9**9",
    "x0**100000",
    "(" * 500 + "x0" + ")" * 500,
    "sin(" * 150 + "x0" + ")" * 150,
    "x0 if open('MARKER','w') else x1",
    "x0; open('MARKER','w')",
    "x0\nopen('MARKER','w')",
    "breakpoint()",
    "f\"{open('MARKER','w')}\"",
]
# Every attack through the command line's code in this process; one also as a real process.
ATTACK_PARAMS = [pytest.param(a, id=f"attack{i}") for i, a in enumerate(ATTACKS)]


@pytest.mark.parametrize("attack", ATTACK_PARAMS)
def test_expression_attack_refused_before_running(attack, tmp_path):
    check_attack(run_cli_inprocess, attack, tmp_path)


def test_expression_attack_refused_in_a_real_process(tmp_path):
    check_attack(run_cli, ATTACKS[0], tmp_path)


def check_attack(runner, attack, tmp_path):
    run_dir = tmp_path / "run"
    res = runner(["objective=expression", "objective.expr=" + hydra_quote(attack), "run.steps=3",
                   f"hydra.run.dir={run_dir}"], cwd=tmp_path)
    line = assert_one_line_error(res, "expression", "accepted", code=2)
    assert len(line) < 1000
    assert not (tmp_path / "MARKER").exists()
    assert no_results(run_dir)


@pytest.mark.parametrize("attack", [ATTACKS[0], ATTACKS[3]], ids=["import", "open"])
def test_number_attack_refused_before_running(attack, tmp_path):
    """Start coordinates are numbers: arithmetic of numbers, pi and e only."""
    run_dir = tmp_path / "run"
    res = run_cli_inprocess(["start=point", f"start.x=[{hydra_quote(attack)},1]", "run.steps=3", f"hydra.run.dir={run_dir}"],
                  cwd=tmp_path)
    assert_one_line_error(res, "start.x[0]", "number", "pi", code=2)
    assert not (tmp_path / "MARKER").exists()
    assert no_results(run_dir)


# ------------------------------------------------------------------------------------------------
# the report command
def test_report_of_missing_folder_is_one_line(tmp_path):
    res = run_cli([tmp_path / "nonexistent"], cwd=tmp_path, module="gradexp.report")
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    lines = error_lines(res.stderr)
    assert len(lines) == 1 and "nonexistent" in lines[0] and "sweep folder" in lines[0], res.stderr
