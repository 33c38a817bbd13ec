"""report.md: the sweep's answer first (best configuration per objective), then the evidence."""

from __future__ import annotations

import math


from gradexp.report import metrics as M
from gradexp.report.collect import key_text


def fmt(v, digits: int = 3) -> str:
    """Short number: ``∞`` for inf, ``–`` for NaN, else ``%.{digits}g``."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float) and math.isinf(v):
        return "∞" if v > 0 else "−∞"
    return f"{v:.{digits}g}"


def _cell(v) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


#: a cell whose success rate is below this is flagged (†) and never bold: its aRT rests on few successes
LOW_SUCCESS = 0.2


def _values(series) -> str:
    vals = list(dict.fromkeys(v for v in series.astype(str) if v != ""))
    return ", ".join(f"`{v}`" for v in vals) or "(default)"


def header(a, done, failed, coco_folders=None) -> list[str]:
    """Title and the sweep's facts: what was swept, objectives, budget, jobs (and COCO's data)."""
    sw, t = a.sweep, a.sweep.table
    lines = [f"# Sweep report: {sw.path.resolve().name}", "",
             "Built only from the CSV/JSON/YAML files in this folder (`python -m gradexp.report "
             "<this folder>` rebuilds it); nothing was rerun.", ""]
    swept = [k for k in sw.keys if t[k].nunique() > 1]
    fixed = [k for k in sw.keys if k not in swept]
    lines.append("- **Swept:** " + ("; ".join(f"`{key_text(k)}` ∈ {{{_values(t[k])}}}" for k in swept) or "nothing (one "
                                     "configuration)"))
    if fixed:
        lines.append("- **Fixed:** " + ", ".join(f"`{key_text(k)}={t[k].iloc[0]}`" for k in fixed))
    rep = [k for k in sw.keys if k not in sw.config_keys]
    if rep:
        lines.append("- **Pooled as repetitions:** " + ", ".join(f"`{k}`" for k in rep)
                     + " (their starts count together)")
    objs = []
    for prob, p in a.problems.items():
        dim = "" if p["dim"] is None or (isinstance(p["dim"], float) and math.isnan(p["dim"])) else f"{int(p['dim'])}-D, "
        sense = "maximize, " if p["maximize"] else ""
        src = {"known": "known", "best seen": "unknown: best f seen in the sweep used, runtimes approximate",
               "none": "no results"}[p["f_star_source"]]
        objs.append(f"{prob} ({dim}{sense}f* = {fmt(p['f_star'], 6)}, {src})")
    lines.append("- **Objectives:** " + "; ".join(objs))
    from gradexp.report.figures import budget_text

    budgets = {prob: budget_text(a, prob) for prob in a.problems}
    same = len(budgets) > 1 and len(set(budgets.values())) == 1
    lines.append("- **Budget per configuration:** " + (f"{next(iter(budgets.values()))} (every objective)" if same
                                                       else "; ".join(f"{k}: {v}" for k, v in budgets.items())))
    s = a.starts
    lines.append(f"- **Jobs:** {done + failed} ({done} done, {failed} failed); starts: {len(s)}, "
                 f"diverged: {int((s['status'] == 'diverged').sum())}, "
                 f"errored: {int((s['status'] == 'error').sum())}")
    lines.append(f"- **Targets** {_targets_text(sw)}; a cell reads *aRT (successes/starts)*, "
                 "aRT in optimizer steps, **bold** = best aRT for that target among configurations with at "
                 f"least {LOW_SUCCESS:.0%} successes, † = fewer than {LOW_SUCCESS:.0%} of the starts succeeded "
                 "(an aRT resting on a few lucky starts), ∞ = never reached.")
    if coco_folders is not None:
        lines.append("- **COCO:** " + (f"`coco/` holds COCO's data for {len(coco_folders)} configurations ("
                                       + ", ".join(f"`{f}`" for f in coco_folders)
                                       + "); in this folder, `python -m cocopp -o cocopp coco/*` builds COCO's pages."
                                       if coco_folders else "no BBOB job with results: no COCO data."))
    lines.append("")
    bad = [j for j in sw.jobs if j.failed]
    if bad:
        lines += ["### Failed jobs", "", "| job | overrides | message |", "|---|---|---|"]
        for j in bad:
            ov = " ".join(j.override_list)
            lines.append(f"| {j.name} | `{_cell(ov)}` | {_cell(j.message)} |")
        lines.append("")
    return lines


def _targets_text(sweep) -> str:
    """The targets line's first part: the Δf targets, and which of them the tables show."""
    labels = sweep.target_labels
    shown = M.shown_targets(sweep.targets)
    text = "Δf ∈ {" + ", ".join(labels) + "}" if len(shown) == len(labels) else (
        f"Δf: {len(labels)} targets from {labels[0]} to {labels[-1]} (all in metrics.csv and the ECDFs; "
        "the tables show " + ", ".join(M.target_label(t) for t in shown) + ")")
    if sweep.targets_differ:
        text += " — the jobs recorded different targets (report.targets); these are the ones they share"
    return text


