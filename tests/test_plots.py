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
    from gradexp.provenance import config_hash
    from tests.conftest import compose

    assert config_hash(compose("plot.parallel=false")) == config_hash(compose())
    assert config_hash(compose("plot.max_paths=3")) != config_hash(compose())


# ------------------------------------------------------------------------------------------------
# what the run figures draw, read back from their artists
def _geometric(n, steps=(0, 1, 2, 5, 10, 20), f_opt=0.0, sign=1.0):
    """``n`` starts with f = f_opt + sign · (i + 1) · 10 · 0.5**step: a trace and the gaps as a matrix."""
    gaps = np.array([[(i + 1) * 10 * 0.5 ** k for k in steps] for i in range(n)])
    rows = [(i, k, 0.0, 0.0, f_opt + sign * gaps[i, j]) for i in range(n) for j, k in enumerate(steps)]
    return pd.DataFrame(rows, columns=["start", "step", "x0", "x1", "f"]), gaps


def test_convergence_few_starts_draws_one_line_each(tmp_path):
    trace, gaps = _geometric(3)
    ax = plots.convergence(trace, 0.0, tmp_path / "c.png").axes[0]
    assert [ln.get_label() for ln in ax.lines] == ["start 0", "start 1", "start 2"]
    for ln, g in zip(ax.lines, gaps):
        assert np.asarray(ln.get_ydata(), float) == pytest.approx(g)
    assert len({ln.get_color() for ln in ax.lines}) == 3


def test_convergence_many_starts_draws_median_and_interquartile_band(tmp_path):
    trace, gaps = _geometric(12)
    ax = plots.convergence(trace, 0.0, tmp_path / "c.png").axes[0]
    (line,) = ax.lines
    assert line.get_label() == "median of 12 starts"
    assert np.asarray(line.get_ydata(), float) == pytest.approx(np.median(gaps, axis=0))
    (band,) = ax.collections
    ys = band.get_paths()[0].vertices[:, 1]
    q1, q3 = np.percentile(gaps, 25, axis=0), np.percentile(gaps, 75, axis=0)
    assert ys.min() == pytest.approx(q1.min()) and ys.max() == pytest.approx(q3.max())


def test_convergence_of_a_maximizing_run_plots_f_star_minus_f(tmp_path):
    trace, gaps = _geometric(2, f_opt=181.6, sign=-1.0)  # ascending towards f* from below
    ax = plots.convergence(trace, 181.6, tmp_path / "c.png", maximize=True).axes[0]
    assert ax.get_ylabel() == "f* − f (log)"
    for ln, g in zip(ax.lines, gaps):
        assert np.asarray(ln.get_ydata(), float) == pytest.approx(g, rel=1e-6)


def test_convergence_clips_a_diverged_start_and_marks_it(tmp_path):
    trace, gaps = _geometric(3)
    trace.loc[(trace["start"] == 2) & (trace["step"] >= 5), "f"] = [1e8, 1e16, np.inf]
    ax = plots.convergence(trace, 0.0, tmp_path / "c.png", diverged=[2]).axes[0]
    top = ax.get_ylim()[1]
    assert top == pytest.approx(10 * gaps[:2].max())  # the starts that did not diverge set the range
    y = np.asarray(ax.lines[2].get_ydata(), float)
    assert y[:3] == pytest.approx(gaps[2, :3]) and y[3] == pytest.approx(top) and np.isnan(y[4:]).all()
    assert ax.lines[2].get_label() == "start 2 (∞ from step 5)"
    assert [t.get_position()[0] for t in ax.texts if t.get_text() == "∞"] == [5]


def test_convergence_of_a_run_without_steps_shows_the_start_values(tmp_path):
    trace = pd.DataFrame({"start": [0], "step": [0], "x0": [0.5], "x1": [0.5], "f": [-1.0]})
    ax = plots.convergence(trace, -4.0, tmp_path / "c.png").axes[0]
    (line,) = ax.lines
    assert list(line.get_ydata()) == [3.0] and line.get_marker() == "o"
    lo, hi = ax.get_ylim()
    assert lo < 3.0 < hi
    assert any("no optimizer step" in t.get_text() for t in ax.texts)


def test_run_title_says_the_budget_and_when_starts_diverged():
    problem = build({"_target_": "gradexp.objectives.rosenbrock", "dim": 2})
    summary = pd.DataFrame({"start": [0, 1, 2], "status": ["diverged", "diverged", "max_steps"],
                            "steps": [3, 4, 10000]})
    title = plots.run_title(problem, type("SGD", (), {}), {"lr": 0.1}, summary, False, budget=10000)
    assert title == "rosenbrock (2-D) · SGD lr=0.1 · 3 starts × 10000 steps · 2 diverged by step 4"
    summary["steps"] = [3, 4, 4]
    summary["status"] = "diverged"
    title = plots.run_title(problem, type("SGD", (), {}), {"lr": 0.1}, summary, False, budget=10000)
    assert title.endswith("3 starts × 10000 steps · 3 diverged by step 4")


def _luminance(rgb):
    c = np.asarray(rgb[:3], float)
    c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]


def _contrast(a, b):
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _trajectory_axes(tmp_path, summary=None, trace=None):
    t, s = _tables()
    problem = build({"_target_": "gradexp.objectives.himmelblau", "dim": 2})
    fig = plots.trajectory(t if trace is None else trace, s if summary is None else summary, problem, False,
                           tmp_path / "t.png", resolution=40)
    return fig.axes[0], problem


