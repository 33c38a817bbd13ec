"""The tutorial's examples, run end to end through the command line, against its printed output.

Expected values are the tutorial's own tables (tests/data/, transcribed from its text) and closed
facts about Himmelblau's function; the printers are also checked in-process against a plain
torch loop written here.
"""

import csv
import math
import re
from math import pi
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

import gradexp
from tests.conftest import compose, run_cli_inprocess
from tests.helpers import CLOSE_TO_OPTIMUM, HIMMELBLAU_F_MAX, HIMMELBLAU_MAXIMUM, HIMMELBLAU_MINIMA

DATA = Path(__file__).parent / "data"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RUN_FILES = ("trace.csv", "summary.csv", "surface.png", "trajectory.png")

LINE = re.compile(
    r"^(?:start (?P<start>\d+): )?step (?P<step>\d+): x = \[(?P<x>[^\]]*)\], "
    r"f\(x\) = (?P<f>\S+), grad = (?P<grad>None|tensor\(\[(?P<g>[^\]]*)\]\))$"
)


# -- helpers --------------------------------------------------------------------------------
def run_cli(name, tmp_path, *extra):
    """``python -m gradexp experiment=NAME hydra.run.dir=...`` (the command line's code path, in this
    process); return (stdout, run folder)."""
    out = tmp_path / "run"
    proc = run_cli_inprocess([f"experiment={name}", f"hydra.run.dir={out}", *extra], tmp_path)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout, out


def check_run_folder(out):
    for name in RUN_FILES:
        path = out / name
        assert path.is_file() and path.stat().st_size > 0, f"{name} missing in {out}"
        if name.endswith(".png"):
            assert path.read_bytes()[:8] == PNG_MAGIC, name


