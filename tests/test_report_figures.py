"""The sweep report's figures and table, read back from what they draw (hand-made sweep folders).

The sweep (f − f* = f0 · rate**k per start, 200 steps, f* = 0):

- sgd 0.01: 4 starts (100, 0.9): every target reached, 1e-7 at step 197 (aRT 197).
- sgd 0.1: 1 start (100, 0.5), 1e-7 at step 30; 7 starts diverged at step 2: aRT (30 + 7·2)/1 = 44,
  the best aRT at 1e-7 but 1 success of 8, and its median start diverged.
- sgd 1: 4 starts diverged at step 3 (median ∞).
- adam 0.01: (100, 0.95) ×4; adam 0.1: (100, 0.8) ×4 (1e-7 at step 93); adam 1: (100, 0.99) ×4.

The report ranks by aRT at the tightest target reached (1e-7): sgd 0.1, adam 0.1, sgd 0.01, then by
median final gap.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from gradexp.report import build_report
from gradexp.report import figures as F
from gradexp.report import landscape as L
from gradexp.report.analysis import analyse, group_keys
from gradexp.report.collect import load_sweep
from tests.test_report import diverged, good, write_job

LRS = (0.01, 0.1, 1.0)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    jobs = {("sgd", 0.01): [good(100, 0.9) for _ in range(4)],
            ("sgd", 0.1): [good(100, 0.5)] + [diverged(100, 2) for _ in range(7)],
            ("sgd", 1.0): [diverged(100, 3) for _ in range(4)],
            ("adam", 0.01): [good(100, 0.95) for _ in range(4)],
            ("adam", 0.1): [good(100, 0.8) for _ in range(4)],
            ("adam", 1.0): [good(100, 0.99) for _ in range(4)]}
    for num, ((opt, lr), starts) in enumerate(jobs.items()):
        write_job(root, num, [f"optimizer={opt}", f"optimizer.lr={lr}", "start=grid"], starts, lr=lr)
    return root


@pytest.fixture(scope="module")
def analysis(sweep):
    return analyse(load_sweep(sweep))


def _label(opt, lr):
    return f"optimizer={opt}, optimizer.lr={lr}"


def _final_gap(f0, rate, steps=200):
    return max(f0 * rate ** steps, 1e-12)  # the report floors f − f* at 1e-12


def test_lr_figure_draws_diverged_medians_as_infinity_and_stars_by_the_report_rank(analysis, tmp_path):
    fig = F.lr_figure(analysis, "himmelblau", tmp_path / "lr.png", group_keys(analysis.sweep))
    ax = fig.axes[0]
    top = ax.get_ylim()[1]
    assert top == pytest.approx(10 * _final_gap(100, 0.99))  # 10 × the largest finite final gap
    lines = {ln.get_label(): ln for ln in ax.lines}
    sgd = lines["optimizer=sgd"]
    assert list(sgd.get_xdata()) == list(LRS)
    y = np.asarray(sgd.get_ydata(), float)
    assert y[0] == pytest.approx(_final_gap(100, 0.9)) and np.isnan(y[1:]).all()  # no finite point for ∞
    adam = np.asarray(lines["optimizer=adam"].get_ydata(), float)
    assert adam == pytest.approx([_final_gap(100, r) for r in (0.95, 0.8, 0.99)])
    infinities = sorted(t.get_position()[0] for t in ax.texts if t.get_text() == "∞")
    assert infinities == [0.1, 1.0]  # sgd 0.1 (7 of 8 diverged) and sgd 1
    stars = sorted((ln.get_xdata()[0], ln.get_ydata()[0]) for ln in ax.lines if ln.get_marker() == "*")
    # the report's best of each family: sgd 0.1 (aRT 44, drawn at the top edge), adam 0.1 (aRT 93)
    assert stars == [(0.1, pytest.approx(_final_gap(100, 0.8))), (0.1, pytest.approx(top))]


def _colors_by_label(ax):
    return {ln.get_label().split(" (")[0]: ln.get_color() for ln in ax.lines if not ln.get_label().startswith("_")}


def test_one_colour_per_configuration_in_every_figure(analysis, tmp_path):
    ecdf = _colors_by_label(F.ecdf_figure(analysis, "himmelblau", tmp_path / "e.png").axes[0])
    conv = _colors_by_label(F.convergence_figure(analysis, "himmelblau", tmp_path / "c.png").axes[0])
    prof = _colors_by_label(F.profile_figure(analysis, tmp_path / "p.png").axes[0])
    labels = {_label(o, lr) for o in ("sgd", "adam") for lr in ("0.01", "0.1", "1.0")}
    assert set(ecdf) == set(conv) == set(prof) == labels
    for lab in labels:
        assert ecdf[lab] == conv[lab] == prof[lab], lab
    assert len({tuple(np.round(c, 6)) for c in ecdf.values()}) == len(labels)  # all different
    lr_ax = F.lr_figure(analysis, "himmelblau", tmp_path / "lr.png", group_keys(analysis.sweep)).axes[0]
    dots = [(ln.get_xdata()[0], ln.get_ydata()[0], ln.get_markerfacecolor()) for ln in lr_ax.lines
            if ln.get_marker() == "o"]

    def dot(x, y):
        (col,) = [c for dx, dy, c in dots if dx == x and math.isclose(dy, y, rel_tol=1e-6)]
        return col

    assert dot(0.01, _final_gap(100, 0.9)) == ecdf[_label("sgd", "0.01")]
    for lr, rate in zip(("0.01", "0.1", "1.0"), (0.95, 0.8, 0.99)):
        assert dot(float(lr), _final_gap(100, rate)) == ecdf[_label("adam", lr)]


def test_sweep_convergence_clips_diverged_configurations_and_marks_them(analysis, tmp_path):
    ax = F.convergence_figure(analysis, "himmelblau", tmp_path / "c.png").axes[0]
    top = ax.get_ylim()[1]
    assert 100 <= top <= 1e4  # the starting gaps (100) fit; the runaway (100·2^k, then ∞) does not stretch it
    for ln in ax.lines:
        y = np.asarray(ln.get_ydata(), float)
        assert np.nanmax(y) <= top, ln.get_label()
    off = {ln.get_label() for ln in ax.lines if "off the axis" in ln.get_label()}
    assert off == {f"{_label('sgd', '0.1')} (off the axis from step 2)",
                   f"{_label('sgd', '1.0')} (off the axis from step 3)"}
    assert sorted(t.get_position()[0] for t in ax.texts if t.get_text() == "∞") == [2.0, 3.0]


def test_table_bolds_no_low_success_arts_and_names_keys_as_typed(sweep):
    build_report(sweep, figures=False)
    text = (sweep / "report.md").read_text()
    row = {r.split("|")[2].strip(" `"): [c.strip() for c in r.split("|")[3:8]]
           for r in text.splitlines() if r.startswith("| ") and "optimizer=" in r}
    assert row[_label("sgd", "0.1")][4] == "44† (1/8)"   # (30 + 7·2) / 1, flagged, not bold
    assert row[_label("adam", "0.1")][4] == "**93** (4/4)"
    assert row[_label("sgd", "0.01")][4] == "197 (4/4)"
    assert "1/8 starts; † fewer than 20% succeeded" in text
    assert "- **Fixed:** `start=grid`" in text and "override.start" not in text


def _minima_sweep(root, configs):
    """Jobs whose starts end at Himmelblau's minima (the end points rewritten into summary.csv)."""
    from gradexp.objectives import build

    minima = [c.x for c in build({"_target_": "gradexp.objectives.himmelblau", "dim": 2}).optima(False)[1]]
    for num, lr in enumerate(configs):
        starts = [good(100, 0.5, minimum=m % 4, x=(m - 2.0, 1.0)) for m in range(8)]
        job = write_job(root, num, ["optimizer=sgd", f"optimizer.lr={lr}"], starts, lr=lr)
        s = pd.read_csv(job / "summary.csv")
        s["x0"] = [minima[m][0] for m in s["minimum"]]
        s["x1"] = [minima[m][1] for m in s["minimum"]]
        s.to_csv(job / "summary.csv", index=False)
    return minima


