"""At the terminal: the default stopping rule, the closing line, progress, refusals that leave nothing."""

import io
import json
import math
import re
import subprocess
import sys

import pandas as pd
import pytest
import torch

from conftest import compose, run_cli

# ------------------------------------------------------------------------------------------------
# the default stopping rule: a start stops at its first step with f <= f* + 1e-7


def _himmelblau(x):
    x0, x1 = x[..., 0], x[..., 1]
    return (x0**2 + x1 - 11)**2 + (x0 + x1**2 - 7)**2


def _first_hit(point, make_opt, steps, reached, fn=_himmelblau):
    """A plain torch loop from ``point``: the first step k at which ``reached(f_k)``, f_k and x_k."""
    x = torch.tensor([point], dtype=torch.float32, requires_grad=True)
    opt = make_opt([x])
    for k in range(steps + 1):
        opt.zero_grad()
        f = fn(x)
        if reached(f.detach()[0]):
            return k, f.detach()[0].item(), x.detach()[0].tolist()
        if k == steps:
            return None, f.detach()[0].item(), x.detach()[0].tolist()
        f.sum().backward()
        opt.step()


POINTS = [[0.0, 0.0], [1.0, -1.0], [-4.0, 4.0], [4.5, -4.5]]


def test_default_rule_stops_each_start_at_its_plain_loop_first_hit():
    """Adam lr 0.05 on Himmelblau (f* = 0): each start stops at the first step with f <= 1e-7 (in
    float32), exactly where a plain torch loop first gets there, with that step's f and x."""
    pts = ",".join(f"[{a},{b}]" for a, b in POINTS)
    cfg = compose("optimizer=adam", "optimizer.lr=0.05", "start=points", f"start.points=[{pts}]", "run.steps=3000")
    _, summary = __import__("gradexp").run(cfg)
    thr = torch.tensor(1e-7, dtype=torch.float32)
    for i, p in enumerate(POINTS):
        k, f, x = _first_hit(p, lambda ps: torch.optim.Adam(ps, lr=0.05), 3000, lambda f: bool(f <= thr))
        assert k is not None and k < 3000, (p, k)  # the case exercises the rule
        row = summary.loc[i]
        assert (row["status"], row["steps"], row["rt_1e-7"]) == ("converged", k, k), (p, row.to_dict())
        assert row["f_final"] == f and [row["x0"], row["x1"]] == x, (p, row.to_dict(), f, x)


def test_rule_changes_no_target_step_and_is_switched_off_by_the_key():
    """Stopping early keeps every recorded first-hit step; run.stop_at_target=false runs the budget."""
    pts = ",".join(f"[{a},{b}]" for a, b in POINTS)
    common = ("optimizer=adam", "optimizer.lr=0.05", "start=points", f"start.points=[{pts}]", "run.steps=1500")
    _, on = __import__("gradexp").run(compose(*common))
    _, off = __import__("gradexp").run(compose(*common, "run.stop_at_target=false"))
    rt = [c for c in on.columns if c.startswith("rt_")]
    assert len(rt) == 5 and on[rt].equals(off[rt]) and on["rt_1e-7"].notna().all()
    assert (off["status"] == "max_steps").all() and (off["steps"] == 1500).all()
    assert (on["steps"] < 1500).all()


def _cos_squared(x):
    return -((x.cos() ** 2).sum(-1)) ** 2


def test_rule_when_maximizing_stops_at_f_star_minus_1e_7():
    """Ascending the tutorial's −(cos²x0 + cos²x1)² (maximum f* = 0 at (±pi/2, ±pi/2)) with SGD:
    the start stops at the first step with f >= −1e-7 (float32), as a plain ascending loop finds."""
    thr = torch.tensor(-1e-7, dtype=torch.float32)
    k, f, x = _first_hit([1.0, 0.5], lambda ps: torch.optim.SGD(ps, lr=0.5, maximize=True), 3000,
                         lambda f: bool(f >= thr), fn=_cos_squared)
    cfg = compose("objective=cos_squared", "objective.maximize=true", "optimizer=sgd", "optimizer.lr=0.5",
                  "start=point", "start.x=[1.0,0.5]", "run.steps=3000")
    _, summary = __import__("gradexp").run(cfg)
    assert k is not None and k < 3000
    row = summary.loc[0]
    assert (row["status"], row["steps"], row["f_final"], [row["x0"], row["x1"]]) == ("converged", k, f, x)


def test_rule_needs_a_known_f_star_and_gives_way_to_f_target():
    _, expr = __import__("gradexp").run(compose("objective=expression", "start=point", "start.x=[0,0]",
                                                "optimizer.lr=0.05", "run.steps=1500"))
    assert expr.loc[0, "status"] == "max_steps" and expr.loc[0, "steps"] == 1500  # f* unknown: no rule
    _, own = __import__("gradexp").run(compose("start=point", "start.x=[0,0]", "optimizer.lr=0.05",
                                               "run.steps=1500", "run.f_target=1e-3"))
    assert own.loc[0, "status"] == "converged" and own.loc[0, "steps"] == own.loc[0, "rt_1e-3"]


