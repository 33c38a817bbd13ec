"""The runner: build a run's parts from its config, run them, and return its tables.

config -> built parts (objective, starts, optimizer factory, settings; checked here, once) -> the
exact loop (:mod:`gradexp.loop`) or a functional engine (:mod:`gradexp.fast`) -> Results -> the
trace and summary tables (:mod:`gradexp.records`). Writing the run folder is left to the caller
(``gradexp.run(cfg, out_dir)``, the command line: :mod:`gradexp.rundir`).
"""

from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import dataclass

import torch

from gradexp import stopping
from gradexp.bookkeeping import log_schedule
from gradexp.errors import ConfigError
from gradexp.loop import run_rows
from gradexp.optim import expand_hparams, optimizer_spec, schedule_factory
from gradexp.probe import batching
from gradexp.progress import Progress as _Progress  # a tqdm bar on a terminal, plain lines in a log
from gradexp.settings import Settings
from gradexp.threads import policy as thread_policy


class _StopFlag:
    """SIGINT/SIGTERM set a flag the loop checks each step; a second Ctrl-C raises as usual."""

    def __init__(self):
        self.set = False
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    self._old[sig] = signal.signal(sig, self._handle)
                except (ValueError, OSError):
                    pass
        return self

    def _handle(self, signum, frame):
        if self.set and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.set = True

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


@dataclass
class RunTables:
    """A finished (or interrupted) run: its tables and what the run folder records about it."""

    trace: object
    summary: object
    problem: object
    cls: type
    kwargs: dict
    maximize: bool
    f_opt: float | None
    interrupted: bool
    t_start: float


def run(cfg):
    """Run one composed config; return ``(trace, summary)`` as pandas DataFrames.

    Writes nothing (``gradexp.run(cfg, out_dir)`` also writes the run folder). A run cut short by
    SIGINT/SIGTERM raises ``KeyboardInterrupt`` after its starts have been recorded in the tables.
    """
    done = execute(cfg)
    if done.interrupted:
        raise KeyboardInterrupt
    return done.trace, done.summary


def execute(cfg) -> RunTables:
    """Run one composed config into its tables (an interrupted run too: see ``interrupted``)."""
    from gradexp import records

    t_start = time.time()
    parts = build_parts(cfg)
    st, problem, cls = parts.st, parts.problem, parts.cls
    progress = _Progress(st.progress, st.steps, f"{problem.name} × {cls.__name__}")
    with _StopFlag() as flag, thread_policy(cfg, 1 if parts.per_start else parts.M, parts.x0.shape[1], st.engine):
        results, order = _drive(parts, flag, progress)
    progress.close()
    interrupted = any(r.interrupted for r in results)
    trace, summary = records.tables(problem, results, order, parts.M, parts.N, parts.groups, parts.maximize,
                                    parts.f_opt, parts.optima, parts.x0.cpu(), st.targets)
    summary.attrs["path"] = f"{'one optimizer per start' if parts.per_start else 'one batched optimizer'} ({parts.why})"
    if parts.printer is not None:
        parts.printer.finish(summary)
    return RunTables(trace, summary, problem, cls, parts.kwargs, parts.maximize, parts.f_opt, interrupted, t_start)


@dataclass
class Parts:
    """A run's parts, built from its config and checked once (the loop trusts them)."""

    problem: object
    maximize: bool
    st: Settings
    cls: type
    kwargs: dict
    groups: list            # one dict of optimizer settings per hyper-parameter group
    make_sched: object      # opt -> scheduler, or None
    x0: object              # [M, d] the starts, group-major: row g*N + i is start i with group g's settings
    N: int                  # starts
    f_opt: float | None
    optima: list
    log_steps: list
    per_start: bool = False  # one optimizer per start (else one over all rows)
    why: str = ""            # ... and why (gradexp.probe)
    printer: object = None
    print_tensors: bool = False
    noise_gen: object = None

    @property
    def M(self) -> int:
        return self.x0.shape[0]

    @property
    def G(self) -> int:
        return len(self.groups)

    def make_opt_for(self, rows_per_group):
        """An optimizer factory: ``params`` (one per row block) -> the optimizer, block i with group ``rows_per_group[i]``."""
        cls, kwargs, groups = self.cls, self.kwargs, self.groups

        def make(params):
            param_groups = [{"params": [p], **groups[gi]} for p, gi in zip(params, rows_per_group)]
            try:
                return cls(param_groups, **kwargs)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"optimizer {cls.__name__} refused its settings: {exc}") from None
        return make


