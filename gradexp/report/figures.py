"""The report's figures (matplotlib, Agg backend, PNG). Each function reads only an Analysis."""

from __future__ import annotations

import numpy as np

from gradexp.report import metrics as M

MAX_CURVES = 12  # curves per figure; the best-ranked configurations are drawn


def pyplot():
    """``matplotlib.pyplot`` with the Agg backend (no window, no display), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def budget_text(a, prob) -> str:
    """``'200 steps × 9 starts'`` for a problem (``'varies'`` parts when configurations differ)."""
    cfgs = a.configs[a.configs["problem"] == prob]["_cfg"]
    s = a.starts[a.starts["_cfg"].isin(cfgs)]
    if s.empty:
        return "no starts"
    per = s.groupby("_cfg").agg(n=("start", "size"), b=("_budget1", "max"))
    steps = per["b"].unique()
    n = per["n"].unique()
    st = f"{steps[0]:g} steps" if len(steps) == 1 else "varying steps"
    ns = f"{n[0]} starts" if len(n) == 1 else f"{n.min()}–{n.max()} starts"
    return f"{st} × {ns}"


def _order(a, prob, with_starts=False):
    order = a.problems[prob].get("order", [])
    if with_starts:
        have = set(a.starts["_cfg"])
        order = [c for c in order if c in have]
    return order[:MAX_CURVES]


def _labels(a):
    return dict(zip(a.configs["_cfg"], a.configs["label"]))


def _colors(n):
    plt = pyplot()
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def _shade(rgb, t):
    """``rgb`` mixed toward white (t < 0) or black (t > 0) by ``|t|``."""
    rgb = np.asarray(rgb[:3], float)
    return tuple(rgb + (1.0 - rgb) * -t if t < 0 else rgb * (1.0 - t)) + (1.0,)


def palette(a) -> dict:
    """One colour per configuration label, the same in every figure of the sweep.

    Configurations of one optimizer family (the varying keys other than the learning rate) share a
    hue, lighter for smaller learning rates and darker for larger ones; with a single family the
    learning rates run along viridis. The keys are the configurations' labels (which are also the
    performance profile's solver names).
    """
    from gradexp.report.analysis import group_keys

    plt = pyplot()
    gk = group_keys(a.sweep)
    lr = a.starts.groupby("_cfg")["_lr"].first() if "_lr" in a.starts else {}
    rows = a.configs.drop_duplicates("label")
    fams: dict = {}
    for _, c in rows.iterrows():
        fams.setdefault(tuple(str(c[k]) for k in gk), []).append((lr.get(c["_cfg"], np.nan), c["label"]))
    out = {}
    hues = _colors(len(fams))
    for hue, members in zip(hues, fams.values()):
        members = sorted(members, key=lambda m: (np.isnan(m[0]), m[0] if np.isfinite(m[0]) else 0.0, m[1]))
        n = len(members)
        if len(fams) == 1 and n > 1:
            cols = [plt.get_cmap("viridis")(v) for v in np.linspace(0.0, 0.85, n)]
        else:
            cols = [_shade(hue, t) for t in (np.linspace(-0.45, 0.45, n) if n > 1 else [0.0])]
        out.update({label: col for (_, label), col in zip(members, cols)})
    return out


def family_color(a, labels) -> tuple:
    """The colour of a family's line: its middle configuration's colour."""
    pal = palette(a)
    cols = [pal[lab] for lab in labels if lab in pal]
    return cols[len(cols) // 2] if cols else "0.3"


def _legend(ax, **kw):
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)


def _save(fig, path):
    """Save with fixed margins (tight_layout measures every tick label and costs more than the
    drawing), release pyplot's hold on the figure and return it (tests read its artists)."""
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.12, top=0.86)
    fig.savefig(path, dpi=100)
    pyplot().close(fig)
    return fig