def _low(r) -> bool:
    """A metrics row with some but fewer than :data:`LOW_SUCCESS` of its starts successful."""
    return 0 < r["successes"] < LOW_SUCCESS * r["starts"]


def _low_note(r) -> str:
    return f"; † fewer than {LOW_SUCCESS:.0%} succeeded" if _low(r) else ""


def _best_art(rows) -> float:
    """The smallest aRT among rows (one target) whose success rate is not low; inf when none."""
    ok = rows[(rows["starts"] > 0) & (rows["successes"] >= LOW_SUCCESS * rows["starts"])]
    return float(ok["aRT"].min()) if len(ok) else math.inf


def problem_section(a, prob, figs) -> list[str]:
    """Best-configuration line, the per-configuration table and the figures of one objective."""
    p = a.problems[prob]
    cfg_lab = dict(zip(a.configs["_cfg"], a.configs["label"]))
    m = a.metrics[a.metrics["problem"] == prob]
    lines = [f"## {prob}", ""]
    order = p.get("order", [])
    have = set(a.starts["_cfg"])
    if not any(c in have for c in order):
        lines += ["No configuration of this objective has results.", ""]
    elif order:
        best = order[0]
        t = p.get("decisive_target")
        mb = m[m["_cfg"] == best]
        if t is not None:
            r = mb[M.at_target(mb, t)].iloc[0]
            why = (f"aRT {fmt(r['aRT'])} steps to Δf = {M.target_label(t)} "
                   f"({int(r['successes'])}/{int(r['starts'])} starts{_low_note(r)})")
        else:
            loosest = M.target_label(a.sweep.targets[0])
            why = f"no configuration reached Δf = {loosest}; ranked by median final f − f*"
        gm = mb["gap_median"].iloc[0] if len(mb) else float("nan")
        lines += [f"**Best configuration:** `{cfg_lab[best]}` — {why}, median final f − f* {fmt(gm)}.", ""]
    shown = M.shown_targets(a.sweep.targets)
    head = ["#", "configuration"] + [f"Δf={M.target_label(t)}" for t in shown] + \
        ["final f − f*: median [Q1, Q3]", "diverged", "job"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    best_art = {t: _best_art(m[M.at_target(m, t)]) for t in shown}
    for rank, cfg in enumerate(order, 1):
        mc = m[m["_cfg"] == cfg]
        cells = [str(rank), f"`{_cell(cfg_lab[cfg])}`"]
        for t in shown:
            r = mc[M.at_target(mc, t)].iloc[0]
            art = fmt(r["aRT"])
            if math.isfinite(r["aRT"]) and r["aRT"] == best_art[t] and not _low(r):
                art = f"**{art}**"
            elif _low(r):
                art += "†"
            cells.append(f"{art} ({int(r['successes'])}/{int(r['starts'])})")
        r = mc.iloc[0]
        cells += [f"{fmt(r['gap_median'])} [{fmt(r['gap_q1'])}, {fmt(r['gap_q3'])}]", str(int(r["diverged"])),
                  _cell(r["job"])]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if p["f_star_source"] == "best seen":
        lines += ["*f\\* is unknown for this objective: the best f seen in the sweep stands in for it, and "
                  "runtimes are the first **logged** step reaching each target (trace.csv), so they are "
                  "approximate (upper bounds).*", ""]
    captions = {"ecdf": "Runtime ECDF", "lr": "Learning-rate sensitivity", "convergence": "Convergence",
                "basins": "Basins of attraction", "animation": "Starts moving (every configuration)"}
    for kind, name in figs.get(prob, []):
        lines += [f"![{captions[kind]}: {prob}]({name})", ""]
    return lines


def holdout_section(a) -> list[str]:
    """Tuning/held-out table: best setting per optimizer family chosen on tuning starts."""
    h = a.holdout
    if h is None or h.empty:
        return []
    lines = ["## Held-out check", "",
             f"Starts are split by index (held out when frac((i+1)·0.618…) < {a.holdout_fraction:g}); the best "
             "configuration of each optimizer family is chosen on the tuning starts and scored on the held-out "
             "ones, at the tightest target it reached in tuning.", "",
             "| objective | family | chosen on tuning | Δf | tuning aRT | held-out aRT | held-out success | "
             "held-out median f − f* | best on held-out |", "|---|---|---|---|---|---|---|---|---|"]
    for _, r in h.iterrows():
        t = "–" if r["target"] is None or (isinstance(r["target"], float) and math.isnan(r["target"])) \
            else M.target_label(r["target"])
        lines.append(f"| {r['problem']} | `{_cell(r['family'])}` | `{_cell(r['chosen'])}` | {t} | "
                     f"{fmt(r['tuning_aRT'])} ({r['tuning_starts']} starts) | {fmt(r['heldout_aRT'])} "
                     f"({r['heldout_starts']} starts) | {fmt(r['heldout_success_rate'])} | "
                     f"{fmt(r['heldout_gap_median'])} | `{_cell(r['heldout_best'])}` |")
    return lines + [""]


def profile_section(a, fig_name) -> list[str]:
    """The performance profile figure and how its costs are defined."""
    if a.profile is None or fig_name is None:
        return []
    k = a.profile["kinds"]
    return ["## Ranking across objectives and starts", "",
            f"Dolan–Moré performance profile over {len(a.profile['problems'])} problems (objective × start). "
            "Cost of a configuration on a problem = 1 + its runtime to the tightest target Δf that *any* "
            "configuration reached on that problem (∞ if it did not reach it); "
            f"on problems where no target was reached ({k['gap']} of them) the cost is the final f − f*. "
            "A curve's value at τ = 1 is the fraction of problems on which that configuration was best.", "",
            f"![Performance profile]({fig_name})", ""]


NOTES = [
    "## Definitions", "",
    "- **Runtime** of a start for a target Δf: the first step at which f ≤ f* + Δf (f ≥ f* − Δf when "
    "maximizing), taken exactly from summary.csv `rt_<Δf>` when f* is known.",
    "- An unsuccessful start costs every step it ran — diverged starts included; a start that errored "
    "or was interrupted before running (no steps) costs the full budget `run.steps`. A job that failed before it had starts "
    "adds no starts (it is listed under failed jobs).",
    "- **aRT** (average runtime, COCO) = sum of the costs of all starts / number of successful starts; ∞ "
    "when none succeeded.",
    "- **Final f − f\\***: floored at 1e-12; diverged and errored starts count as ∞ (never dropped).",
    "- **Order** within an objective: aRT at the tightest target any configuration reached, then median "
    "final f − f*, then success rate.",
    "- **Runtime ECDF**: fraction of all (start, target) pairs whose runtime is ≤ the number of steps on "
    "the x axis; × marks the end of the budget.",
    "",
]


def render(a, done, failed, figs, profile_name, coco_folders=None) -> str:
    """The whole report.md text (``coco_folders``: the configurations' folders under coco/, with
    ``report.coco``)."""
    lines = header(a, done, failed, coco_folders)
    for prob in a.problems:  # (in natural order: gradexp.report.runs.natural_key)
        lines += problem_section(a, prob, figs)
    lines += holdout_section(a)
    lines += profile_section(a, profile_name)
    lines += NOTES
    return "\n".join(lines).rstrip() + "\n"
