"""COCO's data format from a sweep over BBOB problems (``report.coco=true``), for ``python -m cocopp``.

``write_coco(DIR)`` reads the job folders' CSVs (as the report does) and writes, under ``DIR/coco/``,
one folder per configuration (the swept keys other than the BBOB function, instance and dimension;
in-job settings included) in the layout of COCO's ``bbob`` logger, data format ``bbob-new2``:
``bbobexp_f<F>.info`` (one block per dimension, one trial per start) and ``data_f<F>/bbobexp_f<F>_DIM<D>``
``.dat`` (target-triggered lines) / ``.tdat`` (evaluation-triggered lines).

What an evaluation is: one f-and-gradient evaluation. A step of an element-wise optimizer is one
(the evaluation at step k is number k + 1); a closure optimizer's further evaluations (LBFGS) are
counted too (summary.csv's ``evals`` columns). The lines written per start are: its first
evaluation (the start point), the exact first evaluation reaching each target the runs recorded
(``report.targets``; with Δf as its value: f ≤ f* + Δf is what is known there), the logged steps of
trace.csv (exact f; for element-wise optimizers, where step k is evaluation k + 1) and its last
evaluation with the best f it saw. Values are written in the fewest digits that read back as the
same double, so a target reads back as itself. With ``report.targets=coco`` the runs record COCO's
own 51 targets and cocopp's runtimes are exact at every target it uses; between recorded targets a
runtime read from these lines is never earlier than the true one (``run.log.every=1`` logs every
step and makes every line exact).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from gradexp.outcome import evals_column, target_label
from gradexp.report.collect import key_text

BBOB_TARGET = "gradexp.objectives.bbob"
PROBLEM_KEYS = ("objective", "objective.function", "objective.instance", "objective.dim")
GROUPS = ("optimizer", "schedule", "start", "experiment")  # config groups: their choice names itself
OUTPUT_KEYS = ("report.", "plot.", "resume", "run.progress", "run.log.")  # what is written, not the method
PRECISION = 1e-8  # COCO's final target
COMMENT = ("% gradexp: one trial per start; one evaluation per f-and-gradient evaluation (the evaluation "
           "at step k is number k + 1; a closure optimizer's further evaluations, e.g. LBFGS's, are counted); "
           "exact at the recorded targets ({targets}); x is nan where it was not logged")
DAT_HEAD = ("% f evaluations | g evaluations | best noise-free fitness - Fopt ({fopt:.12e}) + sum g_i+ | "
            "measured fitness | best measured fitness or single-digit g-values | x1 | x2...")


def _bbob_problem(job) -> tuple[int, int, int] | None:
    obj = job.config.get("objective") if isinstance(job.config, dict) else None
    if not isinstance(obj, dict) or obj.get("_target_") != BBOB_TARGET:
        return None
    return int(obj.get("function", 1)), int(obj.get("instance", 1)), int(obj.get("dim", 2))


def algorithm_name(values: dict, short: bool = True) -> str:
    """A folder (and COCO algorithm) name for a configuration: short, the distinguishing part first,
    as cocopp's legends show only the first 10 or so characters: ``adam-lr1e-3`` for ``optimizer=adam
    optimizer.lr=0.001`` (a group's choice as itself, another key by its last part, a power of ten as
    ``1e-3`` where that is shorter); ``short=False``:
    ``optimizer=adam_optimizer.lr=0.01``. ``gradexp`` when there are no values."""
    if short:
        text = "-".join(str(v) if k in GROUPS else f"{k.rsplit('.', 1)[-1]}{_compact(v)}" for k, v in values.items())
    else:
        text = "_".join(f"{k}={v}" for k, v in values.items())
    return re.sub(r"[^A-Za-z0-9.=+-]+", "-", text or "gradexp").strip("-") or "gradexp"


def _compact(value) -> str:
    """A power of ten as ``1e-3`` where that is shorter than as written (0.001), else as written."""
    try:
        exp = math.log10(float(value))
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(exp):  # inf, nan: as written
        return str(value)
    short = f"1e{round(exp)}"
    return short if exp == round(exp) and len(short) < len(str(value)) else str(value)


def algorithm_names(configurations) -> dict:
    """``{configuration: name}`` for configurations given as tuples of (key, value): the short names
    when they tell every configuration apart, else the long ones."""
    for short in (True, False):
        names = {c: algorithm_name(dict(c), short) for c in configurations}
        if len(set(names.values())) == len(names):
            return names
    return names


def _events(row, trace, fopt: float, dim: int, targets) -> list[tuple[float, float, list]]:
    """(evaluation, f − f*, x) of one start: first, target hits, logged steps, last; by evaluation."""
    nan_x = [math.nan] * dim
    xs = [f"x{i}" for i in range(dim)]
    out = [(1.0, row["f_start"] - fopt, [row.get(f"start_x{i}", math.nan) for i in range(dim)])]
    for t in targets:
        ev = row.get(evals_column(t), math.nan)
        if pd.notna(ev):
            out.append((float(ev), t, nan_x))
    if trace is not None and len(trace):
        out += [(float(s) + 1.0, f - fopt, list(x)) for s, f, x in
                zip(trace["step"], trace["f"], trace[xs].to_numpy(float))]
    out.append((float(row["evals"]), row["f_best"] - fopt, [row[c] for c in xs]))
    out = [(e, v if np.isfinite(v) else math.inf, x) for e, v, x in out]
    out.sort(key=lambda item: (item[0], item[1]))
    return out


def _fmt(v: float) -> str:
    """``v`` in the fewest digits that read back as the same double (a target's Δf stays itself)."""
    return "inf" if v == math.inf else np.format_float_scientific(v, unique=True, trim="0", sign=True, exp_digits=2)


def _trial_lines(events, fopt: float) -> tuple[list[str], list[str], float]:
    """The .dat lines (at each improvement, plus the last) and the .tdat lines of one trial."""
    dat, tdat, best = [], [], math.inf
    for n, (ev, value, x) in enumerate(events):
        improved = value < best
        best = min(best, value)
        line = (f"{int(ev)} 0 {_fmt(best)} {_fmt(value + fopt)} {_fmt(best + fopt)} "
                + " ".join("nan" if not np.isfinite(v) else f"{v:+5.4e}" for v in x))
        if improved or n == 0 or n == len(events) - 1:
            dat.append(line)
        tdat.append(line)
    return dat, tdat, best


def _starts(sweep):
    """(configuration values, (F, I, D), job, summary row) for every start of a BBOB job that ran.

    A configuration is named by the method keys that vary in the sweep (when none does, by every key
    but the problem's and those that only choose what is written: report.*, plot.*, run.log.*, ...).
    """
    keys = [k for k in sweep.varying if k not in PROBLEM_KEYS] or \
        [k for k in sweep.keys if k not in PROBLEM_KEYS and not k.startswith(OUTPUT_KEYS)]
    for job in sweep.jobs:
        prob = _bbob_problem(job)
        if prob is None or job.failed or job.summary is None or "evals" not in job.summary:
            continue
        for _, row in sweep.table[sweep.table["job"] == job.name].iterrows():
            yield {key_text(k): row[k] for k in keys if str(row[k]) != ""}, prob, job, row


def cocopp_command(sweep_dir) -> str:
    """The command that builds COCO's pages from ``DIR/coco/`` (into ``DIR/cocopp/``)."""
    import shlex

    root = Path(sweep_dir)
    return f"python -m cocopp -o {shlex.quote(str(root / 'cocopp'))} {shlex.quote(str(root / 'coco'))}/*"


def write_coco(sweep_dir, targets=None) -> list[Path]:
    """Write ``DIR/coco/<configuration>/`` in COCO's bbob-new2 format; return the files written.

    ``targets``: the Δf whose exact first evaluations are written (default: those every job recorded).
    """
    from gradexp._version import __version__
    from gradexp.report.collect import load_sweep, load_trace

    root = Path(sweep_dir)
    sweep = load_sweep(root)
    targets = sweep.targets if targets is None else targets
    trials: dict = {}  # (alg, F, D) -> list of (instance, .dat lines, .tdat lines, evals, best)
    traces: dict = {}
    starts = list(_starts(sweep))
    names = algorithm_names(dict.fromkeys(tuple(values.items()) for values, *_ in starts))
    for values, (fn, inst, dim), job, row in starts:
        if job.name not in traces:
            trace = load_trace(job.path)
            same = (job.summary["evals"] == job.summary["steps"] + 1).all()
            traces[job.name] = dict(tuple(trace.groupby("start"))) if trace is not None and same else {}
        fopt = float(row["f_star"])
        events = _events(row, traces[job.name].get(row["start"]), fopt, dim, targets)
        dat, tdat, best = _trial_lines(events, fopt)
        key = (names[tuple(values.items())], fn, dim)
        trials.setdefault(key, []).append((inst, fopt, dat, tdat, int(row["evals"]), best))
    written = []
    labels = (", ".join(target_label(t) for t in targets) if len(targets) <= 6 else
              f"{len(targets)}: {target_label(targets[0])} .. {target_label(targets[-1])}")
    for alg in sorted({k[0] for k in trials}):
        folder = root / "coco" / alg
        for fn in sorted({k[1] for k in trials if k[0] == alg}):
            info = []
            for dim in sorted(k[2] for k in trials if k[:2] == (alg, fn)):
                rel = f"data_f{fn}/bbobexp_f{fn}_DIM{dim}"
                (folder / f"data_f{fn}").mkdir(parents=True, exist_ok=True)
                runs = trials[(alg, fn, dim)]
                for ext, idx in ((".dat", 2), (".tdat", 3)):
                    text = "".join(DAT_HEAD.format(fopt=r[1]) + "\n" + "\n".join(r[idx]) + "\n" for r in runs)
                    (folder / (rel + ext)).write_text(text, encoding="utf-8")
                    written.append(folder / (rel + ext))
                info += [f"suite = 'bbob', funcId = {fn}, DIM = {dim}, Precision = {PRECISION:.3e}, "
                         f"algId = '{alg}', coco_version = 'gradexp-{__version__}', logger = 'bbob', "
                         "data_format = 'bbob-new2'",
                         COMMENT.format(targets=labels),
                         f"{rel}.dat, " + ", ".join(f"{r[0]}:{r[4]}|{max(r[5], 0.0):.1e}" for r in runs)]
            (folder / f"bbobexp_f{fn}.info").write_text("\n".join(info) + "\n", encoding="utf-8")
            written.append(folder / f"bbobexp_f{fn}.info")
    return written
