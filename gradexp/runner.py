"""The runner: build a run's parts from its config, run them, and return its tables.

config -> built parts (objective, starts, optimizer factory, settings; checked here, once) -> the
exact loop (:mod:`gradexp.loop`) or a functional engine (:mod:`gradexp.fast`) -> Results -> the
trace and summary tables (:mod:`gradexp.records`). Writing the run folder is left to the caller
(``gradexp.run(cfg, out_dir)``, the command line: :mod:`gradexp.rundir`).
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from dataclasses import dataclass

import torch

from gradexp.bookkeeping import log_schedule
from gradexp.errors import ConfigError
from gradexp.loop import run_rows
from gradexp.optim import expand_hparams, is_elementwise, optimizer_spec, schedule_factory
from gradexp.settings import Settings

ENGINES = ("exact", "compiled", "vector")  # run.engine: gradexp.loop, or gradexp.fast (two modes)


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


class _Progress:
    """A one-line progress report on stderr every few seconds for long runs."""

    def __init__(self, mode, steps: int, label: str):
        tty = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
        self.on = bool(mode is True or mode == "true" or (mode == "auto" and tty))
        self.steps, self.label, self.t0 = steps, label, time.monotonic()
        self.next = self.t0 + 2.0

    def update(self, k: int, active) -> None:
        now = time.monotonic()
        if not self.on or now < self.next:
            return
        self.next = now + 2.0
        rate = k / max(now - self.t0, 1e-9)
        eta = (self.steps - k) / rate if rate > 0 else float("inf")
        sys.stderr.write(
            f"\r{self.label}: step {k}/{self.steps} ({100 * k / max(self.steps, 1):.0f}%), "
            f"{int(active.sum())} starts running, ~{eta:.0f} s left   "
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.on and time.monotonic() - self.t0 > 2.0:
            sys.stderr.write("\n")


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
    from gradexp.objectives import build
    from gradexp.starts import make_starts

    t_start = time.time()
    problem = build(cfg.objective)
    maximize = bool(cfg.objective.get("maximize", False))
    st = Settings.from_cfg(cfg.get("run"))
    seed = cfg.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed={seed!r} is not accepted; use a whole number")
    device = str(cfg.get("device", "cpu"))
    try:
        dev = torch.device(device)
        torch.empty(0, device=dev)
    except (RuntimeError, AssertionError) as exc:
        raise ConfigError(f"device={device!r} is not available here ({str(exc).splitlines()[0]}); use cpu") from None
    engine = (cfg.get("run") or {}).get("engine", "exact")
    if engine not in ENGINES:
        raise ConfigError(f"run.engine={engine!r} is not accepted; use {', '.join(ENGINES)}")
    threads = (cfg.get("run") or {}).get("threads", None)
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"run.threads={threads!r} is not accepted; use a whole number >= 1 or null")
    cls, kwargs = optimizer_spec(cfg.optimizer)
    groups = expand_hparams(cfg.run.get("hparams"), cls, kwargs)
    make_sched = schedule_factory(cfg.get("schedule"))
    starts = make_starts(cfg.start, problem, seed).to(dev)
    N = starts.shape[0]
    G = len(groups)
    f_opt, optima = problem.optima(maximize)
    x0 = starts.repeat(G, 1)  # group-major: row g*N + i is start i with group g's settings
    M = x0.shape[0]
    log_steps = log_schedule(st.steps, st.log_points, st.log_every, M, st.log_max_rows)

    printer, print_tensors = None, False
    if cfg.get("report") is not None:
        from gradexp.printing import make_printer

        printer = make_printer(cfg.report, problem, maximize)
    print_tensors = printer is not None and bool(cfg.report.get("print_tensors", False))

    def make_opt_for(rows_per_group):
        def make(params):
            param_groups = [{"params": [p], **groups[gi]} for p, gi in zip(params, rows_per_group)]
            try:
                return cls(param_groups, **kwargs)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"optimizer {cls.__name__} refused its settings: {exc}") from None
        return make

    noise_gen = torch.Generator().manual_seed(seed) if st.grad_noise > 0 else None
    label = f"{problem.name} × {cls.__name__}"
    progress = _Progress(st.progress, st.steps, label)
    per_start = st.per_start or not is_elementwise(cls)
    with _StopFlag() as flag:
        if engine != "exact":  # gradexp.fast: functional steps, compiled or eager-vectorised (approximate)
            from gradexp.fast import compiled_loop

            if printer is not None and (printer.every is not None or print_tensors):
                raise ConfigError("report.print_every / report.print_tensors need run.engine=exact")
            results = [compiled_loop(problem, x0, cls, kwargs, groups, make_sched, st, log_steps, maximize,
                                     f_opt, flag, engine=engine, threads=threads)]
            order = [list(range(M))]
        elif not per_start:
            rows = [range(gi * N, (gi + 1) * N) for gi in range(G)]
            results = [run_rows(problem, x0, make_opt_for(range(G)), make_sched, rows, st, log_steps, maximize,
                             f_opt, printer, flag, progress, noise_gen, print_tensors)]
            order = [list(range(M))]
        else:
            results, order = [], []
            for i in range(M):
                gi = i // N
                r = run_rows(problem, x0[i:i + 1], make_opt_for([gi]), make_sched, [range(1)], st, log_steps, maximize,
                          f_opt, printer if M == 1 else None, flag, None, noise_gen, print_tensors and i == 0)
                if G > 1:  # the records index the lrs by global group: place this start's at its group
                    r.log_lr = [[math.nan] * gi + list(lrs) + [math.nan] * (G - gi - 1) for lrs in r.log_lr]
                results.append(r)
                order.append([i])
                progress.update(int(st.steps * (i + 1) / M), torch.ones(M - i - 1))
                if r.interrupted:
                    break
    progress.close()
    interrupted = any(r.interrupted for r in results)
    trace, summary = records.tables(problem, results, order, M, N, groups, maximize, f_opt, optima, x0.cpu())
    if printer is not None:
        printer.finish(summary)
    return RunTables(trace, summary, problem, cls, kwargs, maximize, f_opt, interrupted, t_start)
