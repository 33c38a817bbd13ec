"""Per-run figures, drawn only from the trace and summary tables.

``convergence.png``: f − f* (log scale) against step for every start (f itself when f* is
unknown). ``trajectory.png``: a filled contour of a 2-D objective over its bounds with every
start's path, its start marker and the known optima.

The figures are drawn by matplotlib's Agg renderer straight into PNG files (no pyplot, so no
GUI backend is chosen or started, whatever the display). Instead of ``tight_layout`` (which
measures every label before the drawing measures them again) the margins are fixed, chosen for
the widest labels the plots can have: tick labels are plain numbers only while the largest tick
lies between 1e-2 and 1e4 (beyond, a shared ×10^k takes over), the linear colorbar has round
ticks, and log axes are labelled ``10⁻³`` in plain text rather than mathtext (which would cost a
parser and its fonts per process).
"""

from __future__ import annotations

import numpy as np

MAX_LINES = 400  # most start paths drawn on one trajectory plot
FEW_STARTS = 8   # up to this many starts the convergence plot draws one line each; more: median and IQR
FLOOR = 1e-12    # f − f* is floored here for the log axis
POWER_LIMITS = (-3, 4)  # plain tick labels while the largest tick is in [1e-2, 1e4); else a shared ×10^k


def _figure(width, height, dpi=110):
    """A figure drawn by Agg (headless) and its single axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _short_ticks(*axes):
    """Plain-number tick labels only within :data:`POWER_LIMITS`, so that the fixed margins hold them."""
    from matplotlib.ticker import ScalarFormatter

    for axis in axes:
        fmt = axis.get_major_formatter()
        if isinstance(fmt, ScalarFormatter):
            fmt.set_powerlimits(POWER_LIMITS)


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _log_formatter():
    """matplotlib's log-axis labels (``10²``, ``3×10⁻⁵``) as plain text with superscript digits.

    matplotlib writes them as mathtext, which costs a parser and a set of math fonts per process
    and a parse per label; the same labels in Unicode are drawn like any other text.
    """
    import re

    from matplotlib.ticker import LogFormatterSciNotation

    class Log10Formatter(LogFormatterSciNotation):
        def __call__(self, x, pos=None):
            text = super().__call__(x, pos)
            m = re.fullmatch(r"\$\\mathdefault\{(.*)\}\$", text)
            if m is None:
                return text
            text = m.group(1).replace(r"\times", "×")
            return re.sub(r"\^\{(-?\d+)\}", lambda e: e.group(1).translate(_SUPERSCRIPT), text)

    return Log10Formatter()


def _plain_log_labels(axis):
    """Label a log-scaled axis (major and minor ticks) with :func:`_log_formatter`."""
    axis.set_major_formatter(_log_formatter())
    axis.set_minor_formatter(_log_formatter())


def run_title(problem, cls, kwargs, summary, maximize, budget=None) -> str:
    """'himmelblau (2-D, maximize) · Adam lr=0.001 · 25 starts × 10000 steps · 3 diverged by step 4'.

    ``budget`` is the run's step budget (``run.steps``; the most steps any start ran when not
    given); starts that ended early by diverging or converging are counted with the last step
    at which one of them stopped.
    """
    lr = (kwargs or {}).get("lr")
    name = getattr(cls, "__name__", str(cls))
    sense = ", maximize" if maximize else ""
    steps = int(summary["steps"].max()) if len(summary) else 0
    budget = steps if budget is None else int(budget)
    lr_txt = f" lr={lr:g}" if isinstance(lr, (int, float)) else ""
    text = f"{problem.name} ({problem.dim}-D{sense}) · {name}{lr_txt} · {len(summary)} starts × {budget} steps"
    for status in ("diverged", "converged"):
        ended = summary[summary["status"] == status] if len(summary) else summary
        if len(ended):
            text += f" · {len(ended)} {status} by step {int(ended['steps'].max())}"
    return text


def _segments(starts, xs, ys):
    """One ``[n, 2]`` array of points per start (rows sorted by start, then step)."""
    cuts = np.flatnonzero(np.diff(starts)) + 1
    pts = np.column_stack([xs, ys])
    return [seg for seg in np.split(pts, cuts) if len(seg)]


def _pick(starts, max_lines):
    starts = np.unique(starts)
    if len(starts) <= max_lines:
        return starts
    return starts[np.linspace(0, len(starts) - 1, max_lines).round().astype(int)]


def _gaps(trace, f_opt, maximize):
    """``(y, ylabel, log)``: f − f* (f* − f when maximizing) floored at :data:`FLOOR`, or f itself
    when f* is unknown (log scale only when every finite f is positive)."""
    f = trace["f"].to_numpy(dtype=np.float64)
    if f_opt is not None:
        gap = (f_opt - f) if maximize else (f - f_opt)
        return np.maximum(np.where(np.isnan(gap), np.inf, gap), FLOOR), \
            ("f* − f (log)" if maximize else "f − f* (log)"), True
    return f, "f", bool(np.all(f[np.isfinite(f)] > 0))


def quartiles(trace, y):
    """Steps and the (Q1, median, Q3) of ``y`` over the starts at every logged step.

    A start that stopped early keeps its last value (a diverged start: inf, so a median of inf means
    at least half the starts had diverged by then).
    """
    table = trace[["start", "step"]].assign(y=y).pivot_table(index="step", columns="start", values="y",
                                                                aggfunc="last")
    table = table.ffill()
    vals = table.to_numpy(dtype=np.float64)
    big = np.finfo(np.float64).max / 4  # inf stands in as a finite number: no inf − inf in the interpolation
    finite = np.isfinite(vals)
    top = vals[finite].max() if finite.any() else 0.0
    q = np.quantile(np.where(finite, vals, big), [0.25, 0.5, 0.75], axis=1)
    return table.index.to_numpy(dtype=np.float64), np.where(q > top, np.inf, q)  # any weight on inf: inf


def _top_mark(ax, x, color):
    """An ``∞`` at data x on the top edge: a curve left the axis there (diverged); stacked downwards
    when several leave at the same step."""
    below = sum(1 for t in ax.texts if t.get_text() == "∞" and np.isclose(t.get_position()[0], x))
    ax.text(x, 0.985 - 0.05 * below, "∞", transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=13,
            fontweight="bold", color=color)


def _cut(steps, y, top):
    """``y`` up to its first value above ``top`` (or non-finite), which is drawn at ``top`` (the curve
    runs up to the edge), NaN after it; and the step where it left (None when it never did)."""
    off = np.flatnonzero(~(y <= top))
    if not off.size:
        return y, None
    k = np.arange(y.size)
    return np.where(k < off[0], y, np.where(k == off[0], top, np.nan)), steps[off[0]]


def convergence(trace, f_opt, path, title="", maximize=False, diverged=(), few=FEW_STARTS):
    """Write the convergence plot and return its Figure.

    Up to ``few`` starts: one line each (a legend names them). More: the median over starts and
    the interquartile band. ``diverged``: the starts that diverged (their last value counts as ∞).
    The y axis spans the starts that did not diverge (all the step-0 values when every start
    diverged); a curve that leaves it stops with an ``∞`` on the top edge. A run that took no
    step shows its starts' values at step 0 and says so.
    """
    fig, ax = _figure(7, 4.5)
    y, ylabel, log = _gaps(trace, f_opt, maximize)
    starts, step = trace["start"].to_numpy(), trace["step"].to_numpy(dtype=np.float64)
    div = np.isin(starts, np.asarray(list(diverged)))
    last = np.r_[starts[1:] != starts[:-1], True]
    y = np.where(div & last, np.inf, y)
    base = y[~div & np.isfinite(y)]
    if not base.size:
        base = y[(step == 0) & np.isfinite(y)]
    lo, hi = (float(base.min()), float(base.max())) if base.size else (1.0, 1.0)
    if log:
        ax.set_yscale("log")
        lo, top = lo / 2, hi * 10
    else:
        lo, top = lo - 0.05 * (hi - lo + 1), hi + 0.05 * (hi - lo + 1)
    steps = np.maximum(step, 0.5)  # step 0 on a log axis
    if trace["start"].nunique() <= few:
        _start_lines(ax, starts, steps, y, top)
    else:
        _median_band(ax, trace.assign(step=steps), y, top)
    ax.set_xscale("log")
    _plain_log_labels(ax.xaxis)
    if log:
        _plain_log_labels(ax.yaxis)
    ax.set_xlim(0.4 if step.max() <= 0 else 0.5, max(float(steps.max()), 1.0) * 1.05)
    ax.set_ylim(lo, top)
    if step.max() <= 0:
        ax.text(0.5, 0.5, "no optimizer step was run: the start values only", transform=ax.transAxes,
                ha="center", va="center", fontsize=10, color="0.3")
    ax.set_xlabel("step (log; step 0 drawn at 0.5)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    _short_ticks(ax.xaxis, ax.yaxis)
    fig.subplots_adjust(left=0.14, right=0.975, bottom=0.14, top=0.925)
    fig.savefig(path)
    return fig


def _start_lines(ax, starts, steps, y, top):
    """One line per start (a marker too, so a start with a single logged step shows)."""
    import matplotlib

    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, s in enumerate(np.unique(starts)):
        sel = starts == s
        ys, off = _cut(steps[sel], y[sel], top)
        col = colors[i % len(colors)]
        label = f"start {s}" + ("" if off is None else f" (∞ from step {off:g})")
        ax.plot(steps[sel], ys, "-", marker="o" if sel.sum() == 1 else None, lw=1.2, color=col, label=label)
        if off is not None:
            _top_mark(ax, off, col)
    ax.legend(fontsize=7, loc="best")


def _median_band(ax, trace, y, top):
    """Median over starts (a line) and the interquartile band; ∞ at the top where the median left the axis."""
    steps, (q1, med, q3) = quartiles(trace, y)
    med, off = _cut(steps, med, top)
    gone = int(np.isinf(y[np.r_[trace["start"].to_numpy()[1:] != trace["start"].to_numpy()[:-1], True]]).sum())
    label = f"median of {trace['start'].nunique()} starts" + (f" ({gone} diverged)" if gone else "")
    if off is not None:
        label += f" (∞ from step {off:g})"
        _top_mark(ax, off, "C0")
    ax.fill_between(steps, np.minimum(q1, top), np.minimum(q3, top), where=np.isfinite(med), color="C0",
                    alpha=0.25, lw=0, label="interquartile range (Q1–Q3)")
    ax.plot(steps, med, color="C0", lw=1.8, label=label)
    ax.legend(fontsize=7, loc="best")


def contour_grid(problem, resolution=200):
    """``(X, Y, Z)``: the 2-D objective evaluated (float64) on a ``resolution``² grid over its bounds."""
    import torch

    (x_lo, y_lo), (x_hi, y_hi) = problem.lower, problem.upper
    X, Y = np.meshgrid(np.linspace(x_lo, x_hi, resolution), np.linspace(y_lo, y_hi, resolution))
    with torch.no_grad():
        Z = problem.f(torch.tensor(np.stack([X, Y], -1), dtype=torch.float64)).numpy()
    return X, Y, Z


PATH = "white"           # start paths: a white line ...
PATH_EDGE = "black"      # ... in a dark outline, readable on every colour of the colormap
DIVERGED = "#ffa0e0"     # a diverged start's path and the mark where it leaves the plot
END = "#ff7f0e"          # end points (orange, black-edged)
OPTIMUM = "red"


def _outlined(width):
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=width + 1.4, foreground=PATH_EDGE, alpha=0.7)]


def _paths(ax, trace, summary, shown, problem):
    """Every shown start's path (diverged ones dashed in :data:`DIVERGED`, with an ``×`` at the last
    point inside the bounds), its start and, for the others, its end on top of everything."""
    from matplotlib.collections import LineCollection

    first = summary[summary["start"].isin(shown)]
    gone = first.loc[first["status"] == "diverged", "start"].to_numpy()
    for bad in (False, True):
        sub = trace[trace["start"].isin(shown) & (trace["start"].isin(gone) == bad)]
        paths = _segments(sub["start"].to_numpy(), sub["x0"].to_numpy(dtype=np.float64),
                          sub["x1"].to_numpy(dtype=np.float64))
        if paths:
            ax.add_collection(LineCollection(paths, colors=DIVERGED if bad else PATH, lw=1.0 if bad else 0.9,
                                             linestyles="--" if bad else "-", alpha=0.9, zorder=2,
                                             path_effects=_outlined(1.0 if bad else 0.9)))
    ax.plot(first["start_x0"], first["start_x1"], "o", ms=3.5, color="white", mec="black", mew=0.5, zorder=4,
            label="start")
    lost = [seg[-1] for seg in _segments(*_inside(trace[trace["start"].isin(gone)], problem)) if len(seg)]
    if lost:
        lost = np.array(lost)
        ax.plot(lost[:, 0], lost[:, 1], "X", ms=7, color=DIVERGED, mec="black", mew=0.6, zorder=5, clip_on=False,
                label=f"diverged ({len(gone)}): last point in view")
    ends = first[first["status"] != "diverged"]
    if len(ends):
        ax.plot(ends["x0"], ends["x1"], "o", ms=4, color=END, mec="black", mew=0.6, zorder=6, label="end")


def _inside(sub, problem):
    """``(starts, x0, x1)`` of the trace rows within the objective's bounds (give or take 0.1% of their
    width, so that a float32 start on the boundary counts as inside)."""
    (x_lo, y_lo), (x_hi, y_hi) = problem.lower, problem.upper
    tx, ty = 1e-3 * (x_hi - x_lo), 1e-3 * (y_hi - y_lo)
    x, y = sub["x0"].to_numpy(dtype=np.float64), sub["x1"].to_numpy(dtype=np.float64)
    ok = (x >= x_lo - tx) & (x <= x_hi + tx) & (y >= y_lo - ty) & (y <= y_hi + ty)
    return sub["start"].to_numpy()[ok], x[ok], y[ok]


def trajectory(trace, summary, problem, maximize, path, title="", max_paths=400, resolution=200, grid=None):
    """Write the contour plot of a 2-D objective with every start's path and the known optima; return
    the Figure.

    ``grid`` is :func:`contour_grid`'s result when already computed (then torch is not used here).
    """
    (x_lo, y_lo), (x_hi, y_hi) = problem.lower, problem.upper
    X, Y, Z = grid if grid is not None else contour_grid(problem, resolution)
    fig, ax = _figure(6.5, 5.5)
    finite = Z[np.isfinite(Z)]
    f_opt, optima = problem.optima(maximize)
    # a log colour scale shows the valleys of objectives like Himmelblau (f >= 0, large range)
    lo = finite.min() if finite.size else 0.0
    log_scale = finite.size and lo >= 0 and finite.max() > 1e3 * max(lo, 1e-3)
    if log_scale:
        from matplotlib.colors import LogNorm
        from matplotlib.ticker import LogLocator

        levels = np.geomspace(max(lo, 1e-3), finite.max(), 40)
        cs = ax.contourf(X, Y, np.clip(Z, levels[0], None), levels=levels, norm=LogNorm(), cmap="viridis")
        cbar = fig.colorbar(cs, ax=ax, label="f (log scale)")
        cbar.locator, cbar.formatter = LogLocator(), _log_formatter()
        cbar.update_ticks()
        cbar.ax.yaxis.set_minor_formatter(_log_formatter())
    else:
        from matplotlib.ticker import MaxNLocator

        cs = ax.contourf(X, Y, Z, levels=40, cmap="viridis")
        cbar = fig.colorbar(cs, ax=ax, label="f")
        cbar.locator = MaxNLocator(nbins=8, steps=[1, 2, 5, 10])  # round values, not level bounds
        _short_ticks(cbar.ax.yaxis)
        cbar.update_ticks()
    _paths(ax, trace, summary, _pick(summary["start"].to_numpy(), max_paths), problem)
    if optima:  # hollow, under the end markers: an end on an optimum stays visible
        pts = np.array([c.x for c in optima])
        ax.plot(pts[:, 0], pts[:, 1], "*", ms=15, mfc="none", mec=OPTIMUM, mew=1.4, zorder=3,
                label="known maxima" if maximize else "known minima")
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=7, framealpha=0.7)
    _short_ticks(ax.xaxis, ax.yaxis)
    # fig.colorbar took its room from the axes; the margins hold the colorbar's labels
    fig.subplots_adjust(left=0.14, right=0.95 if log_scale else 0.915, bottom=0.11, top=0.935)
    fig.savefig(path)
    return fig
