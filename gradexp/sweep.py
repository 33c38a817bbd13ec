"""Hydra callback that writes a sweep's summary, metrics and report when a multirun ends.

Registered in conf/config.yaml as ``hydra.callbacks.sweep_report``. It only reads the files the
jobs wrote (see ``gradexp.report``) and never raises into Hydra.
"""

from __future__ import annotations

import sys

from hydra.experimental.callback import Callback


class SweepCallback(Callback):
    """Builds ``sweep_summary.csv``, ``metrics.csv`` and ``report.md`` in ``hydra.sweep.dir``."""

    def __init__(self, **kwargs) -> None:
        self._sweep_dir = None

    @staticmethod
    def _dir(config):
        try:
            return str(config.hydra.sweep.dir)
        except Exception:  # noqa: BLE001  (an unreadable config must not stop the sweep)
            return None

    def on_multirun_start(self, config, **kwargs) -> None:
        """Remember the sweep folder as resolved when the sweep starts (``${now:...}`` stamps)."""
        self._sweep_dir = self._dir(config)
        from gradexp import launch

        launch.sweep_started(config, self._sweep_dir)  # a launcher that loses jobs still gets a report

    def on_multirun_end(self, config, **kwargs) -> None:
        """Write the sweep outputs and print one line: jobs done/failed and where the report is."""
        sweep_dir = self._sweep_dir or self._dir(config)
        from gradexp import launch

        launch.ACTIVE.clear()  # the sweep ended normally
        try:
            from omegaconf import OmegaConf

            from gradexp.report import build_report

            holdout = OmegaConf.select(config, "report.holdout", default=0.0)
            res = build_report(sweep_dir, holdout=0.0 if holdout is None else holdout)
            print(f"gradexp sweep: {res['jobs']} jobs ({res['done']} done, {res['failed']} failed, "
                  f"{res['diverged']} diverged starts); report: {res['report']}")
        except Exception as exc:  # noqa: BLE001  (never raise into Hydra)
            msg = " ".join(str(exc).split()) or type(exc).__name__
            print(f"gradexp sweep: report not written for {sweep_dir}: {type(exc).__name__}: {msg}",
                  file=sys.stderr)
