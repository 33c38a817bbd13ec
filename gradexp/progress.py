"""Progress of a long run or a sweep on stderr: a tqdm bar on a terminal, plain lines in a log.

``run.progress`` (``auto`` by default, ``true`` or ``false``):

- stderr is a terminal: a tqdm bar (steps done, starts still running, time left) once the run has
  lasted a second; it is removed when the run ends (the closing line says what happened);
- stderr is a file or a pipe: a plain line every 30 s (``true``: the first one after 2 s), so a log
  shows that the run is alive and how far it is;
- ``false``: nothing.

A sweep prints one line per finished job (:class:`JobLines`): jobs done of the total, time left.
Nothing here imports torch.
"""

from __future__ import annotations

import os
import sys
import time

from gradexp.errors import ConfigError

MODES = ("auto", "true", "false")
BAR_DELAY = 1.0  # s before the bar appears (short runs show none)
BAR_EVERY = 0.5  # s between bar refreshes
LINE_EVERY = 30.0  # s between plain lines
LINE_FIRST_FORCED = 2.0  # s before the first plain line with run.progress=true


def mode_of(value) -> str:
    """``run.progress`` as one of ``auto``, ``true``, ``false`` (booleans accepted); else ConfigError."""
    if value is None or value is False:
        return "false"
    if value is True:
        return "true"
    if isinstance(value, str) and value.lower() in MODES:
        return value.lower()
    raise ConfigError(f"run.progress={value!r} is not accepted; use auto, true or false")


def is_terminal(stream) -> bool:
    """True when ``stream`` is an interactive terminal."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _sized(stream) -> bool:
    """True when the terminal reports its size (the bar then follows it)."""
    try:
        return min(os.get_terminal_size(stream.fileno())) > 0
    except (AttributeError, ValueError, OSError):
        return False


def duration(seconds: float) -> str:
    """``'42 s'``, ``'3 min 20 s'``, ``'2 h 05 min'``; ``'?'`` for an unknown time."""
    if not seconds == seconds or seconds in (float("inf"), float("-inf")) or seconds < 0:
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Progress:
    """The progress of one run's loop: ``update(k, active)`` every few steps, ``close()`` at the end.

    ``active`` is the [M] boolean tensor of the starts still running (read only when something is
    shown, so the loop pays one clock read per call otherwise).
    """

    def __init__(self, mode, steps: int, label: str, stream=None, clock=time.monotonic):
        self.mode = mode_of(mode)
        self.stream = sys.stderr if stream is None else stream
        self.steps, self.label, self.clock = steps, label, clock
        self.t0 = clock()
        self.bar = None
        self.tty = is_terminal(self.stream)
        if self.mode == "false":
            self.next = float("inf")
        elif self.tty:
            self.next = self.t0 + BAR_DELAY
        else:
            self.next = self.t0 + (LINE_FIRST_FORCED if self.mode == "true" else LINE_EVERY)

    def update(self, k: int, active) -> None:
        """Show step ``k`` of the run when a refresh is due."""
        now = self.clock()
        if now < self.next:
            return
        running = int(active.sum())
        if self.tty:
            self.next = now + BAR_EVERY
            self._bar(k, running)
            return
        self.next = now + LINE_EVERY
        elapsed = now - self.t0
        left = (self.steps - k) * elapsed / k if k > 0 else float("inf")
        self.stream.write(f"{self.label}: step {k}/{self.steps} ({100 * k / max(self.steps, 1):.0f}%), "
                          f"{running} starts running, {duration(elapsed)} so far, ~{duration(left)} left\n")
        self.stream.flush()

    def _bar(self, k: int, running: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            sized = _sized(self.stream)  # (tqdm shows nothing on a terminal that reports a 0 × 0 size)
            self.bar = tqdm(total=self.steps, desc=self.label, unit="step", file=self.stream, leave=False,
                            dynamic_ncols=sized, ncols=None if sized else 80, nrows=None if sized else 20,
                            mininterval=0, miniters=1)
        self.bar.set_postfix_str(f"{running} running", refresh=False)
        self.bar.update(k - self.bar.n)

    def close(self) -> None:
        """Remove the bar (a plain line needs no end)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def sweep_size(overrides, n_trials=None, params=None) -> int | None:
    """Jobs in a sweep: the product of the sweep overrides' lengths (``n_trials`` for a sweeper
    that samples); None when it cannot be told. ``params``: the sweeper's ``hydra.sweeper.params``
    (a preset's sweep, e.g. ``experiment=bbob_lr_sweep``), each replaced by a command-line override
    of the same key, as Hydra's basic sweeper does."""
    if n_trials:
        return int(n_trials)
    try:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        parser = OverridesParser.create()
        preset = parser.parse_overrides([f"{k}={v}" for k, v in (params or {}).items()])
        by_key = {ov.key_or_group: ov for ov in preset}
        by_key.update((ov.key_or_group, ov) for ov in parser.parse_overrides(list(overrides)))
        total = 1
        for ov in by_key.values():
            if ov.is_sweep_override():
                total *= len(list(ov.sweep_string_iterator()))
        return total
    except Exception:  # noqa: BLE001  (an exotic sweep: the lines then give no total)
        return None


class JobLines:
    """A sweep's progress: one line per finished job, ``jobs done/total`` and the time left."""

    def __init__(self, total: int | None, stream=None, clock=time.monotonic):
        self.total, self.done, self.clock = total, 0, clock
        self.stream = sys.stderr if stream is None else stream
        self.t0 = clock()
        self.pid = os.getpid()  # the process that counts (a launcher's worker process does not)

    def job_done(self, num, status: str) -> str:
        """Count one finished job (``num``: Hydra's job number) and print its line; return the line."""
        self.done += 1
        elapsed = self.clock() - self.t0
        line = f"gradexp sweep: job {num} {status}; {self.done}"
        if self.total and self.done <= self.total:
            left = (self.total - self.done) * elapsed / self.done
            line += f"/{self.total} jobs done, {duration(elapsed)} so far, ~{duration(left)} left"
        else:
            line += f" jobs done, {duration(elapsed)} so far"
        self.stream.write(line + "\n")
        self.stream.flush()
        return line
