"""Command line: ``python -m gradexp [overrides]`` (Hydra app; ``-m`` for a multirun sweep).

A thin wrapper: bad input is answered with one line ``gradexp: error: ...`` and a non-zero exit
(set ``HYDRA_FULL_ERROR=1`` to see the traceback); in a multirun a failing job is recorded in its
folder and the sweep goes on. torch, pandas and matplotlib are imported only when a job runs.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import hydra

GROUPS = ("objective", "optimizer", "schedule", "start", "experiment")
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def _fail(message: str, code: int = EXIT_BAD_INPUT):
    sys.stderr.write(f"gradexp: error: {message}\n")
    sys.stderr.flush()
    raise SystemExit(code)


def group_options(group: str) -> list[str]:
    """Names of the options of a config group (``conf/<group>/*.yaml``), sorted."""
    from importlib.resources import files

    try:
        folder = files(f"gradexp.conf.{group}")
    except ModuleNotFoundError:
        return []
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def check_overrides(args: list[str]) -> None:
    """Refuse, in one line, overrides that do not parse or name a config option that does not exist."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    overrides = [a for a in args if not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "cannot parse the command line"
        _fail(f"{first}; overrides look like key=value (see python -m gradexp --help)")
    for ov in parsed:
        group = ov.key_or_group
        if group not in GROUPS or ov.is_delete():
            continue
        options = group_options(group)
        try:
            values = list(ov.sweep_string_iterator()) if ov.is_sweep_override() else [ov.get_value_element_as_str()]
        except Exception:  # an exotic sweep (range over a group, ...): let Hydra judge it
            continue
        for value in values:
            if value in ("null", "None") and group in ("schedule", "experiment"):
                continue
            if value not in options:
                _fail(f"unknown {group} {value!r}; available: {', '.join(options)}")


def _already_done(out: Path, digest: str) -> bool:
    import json

    try:
        prov = json.loads((out / "provenance.json").read_text())
    except (OSError, ValueError):
        return False
    return (prov.get("status") == "complete" and prov.get("config_hash") == digest
            and (out / "summary.csv").is_file() and (out / "trace.csv").is_file())


def score(summary) -> float:
    """The number a sweeper optimises: the median final gap f − f* over starts (f when f* is unknown).

    Divergence and failure give ``inf`` (never NaN, which sweepers cannot rank).
    """
    import numpy as np

    f = summary["f_final"].to_numpy(dtype=float)
    fs = summary["f_star"].to_numpy(dtype=float) if "f_star" in summary else np.full_like(f, np.nan)
    gap = np.where(np.isnan(fs), f, np.abs(f - fs))
    gap = np.where(np.isfinite(gap), gap, np.inf)
    value = float(np.median(gap)) if len(gap) else math.inf
    return value if math.isfinite(value) else math.inf


@hydra.main(config_path="pkg://gradexp.conf", config_name="config", version_base=None)
def task(cfg) -> float:
    """Run one job: the config composed by Hydra, written into Hydra's output folder."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from gradexp import records
    from gradexp.errors import ConfigError

    hc = HydraConfig.get()
    out = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    digest = records.config_hash(cfg)
    if multirun and cfg.get("resume", True) and _already_done(out, digest):
        import pandas as pd

        print(f"gradexp: job {hc.job.num} already complete in {out}; skipped (resume=false redoes it)")
        return score(pd.read_csv(out / "summary.csv"))
    try:
        from gradexp.runner import run

        _, summary = run(cfg, out_dir=out)
    except ConfigError as exc:
        if multirun:
            _record_failure(out, cfg, str(exc))
            sys.stderr.write(f"gradexp: job {hc.job.num} failed: {exc}\n")
            return math.inf
        _fail(str(exc))
    except KeyboardInterrupt:
        sys.stderr.write(f"\ngradexp: interrupted; the results so far are in {out}\n")
        raise SystemExit(EXIT_INTERRUPTED)
    except Exception as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        message = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        _record_failure(out, cfg, message)
        if multirun:
            sys.stderr.write(f"gradexp: job {hc.job.num} failed: {message}\n")
            return math.inf
        _fail(f"{message} (set HYDRA_FULL_ERROR=1 for the traceback)", 1)
    print(f"gradexp: {len(summary)} starts; "
          + ", ".join(f"{n} {s}" for s, n in summary["status"].value_counts().items())
          + f"; results in {out}")
    return score(summary)


def _record_failure(out: Path, cfg, message: str) -> None:
    from gradexp import records

    try:
        records.write_failure(out, cfg, message)
    except Exception:  # the output folder itself may be the problem; the error line says enough
        pass


def main() -> None:
    """Entry point of ``python -m gradexp`` and the ``gradexp`` script."""
    check_overrides(sys.argv[1:])
    task()


if __name__ == "__main__":
    main()