def _overlap(a, b):
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.mark.parametrize("lrs,shape", [((0.001, 0.003, 0.01, 0.03, 0.1), (2, 3)), ((0.01, 0.1), (1, 2))])
def test_basin_map_names_minima_by_where_they_are_and_keeps_the_title_clear(lrs, shape, tmp_path):
    minima = _minima_sweep(tmp_path, lrs)
    fig = L.basin_figure(analyse(load_sweep(tmp_path)), "himmelblau", tmp_path / "b.png")
    panels = [ax for ax in fig.axes if ax.axison]
    assert len(panels) == len(lrs) and len(fig.axes) == shape[0] * shape[1]  # not 2 × 4 with 3 empty slots
    spare = [ax for ax in fig.axes if not ax.axison]
    legend = spare[0].get_legend() if spare else fig.legends[0]  # an empty slot holds the legend
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[:4] == [f"minimum at ({x:.3g}, {y:.3g})" for x, y in minima]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()  # pyplot closed the figure: draw it again (same layout) to measure it
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    for ax in panels:
        assert not _overlap(title, ax.title.get_window_extent(renderer))
        assert not _overlap(title, ax.get_window_extent(renderer))
        assert not _overlap(legend.get_window_extent(renderer), ax.get_window_extent(renderer))


def test_sweep_animation_puts_every_configuration_on_one_landscape(tmp_path):
    _minima_sweep(tmp_path, (0.01, 0.1))
    for job in ("0", "1"):
        (tmp_path / job / ".hydra" / "config.yaml").write_text(
            "objective:\n  _target_: gradexp.objectives.himmelblau\n  dim: 2\nplot:\n  animate: true\n")
    a = analyse(load_sweep(tmp_path))
    fig = L.animation_figure(a, "himmelblau", tmp_path / "a.gif")
    ax = fig.axes[0]
    dots = {ln.get_label(): ln for ln in ax.lines if ln.get_marker() == "o"}
    pal = F.palette(a)
    assert set(dots) == {"optimizer.lr=0.01", "optimizer.lr=0.1"}
    for name, ln in dots.items():
        assert ln.get_color() == pal[name] and len(ln.get_xdata()) == 8
    assert (tmp_path / "a.gif").stat().st_size > 0
    (tmp_path / "0" / ".hydra" / "config.yaml").write_text("plot:\n  animate: false\n")
    (tmp_path / "1" / ".hydra" / "config.yaml").write_text("plot:\n  animate: false\n")
    assert L.animation_figure(analyse(load_sweep(tmp_path)), "himmelblau", tmp_path / "b.gif") is None
    assert not (tmp_path / "b.gif").exists()


def test_a_swept_start_group_is_named_as_typed(tmp_path):
    """start is both a config group and the start index column: the report's labels read start=..."""
    from tests.conftest import run_cli_inprocess

    out = tmp_path / "sw"
    done = run_cli_inprocess(["-m", "start=grid,uniform", "start.n=2", "run.steps=20", "plot.enabled=false",
                              f"hydra.sweep.dir={out}"], tmp_path)
    assert done.returncode == 0, done.stderr
    text = (out / "report.md").read_text()
    rows = [r.split("|")[2].strip(" `") for r in text.splitlines() if r.startswith("| 1 ") or r.startswith("| 2 ")]
    assert sorted(rows) == ["start=grid", "start=uniform"] and "override.start" not in text