def build_parts(cfg) -> Parts:
    """Build and check a run's parts from its composed config (``ConfigError`` names a bad value)."""
    from gradexp.objectives import build
    from gradexp.starts import make_starts

    problem = build(cfg.objective)
    maximize = bool(cfg.objective.get("maximize", False))
    st = Settings.from_cfg(cfg.get("run"), cfg.get("report"))
    seed = cfg.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed={seed!r} is not accepted; use a whole number")
    dev = _device(str(cfg.get("device", "cpu")))
    cls, kwargs = optimizer_spec(cfg.optimizer)
    groups = expand_hparams(cfg.run.get("hparams"), cls, kwargs)
    make_sched = schedule_factory(cfg.get("schedule"))
    starts = make_starts(cfg.start, problem, seed).to(dev)
    f_opt, optima = problem.optima(maximize)
    st = stopping.apply(st, cfg.get("run"), f_opt, maximize)  # the default stop at the tightest target
    x0 = starts.repeat(len(groups), 1)
    log_steps = log_schedule(st.steps, st.log_points, st.log_every, x0.shape[0], st.log_max_rows)
    parts = Parts(problem, maximize, st, cls, kwargs, groups, make_sched, x0, starts.shape[0], f_opt, optima,
                  log_steps, noise_gen=torch.Generator().manual_seed(seed) if st.grad_noise > 0 else None)
    batched, why = batching(cls, kwargs, cfg.optimizer.get("batched"))  # exact batching only (gradexp.probe)
    parts.per_start, parts.why = (True, "run.per_start=true") if st.per_start else (not batched, why)
    if cfg.get("report") is not None:
        from gradexp.printing import make_printer

        parts.printer = make_printer(cfg.report, problem, maximize)
        parts.print_tensors = bool(cfg.report.get("print_tensors", False))
    if st.engine != "exact" and parts.printer is not None and (parts.printer.every is not None or parts.print_tensors):
        raise ConfigError("report.print_every / report.print_tensors need run.engine=exact")
    return parts


def _device(device: str):
    try:
        dev = torch.device(device)
        torch.empty(0, device=dev)
    except (RuntimeError, AssertionError) as exc:
        raise ConfigError(f"device={device!r} is not available here ({str(exc).splitlines()[0]}); use cpu") from None
    return dev


def _drive(parts: Parts, flag, progress):
    """Run the parts with the configured engine: ``(results, order)`` (the rows each result covers)."""
    st, M, G, N = parts.st, parts.M, parts.G, parts.N
    if st.engine != "exact":  # gradexp.fast: functional steps, compiled or eager-vectorised (approximate)
        from gradexp.fast import compiled_loop

        return [compiled_loop(parts.problem, parts.x0, parts.cls, parts.kwargs, parts.groups, parts.make_sched, st,
                              parts.log_steps, parts.maximize, parts.f_opt, flag, engine=st.engine,
                              threads=st.threads)], [list(range(M))]
    if not parts.per_start:
        rows = [range(gi * N, (gi + 1) * N) for gi in range(G)]
        return [run_rows(parts.problem, parts.x0, parts.make_opt_for(range(G)), parts.make_sched, rows, st,
                         parts.log_steps, parts.maximize, parts.f_opt, parts.printer, flag, progress, parts.noise_gen,
                         parts.print_tensors)], [list(range(M))]
    results, order = [], []
    for i in range(M):  # one optimizer per start
        gi = i // N
        r = run_rows(parts.problem, parts.x0[i:i + 1], parts.make_opt_for([gi]), parts.make_sched, [range(1)], st,
                     parts.log_steps, parts.maximize, parts.f_opt, parts.printer if M == 1 else None, flag, None,
                     parts.noise_gen, parts.print_tensors and i == 0)
        if G > 1:  # the records index the lrs by global group: place this start's at its group
            r.log_lr = [[math.nan] * gi + list(lrs) + [math.nan] * (G - gi - 1) for lrs in r.log_lr]
        results.append(r)
        order.append([i])
        progress.update(int(st.steps * (i + 1) / M), torch.ones(M - i - 1))
        if r.interrupted:
            break
    return results, order
