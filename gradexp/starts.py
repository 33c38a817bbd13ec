"""Start points: ``point``, ``points``, ``grid`` and ``uniform`` (config group ``start``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from gradexp.errors import ConfigError

KINDS = ("point", "points", "grid", "uniform")
MAX_STARTS = 1_000_000
MAX_VALUES = 50_000_000  # starts × dim: 200 MB of float32 per copy of the start tensor
SANE_ABS = 1e12  # start coordinates beyond this are refused as typos


def _number(v, what: str) -> float:
    from gradexp.safe_expr import parse_number

    if isinstance(v, bool):
        raise ConfigError(f"{what}: {v!r} is not a number")
    try:
        value = v if isinstance(v, (int, float)) else parse_number(str(v))
    except ConfigError as err:
        raise ConfigError(f"{what}: {err}") from None
    value = float(value)
    if not math.isfinite(value) or abs(value) > SANE_ABS:
        raise ConfigError(f"{what}: {v!r} is out of range; use finite numbers with |x| <= {SANE_ABS:g}")
    return value


def _counted(n: int, word: str) -> str:
    """``'1 number'``, ``'2 numbers'``."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def _point(seq, dim: int, what: str) -> list[float]:
    if isinstance(seq, (str, bytes)) or not isinstance(seq, Sequence):
        raise ConfigError(f"{what} must be a list of {_counted(dim, 'number')}, got {seq!r}")
    if len(seq) != dim:
        raise ConfigError(f"{what} has {_counted(len(seq), 'coordinate')} but the objective has dim {dim}: "
                          f"give {_counted(dim, 'number')}")
    return [_number(v, f"{what}[{i}]") for i, v in enumerate(seq)]


def _count(n, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"{what} must be a whole number >= 1, got {n!r}")
    return n


GRID_AUTO_MOST = 5  # start.n=auto: this many points per axis ...
GRID_AUTO_STARTS = 4096  # ... or fewer, so that the grid holds at most this many starts


def grid_per_axis(n, dim: int) -> int:
    """Points per axis of ``start=grid``: ``n`` itself, or for ``n="auto"`` (the default) 5 per axis
    when 5**dim <= 4096 starts, else the most per axis that stay within 4096 (2 at least: 2**dim
    starts from 13 dimensions on, up to the grid's limit of 1,000,000)."""
    if n == "auto" or n is None:
        fits = [k for k in range(2, GRID_AUTO_MOST + 1) if dim <= 64 and k**dim <= GRID_AUTO_STARTS]
        return max(fits, default=2)
    if isinstance(n, str):
        raise ConfigError(f"start.n must be a whole number >= 1 or auto, got {n!r}")
    return _count(n, "start.n")


def make_starts(cfg, problem, seed: int):
    """Return the start points as a float32 tensor ``[N, dim]``.

    ``cfg`` is the ``start`` config node (``kind`` plus ``x`` / ``points`` / ``n``); numbers may be
    arithmetic of numbers with ``pi`` and ``e``. ``grid`` spaces ``n`` points per axis over the
    objective's bounds (edges included; ``n=auto``: see :func:`grid_per_axis`); ``uniform`` draws ``n`` points in the bounds from a
    generator seeded with ``seed``.
    """
    import torch
    from omegaconf import OmegaConf

    node = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    kind = node.get("kind")
    dim = problem.dim
    if kind == "point":
        x = node.get("x")
        if x is None:
            pts = [[(lo + hi) / 2 for lo, hi in zip(problem.lower, problem.upper)]]
        else:
            pts = [_point(x, dim, "start.x")]
    elif kind == "points":
        raw = node.get("points")
        if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence) or len(raw) == 0:
            raise ConfigError(f"start.points must be a non-empty list of points like [[0,0],[1,-1]], got {raw!r}")
        pts = [_point(p, dim, f"start.points[{i}]") for i, p in enumerate(raw)]
    elif kind == "grid":
        n = grid_per_axis(node.get("n"), dim)
        if n > 1 and (dim > 64 or n**dim > MAX_STARTS):  # (dim > 64: no big-number power for huge dims)
            raise ConfigError(
                f"start=grid with start.n={n} in {dim} dimensions makes {n}**{dim} starts; "
                f"at most {MAX_STARTS:,} are accepted (use start=uniform for high dimensions)"
            )
        if n == 1:  # the centre of the box (also in very many dimensions, where a mesh would not fit)
            centre = [(lo + hi) / 2 for lo, hi in zip(problem.lower, problem.upper)]
            return torch.tensor([centre], dtype=torch.float64).to(torch.float32)
        axes = [
            torch.linspace(lo, hi, n, dtype=torch.float64) if n > 1 else torch.tensor([(lo + hi) / 2], dtype=torch.float64)
            for lo, hi in zip(problem.lower, problem.upper)
        ]
        mesh = torch.meshgrid(*axes, indexing="ij")
        return torch.stack([m.reshape(-1) for m in mesh], dim=-1).to(torch.float32)
    elif kind == "uniform":
        n = _count(node.get("n"), "start.n")
        if n > MAX_STARTS:
            raise ConfigError(f"start.n={n} is too many; at most {MAX_STARTS:,} starts are accepted")
        if n * dim > MAX_VALUES:
            raise ConfigError(f"start.n={n} in {dim} dimensions makes {n * dim:,} coordinates; at most "
                              f"{MAX_VALUES:,} are accepted: use fewer starts")
        gen = torch.Generator().manual_seed(int(seed))
        lo = torch.tensor(problem.lower, dtype=torch.float64)
        hi = torch.tensor(problem.upper, dtype=torch.float64)
        u = torch.rand(n, dim, generator=gen, dtype=torch.float64)
        return (lo + u * (hi - lo)).to(torch.float32)
    else:
        raise ConfigError(f"unknown start kind {kind!r}; accepted: {', '.join(KINDS)}")
    return torch.tensor(pts, dtype=torch.float32)
