"""The sweep report: ``sweep_summary.csv``, ``metrics.csv``, ``report.md`` and figures of a sweep folder.

``build_report(DIR)`` (or ``python -m gradexp.report DIR``) reads only the files the jobs wrote —
``.hydra/overrides.yaml``, ``summary.csv``, ``trace.csv``, ``provenance.json`` — and never reruns
anything, so a report can be rebuilt at any time.
"""

from __future__ import annotations

import re
from pathlib import Path

from gradexp.errors import ConfigError

__all__ = ["build_report"]


def _slug(text: str, taken: set) -> str:
    base = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "objective"
    slug, i = base, 2
    while slug in taken:
        slug, i = f"{base}_{i}", i + 1
    taken.add(slug)
    return slug


def build_report(sweep_dir, holdout: float = 0.0, figures: bool = True, coco: bool = False) -> dict:
    """Write ``sweep_summary.csv``, ``metrics.csv``, ``report.md`` (and figures) into ``sweep_dir``.

    ``holdout``: fraction of starts (by index) held out to check the choice of the best setting per
    optimizer (0 = off; also writes ``holdout.csv``). ``coco``: also write COCO's data format under
    ``coco/`` (see :mod:`gradexp.report.coco`). Returns a dict with ``jobs``, ``done``,
    ``failed``, ``diverged``, ``report`` (path of report.md), ``html`` (path of report.html),
    ``files`` (everything written) and ``coco`` (with ``coco``: a line on the COCO data and the
    command that builds COCO's pages from it; else None).
    Raises ConfigError for a missing folder, a folder without job folders or a bad ``holdout``.
    """
    from gradexp.html.report import write_report_page
    from gradexp.report.analysis import analyse
    from gradexp.report.collect import load_sweep
    from gradexp.report.markdown import render

    holdout = _checked_holdout(holdout)
    root = Path(sweep_dir)
    sweep = load_sweep(root)
    a = analyse(sweep, holdout=holdout)
    written = []

    def out(name):
        written.append(root / name)
        return root / name

    _write_tables(sweep, a, out)
    figs, profile_name = _draw_figures(root, sweep, a, out) if figures else ({}, None)
    failed = sum(j.failed for j in sweep.jobs)
    done = len(sweep.jobs) - failed
    folders, coco_note = None, None
    if coco:
        from gradexp.report.coco import cocopp_command, write_coco

        coco_files = write_coco(root)
        written += coco_files
        folders = sorted({f.relative_to(root / "coco").parts[0] for f in coco_files})
        coco_note = (f"COCO's data for {len(folders)} configuration{'s' * (len(folders) != 1)} in "
                     f"{root / 'coco'}; its pages: {cocopp_command(root)}" if folders else
                     "report.coco: no BBOB job with results in this sweep (objective=bbob); no COCO data written")
    out("report.md").write_text(render(a, done, failed, figs, profile_name, folders), encoding="utf-8")
    page = write_report_page(root)  # report.html: the same report as one self-contained page
    written.append(page)
    return {"jobs": len(sweep.jobs), "done": done, "failed": failed,
            "diverged": int((a.starts["status"] == "diverged").sum()),
            "report": root / "report.md", "html": page, "files": written, "coco": coco_note}


def _checked_holdout(holdout) -> float:
    try:
        holdout = float(holdout)
    except (TypeError, ValueError):
        raise ConfigError(f"report.holdout={holdout!r} is not a number; use a fraction in [0, 1)") from None
    if not 0.0 <= holdout < 1.0:
        raise ConfigError(f"report.holdout={holdout!r} is out of range; use a fraction in [0, 1) (0 = off)")
    return holdout


def _write_tables(sweep, a, out) -> None:
    """sweep_summary.csv (every job's summary rows), metrics.csv and holdout.csv."""
    public = sweep.table[[c for c in sweep.table.columns if not c.startswith("_")]].copy()
    for c in public.columns:  # whole-number columns (start, steps, minimum, rt_*) stay whole numbers
        if c in ("start", "steps", "minimum") or c.startswith(("rt_", "evals")):
            v = public[c]
            if v.dtype.kind == "f" and ((v.dropna() % 1) == 0).all():
                public[c] = v.astype("Int64")
    public.to_csv(out("sweep_summary.csv"), index=False)
    a.metrics.drop(columns=["_cfg"]).to_csv(out("metrics.csv"), index=False)
    if a.holdout is not None:
        a.holdout.to_csv(out("holdout.csv"), index=False)


def _draw_figures(root, sweep, a, out):
    """Each objective's figures (ECDF, lr, convergence, basins, animation) and the profile:
    ``({objective: [(kind, file name)]}, profile file name or None)``."""
    from gradexp.report import figures as F
    from gradexp.report import landscape as L
    from gradexp.report.analysis import group_keys

    figs: dict = {}
    taken: set = set()
    for prob in a.problems:  # (in natural order)
        if not a.problems[prob].get("order"):
            continue
        slug = _slug(prob, taken)
        todo = [("ecdf", lambda p, path: F.ecdf_figure(a, p, path)),
                ("convergence", lambda p, path: F.convergence_figure(a, p, path))]
        if F.has_lr_variation(a, prob):
            todo.insert(1, ("lr", lambda p, path: F.lr_figure(a, p, path, group_keys(sweep))))
        if L.has_basins(a, prob):
            todo.append(("basins", lambda p, path: L.basin_figure(a, p, path)))
        for kind, draw in todo:
            name = f"{kind}_{slug}.png"
            draw(prob, out(name))
            figs.setdefault(prob, []).append((kind, name))
        gif = f"trajectory_{slug}.gif"
        if L.animation_figure(a, prob, root / gif) is not None:
            out(gif)
            figs.setdefault(prob, []).append(("animation", gif))
    profile_name = None
    if a.profile is not None and a.profile["costs"].size:
        profile_name = "profile.png"
        F.profile_figure(a, out(profile_name))
    return figs, profile_name
