"""Check a result: rerun a run or sweep folder from its recorded config and compare the CSVs.

``python -m gradexp.reproduce DIR`` reads ``.hydra/config.yaml`` of the run (or of every job of a
sweep, or of every run a report over separate runs lists in its ``runs.csv``), refuses import paths
outside the allowed modules before importing anything (see :mod:`gradexp.reproduce.targets`), reruns
each job in this process into a new folder (DIR is only read) and compares ``trace.csv`` and
``summary.csv`` (a sweep or a runs report: every job's, plus ``metrics.csv`` and ``sweep_summary.csv``
of the rebuilt report) byte for byte.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from gradexp.errors import ConfigError

__all__ = ["Folder", "read_folder", "check_imports", "rerun", "compare"]

JOB_FILES = ("trace.csv", "summary.csv")
SWEEP_FILES = ("metrics.csv", "sweep_summary.csv")


@dataclass
class Folder:
    """A gradexp folder to reproduce: ``kind`` is ``run``, ``sweep`` or ``runs`` (a report over
    separate runs); ``jobs`` maps a job's name (its folder relative to ``path``, ``.`` for a run; a
    runs report's names from its runs.csv) to its recorded config as plain data; ``sources`` the
    jobs whose folder is elsewhere (a runs report's) to that folder."""

    path: Path
    kind: str
    jobs: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)

    def job_path(self, name: str) -> Path:
        """The folder of job ``name``."""
        return self.sources.get(name, self.path / name)


