"""The report's figures over the search space: the basin map and the animation of the starts.

Each reads an Analysis (and, for the animation, the objective rebuilt from a job's recorded config).
"""

from __future__ import annotations

import pandas as pd

from gradexp.report.figures import _labels, _order, budget_text, palette, pyplot


def has_basins(a, prob) -> bool:
    """A basin map is drawn for 2-D objectives whose starts reached at least two known optima."""
    s = a.starts[a.starts["problem"] == prob]
    if not {"start_x0", "start_x1", "minimum"} <= set(s.columns) or "start_x2" in s and s["start_x2"].notna().any():
        return False
    return s["minimum"].dropna().nunique() >= 2


def _grid_shape(n):
    """``(rows, cols)`` for ``n`` panels, at most 4 columns: the fewest empty slots plus the difference of
    rows and columns (near-square, hardly any gaps), then the fewest rows."""
    return min(((-(-n // c), c) for c in range(1, min(n, 4) + 1)),
               key=lambda rc: (rc[0] * rc[1] - n + abs(rc[0] - rc[1]), rc[0]))


def minimum_names(s) -> dict:
    """Known-optimum index -> ``'(3, 2)'``: the median end point of the starts that reached it."""
    ok = s[s["minimum"].notna() & ~s["status"].isin(["diverged", "error"])]
    return {int(m): f"({g['x0'].median():.3g}, {g['x1'].median():.3g})" for m, g in ok.groupby("minimum")}


def basin_figure(a, prob, path):
    """Start positions coloured by the known optimum reached, one panel per configuration.

    Optima are named by where they are (the median end point of the starts that reached them);
    the legend takes an empty panel slot when there is one, else a row under the panels.
    """
    plt = pyplot()
    lab = _labels(a)
    order = _order(a, prob, with_starts=True)
    nrow, ncol = _grid_shape(max(len(order), 1))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.1 * ncol, 2.9 * nrow + 0.9), squeeze=False,
                             layout="constrained")
    s_all = a.starts[a.starts["problem"] == prob]
    names = minimum_names(s_all)
    cmap = plt.get_cmap("tab10")
    for ax, cfg in zip(axes.ravel(), order):
        s = s_all[s_all["_cfg"] == cfg]
        failed = s["status"].isin(["diverged", "error"])
        none = s["minimum"].isna() & ~failed
        ax.scatter(s.loc[none, "start_x0"], s.loc[none, "start_x1"], c="lightgrey", s=14)
        ax.scatter(s.loc[failed, "start_x0"], s.loc[failed, "start_x1"], c="black", marker="x", s=14)
        for m in names:
            sel = (s["minimum"] == m) & ~failed
            ax.scatter(s.loc[sel, "start_x0"], s.loc[sel, "start_x1"], color=cmap(m % 10), s=14)
        ax.set_title(lab[cfg].replace(", ", "\n"), fontsize=8)
        ax.set_xlabel("start x0", fontsize=8)
        ax.set_ylabel("start x1", fontsize=8)
        ax.tick_params(labelsize=7)
    handles = [plt.Line2D([], [], ls="", marker="o", color=cmap(m % 10)) for m in names]
    handles += [plt.Line2D([], [], ls="", marker="o", color="lightgrey"),
                plt.Line2D([], [], ls="", marker="x", color="black")]
    optimum = "maximum" if a.problems[prob]["maximize"] else "minimum"
    labels = [f"{optimum} at {xy}" for xy in names.values()] + [f"no known {optimum}", "diverged/error"]
    spare = axes.ravel()[len(order):]
    for ax in spare:
        ax.axis("off")
    if len(spare):
        spare[0].legend(handles, labels, loc="center", fontsize=8, title="start ended at", title_fontsize=8)
    else:
        fig.legend(handles, labels, loc="outside lower center", ncol=min(len(handles), 3), fontsize=8,
                   title="start ended at", title_fontsize=8)
    fig.suptitle(f"{prob}: which {optimum} each start reached (budget {budget_text(a, prob)})", fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return fig


def animation_figure(a, prob, path):
    """``trajectory_<objective>.gif`` when the jobs asked for ``plot.animate``: every configuration's
    starts (30, spread over them) moving on one landscape, in the configurations' colours; None (nothing
    written) for objectives that are not 2-D or whose landscape cannot be rebuilt from the job's config."""
    jobs = {j.name: j for j in a.sweep.jobs}
    order = _order(a, prob, with_starts=True)
    first = a.configs[a.configs["_cfg"].isin(order)]["job"].astype(str).str.split().str[0]
    cfgs = [jobs[n].config for n in first if n in jobs]
    if not cfgs or not any(((c.get("plot") or {}).get("animate")) for c in cfgs):
        return None
    from gradexp import animate, plots
    from gradexp.objectives import build

    try:
        problem = build(cfgs[0]["objective"])
    except Exception:  # a landscape that cannot be rebuilt is left out, never the report
        return None
    if problem.dim != 2:
        return None
    lab, pal = _labels(a), palette(a)
    runs = []
    for cfg in order:
        rows = a.starts[a.starts["_cfg"] == cfg]
        parts = [g for _, _, g in _start_rows(rows, a)]
        if parts:
            runs.append((lab[cfg], pal[lab[cfg]], pd.concat(parts)))
    if not runs:
        return None
    maximize = bool(a.problems[prob]["maximize"])
    return animate.sweep_gif(runs, problem, maximize, path, plots.contour_grid(problem, 120),
                             title=f"{prob}: {len(runs)} configurations, {budget_text(a, prob)}")


def _start_rows(rows, a):
    """Each start's trace rows (numbered apart per configuration)."""
    from gradexp.report.analysis import start_traces

    for i, (idx, row, g) in enumerate(start_traces(rows, a.traces)):
        if {"x0", "x1"} <= set(g.columns):
            yield idx, row, g.assign(start=i)