def ecdf_figure(a, prob, path) -> None:
    """Runtime ECDF: fraction of (start, target) pairs reached against steps, per configuration."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    lab, pal = _labels(a), palette(a)
    order = _order(a, prob)
    labels = a.sweep.target_labels
    top = 1.0
    for cfg in order:
        col = pal[lab[cfg]]
        s = a.starts[a.starts["_cfg"] == cfg]
        rt = np.concatenate([np.where(s[f"ok_{t}"], s[f"cost_{t}"], np.inf) for t in labels]) \
            if len(s) else np.array([])
        budget = float(s["_budget1"].max()) if len(s) else 1.0
        top = max(top, budget)
        xs = np.unique(np.concatenate([[1.0], np.maximum(rt[np.isfinite(rt)], 1.0), [max(budget, 1.0)]]))
        ax.step(xs, M.ecdf(np.maximum(rt, 1.0), xs), where="post", color=col, label=lab[cfg])
        ax.plot([xs[-1]], [M.ecdf(np.maximum(rt, 1.0), [xs[-1]])[0]], "x", color=col)
    ax.set_xscale("log")
    ax.set_xlim(1, top * 1.2)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("optimizer steps (runtime 0 drawn at 1)")
    ax.set_ylabel("fraction of (start, target) pairs reached")
    approx = " (runtimes from logged steps)" if a.problems[prob]["f_star_source"] != "known" else ""
    what = f"Δf ∈ {{{labels[0]}..{labels[-1]}}} ({len(labels)} targets)" if len(labels) > 1 else f"Δf = {labels[0]}"
    ax.set_title(f"{prob}: runtime ECDF, {what}{approx}\nbudget {budget_text(a, prob)}",
                 fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    _legend(ax, fontsize=7, loc="best")
    return _save(fig, path)


def has_lr_variation(a, prob) -> bool:
    """True when the learning rate takes more than one value among the problem's configurations."""
    s = a.starts[a.starts["problem"] == prob]
    return s["_lr"].dropna().nunique() > 1


def _top_mark(ax, x, col, text="∞"):
    """``text`` in colour ``col`` at data x on the top edge of ``ax`` (a value off the axis)."""
    from matplotlib.transforms import blended_transform_factory

    tr = blended_transform_factory(ax.transData, ax.transAxes)
    below = sum(1 for t in ax.texts if t.get_text() == text and np.isclose(t.get_position()[0], x))
    ax.text(x, 0.985 - 0.06 * below, text, transform=tr, color=col, ha="center", va="top", fontsize=13, fontweight="bold")


def lr_figure(a, prob, path, family_keys):
    """Median final f − f* (IQR band) against learning rate, one line per optimizer family.

    A configuration whose median start diverged (median ∞) is an ``∞`` at the top edge and breaks
    its family's line; ★ marks each family's best configuration by the report's own ranking
    (aRT at the deciding target, then median final gap, then success rate).
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    lab, pal = _labels(a), palette(a)
    order = a.problems[prob].get("order", [])
    s = a.starts[a.starts["problem"] == prob]
    finite = s["gap"][np.isfinite(s["gap"])]
    ceil = float(finite.max()) * 10 if len(finite) else 1.0
    fams = s.groupby(family_keys, sort=False) if family_keys else [("all", s)]
    for name, sub in fams:
        name = name if isinstance(name, tuple) else (name,)
        label = ", ".join(f"{k}={v}" for k, v in zip(family_keys, name)) or "all"
        pts = []
        for cfg, g in sub.groupby("_cfg"):
            gap = g["gap"].to_numpy(float)
            if np.isfinite(g["_lr"].iloc[0]):
                pts.append((g["_lr"].iloc[0], M.quantile(gap, 0.5), M.quantile(gap, 0.25), M.quantile(gap, 0.75), cfg))
        if not pts:
            continue
        pts.sort()
        lr, med, q1, q3 = (np.array(v, float) for v in list(zip(*pts))[:4])
        cfgs = [p[4] for p in pts]
        col = family_color(a, [lab[c] for c in cfgs])
        ok = np.isfinite(med)
        ax.plot(lr, np.where(ok, med, np.nan), "-", color=col, label=label)
        ax.fill_between(lr, np.minimum(q1, ceil), np.minimum(q3, ceil), where=ok, color=col, alpha=0.15)
        for x, y, c in zip(lr, med, cfgs):
            if np.isfinite(y):
                ax.plot([x], [y], "o", color=pal[lab[c]], mec=col, ms=7)
            else:
                _top_mark(ax, x, pal[lab[c]])
        best = next((c for c in order if c in cfgs), None)
        if best is not None:
            i = cfgs.index(best)
            ax.plot([lr[i]], [med[i] if ok[i] else ceil], "*", color=pal[lab[best]], ms=16, mec="k",
                    clip_on=False, zorder=5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(top=ceil)
    ax.set_xlabel("learning rate")
    ax.set_ylabel(f"final f − f* (median, IQR band; floor {M.EPS:g})")
    ax.set_title(f"{prob}: learning-rate sensitivity, budget {budget_text(a, prob)}\n"
                 "★ best of each family as ranked in the report · ∞ median start diverged", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    _legend(ax, fontsize=8)
    return _save(fig, path)


def _start_curves(a, cfg):
    """(steps, log10 gap) per start of a configuration, from trace.csv."""
    from gradexp.report.analysis import start_traces

    out = []
    for _, row, g in start_traces(a.starts[a.starts["_cfg"] == cfg], a.traces):
        f = g["f"].to_numpy(float)
        gap = (row["_f_star"] - f) if row["_maximize"] else (f - row["_f_star"])
        lg = np.log10(np.maximum(np.where(np.isfinite(gap), gap, np.inf), M.EPS))
        if row["status"] in ("diverged", "error"):
            lg[-1] = np.inf
        out.append((g["step"].to_numpy(float), lg))
    return out


def _quartile_curves(curves):
    """Common steps and the (Q1, median, Q3) of log10 f − f* over the starts' curves (inf: diverged)."""
    common = np.unique(np.concatenate([c[0] for c in curves]))
    if common.size > 300:
        common = np.unique(np.concatenate([[common[0], common[-1]],
                                           common[np.linspace(0, common.size - 1, 300).astype(int)]]))
    big = 400.0  # log10 stand-in for inf during interpolation
    vals = np.array([np.interp(common, st, np.where(np.isfinite(lg), lg, big), right=min(lg[-1], big))
                     for st, lg in curves])
    vals[vals >= big - 1e-9] = np.inf
    q = np.array([[M.quantile(vals[:, j], p) for j in range(vals.shape[1])] for p in (0.25, 0.5, 0.75)])
    return common, np.where(np.isfinite(q), 10.0 ** np.minimum(q, 300), np.inf)


