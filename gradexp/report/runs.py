"""A report over separate run folders: ``python -m gradexp.report RUN_DIR RUN_DIR ...``.

The runs are listed in ``runs.csv`` of the report folder (columns ``job``, ``path``; paths
relative to that folder), so the report can be rebuilt from it like a sweep's: the runs play the
part of a sweep's jobs. A key one run overrode and another did not gets the other run's recorded
value (its config group choice or config value), so every run's configuration names the same keys.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from gradexp.errors import ConfigError

RUN_LIST = "runs.csv"


def order_key(name: str) -> tuple:
    """Sort key of a job folder's name: numbers in numeric order (``2`` before ``10``), then other names."""
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def natural_key(text: str) -> list:
    """Sort key reading the numbers in ``text`` as numbers: ``bbob #2`` before ``bbob #10``."""
    return [order_key(part) for part in re.split(r"(\d+)", str(text)) if part]


def is_run_folder(path) -> bool:
    """True for a single run's folder (``.hydra/`` and ``summary.csv`` at its top)."""
    p = Path(path)
    return (p / ".hydra").is_dir() and (p / "summary.csv").is_file()


def write_run_list(report_dir, runs) -> Path:
    """Write ``runs.csv`` into ``report_dir`` for the run folders ``runs`` (names unique, paths relative)."""
    root = Path(report_dir)
    for r in runs:
        if not is_run_folder(r):
            raise ConfigError(f"{r}: not a run folder (no .hydra/ and summary.csv); give run folders such as "
                              "outputs/runs/<stamp>, or one sweep folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {root}: {exc.strerror or exc}") from None
    taken: set = set()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["job", "path"])
    for r in runs:
        base = Path(r).resolve().name
        name, i = base, 2
        while name in taken:
            name, i = f"{base}_{i}", i + 1
        taken.add(name)
        w.writerow([name, os.path.relpath(Path(r).resolve(), root.resolve())])
    from gradexp.files import atomic_write_text

    atomic_write_text(root / RUN_LIST, buf.getvalue())
    return root / RUN_LIST


def read_run_list(report_dir) -> dict:
    """``{job name: run folder}`` from ``runs.csv`` of ``report_dir`` ({} when there is none)."""
    root = Path(report_dir)
    try:
        with open(root / RUN_LIST, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError:
        return {}
    return {r["job"]: root / r["path"] for r in rows if r.get("job") and r.get("path")}
