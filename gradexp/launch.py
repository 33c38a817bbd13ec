"""A sweep whose launcher lost jobs (a worker killed, out of memory, a cluster time limit) still reports.

When a job's process dies hard, Hydra's launchers raise out of the sweep (joblib's
``TerminatedWorkerError``, submitit's ``UncompletedJobError``, ray's ``WorkerCrashedError``) and
Hydra never calls ``on_multirun_end``; the launching process is alive, though.
:class:`gradexp.sweep.SweepCallback` remembers the sweep when it starts (:func:`sweep_started`); the
command line hands the launcher's error to :func:`finish_lost_sweep`, which records every job that
has no results as lost (its folder gets a one-row ``error`` summary and a provenance saying what
happened), writes the sweep's report from whatever finished, prints the lost jobs and the one command
that resumes the sweep (same overrides, same ``hydra.sweep.dir``: finished jobs are skipped).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import time
from pathlib import Path

from gradexp.facts import COMMAND_ENV, user_command  # noqa: F401  (the command the user typed, JSON in the env)

#: The sweep under way in this process: ``dir`` (resolved), ``jobs`` (each job's overrides by job
#: number, when the sweeper is Hydra's basic one; else None) and ``holdout``. Empty between sweeps.
ACTIVE: dict = {}
EXIT_LOST_JOBS = 1


def expected_jobs(config) -> list[list[str]] | None:
    """Each job's overrides, by job number, as Hydra's basic sweeper will launch them (None for others)."""
    try:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser
        from omegaconf import OmegaConf

        sweeper = config.hydra.sweeper
        if sweeper.get("_target_") != "hydra._internal.core_plugins.basic_sweeper.BasicSweeper":
            return None
        params = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
        args = params + list(OmegaConf.to_container(config.hydra.overrides.task, resolve=False))
        batches = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(args), None)
        return [list(job) for batch in batches for job in batch]
    except Exception:  # noqa: BLE001  (a sweep we cannot predict: only its folders are known)
        return None


def report_options(config) -> dict:
    """The sweep report's settings in a sweep's config: ``build_report``'s ``holdout`` and ``coco``."""
    from omegaconf import OmegaConf

    holdout = OmegaConf.select(config, "report.holdout", default=0.0)
    return {"holdout": 0.0 if holdout is None else holdout,
            "coco": bool(OmegaConf.select(config, "report.coco", default=False))}


def sweep_started(config, sweep_dir) -> None:
    """Remember the sweep that starts (called by the sweep callback)."""
    from omegaconf import OmegaConf

    ACTIVE.clear()
    objective = OmegaConf.select(config, "hydra.runtime.choices.objective", default=None)
    ACTIVE.update(dir=sweep_dir, jobs=expected_jobs(config), report=report_options(config), objective=objective)


def what_happened(exc: BaseException) -> str:
    """The launcher's error in a few words: ``killed by signal 9 (SIGKILL)`` when a signal is known."""
    text = " ".join(str(exc).split())
    signals = sorted({(abs(int(n)), name) for name, n in re.findall(r"\b(SIG[A-Z0-9]+)\((-?\d+)\)", text)})
    if signals:
        return "; ".join(f"killed by signal {n} ({name})" for n, name in signals)
    first = re.split(r"(?<=[.)])\s", text, maxsplit=1)[0]
    return f"{type(exc).__name__}: {first[:160]}" if first else type(exc).__name__


def wait_for_local_jobs(poll: float = 0.2) -> None:
    """Wait until this process's running submitit job processes end (Linux; elsewhere nothing).

    submitit's local launcher runs every job at once, as a child process, and raises on the first
    job without results while the others may still be running: their results belong in the report.
    """
    def running() -> int:
        n = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == os.getpid() and fields[0] != "Z" and \
                        b"submitit" in (stat.parent / "cmdline").read_bytes():
                    n += 1
            except (OSError, IndexError, ValueError):
                continue
        return n

    if not Path("/proc/self/stat").is_file():
        return
    if running():
        sys.stderr.write("gradexp sweep: a job was lost; waiting for the jobs still running\n")
        while running():
            time.sleep(poll)