def _read_config(job: Path) -> dict:
    import yaml

    p = job / ".hydra" / "config.yaml"
    try:
        with open(p, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not readable YAML ({' '.join(str(exc).split())[:120]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: not a recorded gradexp config (expected a mapping)")
    return data


def _is_job(p: Path) -> bool:
    return (p / ".hydra" / "config.yaml").is_file() and any((p / f).is_file() for f in ("summary.csv",
                                                                                       "provenance.json"))


def read_folder(path) -> Folder:
    """Read the recorded configs of a run folder or a sweep folder (ConfigError when it is neither)."""
    root = Path(path)
    if not root.is_dir():
        raise ConfigError(f"{path}: not a folder; give a run folder (outputs/runs/<stamp>) or a sweep folder "
                          "(outputs/multirun/<stamp>)")
    if _is_job(root):
        return Folder(root, "run", {".": _read_config(root)})
    from gradexp.report.runs import read_run_list

    listed = read_run_list(root)
    if listed:  # a report over separate runs: the runs it lists
        missing = [str(p) for p in listed.values() if not _is_job(p)]
        if missing:
            raise ConfigError(f"{path}: runs.csv lists {missing[0]}, which is not a run folder (moved or "
                              "deleted?); give the run folders themselves")
        return Folder(root, "runs", {name: _read_config(p) for name, p in listed.items()}, dict(listed))
    from gradexp.report.runs import order_key

    jobs = sorted((p for p in root.iterdir() if p.is_dir() and _is_job(p)), key=lambda p: order_key(p.name))
    if not jobs:
        raise ConfigError(f"{path}: not a gradexp folder (no .hydra/config.yaml with summary.csv or "
                          "provenance.json, here or in sub-folders); give a run or a sweep folder")
    return Folder(root, "sweep", {p.name: _read_config(p) for p in jobs})


def check_imports(folder: Folder, allow=()) -> list[str]:
    """The import paths the rerun would import, sorted; ConfigError naming the first refused one.

    Nothing is imported until every path's text passes; then each is resolved and must live under
    an allowed module too.
    """
    from gradexp.reproduce import targets as T

    prefixes = tuple(T.DEFAULT_ALLOWED) + tuple(a.strip() for a in allow if a.strip())
    found = []
    for name, cfg in folder.jobs.items():
        for key, value in T.find_targets(cfg):
            found.append((key if name == "." else f"{name}/{key}", value))
    hint = f"allowed: {', '.join(prefixes)}; add a module you trust with --allow MODULE"
    bad = T.refused(found, prefixes)
    if bad:
        key, value = bad[0]
        raise ConfigError(f"refused to import {value!r} ({key}): outside the allowed modules; {hint}")
    bad = T.refused_resolved(found, prefixes)
    if bad:
        key, value, home = bad[0]
        raise ConfigError(f"refused {value!r} ({key}): it is an object of module {home}, outside the "
                          f"allowed modules; {hint}")
    return sorted({v for _, v in found if isinstance(v, str) and v not in ("???", "none")})


def default_out(folder: Folder) -> Path:
    """``outputs/reproduce/<stamp>_<name of DIR>`` (a new folder, relative to the working folder)."""
    return Path("outputs") / "reproduce" / f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{folder.path.resolve().name}"


def check_out(folder: Folder, out: Path) -> None:
    """Refuse an output folder that exists with content, or lies inside (or holds) the original."""
    dst = out.resolve()
    for original in [folder.path, *folder.sources.values()]:
        src = Path(original).resolve()
        if dst == src or src in dst.parents or dst in src.parents:
            raise ConfigError(f"--out {out} overlaps {original}; the original is never written: choose "
                              "another folder")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out} already exists and is not empty; choose a new folder")


def rerun_job(cfg_data: dict, src: Path, dst: Path) -> None:
    """Run one recorded config into ``dst`` (with a copy of ``src/.hydra``), as the job ran.

    A job that fails is recorded as the command line records it (``summary.csv`` with the error).
    The run's own printing is discarded; progress on stderr stays.
    """
    from omegaconf import OmegaConf

    from gradexp import rundir, run
    from gradexp.__main__ import check_config, describe_error

    dst.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src / ".hydra", dst / ".hydra", dirs_exist_ok=True)
    cfg = OmegaConf.create(cfg_data)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            check_config(cfg)
            run(cfg, out_dir=dst)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        rundir.write_failure(dst, cfg, describe_error(exc)[0])


def rerun(folder: Folder, out: Path, report=print) -> None:
    """Rerun every job of ``folder`` into ``out``; a sweep's (a runs report's) report is rebuilt there
    too (a runs report's from the reruns, listed in ``out/runs.csv``)."""
    n = len(folder.jobs)
    for i, (name, cfg) in enumerate(folder.jobs.items()):
        if folder.kind != "run":
            report(f"job {name} ({i + 1}/{n})")
        rerun_job(cfg, folder.job_path(name), out / name)
    if folder.kind == "runs":
        from gradexp.report.runs import write_run_list

        write_run_list(out, [out / name for name in folder.jobs])
    if folder.kind != "run":
        for extra in ("multirun.yaml",):
            if (folder.path / extra).is_file():
                shutil.copy2(folder.path / extra, out / extra)
        from gradexp.report import build_report

        with contextlib.redirect_stdout(io.StringIO()):
            build_report(out)


def compared_files(folder: Folder) -> list[tuple[str, Path]]:
    """The files compared: ``(name relative to the rerun folder, the original file)`` for each job's
    CSVs, then a sweep's (a runs report's) tables."""
    files = []
    for name in folder.jobs:
        prefix = "" if name == "." else f"{name}/"
        files += [(prefix + f, folder.job_path(name) / f) for f in JOB_FILES
                  if (folder.job_path(name) / f).is_file() or f == "summary.csv"]
    if folder.kind != "run":
        files += [(f, folder.path / f) for f in SWEEP_FILES if (folder.path / f).is_file()]
    return files


def compare(folder: Folder, out: Path) -> list:
    """``[(file, Difference or None)]`` for every compared file, in order."""
    from gradexp.reproduce.diff import first_difference

    return [(name, first_difference(name, original, out / name)) for name, original in compared_files(folder)]


def recorded_facts(folder: Folder) -> dict:
    """provenance.json of the run (of a sweep's first job that has one), or {}."""
    import json

    for name in folder.jobs:
        try:
            return json.loads((folder.job_path(name) / "provenance.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return {}
