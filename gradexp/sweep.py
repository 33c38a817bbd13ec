"""Hydra callback that writes a sweep's summary, metrics and report when a multirun ends.

Registered in conf/config.yaml as ``hydra.callbacks.sweep_report``. It only reads the files the
jobs wrote (see ``gradexp.report``) and never raises into Hydra.
"""

from __future__ import annotations

import os
import sys

from hydra.experimental.callback import Callback


class SweepCallback(Callback):
    """Builds ``sweep_summary.csv``, ``metrics.csv`` and ``report.md`` in ``hydra.sweep.dir``."""

    def __init__(self, **kwargs) -> None:
        self._sweep_dir = None
        self._jobs = None  # gradexp.progress.JobLines: a line per finished job (this process's jobs)

    @staticmethod
    def _dir(config):
        try:
            return str(config.hydra.sweep.dir)
        except Exception:  # noqa: BLE001  (an unreadable config must not stop the sweep)
            return None

    def on_multirun_start(self, config, **kwargs) -> None:
        """Remember the sweep folder as resolved when the sweep starts (``${now:...}`` stamps)."""
        self._sweep_dir = self._dir(config)
        self._jobs = _job_lines(config)
        from gradexp import launch

        launch.sweep_started(config, self._sweep_dir)  # a launcher that loses jobs still gets a report

    def on_job_end(self, config, job_return, **kwargs) -> None:
        """A line per finished job: jobs done of the total and the time left (``run.progress=false``: none)."""
        try:
            if self._jobs is not None and self._jobs.pid == os.getpid():  # (a launcher's worker: no line)
                failed = getattr(getattr(job_return, "status", None), "name", "") == "FAILED"
                self._jobs.job_done(config.hydra.job.num, "failed" if failed else "ended")
        except Exception:  # noqa: BLE001  (never raise into Hydra)
            pass

    def on_multirun_end(self, config, **kwargs) -> None:
        """Write the sweep outputs and print one line: jobs done/failed and where the report is."""
        sweep_dir = self._sweep_dir or self._dir(config)
        from gradexp import launch

        launch.ACTIVE.clear()  # the sweep ended normally
        try:
            from gradexp.report import build_report

            res = build_report(sweep_dir, **launch.report_options(config))
            print(f"gradexp sweep: {res['jobs']} jobs ({res['done']} done, {res['failed']} failed, "
                  f"{res['diverged']} diverged starts); report: {res['report']}")
            print(f"gradexp sweep: open {res['html']}")
            if res.get("coco"):
                print(f"gradexp sweep: {res['coco']}")
        except Exception as exc:  # noqa: BLE001  (never raise into Hydra)
            msg = " ".join(str(exc).split()) or type(exc).__name__
            print(f"gradexp sweep: report not written for {sweep_dir}: {type(exc).__name__}: {msg}",
                  file=sys.stderr)


def _job_lines(config):
    """The sweep's job lines (None with ``run.progress=false``)."""
    try:
        from omegaconf import OmegaConf

        from gradexp.progress import JobLines, mode_of, sweep_size

        if mode_of(OmegaConf.select(config, "run.progress", default="auto")) == "false":
            return None
        params = OmegaConf.select(config, "hydra.sweeper.params", default=None)
        total = sweep_size(OmegaConf.select(config, "hydra.overrides.task", default=[]) or [],
                           OmegaConf.select(config, "hydra.sweeper.n_trials", default=None),
                           OmegaConf.to_container(params) if params is not None else None)
        return JobLines(total)
    except Exception:  # noqa: BLE001  (never raise into Hydra)
        return None
