"""The run folder: ``trace.csv``, ``summary.csv``, ``provenance.json`` and the plots.

Written by the command line and by ``gradexp.run(cfg, out_dir)`` from the tables the runner built
(data flows one way: tables -> CSV files -> plots). Every file is written atomically (see
:mod:`gradexp.files`), so a run folder never holds a half-written file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from gradexp.errors import ConfigError
from gradexp.outcome import ERROR
from gradexp.files import write_csv, write_json
from gradexp.provenance import provenance


def write_run(out_dir, cfg, problem, trace, summary, cls, kwargs, maximize, f_opt, status="complete", t_start=None):
    """Write a run folder: ``trace.csv``, ``summary.csv``, ``provenance.json`` and the plots."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    plot = cfg.get("plot") or {}
    draw = None
    if plot.get("enabled", True):
        draw = _plot_drawer(out, plot, problem, trace, summary, cls, kwargs, maximize, f_opt,
                            budget=(cfg.get("run") or {}).get("steps"))
    child = None
    if draw is not None and plot.get("parallel", True) and len(trace) >= PARALLEL_PLOT_ROWS:
        child = _Child.start(draw)  # the plots are drawn while the CSV files are written
    try:
        write_csv(trace, out / "trace.csv")
        write_csv(summary, out / "summary.csv")
        n_starts = int(summary["start"].nunique())
        write_json(provenance(cfg, problem, cls, kwargs, maximize, f_opt, n_starts, status, t_start=t_start),
                   out / "provenance.json")
    finally:
        drawn = child is not None and child.wait()
    if draw is not None:
        if not drawn:  # drawn here (again, when the child failed: its error is raised here)
            draw()
        if problem.dim == 2 and plot.get("surface", False):
            from gradexp.debug import write_surface

            write_surface(problem, out / "surface.png")
    from gradexp.html.run import write_run_page

    write_run_page(out, summary)  # index.html: the summary and the figures as one self-contained page


#: a run whose trace has at least this many rows draws its plots in a forked child process while
#: the CSV files are written (``plot.parallel``); below, the fork costs more than it saves
PARALLEL_PLOT_ROWS = 20_000


def _plot_drawer(out, plot, problem, trace, summary, cls, kwargs, maximize, f_opt, budget=None):
    """A function drawing the run's plots that needs neither torch nor the objective's code.

    The contour grid of a 2-D objective is evaluated here, so the drawing itself can run in a
    forked child (torch's thread pool is not safe to use after a fork).
    """
    from gradexp import plots

    title = plots.run_title(problem, cls, kwargs, summary, maximize, budget=budget)
    grid = plots.contour_grid(problem) if problem.dim == 2 else None
    max_paths = int(plot.get("max_paths", 400))
    diverged = summary.loc[summary["status"] == "diverged", "start"] if len(summary) else ()

    def draw():
        plots.convergence(trace, f_opt, out / "convergence.png", title=title, maximize=maximize,
                          diverged=diverged)
        if grid is not None:
            plots.trajectory(trace, summary, problem, maximize, out / "trajectory.png", title=title,
                             max_paths=max_paths, grid=grid)
            if plot.get("animate", False):
                from gradexp import animate

                animate.trajectory_gif(trace, problem, maximize, out / "trajectory.gif", grid, title=title)
    return draw


class _Child:
    """``fn`` run by a forked copy of this process; :meth:`wait` tells whether it succeeded.

    Only on Linux with at least two usable CPUs (elsewhere :meth:`start` gives None and the caller
    does the work itself). The child leaves with ``os._exit``: no exit handler, buffer flush or
    temporary-file cleanup of the parent runs twice.
    """

    def __init__(self, pid: int):
        self.pid = pid

    @classmethod
    def start(cls, fn):
        if not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2:
            return None
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError:
            return None
        if pid == 0:
            code = 1
            try:
                fn()
                code = 0
            except BaseException:  # reported by the parent, which then does the work itself
                pass
            finally:
                os._exit(code)
        return cls(pid)

    def wait(self) -> bool:
        try:  # a signal while waiting is retried by waitpid itself (PEP 475), unless its handler raises
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            return False
        return os.waitstatus_to_exitcode(status) == 0


def write_failure(out_dir, cfg, message: str, status: str = ERROR) -> None:
    """Record a job that failed before it had results: a one-row summary and the provenance."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = pd.DataFrame({"start": [pd.NA], "status": [status], "steps": [pd.NA], "f_final": [np.nan],
                            "message": [message]})
    write_csv(summary, out / "summary.csv")
    write_json(provenance(cfg, None, None, None, bool((cfg.get("objective") or {}).get("maximize", False)),
                          None, 0, status, error=message), out / "provenance.json")
