"""Command line: ``python -m gradexp [overrides]`` (Hydra app; ``-m`` for a multirun sweep).

A thin wrapper: bad input is answered with one line ``gradexp: error: ...`` and a non-zero exit
(set ``HYDRA_FULL_ERROR=1`` to see the traceback); in a multirun a failing job is recorded in its
folder and the sweep goes on. torch, pandas and matplotlib are imported only when a job runs, with
the cyclic garbage collector paused over those imports (see gradexp.startup).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import time
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


HELP_FLAGS = ("--help", "-h")


def default_help() -> str:
    """The text ``python -m gradexp --help`` prints, built from the package's config files.

    The same text Hydra's help prints for the default config (the ``hydra.help`` template of
    ``conf/config.yaml`` with the config groups and the composed default config), without
    starting Hydra: the defaults list is composed here (``_self_`` first, then one option per
    group; options with a ``defaults`` list or a ``@package`` header are left to Hydra).
    """
    import string
    from importlib.resources import files

    from omegaconf import OmegaConf

    conf = files("gradexp.conf")
    root = OmegaConf.create((conf / "config.yaml").read_text())
    cfg = OmegaConf.create()
    for item in root.defaults:
        if item == "_self_":
            cfg = OmegaConf.merge(cfg, {k: v for k, v in root.items_ex(resolve=False)
                                        if k not in ("defaults", "hydra")})
            continue
        ((group, option),) = item.items()
        if option is None:
            continue
        text = (conf / group / f"{option}.yaml").read_text()
        if "@package" in text or any(line.startswith("defaults:") for line in text.splitlines()):
            return ""  # an option composing others: Hydra's own help is the reference
        node = OmegaConf.create(text)
        cfg = OmegaConf.merge(cfg, {group: node if node is not None else {}})
    groups = "\n".join(f"{g}: {', '.join(group_options(g))}" for g in sorted(GROUPS) if group_options(g))
    groups += "\n"  # Hydra ends its group list with a newline
    template = OmegaConf.to_container(root.hydra.help, resolve=True)["template"]
    body = string.Template(template).safe_substitute(
        APP_CONFIG_GROUPS=groups, CONFIG=OmegaConf.to_yaml(cfg, resolve=False),
        FLAGS_HELP="", HYDRA_CONFIG_GROUPS="")
    return body + "\n"


def _parse_args(args: list[str]):
    """Hydra's own command-line parser, with its errors reported as one line."""
    from hydra._internal.utils import get_args_parser

    parser = get_args_parser()

    def error(message):
        _fail(f"{message}; see python -m gradexp --help")

    parser.error = error
    return parser.parse_args(args)


def check_overrides(args: list[str]) -> None:
    """Refuse, in one line, overrides that do not parse or name a config option that does not exist."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    overrides = _parse_args(args).overrides
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "cannot parse the command line"
        _fail(f"{first}; overrides look like key=value (see python -m gradexp --help)")
    for ov in parsed:
        group = ov.key_or_group
        if not group:
            _fail(f"override {ov.input_line!r} has no key; overrides look like key=value")
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

    A diverged or failed start counts as ``inf`` (whatever finite value it carried when it was
    stopped), so a job whose median start diverged, or that failed, scores ``inf`` (never NaN, which
    sweepers cannot rank).
    """
    import numpy as np

    f = summary["f_final"].to_numpy(dtype=float)
    fs = summary["f_star"].to_numpy(dtype=float) if "f_star" in summary else np.full_like(f, np.nan)
    gap = np.where(np.isnan(fs), f, np.abs(f - fs))
    lost = summary["status"].isin(("diverged", "error")).to_numpy() if "status" in summary else False
    gap = np.where(np.isfinite(gap) & ~lost, gap, np.inf)
    value = float(np.median(gap)) if len(gap) else math.inf
    return value if math.isfinite(value) else math.inf


