"""Read a sweep folder (job folders ``0/``, ``1/``, ...) into one long table of starts.

Only files are read: ``.hydra/overrides.yaml`` (and ``.hydra/hydra.yaml`` / ``config.yaml`` as a
fallback for failed jobs), ``summary.csv``, ``trace.csv`` and ``provenance.json``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gradexp.errors import ConfigError
from gradexp.outcome import TARGETS, target_label, targets_of
from gradexp.report.runs import RUN_LIST, order_key, read_run_list

#: Summary columns written by the runner (anything else there is a swept hyper-parameter).
_STANDARD = {"start", "status", "steps", "f_final", "grad_norm", "f_best", "f_start", "minimum",
             "message", "f_star", "group", "lr"}
_GENERATED = re.compile(r"^((start_)?x\d+|rt_.*|evals(_.*)?)$")
#: Override keys whose jobs would be pooled into one configuration. Empty: every job is its own
#: configuration, so metrics.csv has one row per job (and per in-job setting) and target.
REPEAT_KEYS: tuple[str, ...] = ()
_TEXT = ("status", "message", "group")


@dataclass
class Job:
    """One job folder: its overrides, provenance and summary rows."""

    name: str
    path: Path
    overrides: dict = field(default_factory=dict)
    override_list: list = field(default_factory=list)
    provenance: dict = field(default_factory=dict)
    choices: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    summary: pd.DataFrame | None = None
    failed: bool = False
    message: str = ""


def column_name(key: str) -> str:
    """Column of an override key in sweep_summary.csv: the key itself, or ``override.<key>`` when the
    key is also the name of a runner column (``start=grid`` picks the start group, ``start`` is the
    start index)."""
    return f"override.{key}" if key in _STANDARD or _GENERATED.match(key) or key in ("step", "f", "job",
                                                                                     "problem") else key


def key_text(key: str) -> str:
    """An override key as the user typed it: ``override.start`` (the column name that keeps the
    start group apart from the start index, see :func:`column_name`) reads ``start``."""
    return key[len("override."):] if key.startswith("override.") else key


def parse_override(text: str):
    """``'+optimizer.lr=0.1'`` -> ``('optimizer.lr', '0.1')``; None for deletions and hydra keys."""
    s = str(text).strip()
    if s.startswith("~"):
        return None
    key, sep, value = s.lstrip("+").partition("=")
    key = key.strip()
    if not sep or not key or key == "hydra" or key.startswith(("hydra.", "hydra/")):
        return None
    return key, value.strip()


def hparam_columns(columns) -> list[str]:
    """Columns of a summary/trace beyond the runner's standard ones (in-job swept settings)."""
    return [c for c in columns if c not in _STANDARD and not _GENERATED.match(c)
            and c not in ("step", "f", "job")]


def read_table(path: Path) -> pd.DataFrame:
    """Read a runner CSV: text columns stay text (values as written), the rest become numbers."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    hp = set(hparam_columns(df.columns))
    for c in df.columns:
        if c in _TEXT or c in hp:
            df[c] = df[c].astype(object)
        else:
            df[c] = pd.to_numeric(df[c].replace("", np.nan), errors="coerce")
    return df


def _yaml(path: Path):
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except (OSError, yaml.YAMLError):
        return None


def job_folders(sweep_dir) -> list[Path]:
    """Sub-folders of ``sweep_dir`` that are jobs (hold ``.hydra/`` or ``summary.csv``), in job order.

    Raises ConfigError when ``sweep_dir`` is not a folder or holds no job.
    """
    root = Path(sweep_dir)
    if not root.is_dir():
        raise ConfigError(f"{sweep_dir}: not a folder; give a sweep folder such as outputs/multirun/<stamp>")
    jobs = [p for p in root.iterdir()
            if p.is_dir() and ((p / ".hydra").is_dir() or (p / "summary.csv").is_file())]
    if not jobs:
        raise ConfigError(f"{sweep_dir}: no job folders (sub-folders with .hydra/ or summary.csv); "
                          "give a sweep folder such as outputs/multirun/<stamp>")
    return sorted(jobs, key=lambda p: order_key(p.name))


def load_job(path: Path) -> Job:
    """Read one job folder; a job without results becomes one ``error`` row."""
    job = Job(name=path.name, path=path)
    job.override_list = [str(o) for o in _yaml(path / ".hydra" / "overrides.yaml") or []]
    for item in job.override_list:
        kv = parse_override(item)
        if kv:
            job.overrides[column_name(kv[0])] = kv[1]
    hydra_cfg = _yaml(path / ".hydra" / "hydra.yaml") or {}
    job.choices = ((hydra_cfg.get("hydra") or {}).get("runtime") or {}).get("choices") or {}
    job.config = _yaml(path / ".hydra" / "config.yaml") or {}
    try:
        job.provenance = json.loads((path / "provenance.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        job.provenance = {}
    summary = None
    if (path / "summary.csv").is_file():
        try:
            summary = read_table(path / "summary.csv")
        except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
            summary = None
    if summary is None or summary.empty:
        msg = job.provenance.get("error") or "no results"
        summary = pd.DataFrame({"start": [np.nan], "status": ["error"], "message": [str(msg)]})
    if "start" not in summary.columns:
        summary["start"] = np.nan
    job.summary = summary
    errors = summary[summary["start"].isna() & (summary.get("status") == "error")]
    if len(errors) or job.provenance.get("status") == "error":
        job.failed = True
        msgs = [m for m in (errors["message"].tolist() if "message" in errors else []) if isinstance(m, str) and m]
        job.message = (msgs[0] if msgs else job.provenance.get("error")) or "no results"
    return job


def load_trace(job_path: Path) -> pd.DataFrame | None:
    """The job's trace.csv as a table, or None when it is missing or unreadable."""
    p = Path(job_path) / "trace.csv"
    if not p.is_file():
        return None
    try:
        return read_table(p)
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None


