"""Per-run plots drawn headless from small hand-made tables."""

import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from gradexp import plots
from gradexp.objectives import build


def _tables():
    trace = pd.DataFrame({"start": [0, 0, 0, 1, 1], "step": [0, 1, 10, 0, 10],
                          "x0": [0.0, 1.0, 3.0, -4.0, -3.8], "x1": [0.0, 1.0, 2.0, -4.0, -3.3],
                          "f": [170.0, 106.0, 0.0, 26.0, 0.1], "grad_norm": 1.0, "lr": 0.1})
    summary = pd.DataFrame({"start": [0, 1], "status": ["max_steps", "diverged"], "steps": [10, 10],
                            "x0": [3.0, np.nan], "x1": [2.0, np.nan], "start_x0": [0.0, -4.0], "start_x1": [0.0, -4.0]})
    return trace, summary


def _size(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    h, w = mpimg.imread(path).shape[:2]
    return w, h


def test_convergence_with_and_without_f_star(tmp_path):
    trace, _ = _tables()
    plots.convergence(trace, 0.0, tmp_path / "a.png", title="t")
    plots.convergence(trace, None, tmp_path / "b.png", title="t")
    plots.convergence(trace, 181.6, tmp_path / "c.png", title="t", maximize=True)
    for name in "abc":
        assert _size(tmp_path / f"{name}.png") == (770, 495)  # 7 x 4.5 in at 110 dpi


def test_trajectory_marks_optima_and_handles_diverged(tmp_path):
    trace, summary = _tables()
    problem = build({"_target_": "gradexp.objectives.himmelblau", "dim": 2})
    plots.trajectory(trace, summary, problem, False, tmp_path / "t.png", title="t", resolution=50)
    plots.trajectory(trace, summary, problem, True, tmp_path / "m.png", title="t", resolution=50)
    assert _size(tmp_path / "t.png") == (715, 605)
    assert _size(tmp_path / "m.png") == (715, 605)


# ------------------------------------------------------------------------------------------------
# fixed margins: every label, the title and the colorbar stay inside the image
def _trace_of(*curves, steps=(0, 1, 10, 100, 1000)):
    rows = [(s, k, 0.0, 0.0, v) for s, f in enumerate(curves) for k, v in zip(steps, f)]
    return pd.DataFrame(rows, columns=["start", "step", "x0", "x1", "f"])


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plot functions save, kept for inspection."""
    from matplotlib.figure import Figure

    figs, save = [], Figure.savefig

    def keep(self, *args, **kwargs):
        figs.append(self)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return figs


def _all_inside(fig):
    """Every artist within the figure; no tick label left to mathtext (plain text only)."""
    bb = fig.get_tightbbox(fig.canvas.get_renderer())
    w, h = fig.get_size_inches()
    labels = [t.get_text() for ax in fig.axes for t in ax.get_xticklabels() + ax.get_yticklabels()
              + ax.get_yticklabels(minor=True)]
    assert not any("$" in t for t in labels), labels
    return bb.x0 >= 0 and bb.y0 >= 0 and bb.x1 <= w and bb.y1 <= h


@pytest.mark.parametrize("curves,f_opt,maximize", [
    ([[1e3, 1e1, 1e-3, 1e-9, 1e-13]], 0.0, False),                 # log axis down to the floor
    ([[2e-12, 1.9e-12, 1.8e-12, 1.7e-12, 1.6e-12]], 0.0, False),   # narrow log: labels like 3×10⁻¹²
    ([[5e5, -3e5, -2e6, -8e6, -9.5e6]], None, False),              # linear, large: an offset ×10⁷
    ([[0.0125, -0.011, -0.0105, -0.0102, -0.01]], None, False),    # linear, small decimals
    ([[-1234.5, -3000.25, -6000, -9000.5, -9999.0]], None, False),
    ([[-5, 10, 100, 170, 181.6]], 181.6165, True),
])
def test_convergence_labels_inside_the_image(curves, f_opt, maximize, drawn, tmp_path):
    plots.convergence(_trace_of(*curves), f_opt, tmp_path / "c.png", maximize=maximize,
                      title="himmelblau (2-D) · Adam lr=0.001 · 16384 starts × 2000 steps (400 of 16384 starts shown)")
    assert _all_inside(drawn[-1])


@pytest.mark.parametrize("which", ["himmelblau", "styblinski_tang", "goldstein_price", "tiny", "huge", "decimals",
                                   "small_bounds"])
def test_trajectory_labels_and_colorbar_inside_the_image(which, drawn, tmp_path):
    from gradexp.objectives.core import Problem

    if which in ("tiny", "huge"):  # bounds and values that need scientific offsets
        scale = 1e-3 if which == "tiny" else 1e5
        problem = Problem(name=which, dim=2, f=lambda x: -(x[..., 0] ** 2 + x[..., 1] ** 2) * 1e-5 - 1.2e-4,
                          lower=(-scale, -scale), upper=(scale, scale), f_star=None)
    elif which == "decimals":  # the longest plain colorbar labels: −0.0125
        problem = Problem(name=which, dim=2, f=lambda x: -0.01 - 0.00025 * (x[..., 0] + 5),
                          lower=(-5.0, -5.0), upper=(5.0, 5.0), f_star=None)
    elif which == "small_bounds":  # the longest plain axis labels: −0.0125 (and −0.01025 on the colorbar)
        problem = Problem(name=which, dim=2, f=lambda x: -(x[..., 0] ** 2 + x[..., 1] ** 2) - 0.01,
                          lower=(-0.0125, -0.0125), upper=(0.0125, 0.0125), f_star=None)
    else:
        problem = build({"_target_": f"gradexp.objectives.{which}", "dim": 2})
    trace, summary = _tables()
    plots.trajectory(trace, summary, problem, False, tmp_path / "t.png", resolution=40,
                     title=f"{which} (2-D) · Adam lr=0.001 · 16384 starts × 2000 steps")
    assert _all_inside(drawn[-1])
    assert _size(tmp_path / "t.png") == (715, 605)


def test_plots_do_not_start_pyplot(tmp_path):
    """The run plots are drawn by Agg directly: pyplot (and a GUI backend) is never imported."""
    code = (
        "import sys\n"
        "from tests.test_plots import _tables\n"
        "from gradexp import plots\n"
        "from gradexp.objectives import build\n"
        "trace, summary = _tables()\n"
        f"plots.convergence(trace, 0.0, {str(tmp_path / 'c.png')!r})\n"
        "p = build({'_target_': 'gradexp.objectives.himmelblau', 'dim': 2})\n"
        f"plots.trajectory(trace, summary, p, False, {str(tmp_path / 't.png')!r}, resolution=20)\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["DISPLAY"] = ":99"  # a display that is not there: nothing may try to open it
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "c.png").stat().st_size > 0 and (tmp_path / "t.png").stat().st_size > 0


def _write_run(tmp_path, name, *overrides):
    from gradexp import rundir
    from gradexp.runner import run
    from tests.conftest import compose

    cfg = compose("start=grid", "start.n=5", "run.steps=50", "plot.enabled=true", *overrides)
    trace, summary = run(cfg)
    problem = build(cfg.objective)
    import torch

    out = tmp_path / name
    rundir.write_run(out, cfg, problem, trace, summary, torch.optim.Adam, {"lr": 1e-3}, False, 0.0)
    return out


def test_plots_drawn_in_a_forked_child_are_the_plots_drawn_in_process(tmp_path, monkeypatch):
    """plot.parallel: a large run's plots come from a child process, to the byte the same files."""
    from gradexp import rundir

    monkeypatch.setattr(rundir, "PARALLEL_PLOT_ROWS", 10)  # this small run counts as large
    drawn_by = tmp_path / "pids"
    convergence = plots.convergence

    def recording(*args, **kwargs):
        with open(drawn_by, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        return convergence(*args, **kwargs)

    monkeypatch.setattr(plots, "convergence", recording)
    child = _write_run(tmp_path, "child")
    here = _write_run(tmp_path, "here", "plot.parallel=false")
    pids = drawn_by.read_text().split()
    if sys.platform.startswith("linux") and len(os.sched_getaffinity(0)) >= 2:
        assert pids[0] != str(os.getpid()) and pids[1] == str(os.getpid())
    for name in ("convergence.png", "trajectory.png", "trace.csv", "summary.csv"):
        assert (child / name).read_bytes() == (here / name).read_bytes(), name


def test_a_child_that_fails_leaves_the_plots_to_the_job(tmp_path, monkeypatch):
    """When the drawing child fails, the job draws the plots itself (and would raise its error)."""
    from gradexp import rundir

    monkeypatch.setattr(rundir, "PARALLEL_PLOT_ROWS", 10)
    parent = os.getpid()
    convergence = plots.convergence

    def fails_in_a_child(*args, **kwargs):
        if os.getpid() != parent:
            raise MemoryError("the child ran out of memory")
        return convergence(*args, **kwargs)

    monkeypatch.setattr(plots, "convergence", fails_in_a_child)
    out = _write_run(tmp_path, "run")
    assert _size(out / "convergence.png")[0] > 0 and _size(out / "trajectory.png")[0] > 0

    def always_fails(*args, **kwargs):
        raise ValueError("no plot today")

    monkeypatch.setattr(plots, "convergence", always_fails)
    with pytest.raises(ValueError, match="no plot today"):
        _write_run(tmp_path, "run2")
    assert (tmp_path / "run2" / "trace.csv").is_file()  # the tables were written before the error


def test_plot_parallel_does_not_change_the_config_hash():
    from gradexp import records
    from tests.conftest import compose

    assert records.config_hash(compose("plot.parallel=false")) == records.config_hash(compose())
    assert records.config_hash(compose("plot.max_paths=3")) != records.config_hash(compose())
