"""Printed reports of a run: step lines, the start's tensors, the count of starts per optimum.

The runner builds one printer per run with ``make_printer(cfg.report, problem, maximize)`` and
calls ``wants``/``step`` at evaluated steps, ``tensors`` once at step 0 and ``finish`` with the
summary. Config keys (``report:``):

- ``print_every``: print the starts' state every k steps and at the last step (null: never).
- ``format``: ``table`` (aligned columns for people) or ``seed`` (the tutorial's line
  ``step k: x = [...], f(x) = ..., grad = tensor([...])``).
- ``print_tensors``: print f and its gradient at the first start point with ``ptf_tensor``.
- ``max_starts``: most starts shown in step lines (default 8; null: all).
- ``basins``: at the end, print how many starts ended at each known optimum (default false).
"""

from __future__ import annotations

import math

from gradexp.debug import format_tensor, ptf_tensor

__all__ = ["make_printer", "Printer", "FORMATS"]

FORMATS = ("table", "seed")
DEFAULT_MAX_STARTS = 8


def _get(report, key, default=None):
    """Read ``report.key`` from a DictConfig, dict or None; ``default`` for a missing key."""
    if report is None:
        return default
    getter = getattr(report, "get", None)
    if getter is not None:
        return getter(key, default)
    return getattr(report, key, default)


def make_printer(report, problem, maximize=False):
    """Build the run's printer from the ``report:`` config, or return None when nothing prints.

    Raises ``ConfigError`` for an unknown ``format`` or a ``print_every``/``max_starts`` that is
    not a positive integer.
    """
    from gradexp.errors import ConfigError

    every = _get(report, "print_every", None)
    fmt = _get(report, "format", "table")
    tensors = bool(_get(report, "print_tensors", False))
    basins = bool(_get(report, "basins", False))
    max_starts = _get(report, "max_starts", DEFAULT_MAX_STARTS)

    if fmt not in FORMATS:
        raise ConfigError(
            "report.format={!r} is not known; accepted: {}".format(fmt, ", ".join(FORMATS))
        )
    if every is not None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigError(
                "report.print_every={!r} must be a positive integer or null".format(every)
            )
    if max_starts is not None:
        if isinstance(max_starts, bool) or not isinstance(max_starts, int) or max_starts < 1:
            raise ConfigError(
                "report.max_starts={!r} must be a positive integer or null".format(max_starts)
            )
    if every is None and not tensors and not basins:
        return None
    return Printer(problem, maximize=bool(maximize), every=every, fmt=fmt,
                   tensors=tensors, basins=basins, max_starts=max_starts)