def _objective_facts(job: Job) -> dict:
    prov, cfg = job.provenance, job.config
    ocfg = cfg.get("objective") if isinstance(cfg.get("objective"), dict) else {}
    name = (prov.get("objective") or job.choices.get("objective") or job.overrides.get("objective")
            or "unknown")
    dim = prov.get("dim")
    if dim is None and job.summary is not None:
        xs = [c for c in job.summary.columns if re.fullmatch(r"x\d+", c)]
        dim = len(xs) or None
    maximize = prov.get("maximize")
    if maximize is None:
        maximize = ocfg.get("maximize", str(job.overrides.get("objective.maximize", "")).lower() == "true")
    steps = prov.get("steps")
    if steps is None:
        steps = (cfg.get("run") or {}).get("steps") if isinstance(cfg.get("run"), dict) else None
    if steps is None and "run.steps" in job.overrides:
        try:
            steps = int(float(job.overrides["run.steps"]))
        except ValueError:
            steps = None
    extra = tuple(sorted((k, v) for k, v in job.overrides.items()
                         if k.startswith("objective.") and k not in ("objective.dim", "objective.maximize")))
    return {"name": str(name), "dim": dim, "maximize": bool(maximize), "steps": steps,
            "lr": prov.get("lr"), "extra": extra}


def _problem_labels(facts: list[dict]) -> list[str]:
    """Objective name, plus dimension / sense / variant only where the sweep needs them apart."""
    ids = [(f["name"], f["dim"], f["maximize"], f["extra"]) for f in facts]
    # a job that failed before knowing its dimension joins the one known dimension of its objective
    for n, (name, dim, mx, extra) in enumerate(ids):
        dims = {i[1] for i in ids if i[0] == name and i[2] == mx and i[3] == extra and i[1] is not None}
        if dim is None and len(dims) == 1:
            ids[n] = (name, dims.pop(), mx, extra)
    labels = []
    for ident in ids:
        name, dim, mx, extra = ident
        same = {i for i in ids if i[0] == name}
        lab = name
        if len({i[1] for i in same}) > 1 and dim is not None:
            lab += f" {dim}-D"
        if len({i[2] for i in same}) > 1 and mx:
            lab += " (max)"
        labels.append(lab)
    # still ambiguous (e.g. two expressions): number the variants
    out = []
    for lab, ident in zip(labels, ids):
        variants = sorted({i for i, l2 in zip(ids, labels) if l2 == lab}, key=repr)
        out.append(lab if len(variants) == 1 else f"{lab} #{variants.index(ident) + 1}")
    return out


