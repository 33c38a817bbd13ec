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

MAX_LINES = 400  # most start curves drawn on one convergence plot
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


def run_title(problem, cls, kwargs, summary, maximize) -> str:
    """'himmelblau (2-D, maximize) · Adam lr=0.001 · 25 starts × 10000 steps'."""
    lr = (kwargs or {}).get("lr")
    name = getattr(cls, "__name__", str(cls))
    sense = ", maximize" if maximize else ""
    steps = int(summary["steps"].max()) if len(summary) else 0
    lr_txt = f" lr={lr:g}" if isinstance(lr, (int, float)) else ""
    return f"{problem.name} ({problem.dim}-D{sense}) · {name}{lr_txt} · {len(summary)} starts × {steps} steps"


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


def convergence(trace, f_opt, path, title="", maximize=False, max_lines=MAX_LINES):
    """Write the convergence plot of every start (a sample of ``max_lines`` when there are more)."""
    import matplotlib

    fig, ax = _figure(7, 4.5)
    shown = _pick(trace["start"].to_numpy(), max_lines)
    sub = trace[trace["start"].isin(shown)]
    if f_opt is not None:
        gap = (f_opt - sub["f"]) if maximize else (sub["f"] - f_opt)
        y = np.maximum(gap.to_numpy(dtype=np.float64), FLOOR)
        ylabel = "f* − f (log)" if maximize else "f − f* (log)"
        ax.set_yscale("log")
    else:
        y = sub["f"].to_numpy(dtype=np.float64)
        ylabel = "f"
        if np.all(y[np.isfinite(y)] > 0):
            ax.set_yscale("log")
    from matplotlib.collections import LineCollection

    alpha = max(0.15, min(1.0, 8 / max(len(shown), 1)))
    steps = np.maximum(sub["step"].to_numpy(dtype=np.float64), 0.5)  # step 0 on a log axis
    lines = _segments(sub["start"].to_numpy(), steps, y)
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    ax.add_collection(LineCollection(lines, lw=1, alpha=alpha, colors=[colors[i % len(colors)] for i in range(len(lines))]))
    ax.set_xscale("log")
    _plain_log_labels(ax.xaxis)
    if ax.get_yscale() == "log":
        _plain_log_labels(ax.yaxis)
    finite = y[np.isfinite(y)]
    ax.set_xlim(0.5, max(float(steps.max()), 1.0) * 1.05)
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        ax.set_ylim(*((lo / 2, hi * 2) if ax.get_yscale() == "log" else (lo - 0.05 * (hi - lo + 1), hi + 0.05 * (hi - lo + 1))))
    ax.set_xlabel("step (log; step 0 drawn at 0.5)")
    ax.set_ylabel(ylabel)
    more = f" ({len(shown)} of {trace['start'].nunique()} starts shown)" if len(shown) < trace["start"].nunique() else ""
    ax.set_title(title + more, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    _short_ticks(ax.xaxis, ax.yaxis)
    fig.subplots_adjust(left=0.14, right=0.975, bottom=0.14, top=0.925)
    fig.savefig(path)


def contour_grid(problem, resolution=200):
    """``(X, Y, Z)``: the 2-D objective evaluated (float64) on a ``resolution``² grid over its bounds."""
    import torch

    (x_lo, y_lo), (x_hi, y_hi) = problem.lower, problem.upper
    X, Y = np.meshgrid(np.linspace(x_lo, x_hi, resolution), np.linspace(y_lo, y_hi, resolution))
    with torch.no_grad():
        Z = problem.f(torch.tensor(np.stack([X, Y], -1), dtype=torch.float64)).numpy()
    return X, Y, Z


def trajectory(trace, summary, problem, maximize, path, title="", max_paths=400, resolution=200, grid=None):
    """Write the contour plot of a 2-D objective with every start's path and the known optima.

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
    shown = _pick(summary["start"].to_numpy(), max_paths)
    sub = trace[trace["start"].isin(shown)]
    from matplotlib.collections import LineCollection

    paths = _segments(sub["start"].to_numpy(), sub["x0"].to_numpy(dtype=np.float64), sub["x1"].to_numpy(dtype=np.float64))
    ax.add_collection(LineCollection(paths, colors="white", lw=0.9, alpha=0.85))
    first = summary[summary["start"].isin(shown)]
    ax.plot(first["start_x0"], first["start_x1"], "o", ms=3.5, color="white", mec="black", mew=0.5, label="start")
    ends = first[first["status"] != "diverged"]
    ax.plot(ends["x0"], ends["x1"], "x", ms=4, color="orange", label="end")
    if optima:
        pts = np.array([c.x for c in optima])
        ax.plot(pts[:, 0], pts[:, 1], "*", ms=13, color="red", mec="black", mew=0.6,
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
