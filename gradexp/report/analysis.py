"""From a loaded sweep to per-start costs, configurations, metrics, holdout and profiles."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gradexp.report import metrics as M
from gradexp.report.collect import Sweep, key_text, load_trace
from gradexp.report.runs import natural_key

LR_KEYS = ("optimizer.lr", "lr")


@dataclass
class Analysis:
    """Everything the report needs, computed once from a :class:`Sweep`."""

    sweep: Sweep
    starts: pd.DataFrame                 # one row per start: keys, _cfg, gap, cost_*, ok_*, _lr
    configs: pd.DataFrame                # one row per configuration: _cfg, keys, problem, label, job
    metrics: pd.DataFrame                # metrics.csv (+ _cfg)
    problems: dict = field(default_factory=dict)   # problem -> facts (f_star source, order, ...)
    traces: dict = field(default_factory=dict)     # job name -> trace table (or None)
    holdout: pd.DataFrame | None = None
    holdout_fraction: float = 0.0
    profile: dict | None = None


def _f_star_unknown(rows, traces, maximize):
    """Best f over non-failed starts of the sweep (summary f_best/f_final and every trace f)."""
    good = rows[~rows["status"].isin(["diverged", "error"])]
    vals = [good[c].to_numpy(float) for c in ("f_best", "f_final") if c in good]
    for job, sub in good.groupby("job"):
        tr = traces.get(job)
        if tr is not None and "f" in tr:
            vals.append(tr.loc[tr["start"].isin(sub["start"]), "f"].to_numpy(float))
    v = np.concatenate(vals) if vals else np.array([])
    v = v[np.isfinite(v)]
    if not v.size:
        return np.nan
    return float(v.max() if maximize else v.min())


def _trace_runtimes(rows, traces, f_star, maximize, targets):
    """rt_<label> columns from the logged steps of trace.csv (approximate: logged steps only)."""
    out = pd.DataFrame(np.nan, index=rows.index, columns=[f"rt_{M.target_label(t)}" for t in targets])
    for idx, row, g in start_traces(rows, traces):
        if row["status"] in ("diverged", "error"):
            continue
        for t in targets:
            out.at[idx, f"rt_{M.target_label(t)}"] = M.first_hit(g["step"], g["f"], f_star, t, maximize)
    return out


def start_traces(rows, traces):
    """Yield ``(index, summary row, trace rows sorted by step)`` for each start of ``rows`` with a trace.

    Trace rows belong to a summary row by job, ``start`` and (when both have it) ``group``.
    """
    for job, sub in rows.groupby("job", sort=False):
        tr = traces.get(job)
        if tr is None or not {"start", "step", "f"} <= set(tr.columns):
            continue
        by = ["start"] + (["group"] if "group" in tr.columns and "group" in sub.columns else [])
        groups = {k: g for k, g in tr.groupby(by, dropna=False)}
        for idx, row in sub.iterrows():
            g = groups.get(tuple(row[c] for c in by))
            if g is not None and not g.empty:
                yield idx, row, g.sort_values("step")


def analyse(sweep: Sweep, holdout: float = 0.0) -> Analysis:
    """Compute per-start costs, configurations, metrics (and holdout, profile) for a sweep."""
    traces = {j.name: load_trace(j.path) for j in sweep.jobs}
    # configurations: one distinct tuple of key values per objective, numbered in job order
    ident = sweep.table[sweep.config_keys + ["problem"]].astype(str).agg("\x1f".join, axis=1)
    codes = {v: i for i, v in enumerate(dict.fromkeys(ident))}
    table = sweep.table.assign(_cfg=ident.map(codes).astype(int))
    starts, problems = _start_costs(table[table["start"].notna()].copy(), traces, sweep)
    configs = _configurations(table, sweep)
    for prob in configs["problem"].unique():
        problems.setdefault(prob, {"f_star_source": "none", "f_star": np.nan, "maximize": False, "dim": np.nan})
    metrics = _metrics(configs, starts, problems, sweep)
    problems = dict(sorted(problems.items(), key=lambda kv: natural_key(kv[0])))  # bbob #2 before #10
    for prob in problems:
        order, t = M.rank_configurations(metrics[metrics["problem"] == prob], key="_cfg")
        problems[prob]["order"] = order
        problems[prob]["decisive_target"] = t
    a = Analysis(sweep, starts, configs, metrics, problems, traces, holdout_fraction=holdout)
    if holdout > 0:
        a.holdout = _holdout(a, holdout)
    a.profile = _profile(a)
    return a


def _start_costs(starts, traces, sweep) -> tuple[pd.DataFrame, dict]:
    """Each start's final gap and, per target, its cost and success (``cost_<label>``, ``ok_<label>``),
    with f* known or, where not, the best f seen standing in; and the facts of each objective."""
    labels = sweep.target_labels
    rt_cols = [f"rt_{lab}" for lab in labels]
    # a start's position within its configuration (with run.hparams a job numbers starts across groups)
    starts["_pos"] = starts.groupby(["job", "_cfg"], sort=False).cumcount()
    for c in ("status", "message"):
        if c not in starts:
            starts[c] = ""
    # the columns filled below, made at once (one at a time, 100 of them fragment the frame)
    new = {**{c: np.nan for c in ["steps", "f_final", "f_star", "f_best"] + rt_cols if c not in starts},
           "_f_star": np.nan, "gap": np.nan, **{f"cost_{lab}": np.nan for lab in labels},
           **{f"ok_{lab}": False for lab in labels}}
    starts = pd.concat([starts.drop(columns=[c for c in new if c in starts]),
                        pd.DataFrame(new, index=starts.index)], axis=1).copy()  # (copy: one block per dtype)
    problems = {}
    for prob, rows in starts.groupby("problem", sort=False):
        maximize = bool(rows["_maximize"].iloc[0])
        known = rows["f_star"].dropna()
        budget = rows["_budget1"].fillna(rows["steps"].max() if rows["steps"].notna().any() else 0.0)
        starts.loc[rows.index, "_budget1"] = budget
        if len(known):
            fs = rows["f_star"].fillna(float(known.median()))
            rts = rows[rt_cols]
            source = "known"
        else:
            f_star = _f_star_unknown(rows, traces, maximize)
            fs = pd.Series(f_star, index=rows.index)
            rts = _trace_runtimes(rows, traces, f_star, maximize, sweep.targets) if np.isfinite(f_star) else \
                rows[rt_cols] * np.nan
            source = "best seen"
        starts.loc[rows.index, "_f_star"] = fs
        starts.loc[rows.index, "gap"] = M.final_gap(rows["f_final"], fs, rows["status"], maximize)
        for lab in labels:
            cost, ok = M.start_costs(rts[f"rt_{lab}"], rows["steps"], rows["status"], budget)
            starts.loc[rows.index, f"cost_{lab}"] = cost
            starts.loc[rows.index, f"ok_{lab}"] = ok
        problems[prob] = {"f_star_source": source, "f_star": float(fs.median()) if fs.notna().any() else np.nan,
                          "maximize": maximize, "dim": rows["_dim"].iloc[0]}
    starts = starts.astype({f"ok_{lab}": bool for lab in labels}).copy()  # (copy: setting rows split blocks)
    starts["_lr"] = _lr_values(starts, sweep)
    return starts, problems


METRICS_COLUMNS = ["problem", "target", "starts", "successes", "success_rate", "aRT", "budget", "diverged",
                   "gap_median", "gap_q1", "gap_q3", "f_star", "f_star_source", "job", "_cfg"]


def _metrics(configs, starts, problems, sweep) -> pd.DataFrame:
    """metrics.csv (+ ``_cfg``): one row per configuration and target."""
    rows = []
    for _, c in configs.iterrows():
        sub = starts[starts["_cfg"] == c["_cfg"]]
        for m in M.configuration_metrics(sub, sub["_budget1"].to_numpy(float) if len(sub) else [], sweep.targets):
            rows.append({**{k: c[k] for k in sweep.config_keys}, "problem": c["problem"], **m,
                         "f_star": problems[c["problem"]]["f_star"],
                         "f_star_source": problems[c["problem"]]["f_star_source"],
                         "job": c["job"], "_cfg": c["_cfg"]})
    return pd.DataFrame(rows, columns=sweep.config_keys + METRICS_COLUMNS)


def _lr_values(starts, sweep) -> pd.Series:
    """Learning rate of each start: the ``optimizer.lr`` column, else provenance ``lr``."""
    lr = starts["_prov_lr"].astype(float)
    for k in LR_KEYS:
        if k in sweep.keys:
            v = pd.to_numeric(starts[k].replace("", np.nan), errors="coerce")
            lr = v.fillna(lr)
            break
    return lr


def _configurations(table, sweep) -> pd.DataFrame:
    rows = []
    for cfg, sub in table.groupby("_cfg", sort=True):
        first = sub.iloc[0]
        label = ", ".join(f"{key_text(k)}={first[k]}" for k in sweep.varying if first[k] != "")
        jobs = " ".join(dict.fromkeys(sub["job"].astype(str)))
        rows.append({"_cfg": cfg, **{k: first[k] for k in sweep.keys}, "problem": first["problem"],
                     "label": label or f"job {jobs}", "job": jobs,
                     "failed_jobs": int(sub.loc[sub["_failed_job"], "job"].nunique())})
    out = pd.DataFrame(rows)
    dup = out.duplicated(["problem", "label"], keep=False)
    out.loc[dup, "label"] = out.loc[dup, "label"] + " (job " + out.loc[dup, "job"] + ")"
    return out


def group_keys(sweep: Sweep) -> list[str]:
    """Varying method keys other than the learning rate: they name an optimizer family."""
    return [k for k in sweep.varying if k not in LR_KEYS]


def _holdout(a: Analysis, fraction: float) -> pd.DataFrame:
    """Best configuration per optimizer family chosen on tuning starts, scored on held-out ones."""
    starts = a.starts.assign(_held=M.holdout_mask(a.starts["_pos"].to_numpy(float), fraction))
    gk = group_keys(a.sweep)
    rows = []
    for prob, cfgs in a.configs.groupby("problem", sort=False):
        fam = cfgs.groupby(gk, sort=False) if gk else [((), cfgs)]
        for name, members in fam:
            name = name if isinstance(name, tuple) else (name,)

            def scored(held):
                part = []
                for _, c in members.iterrows():
                    sub = starts[(starts["_cfg"] == c["_cfg"]) & (starts["_held"] == held)]
                    for m in M.configuration_metrics(sub, sub["_budget1"].to_numpy(float) if len(sub) else [],
                                                     a.sweep.targets):
                        part.append({**m, "_cfg": c["_cfg"]})
                return pd.DataFrame(part)

            tune, held = scored(False), scored(True)
            order, t = M.rank_configurations(tune, key="_cfg")
            best = order[0]
            oracle, _ = M.rank_configurations(held, key="_cfg")
            lab = dict(zip(a.configs["_cfg"], a.configs["label"]))
            h = held[held["_cfg"] == best]
            ht = h[M.at_target(h, t)] if t is not None else h.iloc[:0]
            tt = tune[(tune["_cfg"] == best) & (M.at_target(tune, t) if t is not None else False)]
            rows.append({
                "problem": prob, "family": ", ".join(f"{k}={v}" for k, v in zip(gk, name)) or "all",
                "chosen": lab[best], "target": t,
                "tuning_starts": int(tune.loc[tune["_cfg"] == best, "starts"].iloc[0]),
                "tuning_aRT": float(tt["aRT"].iloc[0]) if len(tt) else np.inf,
                "heldout_starts": int(h["starts"].iloc[0]),
                "heldout_success_rate": float(ht["success_rate"].iloc[0]) if len(ht) else 0.0,
                "heldout_aRT": float(ht["aRT"].iloc[0]) if len(ht) else np.inf,
                "heldout_gap_median": float(h["gap_median"].iloc[0]),
                "heldout_best": lab[oracle[0]],
            })
    return pd.DataFrame(rows)


def _profile(a: Analysis) -> dict | None:
    """Dolan–Moré costs over (objective, repetition, start) problems and method configurations.

    Cost on a problem: 1 + runtime to the tightest target Δf that any configuration reached on that
    problem (inf if this one did not); on a problem where no target was reached, the final gap.
    """
    s = a.starts
    if s.empty:
        return None
    labels = a.sweep.target_labels
    solver_keys = a.sweep.varying
    lab = pd.Series("all", index=s.index)
    if solver_keys:
        lab = s[solver_keys].apply(lambda r: ", ".join(f"{key_text(k)}={v}" for k, v in r.items() if v != ""),
                                   axis=1)
    rep = [k for k in a.sweep.keys if k not in a.sweep.config_keys]
    pid = s[["problem"] + rep].astype(str).agg("/".join, axis=1) + "/" + s["_pos"].astype(str)
    solvers = list(dict.fromkeys(lab))
    probs = list(dict.fromkeys(pid))
    costs = np.full((len(probs), len(solvers)), np.inf)
    pi = {p: i for i, p in enumerate(probs)}
    si = {v: i for i, v in enumerate(solvers)}
    by_prob = {}
    for idx in s.index:
        by_prob.setdefault(pid[idx], []).append(idx)
    kinds = {"target": 0, "gap": 0}
    for p, idxs in by_prob.items():
        sub = s.loc[idxs]
        reached = [lab_ for lab_ in labels if sub[f"ok_{lab_}"].any()]
        if reached:
            tl = reached[-1]
            vals = np.where(sub[f"ok_{tl}"], sub[f"cost_{tl}"] + 1.0, np.inf)
            kinds["target"] += 1
        else:
            vals = sub["gap"].to_numpy(float)
            kinds["gap"] += 1
        for v, sv in zip(vals, lab[idxs]):
            costs[pi[p], si[sv]] = min(costs[pi[p], si[sv]], v)
    return {"solvers": solvers, "problems": probs, "costs": costs, "kinds": kinds}