def tutorial_table(name):
    with open(DATA / f"{name}.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def step_lines(stdout):
    return [m.groupdict() for m in map(LINE.match, stdout.splitlines()) if m]


def last_digit_unit(token):
    """Value of one unit in the last printed digit of a number as torch prints it."""
    mant, _, exp = token.partition("e")
    decimals = len(mant.split(".")[1]) if "." in mant else 0
    return 10.0 ** (-decimals) * 10.0 ** (int(exp) if exp else 0)


def assert_grad_as_printed(got, want, where):
    """``want`` tokens as the tutorial printed them (empty = None); ±1 in the last printed digit."""
    if want[0] == "":
        assert got["grad"] == "None", where
        return
    assert got["g"] is not None, f"{where}: grad printed as {got['grad']!r}"
    tokens = [t.strip() for t in got["g"].split(",")]
    assert len(tokens) == len(want), where
    for t, w in zip(tokens, want):
        a, b = float(t), float(w)
        if b == 0.0:
            assert a == 0.0, f"{where}: grad {t} vs {w}"
        else:
            assert abs(a - b) <= 1.0001 * last_digit_unit(w), f"{where}: grad {t} vs {w}"


def assert_matches_tutorial(lines, rows):
    assert [int(g["step"]) for g in lines] == [int(r["step"]) for r in rows]
    for got, row in zip(lines, rows):
        where = f"step {row['step']}"
        xs = [float(v) for v in got["x"].split(",")]
        for j, v in enumerate(xs):
            assert v == pytest.approx(float(row[f"x{j}"]), rel=1e-5, abs=1e-12), f"{where}: x{j}"
        f_want = float(row["f"])
        tol = dict(abs=1e-6) if abs(f_want) < 1e-6 else dict(rel=1e-5)
        assert float(got["f"]) == pytest.approx(f_want, **tol), f"{where}: f"
        assert_grad_as_printed(got, [row["grad0"], row["grad1"]], where)


# -- the tutorial's three examples, end to end -----------------------------------------------
def test_seed_gradient_prints_the_two_blocks(tmp_path):
    stdout, out = run_cli("seed_gradient", tmp_path)
    blocks = (DATA / "seed_gradient.txt").read_text(encoding="utf-8")
    assert blocks in stdout
    assert stdout.count("The info of") == 2
    assert not step_lines(stdout)
    check_run_folder(out)


def test_seed_sgd_prints_the_tutorial_table(tmp_path):
    stdout, out = run_cli("seed_sgd", tmp_path)
    lines = step_lines(stdout)
    assert len(lines) == 11 and all(g["start"] is None for g in lines)
    assert_matches_tutorial(lines, tutorial_table("seed_sgd"))
    check_run_folder(out)
    summary = pd.read_csv(out / "summary.csv")
    assert summary.loc[0, "steps"] == 10


def test_seed_adam_himmelblau_first_lines(tmp_path):
    # the same preset cut at step 3000: the tutorial's first four lines
    stdout, out = run_cli("seed_adam_himmelblau", tmp_path, "run.steps=3000")
    rows = [r for r in tutorial_table("seed_adam_himmelblau") if int(r["step"]) <= 3000]
    assert len(rows) == 4
    assert_matches_tutorial(step_lines(stdout), rows)
    check_run_folder(out)


@pytest.mark.slow
def test_seed_adam_himmelblau_full(tmp_path):
    stdout, out = run_cli("seed_adam_himmelblau", tmp_path)
    lines = step_lines(stdout)
    assert len(lines) == 21
    assert_matches_tutorial(lines, tutorial_table("seed_adam_himmelblau"))
    check_run_folder(out)
    summary = pd.read_csv(out / "summary.csv")
    assert summary.loc[0, "steps"] == 20000
    assert (summary.loc[0, "x0"], summary.loc[0, "x1"]) == (3.0, 2.0)


# -- the two Himmelblau studies -------------------------------------------------------------
def test_himmelblau_maximum_lands_on_the_maximum(tmp_path):
    stdout, out = run_cli("himmelblau_maximum", tmp_path)
    check_run_folder(out)
    s = pd.read_csv(out / "summary.csv")
    assert len(s) == 1 and s.loc[0, "status"] != "diverged"
    assert math.dist((s.loc[0, "x0"], s.loc[0, "x1"]), HIMMELBLAU_MAXIMUM) < 1e-3
    assert s.loc[0, "f_final"] == pytest.approx(HIMMELBLAU_F_MAX, abs=1e-3)
    # the printed table ends at the maximum too
    rows = [ln.split() for ln in stdout.splitlines() if re.match(r"^\s*\d+\s+0\s", ln)]
    assert rows, stdout
    assert float(rows[-1][2]) == pytest.approx(HIMMELBLAU_F_MAX, abs=1e-3)


def test_himmelblau_basins_counts_every_start(tmp_path):
    stdout, out = run_cli("himmelblau_basins", tmp_path)
    check_run_folder(out)
    s = pd.read_csv(out / "summary.csv")
    assert len(s) == 81
    head = re.search(r"starts per minimum \(himmelblau, (\d+) starts\):", stdout)
    assert head and int(head.group(1)) == 81, stdout
    counted = {}
    for m in re.finditer(r"^  minimum (\d+) at \(([^)]*)\), f = \S+: (\d+) starts?$", stdout, re.M):
        point = tuple(float(v) for v in m.group(2).split(","))
        known = min(HIMMELBLAU_MINIMA, key=lambda p: math.dist(p, point))
        assert math.dist(known, point) < 1e-4, point
        counted[known] = counted.get(known, 0) + int(m.group(3))
    none = re.search(r"^  at no known minimum: (\d+) starts?$", stdout, re.M)
    assert none, stdout
    assert sum(counted.values()) + int(none.group(1)) == 81
    assert set(counted) == set(HIMMELBLAU_MINIMA)
    assert all(c >= 1 for c in counted.values()), counted
    # each start counted at a minimum really ended within 1e-2 of one
    ends = list(zip(s["x0"], s["x1"]))
    near = sum(1 for e in ends if min(math.dist(e, p) for p in HIMMELBLAU_MINIMA) <= CLOSE_TO_OPTIMUM)
    assert near == sum(counted.values())


# -- the printers in-process, against a plain torch loop ------------------------------------
def _cos_squared(x):
    return -((x.cos() ** 2).sum(-1)) ** 2


class _Problem:
    name = "cos_squared"
    dim = 2

    def optima(self, maximize=False):
        crit = SimpleNamespace
        return -4.0, (crit(x=(0.0, 0.0), f=-4.0, kind="min"), crit(x=(pi, 0.0), f=-4.0, kind="min"))


def _drive(printer, starts, steps=10, lr=0.1):
    """The tutorial's SGD loop on a batch of starts, calling the printer as the runner does."""
    x = torch.tensor(starts, dtype=torch.float32).requires_grad_(True)
    opt = torch.optim.SGD([x], lr=lr, momentum=0)
    grad_used = None
    for k in range(steps + 1):
        f = _cos_squared(x)
        if printer.wants(k, k == steps):
            if k == 0 and printer.want_tensors:
                xx = x[0].detach().clone().requires_grad_(True)
                g0, = torch.autograd.grad(_cos_squared(xx), xx)
                printer.tensors(_cos_squared(xx).detach(), g0)
            printer.step(k, x.detach(), f.detach(), grad_used)
        if k == steps:
            break
        opt.zero_grad()
        f.sum().backward()
        opt.step()
        grad_used = x.grad.detach().clone()


def test_seed_printer_reproduces_the_sgd_table(capsys):
    from gradexp.printing import make_printer

    p = make_printer({"print_every": 1, "format": "seed", "print_tensors": False}, _Problem(), False)
    _drive(p, [[pi / 3, pi / 6]])
    lines = step_lines(capsys.readouterr().out)
    assert_matches_tutorial(lines, tutorial_table("seed_sgd"))


def test_seed_printer_prefixes_starts_and_prints_tensors(capsys):
    from gradexp.printing import make_printer

    p = make_printer({"print_every": 5, "format": "seed", "print_tensors": True}, _Problem(), False)
    _drive(p, [[pi / 3, pi / 6], [1.0, 2.0]])
    out = capsys.readouterr().out
    assert out.startswith((DATA / "seed_gradient.txt").read_text(encoding="utf-8"))
    lines = step_lines(out)
    assert [(g["start"], g["step"]) for g in lines] == [
        ("0", "0"), ("1", "0"), ("0", "5"), ("1", "5"), ("0", "10"), ("1", "10")]
    rows = {r["step"]: r for r in tutorial_table("seed_sgd")}
    assert_matches_tutorial([g for g in lines if g["start"] == "0"], [rows["0"], rows["5"], rows["10"]])


def test_table_printer_aligned_and_limited(capsys):
    from gradexp.printing import make_printer

    p = make_printer({"print_every": 10, "format": "table", "max_starts": 2}, _Problem(), False)
    _drive(p, [[pi / 3, pi / 6], [1.0, 2.0], [0.5, 0.5]])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "(showing 2 of 3 starts)"
    assert out[1].split() == ["step", "start", "f", "|grad|", "x0", "x1"]
    body = [ln.split() for ln in out[2:]]
    assert [(r[0], r[1]) for r in body] == [("0", "0"), ("0", "1"), ("10", "0"), ("10", "1")]
    assert float(body[0][2]) == -1.0 and body[0][3] == "-"
    assert float(body[2][2]) == pytest.approx(-4.0, abs=1e-6)
    # |grad| at step 10 is the norm of the tutorial's last printed gradient
    assert float(body[2][3]) == pytest.approx(math.hypot(2.3792e-04, 4.1876e-05), rel=1e-3)
    assert len({len(ln) for ln in out[1:]}) == 1  # aligned columns


def test_make_printer_none_and_bad_values():
    from gradexp.errors import ConfigError
    from gradexp.printing import make_printer

    assert make_printer({"print_every": None, "format": "table", "print_tensors": False}, _Problem()) is None
    assert make_printer(None, _Problem()) is None
    with pytest.raises(ConfigError, match="report.format"):
        make_printer({"print_every": 1, "format": "fancy"}, _Problem())
    with pytest.raises(ConfigError, match="report.print_every"):
        make_printer({"print_every": 0}, _Problem())
    with pytest.raises(ConfigError, match="report.max_starts"):
        make_printer({"print_every": 1, "max_starts": -1}, _Problem())


def test_basin_counts_from_a_summary(capsys):
    from gradexp.printing import make_printer

    p = make_printer({"basins": True}, _Problem(), False)
    assert p is not None and not p.wants(0, False)
    p.finish(pd.DataFrame({"minimum": [0, 1, 1, None, 1]}))
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "starts per minimum (cos_squared, 5 starts):",
        "  minimum 0 at (0, 0), f = -4: 1 start",
        "  minimum 1 at (3.14159, 0), f = -4: 3 starts",
        "  at no known minimum: 1 start",
    ]


def test_basin_counts_with_a_whole_number_column_and_missing_values(capsys):
    # summary.csv's `minimum` is a whole-number column with pandas' NA where a start ended at no
    # known minimum (as gradexp.run returns it); NA used to raise "boolean value of NA is ambiguous"
    from gradexp.printing import make_printer

    p = make_printer({"basins": True}, _Problem(), False)
    p.finish(pd.DataFrame({"minimum": pd.array([1, pd.NA, pd.NA, 0], dtype="Int64")}))
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "starts per minimum (cos_squared, 4 starts):",
        "  minimum 0 at (0, 0), f = -4: 1 start",
        "  minimum 1 at (3.14159, 0), f = -4: 1 start",
        "  at no known minimum: 2 starts",
    ]


def test_basins_preset_runs_when_some_starts_reach_no_minimum(tmp_path):
    _, summary = gradexp.run(compose("experiment=himmelblau_basins", "optimizer.lr=0.001", "run.steps=50",
                                     "plot.enabled=false"))
    assert summary["minimum"].isna().any()  # the case that failed: starts short of every minimum