@dataclass
class Sweep:
    """A loaded sweep: the jobs, the long start table and the names of its key columns."""

    path: Path
    jobs: list[Job]
    table: pd.DataFrame          # sweep_summary.csv (+ internal columns starting with "_")
    keys: list[str]              # override keys (see column_name) and in-job swept columns, first seen first
    config_keys: list[str]       # keys that define a configuration (keys minus REPEAT_KEYS)
    method_keys: list[str]       # configuration keys that are not about the objective
    varying: list[str]           # method keys whose value differs somewhere in the sweep
    targets: tuple = TARGETS     # the Δf targets every job that ran recorded (report.targets), loosest first
    targets_differ: bool = False  # jobs recorded different target sets (the report uses those they share)

    @property
    def target_labels(self) -> list[str]:
        """The targets' names in column names (``rt_<label>``, ``cost_<label>``, ...), loosest first."""
        return [target_label(t) for t in self.targets]


def load_sweep(sweep_dir) -> Sweep:
    """Read every job folder of ``sweep_dir`` into a :class:`Sweep` (see module doc)."""
    # a report over separate run folders lists them in runs.csv; a sweep's jobs are its sub-folders
    jobs = load_runs(sweep_dir) if read_run_list(sweep_dir) else [load_job(p) for p in job_folders(sweep_dir)]
    keys: list[str] = []
    for job in jobs:
        for k in list(job.overrides) + hparam_columns(job.summary.columns):
            if k not in keys:
                keys.append(k)
    facts = [_objective_facts(j) for j in jobs]
    labels = _problem_labels(facts)
    frames = []
    for job, fact, label in zip(jobs, facts, labels):
        s = job.summary.copy()
        for k in keys:
            given = job.overrides.get(k, "")
            if k in s.columns:
                col = s[k].astype(object)
                s[k] = col.where(col.notna() & (col.astype(str) != ""), given)
            else:
                s[k] = given
        s.insert(0, "job", job.name)
        s["problem"] = label
        s["_maximize"] = fact["maximize"]
        s["_budget1"] = float(fact["steps"]) if fact["steps"] is not None else np.nan
        s["_prov_lr"] = float(fact["lr"]) if isinstance(fact["lr"], (int, float)) else np.nan
        s["_dim"] = fact["dim"] if fact["dim"] is not None else np.nan
        s["_failed_job"] = job.failed
        frames.append(s)
    table = pd.concat(frames, ignore_index=True, sort=False)
    front = ["job"] + keys + ["problem"]
    table = table[front + [c for c in table.columns if c not in front]]
    for k in keys:
        table[k] = table[k].fillna("").astype(str)
    config_keys = [k for k in keys if k not in REPEAT_KEYS]
    method_keys = [k for k in config_keys if k != "objective" and not k.startswith("objective.")]
    varying = [k for k in method_keys if table[k].nunique(dropna=False) > 1]
    targets, differ = shared_targets(jobs)
    return Sweep(Path(sweep_dir), jobs, table, keys, config_keys, method_keys, varying, targets, differ)


def shared_targets(jobs) -> tuple[tuple, bool]:
    """The targets (``report.targets`` of each job's config) that every job that ran recorded, and
    whether the jobs' sets differ. Jobs that failed or whose config is unreadable do not count; with
    none left, or nothing in common, the default targets."""
    sets = []
    for job in jobs:
        try:
            if not job.failed:
                sets.append(targets_of(job.config or {}))
        except ConfigError:
            continue
    if not sets:
        return TARGETS, False
    names = [{target_label(t) for t in s} for s in sets]
    common = tuple(t for t in sets[0] if all(target_label(t) in n for n in names))
    return common or TARGETS, any(n != names[0] for n in names)


def _recorded(job, key: str):
    """The value ``key`` had in a job: its config group choice, else its recorded config value."""
    if key in job.choices:
        return str(job.choices[key])
    node = job.config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return None if isinstance(node, (dict, list)) else str(node)


def load_runs(report_dir) -> list:
    """The runs listed in ``report_dir``'s runs.csv as jobs (see :func:`load_job`), keys filled in across runs."""
    listed = read_run_list(report_dir)
    jobs = []
    for name, path in listed.items():
        if not Path(path).is_dir():
            raise ConfigError(f"{path}: run folder listed in {Path(report_dir) / RUN_LIST} is missing")
        job = load_job(Path(path))
        job.name = name
        jobs.append(job)
    keys: dict = {}
    for job in jobs:
        for item in job.override_list:
            kv = parse_override(item)
            if kv:
                keys.setdefault(column_name(kv[0]), kv[0])
    for job in jobs:
        for col, key in keys.items():
            if col not in job.overrides:
                value = _recorded(job, key)
                if value is not None:
                    job.overrides[col] = value
    return jobs