class Printer:
    """Prints a run's progress to stdout in the ``table`` or ``seed`` format."""

    def __init__(self, problem, maximize=False, every=None, fmt="table", tensors=False,
                 basins=False, max_starts=DEFAULT_MAX_STARTS):
        self.problem = problem
        self.maximize = maximize
        self.every = every
        self.fmt = fmt
        self.want_tensors = bool(tensors)  # cleared once the tensors are printed
        self.basins = basins
        self.max_starts = max_starts
        self._header_done = False

    # -- step lines -------------------------------------------------------------------
    def wants(self, k, last=False):
        """True when step ``k`` is to be printed: every ``print_every`` steps, the last step,
        and step 0 while the start tensors (``print_tensors``) are still to be printed."""
        if k == 0 and self.want_tensors:
            return True
        if self.every is None:
            return False
        return bool(last) or k % self.every == 0

    def step(self, k, x, f, grad_used):
        """Print the state at step ``k``: points ``x`` [N, d], values ``f`` [N] and the gradient
        ``grad_used`` [N, d] the optimizer applied to reach them (None at step 0).

        Prints nothing when ``print_every`` is null (the printer then serves only the start
        tensors or the end-of-run counts)."""
        if self.every is None:
            return
        n = int(x.shape[0])
        shown = n if self.max_starts is None else min(n, self.max_starts)
        if self.fmt == "seed":
            self._seed_lines(k, x, f, grad_used, n, shown)
        else:
            self._table_lines(k, x, f, grad_used, n, shown)

    def _seed_lines(self, k, x, f, grad, n, shown):
        if not self._header_done and shown < n:
            print("(showing {} of {} starts)".format(shown, n))
        self._header_done = True
        for i in range(shown):
            prefix = "start {}: ".format(i) if n > 1 else ""
            g = None if grad is None else grad[i]
            print("{}step {}: x = {}, f(x) = {}, grad = {}".format(
                prefix, k, x[i].tolist(), format_tensor(f[i]), format_tensor(g)))

    def _table_lines(self, k, x, f, grad, n, shown):
        d = int(x.shape[1])
        if not self._header_done:
            if shown < n:
                print("(showing {} of {} starts)".format(shown, n))
            cols = ["{:>7}".format("step"), "{:>5}".format("start"), "{:>15}".format("f"),
                    "{:>11}".format("|grad|")]
            cols += ["{:>13}".format("x{}".format(j)) for j in range(min(d, 6))]
            if d > 6:
                cols.append("...")
            print(" ".join(cols))
            self._header_done = True
        xs = x[:shown].detach().cpu().tolist()
        fs = f[:shown].detach().cpu().tolist()
        gn = None if grad is None else grad[:shown].detach().cpu().double().norm(dim=1).tolist()
        for i in range(shown):
            cols = ["{:>7d}".format(int(k)), "{:>5d}".format(i), "{:>15.8g}".format(fs[i]),
                    "{:>11}".format("-" if gn is None else "{:.4g}".format(gn[i]))]
            cols += ["{:>13.7g}".format(v) for v in xs[i][:6]]
            if d > 6:
                cols.append("...")
            print(" ".join(cols))

    # -- tensors at the start -----------------------------------------------------------
    def tensors(self, f0, grad0):
        """Print f and its gradient at the first start point in the ``ptf_tensor`` layout (once)."""
        if not self.want_tensors:
            return
        self.want_tensors = False
        d = int(grad0.numel()) if grad0 is not None else int(self.problem.dim)
        names = ",".join("x{}".format(j + 1) for j in range(d)) if d <= 3 else "x1,...,x{}".format(d)
        ptf_tensor(f0, "f({}) value".format(names))
        if grad0 is not None:
            ptf_tensor(grad0, "f grad")

    # -- end of run -------------------------------------------------------------------
    def finish(self, summary):
        """Print how many starts ended at each known optimum (when ``report.basins`` is on)."""
        if not self.basins or summary is None or "minimum" not in summary.columns:
            return
        print(basin_counts(summary, self.problem, self.maximize))