def _ceiling(quartiles):
    """Top of the y axis: 10 × the largest finite median or Q3 of the configurations whose median start
    did not end diverged, or of the starting values; what lies above is off the axis (and marked)."""
    tops = []
    for y in quartiles:
        part = y[1:] if np.isfinite(y[1][-1]) else y[1:, :1]
        tops.append(np.nanmax(np.where(np.isfinite(part), part, np.nan), initial=0.0))
    return 10.0 * max(tops + [M.EPS])


def convergence_figure(a, prob, path):
    """Median f − f* against step with an IQR band, per configuration (trace.csv, interpolated).

    The y axis ends at :func:`_ceiling`: a median that leaves it (diverged starts) stops there
    with an ``∞`` at the top edge and its legend entry says at which step.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    lab, pal = _labels(a), palette(a)
    drawn = []
    for cfg in _order(a, prob, with_starts=True):
        curves = _start_curves(a, cfg)
        if curves:
            drawn.append((cfg, *_quartile_curves(curves)))
    ceil = _ceiling([q for _, _, q in drawn])
    for cfg, steps, (y1, y2, y3) in drawn:
        col, label = pal[lab[cfg]], lab[cfg]
        off = np.flatnonzero(~(y2 <= ceil))
        if off.size:
            k = off[0]
            label += f" (off the axis from step {steps[k]:g})"
            y2 = np.where(np.arange(y2.size) < k, y2, np.nan)
            _top_mark(ax, steps[k], col)
        ax.plot(steps, y2, color=col, label=label)
        ax.fill_between(steps, np.minimum(y1, ceil), np.minimum(y3, ceil), where=np.isfinite(y2), color=col,
                        alpha=0.15)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_yscale("log")
    ax.set_ylim(top=ceil)
    ax.set_xlabel("step")
    ax.set_ylabel("f − f* (median over starts, IQR band)")
    approx = "best f seen used as f*; " if a.problems[prob]["f_star_source"] != "known" else ""
    ax.set_title(f"{prob}: convergence ({approx}budget {budget_text(a, prob)}; ∞ median off the axis)",
                 fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    _legend(ax, fontsize=7)
    return _save(fig, path)


def profile_figure(a, path) -> None:
    """Dolan–Moré performance profile of the method configurations over (objective × start) problems."""
    plt = pyplot()
    p = a.profile
    ratios = M.performance_ratios(p["costs"])
    finite = ratios[np.isfinite(ratios)]
    hi = max(float(finite.max()) * 2 if finite.size else 2.0, 2.0)
    taus = np.unique(np.concatenate([[1.0], finite, [hi]]))
    rho = M.performance_profile(p["costs"], taus)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    best = np.argsort(-rho[0], kind="stable")[:MAX_CURVES]
    pal, spare = palette(a), iter(_colors(len(best)))
    for j in best:
        col = pal.get(p["solvers"][j]) or next(spare)
        ax.step(taus, rho[:, j], where="post", color=col, label=p["solvers"][j])
    ax.set_xscale("log", base=2)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("τ (cost within a factor τ of the best configuration)")
    ax.set_ylabel("fraction of problems")
    ax.set_title(f"Performance profile over {len(p['problems'])} (objective, start) problems\n"
                 "cost = 1 + steps to the tightest target any configuration reached", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    _legend(ax, fontsize=7)
    return _save(fig, path)
