"""``trajectory.gif``: the starts moving over the contour of a 2-D objective (``plot.animate=true``).

Drawn from the trace table alone (plus the contour grid): each frame shows every start where its
last logged step at or before the frame's step left it, with its path so far. Frames are the
logged steps (log-spaced), thinned to at most :data:`FRAMES`, so a GIF stays small and quick to
write. For a sweep, :func:`sweep_gif` puts every configuration's starts on one landscape, one
colour per configuration. Written with matplotlib's PillowWriter (Pillow comes with matplotlib).
"""

from __future__ import annotations

import numpy as np

FRAMES = 40   # most frames per GIF
FPS = 8
DPI = 80
SIZE = (5.0, 4.2)  # inches


def frame_steps(steps, frames=FRAMES):
    """The logged steps shown, at most ``frames`` of them, always the first and the last."""
    steps = np.unique(np.asarray(steps, dtype=np.float64))
    if steps.size <= frames:
        return steps
    return steps[np.unique(np.linspace(0, steps.size - 1, frames).round().astype(int))]


def positions(trace, steps):
    """``(x0, x1)`` arrays ``[len(steps), starts]``: each start's last logged point at or before each step."""
    out = []
    for col in ("x0", "x1"):
        wide = trace.pivot_table(index="step", columns="start", values=col, aggfunc="last")
        wide = wide.reindex(sorted(set(wide.index) | set(steps))).ffill()
        out.append(wide.loc[list(steps)].to_numpy(dtype=np.float64))
    return out[0], out[1]


def _landscape(grid, problem, maximize, title):
    """A small figure with the objective's filled contour (log colours where f spans decades)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    X, Y, Z = grid
    fig = Figure(figsize=SIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    finite = Z[np.isfinite(Z)]
    lo = float(finite.min()) if finite.size else 0.0
    if finite.size and lo >= 0 and finite.max() > 1e3 * max(lo, 1e-3):
        levels = np.geomspace(max(lo, 1e-3), finite.max(), 30)
        ax.contourf(X, Y, np.clip(Z, levels[0], None), levels=levels, norm=LogNorm(), cmap="viridis", alpha=0.85)
    else:
        ax.contourf(X, Y, Z, levels=30, cmap="viridis", alpha=0.85)
    optima = problem.optima(maximize)[1]
    if optima:
        pts = np.array([c.x for c in optima])
        ax.plot(pts[:, 0], pts[:, 1], "*", ms=12, mfc="none", mec="red", mew=1.2, zorder=3)
    (x_lo, y_lo), (x_hi, y_hi) = problem.lower, problem.upper
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=7)
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.08, top=0.9)
    return fig, ax


def _write(fig, ax, groups, steps, path, label, trails=True):
    """Save one frame per step: each group's ``(x0, x1, colour, name)`` points (and paths so far)."""
    from matplotlib.animation import PillowWriter
    from matplotlib.collections import LineCollection

    dots, paths = [], []
    for x0, x1, color, name in groups:
        paths.append(ax.add_collection(LineCollection([], colors=[color], lw=0.7, alpha=0.6, zorder=2))
                     if trails else None)
        dots.append(ax.plot([], [], "o", ms=3.5, color=color, mec="black", mew=0.4, zorder=4, label=name)[0])
    if any(g[3] for g in groups):
        ax.legend(fontsize=6, loc="upper right", framealpha=0.7)
    text = ax.text(0.02, 0.02, "", transform=ax.transAxes, fontsize=8, color="white",
                   bbox={"facecolor": "black", "alpha": 0.5, "lw": 0})
    writer = PillowWriter(fps=FPS)
    with writer.saving(fig, str(path), dpi=DPI):
        for i, step in enumerate(steps):
            for (x0, x1, _, _), dot, trail in zip(groups, dots, paths):
                dot.set_data(x0[i], x1[i])
                if trail is not None:
                    trail.set_segments([np.column_stack([x0[: i + 1, j], x1[: i + 1, j]]) for j in range(x0.shape[1])])
            text.set_text(f"{label}step {step:g}")
            writer.grab_frame()
    return fig


def trajectory_gif(trace, problem, maximize, path, grid, title="", max_paths=100, frames=FRAMES):
    """Write ``path`` (a GIF): the starts (at most ``max_paths``) moving over the contour; return the Figure."""
    starts = _spread(np.unique(trace["start"].to_numpy()), max_paths)
    sub = trace[trace["start"].isin(starts)]
    steps = frame_steps(sub["step"], frames)
    x0, x1 = positions(sub, steps)
    fig, ax = _landscape(grid, problem, maximize, title)
    return _write(fig, ax, [(x0, x1, "white", "")], steps, path, "")


def sweep_gif(runs, problem, maximize, path, grid, title="", max_paths=30, frames=FRAMES):
    """Write one GIF of several configurations on one landscape: ``runs`` is a list of
    ``(name, colour, trace)``; every configuration moves by the same steps (points only, no paths:
    several configurations' paths would hide each other). Return the Figure."""
    steps = frame_steps(np.concatenate([t["step"].to_numpy() for _, _, t in runs]), frames)
    groups = []
    for name, color, trace in runs:
        starts = _spread(np.unique(trace["start"].to_numpy()), max_paths)
        x0, x1 = positions(trace[trace["start"].isin(starts)], steps)
        groups.append((x0, x1, color, name))
    fig, ax = _landscape(grid, problem, maximize, title)
    return _write(fig, ax, groups, steps, path, "", trails=False)


def _spread(starts, n):
    """At most ``n`` of ``starts``, evenly spread over them."""
    return starts if starts.size <= n else starts[np.linspace(0, starts.size - 1, n).round().astype(int)]