def test_tightest_target_is_the_reports():
    from gradexp import outcome, stopping

    assert stopping.TIGHTEST == min(outcome.TARGETS)


# ------------------------------------------------------------------------------------------------
# the closing line, against the summary CSV read independently

LINE = re.compile(r"gradexp: (\d+) starts, .*?; (\d+) reached f\* \+ 1e-7 \(f\* = 0\); ended at (.*?); "
                  r"best f = (\S+) at \((\S+), (\S+)\) \(start (\d+)\); steps (\d+)–(\d+) of (\d+) \((.*?)\); "
                  r"results in (.*)$")


def test_closing_line_says_what_the_summary_holds(tmp_path):
    run_dir = tmp_path / "run"
    res = run_cli([f"hydra.run.dir={run_dir}", "optimizer.lr=0.05", "start.n=4", "run.steps=400",
                   "plot.enabled=false"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    s = pd.read_csv(run_dir / "summary.csv")
    lines = res.stdout.strip().splitlines()
    assert lines[-1] == f"gradexp: open {run_dir / 'index.html'}"  # the page to open comes last
    line = lines[-2]
    m = LINE.match(line)
    assert m, line
    n, reached, ended, best, bx0, bx1, bstart, lo, hi, budget, statuses, folder = m.groups()
    assert int(n) == len(s) == 16
    assert int(reached) == s["rt_1e-7"].notna().sum() and 0 < int(reached) < len(s)
    counts = {int(k): v for k, v in s["minimum"].dropna().astype(int).value_counts().items()}
    said = {int(i): int(c) for i, c in re.findall(r"minimum (\d+) \([^)]*\) ×(\d+)", ended)}
    assert said == counts and sum(counts.values()) > 0
    elsewhere = s["minimum"].isna().sum()
    assert (f"elsewhere ×{elsewhere}" in ended) == (elsewhere > 0)
    ok = s[s["status"] != "diverged"]
    i = ok["f_final"].idxmin()
    assert float(best) == pytest.approx(ok.loc[i, "f_final"], rel=1e-5) and int(bstart) == s.loc[i, "start"]
    assert (float(bx0), float(bx1)) == pytest.approx((s.loc[i, "x0"], s.loc[i, "x1"]), rel=1e-5, abs=1e-6)
    assert (int(lo), int(hi), int(budget)) == (s["steps"].min(), s["steps"].max(), 400)
    said_status = {k: int(v) for v, k in re.findall(r"(\d+) (\w+)", statuses)}
    assert said_status == s["status"].value_counts().to_dict()
    assert folder == str(run_dir)


def test_closing_line_names_maxima_and_unknown_f_star():
    from gradexp.printing import closing_line

    s = pd.DataFrame({"start": [0, 1, 2], "status": ["converged", "max_steps", "diverged"],
                      "steps": [5, 9, 2], "f_final": [7.0, 9.5, 1e30], "x0": [1.0, 2.0, 3.0],
                      "minimum": pd.array([0, pd.NA, pd.NA], dtype="Int64"),
                      "f_star": [math.nan] * 3, "rt_1e-7": pd.array([pd.NA] * 3, dtype="Int64")})
    line = closing_line(s, "out", 3.0, maximize=True, budget=9)
    # the largest f of the starts that did not diverge, at maximum 0; no f*: no count of targets
    assert "f* unknown" in line and "best f = 9.5 at (2) (start 1)" in line, line
    assert "ended at maximum 0 ×1, elsewhere ×2" in line and "steps 2–9 of 9" in line, line


# ------------------------------------------------------------------------------------------------
# progress: a bar on a terminal, plain lines in a log, nothing when off


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class _Tty(io.StringIO):
    def isatty(self):
        return True


def _drive(mode, stream, seconds=95.0, steps=1000):
    from gradexp.progress import Progress

    clock = _Clock()
    p = Progress(mode, steps, "obj × Opt", stream=stream, clock=clock)
    active = torch.ones(3, dtype=torch.bool)
    for k in range(0, steps, 10):
        clock.t = seconds * k / steps
        p.update(k, active)
    p.close()
    return stream.getvalue()


def test_progress_in_a_log_is_a_line_every_30_s_with_the_time_left():
    out = _drive("auto", io.StringIO())
    lines = out.splitlines()
    assert len(lines) == 3, out  # at 30, 60 and 90 s of 95
    k = int(re.search(r"step (\d+)/1000", lines[0]).group(1))
    assert k == 320  # the first update at or after 30 s (steps come every 0.95 s)
    # 320 steps in 30.4 s: the other 680 take 64.6 s
    assert "3 starts running" in lines[0] and "30 s so far, ~1 min 05 s left" in lines[0], lines[0]
    assert _drive("false", io.StringIO()) == "" and _drive("false", _Tty()) == ""
    forced = _drive("true", io.StringIO()).splitlines()
    assert re.search(r"step 30/1000", forced[0]), forced  # run.progress=true: the first line after 2 s


def test_progress_on_a_terminal_is_a_tqdm_bar_removed_at_the_end():
    out = _drive("auto", _Tty())
    frames = [f for f in out.split("\r") if f.strip()]
    assert frames and "obj × Opt" in frames[0] and "/1000" in frames[-2] and "3 running" in frames[-2], frames
    assert out.endswith("\r") and not out.rstrip("\r").splitlines()[-1].strip("\r ")  # cleared


def test_progress_refuses_an_unknown_mode():
    from gradexp.errors import ConfigError
    from gradexp.progress import mode_of

    assert [mode_of(v) for v in (True, False, "auto", "TRUE")] == ["true", "false", "auto", "true"]
    with pytest.raises(ConfigError, match="run.progress='sometimes' is not accepted; use auto, true or false"):
        mode_of("sometimes")


def test_sweep_lines_count_jobs_and_time_left():
    from gradexp.progress import JobLines, sweep_size

    assert sweep_size(["optimizer=sgd,adam,rmsprop", "optimizer.lr=1e-3,1e-2", "run.steps=5"]) == 6
    assert sweep_size(["x=1"], n_trials=20) == 20
    # a preset's hydra.sweeper.params count too; a command-line override of the same key replaces its list
    params = {"objective.function": "range(1,25)", "optimizer": "adam,sgd", "optimizer.lr": "0.001,0.01,0.1"}
    assert sweep_size(["objective.dim=2"], params=params) == 24 * 2 * 3
    assert sweep_size(["optimizer.lr=0.01", "seed=1,2"], params=params) == 24 * 2 * 2
    clock, out = _Clock(), io.StringIO()
    lines = JobLines(4, stream=out, clock=clock)
    clock.t = 10.0
    lines.job_done(0, "ended")
    clock.t = 20.0
    lines.job_done(1, "failed")
    assert out.getvalue().splitlines() == [
        "gradexp sweep: job 0 ended; 1/4 jobs done, 10 s so far, ~30 s left",
        "gradexp sweep: job 1 failed; 2/4 jobs done, 20 s so far, ~20 s left"]
    few = JobLines(1, stream=io.StringIO(), clock=clock)  # a total told wrong: no negative time left
    clock.t = 30.0
    few.job_done(0, "ended")
    assert few.job_done(1, "ended") == "gradexp sweep: job 1 ended; 2 jobs done, 10 s so far"


def test_a_sweep_prints_a_line_per_job(tmp_path):
    res = run_cli(["-m", "optimizer=sgd,adam", "run.steps=20", "start.n=2", f"hydra.sweep.dir={tmp_path / 'sw'}",
                   "plot.enabled=false"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    done = re.findall(r"gradexp sweep: job (\d) ended; (\d)/2 jobs done", res.stderr)
    assert done == [("0", "1"), ("1", "2")], res.stderr
    quiet = run_cli(["-m", "optimizer=sgd,adam", "run.steps=20", "start.n=2", "run.progress=false",
                     f"hydra.sweep.dir={tmp_path / 'sw2'}", "plot.enabled=false"], cwd=tmp_path)
    assert quiet.returncode == 0 and "jobs done" not in quiet.stderr, quiet.stderr


# ------------------------------------------------------------------------------------------------
# a refused input leaves nothing behind and is refused before the heavy imports where it can be


@pytest.mark.parametrize("bad", ["run.steps=-1", "objective.dim=3", "run.stop_at_target=maybe"])
def test_a_refused_run_leaves_no_folder(tmp_path, bad):
    run_dir = tmp_path / "runs" / "stamp"
    res = run_cli([f"hydra.run.dir={run_dir}", bad], cwd=tmp_path)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and res.stderr.startswith("gradexp: error: ")
    assert not run_dir.exists(), sorted(p.name for p in run_dir.rglob("*"))


def test_a_refusal_keeps_a_folder_that_holds_earlier_results(tmp_path):
    run_dir = tmp_path / "old"
    run_dir.mkdir()
    (run_dir / "summary.csv").write_text("earlier\n")
    res = run_cli([f"hydra.run.dir={run_dir}", "run.steps=-1"], cwd=tmp_path)
    assert res.returncode == 2 and (run_dir / "summary.csv").read_text() == "earlier\n"


@pytest.mark.parametrize("bad", ["run.progress=sometimes", "run.stop_at_target=3", "run=5"])
def test_config_refusals_come_before_torch_and_pandas(tmp_path, bad):
    code = ("import sys; sys.argv = ['gradexp', 'hydra.run.dir=r', %r]\n"
            "from gradexp.__main__ import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n"
            "    print(json.dumps([e.code, 'torch' in sys.modules, 'pandas' in sys.modules]))\n") % bad
    res = subprocess.run([sys.executable, "-c", "import json\n" + code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert json.loads(res.stdout.strip().splitlines()[-1]) == [2, False, False], (res.stdout, res.stderr)
    assert not (tmp_path / "r").exists()