@hydra.main(config_path="pkg://gradexp.conf", config_name="config", version_base=None)
def task(cfg) -> float:
    """Run one job: the config composed by Hydra, written into Hydra's output folder."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from gradexp.errors import ConfigError

    hc = HydraConfig.get()
    out = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    logging.getLogger("hydra.utils").setLevel(logging.CRITICAL)  # import errors are reported below, once
    try:
        check_config(cfg)  # (before pandas and torch are imported)
        with signals_held():  # a signal while importing pandas arrives after it (half an import cannot be redone)
            from gradexp import records  # noqa: F401  (pandas, imported here)
        from gradexp.provenance import config_hash

        digest = config_hash(cfg)
        if multirun and cfg.get("resume", True) and _already_done(out, digest):
            import pandas as pd

            print(f"gradexp: job {hc.job.num} already complete in {out}; skipped (resume=false redoes it)")
            return score(pd.read_csv(out / "summary.csv"))
        with signals_held():  # (torch, likewise)
            from gradexp import run, runner  # noqa: F401  (runner: torch, imported here)

        t0 = time.monotonic()
        _, summary = run(cfg, out_dir=out)
    except ConfigError as exc:
        if multirun:
            _record_failure(out, cfg, str(exc))
            sys.stderr.write(f"gradexp: job {hc.job.num} failed: {exc}\n")
            return math.inf
        if full_error_wanted():
            raise
        discard_refused_run(out, hc.job.name)
        _fail(str(exc))
    except KeyboardInterrupt:
        what = "the results so far are" if _record_interrupt(out, cfg) else "recorded"
        sys.stderr.write(f"\ngradexp: interrupted; {what} in {out}\n")
        raise SystemExit(EXIT_INTERRUPTED) from None
    except Exception as exc:
        message, code = describe_error(exc)
        if code == EXIT_BAD_INPUT and not multirun and not full_error_wanted():
            discard_refused_run(out, hc.job.name)
            _fail(message)
        _record_failure(out, cfg, message)
        if full_error_wanted():
            raise
        if multirun:
            sys.stderr.write(f"gradexp: job {hc.job.num} failed: {message}\n")
            return math.inf
        _fail(f"{message} (set HYDRA_FULL_ERROR=1 for the traceback)", 1)
    print(_closing_line(cfg, summary, out, time.monotonic() - t0))
    print(f"gradexp: open {out / 'index.html'}")
    return score(summary)


def _closing_line(cfg, summary, out: Path, seconds: float) -> str:
    """The run's closing line (gradexp.printing.closing_line), with the objective's known optima."""
    from gradexp.printing import closing_line

    maximize = bool(cfg.objective.get("maximize", False))
    try:
        from gradexp.objectives import build

        optima = build(cfg.objective).optima(maximize)[1]
    except Exception:  # noqa: BLE001  (the line then names the optima by index only)
        optima = ()
    return closing_line(summary, out, seconds, maximize, optima, budget=cfg.run.get("steps"),
                        path=summary.attrs.get("path"))


def discard_refused_run(out: Path, job_name: str) -> None:
    """Remove what Hydra made for a run refused before it wrote anything.

    Hydra creates the run folder with ``.hydra/`` and an empty ``<job>.log`` before the job starts;
    when the folder holds nothing else, those go and the folder too (when it is then empty). A
    folder holding anything more (an earlier run's results) is left as it is.
    """
    import shutil

    log = out / f"{job_name}.log"
    try:
        if not {p.name for p in out.iterdir()} <= {".hydra", log.name}:
            return
        if log.is_file() and log.stat().st_size:
            return
        shutil.rmtree(out / ".hydra", ignore_errors=True)
        log.unlink(missing_ok=True)
        out.rmdir()
    except OSError:  # a folder that cannot be read or removed stays; the error line says enough
        pass


def _record_failure(out: Path, cfg, message: str, status: str = "error") -> None:
    from gradexp import rundir

    try:
        rundir.write_failure(out, cfg, message, status=status)
    except Exception:  # the output folder itself may be the problem; the error line says enough
        pass


def _record_interrupt(out: Path, cfg) -> bool:
    """True when the runner recorded the interrupted starts; else record the job as interrupted."""
    import json

    from gradexp.provenance import config_hash

    try:
        prov = json.loads((out / "provenance.json").read_text())
        if prov.get("status") == "interrupted" and prov.get("config_hash") == config_hash(cfg):
            return True  # the runner recorded the starts as they were when the signal came
    except Exception:
        pass
    _record_failure(out, cfg, "interrupted before any results were written", status="interrupted")
    return False


SECTIONS = {"run": "run.steps=1000", "report": "report.format=seed", "plot": "plot.enabled=false"}


def check_config(cfg) -> None:
    """Refuse, as ConfigError, a config whose interpolations do not resolve, whose sections are not mappings
    or whose run.progress / run.stop_at_target / report.targets is not accepted (all before torch and pandas are
    imported)."""
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from gradexp import outcome, progress, stopping
    from gradexp.errors import ConfigError

    try:
        OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        raise ConfigError(_omegaconf_line(exc)) from None
    for key, example in SECTIONS.items():
        value = cfg.get(key)
        if value is not None and not isinstance(value, DictConfig):
            raise ConfigError(f"{key}={value!r} is not accepted: {key} is a group of settings; set one of them, "
                              f"e.g. {example}")
    progress.mode_of(cfg.run.get("progress", "auto") if cfg.get("run") is not None else "auto")
    stopping.wanted(cfg.get("run"))
    outcome.targets_of(cfg)


def _omegaconf_line(exc) -> str:
    """One line from an OmegaConf error: its message, then the key it concerns."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    skip = ("full_key:", "object_type=", "reference_type=")
    message = "; ".join(ln.rstrip(".") for ln in lines if not ln.startswith(skip))
    key = getattr(exc, "full_key", None)
    return f"{key}: {message}" if key else message


def describe_error(exc: BaseException) -> tuple[str, int]:
    """``(one line, exit status)`` for an error that reached the command line.

    Bad input (ours, Hydra's composition errors, OmegaConf's) gives status 2; a folder that cannot be
    created or written, or anything unexpected, gives 1.
    """
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from gradexp.errors import ConfigError

    if isinstance(exc, ConfigError):
        return str(exc), EXIT_BAD_INPUT
    if isinstance(exc, OSError) and exc.filename:
        return (f"cannot create or write {exc.filename}: {exc.strerror or exc}; choose a writable folder "
                "with hydra.run.dir=... (hydra.sweep.dir=... for -m)"), 1
    if isinstance(exc, (HydraException, OmegaConfBaseException)):
        cause = exc.__cause__
        text = " ".join(str(exc).split())
        if text.startswith("Could not override '") and cause is not None and getattr(cause, "full_key", None):
            key = text.split("'")[1]
            parent = getattr(cause, "parent_node", None)
            where = cause.full_key.rpartition(".")[0] or "the top level"
            known = ", ".join(str(k) for k in parent.keys()) if parent is not None else ""
            return (f"{cause.full_key} is not a config key" + (f"; keys under {where}: {known}" if known else "")
                    + f"; to add a new key write +{key}=..."), EXIT_BAD_INPUT
        message = _omegaconf_line(exc) if isinstance(exc, OmegaConfBaseException) else "; ".join(
            ln.strip().rstrip(".") for ln in str(exc).splitlines() if ln.strip())
        if isinstance(cause, OmegaConfBaseException):
            message = f"{message}: {_omegaconf_line(cause)}"
        return message or type(exc).__name__, EXIT_BAD_INPUT
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}".rstrip(": "), 1


