"""The default stopping rule: a start stops once it reaches the tightest target (f* + 1e-7 by default).

``run.stop_at_target`` (default true): where the objective's optimum value f* is known and no
``run.f_target`` is set, a start stops (status ``converged``) at the first step at which
f ≤ f* + Δf (f ≥ f* − Δf when maximizing), Δf the tightest of ``report.targets`` (1e-7 by
default). The rule is the
``run.f_target`` rule with that value, so it adds nothing to the loop, and it keeps every recorded
number exact: a start that stops has reached every target (their first steps are recorded before
it stops), and a start that never reaches the tightest one runs its whole budget as before.

This module imports nothing heavy: the command line checks the setting before importing torch.
"""

from __future__ import annotations

import dataclasses

from gradexp.errors import ConfigError

KEY = "stop_at_target"
TIGHTEST = 1e-7  # the default targets' tightest Δf (gradexp.outcome.TARGETS' last)


def wanted(run) -> bool:
    """The ``run.stop_at_target`` setting (true when absent), checked: a boolean."""
    value = True if run is None else run.get(KEY, True)
    if not isinstance(value, bool):
        raise ConfigError(f"run.{KEY}={value!r} is not accepted; use true or false")
    return value


def stop_value(f_opt: float | None, maximize: bool, tightest: float = TIGHTEST) -> float | None:
    """The f (the objective's own value) at which a start stops: f* ± ``tightest``; None when f* is unknown."""
    if f_opt is None:
        return None
    return f_opt - tightest if maximize else f_opt + tightest


def apply(settings, run, f_opt: float | None, maximize: bool):
    """``settings`` with ``f_target`` set by the default rule where it applies (else unchanged).

    It applies when ``run.stop_at_target`` is true, f* is known and ``run.f_target`` is null; the
    tightest target is that of ``settings.targets``.
    """
    value = stop_value(f_opt, maximize, min(settings.targets))
    if not wanted(run) or value is None or settings.f_target is not None:
        return settings
    return dataclasses.replace(settings, f_target=value)