def _fmt_point(x):
    """``(3, 2)``-style text of a point given as tensor, array or sequence."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().tolist()
    elif hasattr(x, "tolist"):
        x = x.tolist()
    if isinstance(x, (int, float)):
        x = [x]
    return "(" + ", ".join("{:.6g}".format(float(v)) for v in x) + ")"


def basin_counts(summary, problem, maximize=False) -> str:
    """Text table of how many starts ended at each known optimum of ``problem``.

    Reads the summary's ``minimum`` column (index into ``problem.optima(maximize)``, empty when
    the start ended at none). One line per optimum, then the starts at none of them::

        starts per minimum (himmelblau, 81 starts):
          minimum 0 at (3, 2), f = 0: 21 starts
          ...
          at no known minimum: 1 start
    """
    word = "maximum" if maximize else "minimum"
    try:
        _, optima = problem.optima(maximize)
    except Exception:  # an objective without known optima
        optima = ()
    total = int(len(summary))
    counts = {}
    none = 0
    import pandas as pd

    for v in summary["minimum"].tolist():
        if pd.isna(v) or v == "":  # (None, NaN, or pandas' NA of a whole-number column)
            none += 1
            continue
        try:
            idx = int(float(v))
        except (TypeError, ValueError):
            none += 1
            continue
        counts[idx] = counts.get(idx, 0) + 1

    def starts(c):
        return "{} start{}".format(c, "" if c == 1 else "s")

    lines = ["starts per {} ({}, {}):".format(word, getattr(problem, "name", "objective"),
                                              starts(total))]
    indices = sorted(set(range(len(optima))) | set(counts))
    for idx in indices:
        where = ""
        if idx < len(optima):
            c = optima[idx]
            where = " at {}, f = {:.6g}".format(_fmt_point(c.x), float(c.f))
        lines.append("  {} {}{}: {}".format(word, idx, where, starts(counts.get(idx, 0))))
    lines.append("  at no known {}: {}".format(word, starts(none)))
    return "\n".join(lines)


# -- the command line's closing line ---------------------------------------------------
MINIMA_SHOWN = 5  # most optima named in the closing line (the most visited)


def closing_line(summary, folder, seconds, maximize=False, optima=(), budget=None, path=None) -> str:
    """The line ``python -m gradexp`` ends a run with, read from the run's ``summary`` table.

    How many starts reached the tightest target (f* + 1e-7, ``rt_1e-7``, by default; where f* is known), at
    which known optimum they ended (``minimum``; located with ``optima`` when given), the best
    final f and where, the steps run (of ``budget``) and the status counts, ``path`` (which
    optimizer path ran, when given), the seconds and the folder::

        gradexp: 25 starts, 16 s; 25 reached f* + 1e-7 (f* = 0); ended at minimum 0 (3, 2) ×6,
        minimum 1 (-2.805, 3.131) ×6, ...; best f = 9.87e-08 at (3, 2) (start 16);
        steps 1764–9715 of 10000 (25 converged); results in outputs/runs/<stamp>
    """
    from gradexp.progress import duration

    n = len(summary)
    parts = [f"gradexp: {n} start{'' if n == 1 else 's'}, {duration(seconds)}"]
    fs = summary["f_star"].dropna() if "f_star" in summary else ()
    if len(fs):
        sign = "−" if maximize else "+"
        rts = [c for c in summary.columns if c.startswith("rt_")]  # loosest first: the last is the tightest
        tightest = rts[-1] if rts else "rt_1e-7"
        reached = int(summary[tightest].notna().sum()) if tightest in summary else 0
        parts.append(f"{reached} reached f* {sign} {tightest[3:]} (f* = {float(fs.iloc[0]):.6g})")
    else:
        parts.append("f* unknown")
    parts.append(_ended_at(summary, maximize, optima))
    parts.append(_best(summary, maximize))
    parts.append(_steps(summary, budget))
    parts.append(path)  # which optimizer path ran, and why (gradexp.probe)
    return "; ".join(p for p in parts if p) + f"; results in {folder}"


def _ended_at(summary, maximize, optima) -> str:
    word = "maximum" if maximize else "minimum"
    if "minimum" not in summary or not summary["minimum"].notna().any():
        return f"no start ended at a known {word}" if len(optima) else ""
    counts = summary["minimum"].dropna().astype(int).value_counts()
    counts = counts.sort_index().sort_values(ascending=False, kind="stable")
    named = [f"{word} {i}{' ' + _short_point(optima[i].x) if i < len(optima) else ''} ×{c}"
             for i, c in counts.iloc[:MINIMA_SHOWN].items()]
    if len(counts) > MINIMA_SHOWN:
        named.append(f"{len(counts) - MINIMA_SHOWN} more ×{int(counts.iloc[MINIMA_SHOWN:].sum())}")
    elsewhere = int(summary["minimum"].isna().sum())
    if elsewhere:
        named.append(f"elsewhere ×{elsewhere}")
    return "ended at " + ", ".join(named)


def _best(summary, maximize) -> str:
    f = summary["f_final"].astype(float)
    f = f[f.map(math.isfinite) & (summary["status"] != "diverged")]
    if not len(f):
        return "every start diverged" if (summary["status"] == "diverged").all() else "no finite final f"
    i = f.idxmax() if maximize else f.idxmin()
    row = summary.loc[i]
    xcols = [c for c in summary.columns if c[:1] == "x" and c[1:].isdigit()]
    where = _short_point([float(row[c]) for c in xcols])
    return f"best f = {float(row['f_final']):.6g} at {where} (start {int(row['start'])})"


def _short_point(x) -> str:
    """``(3, 2)``; a point of more than 3 coordinates as its first 3 and ``…``."""
    x = list(x)
    return _fmt_point(x[:3])[:-1] + ", …)" if len(x) > 3 else _fmt_point(x)


def _steps(summary, budget) -> str:
    steps = summary["steps"]
    lo, hi = int(steps.min()), int(steps.max())
    span = f"steps {lo}–{hi}" if lo != hi else f"{hi} steps"
    if budget is not None:
        span += f" of {int(budget)}"
    status = ", ".join(f"{c} {s}" for s, c in summary["status"].value_counts().items())
    return f"{span} ({status})"