def test_trajectory_paths_are_readable_on_every_colour_of_the_map(tmp_path):
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_rgba

    ax, _ = _trajectory_axes(tmp_path)
    paths = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(paths) == 2  # the paths and the diverged start's path
    cmap = ax.collections[0].get_cmap()
    for coll in paths:
        core = coll.get_edgecolor()[0]
        edges = [to_rgba(e._gc["foreground"]) for e in coll.get_path_effects() if "foreground" in e._gc]
        for v in np.linspace(0, 1, 64):
            # the path reads on a colour when its core or its outline stands out (WCAG contrast >= 3)
            assert max(_contrast(c, cmap(v)) for c in [core] + edges) >= 3, (v, core, edges)


def test_trajectory_ends_stay_visible_over_the_optima(tmp_path):
    ax, problem = _trajectory_axes(tmp_path)
    by = {ln.get_label(): ln for ln in ax.lines}
    opt, end = by["known minima"], by["end"]
    from matplotlib.colors import to_rgba

    assert to_rgba(opt.get_markerfacecolor())[3] == 0.0  # hollow stars
    assert end.get_zorder() > opt.get_zorder()
    assert list(end.get_xdata()) == [3.0] and list(end.get_ydata()) == [2.0]  # start 0's end, on a minimum


def test_trajectory_marks_where_a_diverged_path_leaves_the_plot(tmp_path):
    trace, summary = _tables()
    trace = pd.concat([trace, pd.DataFrame({"start": [1], "step": [11], "x0": [-40.0], "x1": [90.0], "f": [np.inf],
                                            "grad_norm": 1.0, "lr": 0.1})]).sort_values(["start", "step"])
    ax, _ = _trajectory_axes(tmp_path, summary, trace)
    (mark,) = [ln for ln in ax.lines if ln.get_label().startswith("diverged")]
    assert mark.get_label() == "diverged (1): last point in view"
    assert (mark.get_xdata()[0], mark.get_ydata()[0]) == (-3.8, -3.3)  # start 1's last row inside the bounds
    dashed = [c for c in ax.collections if c.get_linestyle()[0][1] is not None]
    assert len(dashed) == 1 and len(dashed[0].get_paths()) == 1


def test_surface_has_a_z_label(tmp_path):
    from gradexp.debug import write_surface

    fig = write_surface(build({"_target_": "gradexp.objectives.himmelblau", "dim": 2}), tmp_path / "s.png", n=11)
    assert fig.axes[0].get_zlabel() == "f(x)"


def test_trajectory_gif_moves_every_start_to_its_last_point(tmp_path):
    from PIL import Image

    from gradexp import animate

    trace, _ = _tables()
    problem = build({"_target_": "gradexp.objectives.himmelblau", "dim": 2})
    fig = animate.trajectory_gif(trace, problem, False, tmp_path / "t.gif", plots.contour_grid(problem, 30))
    with Image.open(tmp_path / "t.gif") as im:
        assert im.n_frames == 3  # the logged steps 0, 1, 10
    (dot,) = [ln for ln in fig.axes[0].lines if ln.get_marker() == "o"]
    last = trace.sort_values("step").groupby("start").last()
    assert list(dot.get_xdata()) == list(last["x0"]) and list(dot.get_ydata()) == list(last["x1"])
    assert any(t.get_text() == "step 10" for t in fig.axes[0].texts)


def test_frame_steps_keep_the_first_and_last_and_at_most_frames():
    from gradexp import animate

    steps = animate.frame_steps(np.arange(0, 10001), frames=40)
    assert len(steps) == 40 and steps[0] == 0 and steps[-1] == 10000
    x0, _ = animate.positions(pd.DataFrame({"start": [0, 0, 1], "step": [0, 5, 0], "x0": [1.0, 2.0, 3.0],
                                            "x1": 0.0}), [0, 3, 5])
    assert x0.tolist() == [[1.0, 3.0], [1.0, 3.0], [2.0, 3.0]]  # last logged point at or before each step


def test_plot_animate_writes_the_gif_only_when_asked(tmp_path):
    from tests.conftest import compose

    assert compose().plot.animate is False
    assert compose("experiment=himmelblau_basins").plot.animate is True
    assert not (_write_run(tmp_path, "off") / "trajectory.gif").exists()
    assert (_write_run(tmp_path, "on", "plot.animate=true") / "trajectory.gif").stat().st_size > 0


def test_a_float32_start_on_the_boundary_counts_as_in_view(tmp_path):
    trace, summary = _tables()
    start = np.float64(np.float32(-4.0 - 1e-7))  # the float32 nearest a start on the bound, just outside
    trace.loc[trace["start"] == 1, ["x0", "x1"]] = [[-5.000000097, start], [-50.0, 80.0]]
    ax, _ = _trajectory_axes(tmp_path, summary, trace)
    (mark,) = [ln for ln in ax.lines if ln.get_label().startswith("diverged")]
    assert mark.get_xdata()[0] == -5.000000097


def test_convergence_median_legend_counts_the_diverged_starts(tmp_path):
    trace, _ = _geometric(12)
    last = trace.groupby("start")["step"].transform("max") == trace["step"]
    trace.loc[last & trace["start"].isin([3, 7]), "f"] = np.inf
    ax = plots.convergence(trace, 0.0, tmp_path / "c.png", diverged=[3, 7]).axes[0]
    assert ax.lines[0].get_label() == "median of 12 starts (2 diverged)"