FULL_ERROR_ENV = "GRADEXP_FULL_ERROR"  # the user's own HYDRA_FULL_ERROR, kept for the jobs


def full_error_wanted() -> bool:
    """True when the user asked for tracebacks with ``HYDRA_FULL_ERROR=1``."""
    return os.environ.get(FULL_ERROR_ENV, os.environ.get("HYDRA_FULL_ERROR", "0")) == "1"


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def signals_held():
    """Hold SIGINT/SIGTERM until the block ends: an import they would cut in half (numpy and torch
    refuse to be imported again in the same process) completes first, then the interrupt is raised
    as usual and the job is recorded as interrupted."""
    import signal

    held = {signal.SIGINT, signal.SIGTERM}
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, ValueError, OSError):  # no signal masks here (Windows)
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def main() -> None:
    """Entry point of ``python -m gradexp`` and the ``gradexp`` script.

    Every error becomes one line ``gradexp: error: ...`` on stderr: Hydra is asked to raise its
    errors (``HYDRA_FULL_ERROR=1`` for Hydra) and they are reported here. A user who sets
    ``HYDRA_FULL_ERROR=1`` gets Hydra's own report with the traceback. SIGTERM is handled like
    Ctrl-C (the runner turns both into a stop flag while it runs).
    """
    import signal

    from gradexp import startup

    startup.pause()  # no cyclic garbage collection over the imports (the runner resumes it)
    args = sys.argv[1:]
    if args and all(a in HELP_FLAGS for a in args):  # the default config's help, without starting Hydra
        text = default_help()
        if text:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
    os.environ.setdefault(FULL_ERROR_ENV, "1" if os.environ.get("HYDRA_FULL_ERROR") == "1" else "0")
    try:
        signal.signal(signal.SIGTERM, _raise_interrupt)
    except (ValueError, OSError):  # not the main thread
        pass
    check_overrides(sys.argv[1:])
    from gradexp import launch

    launch.ACTIVE.clear()
    os.environ[launch.COMMAND_ENV] = json.dumps(sys.argv)  # job processes record the user's command
    if full_error_wanted():
        try:
            task()
        except Exception as exc:  # a launcher that lost jobs: the report first, then Hydra's traceback
            launch.finish_lost_sweep(exc)
            raise
        return
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises instead of printing; reported below in one line
    try:
        task()
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED)
    except Exception as exc:
        lost = launch.finish_lost_sweep(exc)  # a job's process died: report what finished, say how to resume
        if lost is not None:
            raise SystemExit(lost) from None
        message, code = describe_error(exc)
        _fail(message, code)


if __name__ == "__main__":
    main()