def _has_record(folder: Path) -> bool:
    """True when the job itself recorded how it ended (complete, failed or interrupted)."""
    try:
        status = json.loads((folder / "provenance.json").read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return False
    return status is not None and not str(status).startswith("lost")


def _objective_of(overrides, default):
    """The objective a job's overrides choose (``objective=NAME``), else the sweep's."""
    chosen = [o.split("=", 1)[1] for o in overrides or () if o.lstrip("+").startswith("objective=")]
    return chosen[-1] if chosen else default


def record_lost(sweep_dir, jobs, reason: str, objective=None) -> list[tuple[str, str]]:
    """Record every job without results as lost; ``[(job number, what happened)]``.

    ``objective``: the sweep's objective choice, recorded for jobs that do not choose their own (the
    report files a lost job under its objective)."""
    import pandas as pd
    import yaml

    from gradexp import files

    root = Path(sweep_dir)
    names = [str(i) for i in range(len(jobs))] if jobs is not None else []
    names += sorted((p.name for p in root.iterdir() if p.is_dir() and p.name.isdigit() and p.name not in names),
                    key=int) if root.is_dir() else []
    lost = []
    for name in names:
        folder = root / name
        if _has_record(folder):
            continue
        started = (folder / ".hydra").is_dir()
        what = (f"lost: started, no results ({reason})" if started
                else f"lost: never ran (the sweep stopped: {reason})")
        overrides = jobs[int(name)] if jobs is not None and int(name) < len(jobs) else None
        (folder / ".hydra").mkdir(parents=True, exist_ok=True)
        if overrides is not None and not (folder / ".hydra" / "overrides.yaml").is_file():
            (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides, sort_keys=False))
        files.write_csv(pd.DataFrame({"start": [pd.NA], "status": ["error"], "steps": [pd.NA],
                                      "f_final": [float("nan")], "message": [what]}), folder / "summary.csv")
        files.write_json({"status": "lost", "error": what, "command": user_command(),
                          "objective": _objective_of(overrides, objective), "overrides": overrides,
                          "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}, folder / "provenance.json")
        lost.append((name, what))
    return lost


def resume_command(argv: list[str], sweep_dir) -> str:
    """The command that resumes the sweep: the user's overrides, ``hydra.sweep.dir`` fixed, resume on."""
    prog = "python -m gradexp" if argv and argv[0].endswith("__main__.py") else Path(argv[0]).name
    args = [a for a in argv[1:] if not a.startswith(("hydra.sweep.dir=", "resume="))]
    return " ".join([prog, *map(shlex.quote, args), shlex.quote(f"hydra.sweep.dir={Path(sweep_dir).resolve()}")])


def finish_lost_sweep(exc: BaseException) -> int | None:
    """After a launcher's error in a started sweep: record the lost jobs, write the report, print how
    to resume; the exit status. None when no sweep is under way (the error is not a lost job's)."""
    sweep = dict(ACTIVE)
    ACTIVE.clear()
    root = Path(sweep["dir"]) if sweep.get("dir") else None
    if root is None or not root.is_dir() or not any(p.is_dir() and p.name.isdigit() for p in root.iterdir()):
        return None  # no job was launched: a sweeper's or launcher's own error, reported as such
    reason = what_happened(exc)
    wait_for_local_jobs()
    lost = record_lost(sweep["dir"], sweep["jobs"], reason, sweep.get("objective"))
    if not lost:
        return None  # every job recorded how it ended: the error is the sweeper's own
    err = sys.stderr
    err.write(f"gradexp sweep: the launcher stopped ({reason}); {len(lost)} job(s) lost:\n")
    for name, what in lost:
        err.write(f"  job {name}: {what.removeprefix('lost: ')}\n")
    try:
        from gradexp.report import build_report

        res = build_report(sweep["dir"], **sweep["report"])
        err.write(f"gradexp sweep: {res['jobs']} jobs ({res['done']} done, {res['failed']} failed or lost); "
                  f"report: {res['report']}\n")
    except Exception as report_exc:  # noqa: BLE001  (the resume line below still matters)
        err.write(f"gradexp sweep: report not written: {type(report_exc).__name__}: {report_exc}\n")
    err.write(f"gradexp sweep: to run the missing jobs (finished ones are kept), run:\n  "
              f"{resume_command(user_command(), sweep['dir'])}\n")
    err.flush()
    return EXIT_LOST_JOBS
