"""Classic two-dimensional test functions and their known critical points.

Each function maps ``x[..., 2]`` to ``[...]``; constants are Python numbers, so the arithmetic
runs in the input's dtype (float32 or float64). Critical points were located by Newton's method
in float64 and agree with the literature values quoted in the docstrings.
"""

from __future__ import annotations

import math

import torch

from gradexp.objectives.core import Critical, Objective


def _himmelblau(x: torch.Tensor) -> torch.Tensor:
    """Himmelblau: (x0² + x1 − 11)² + (x0 + x1² − 7)² (the tutorial's op order)."""
    x0, x1 = x[..., 0], x[..., 1]
    return (x0**2 + x1 - 11)**2 + (x0 + x1**2 - 7)**2


_HIMMELBLAU_FACTS = (
    Critical((3.0, 2.0), 0.0, "global_min"),
    Critical((-2.805118086952745, 3.131312518250573), 0.0, "global_min"),
    Critical((-3.779310253377747, -3.2831859912861696), 0.0, "global_min"),
    Critical((3.5844283403304917, -1.8481265269644034), 0.0, "global_min"),
    Critical((-0.2708445906673476, -0.9230385564799815), 181.6165215225827, "local_max"),
    Critical((-3.0730257507643897, -0.08135304428796751), 104.01516291755811, "saddle"),
    Critical((3.385154183607021, 0.07385187983774928), 13.311926270405587, "saddle"),
    Critical((0.08667750455539634, 2.884254701174776), 67.71915008752613, "saddle"),
    Critical((-0.12796134673068005, -1.9537149802445766), 178.33723920192745, "saddle"),
)

himmelblau = Objective(
    name="himmelblau", fn=_himmelblau, bounds=(-5.0, 5.0),
    facts=lambda dim, params: _HIMMELBLAU_FACTS,
)


def _beale(x: torch.Tensor) -> torch.Tensor:
    """Beale: (1.5 − x0 + x0x1)² + (2.25 − x0 + x0x1²)² + (2.625 − x0 + x0x1³)²."""
    x0, x1 = x[..., 0], x[..., 1]
    return (1.5 - x0 + x0 * x1)**2 + (2.25 - x0 + x0 * x1**2)**2 + (2.625 - x0 + x0 * x1**3)**2


beale = Objective(
    name="beale", fn=_beale, bounds=(-4.5, 4.5),
    facts=lambda dim, params: (Critical((3.0, 0.5), 0.0, "global_min"),),
)


def _booth(x: torch.Tensor) -> torch.Tensor:
    """Booth: (x0 + 2x1 − 7)² + (2x0 + x1 − 5)²."""
    x0, x1 = x[..., 0], x[..., 1]
    return (x0 + 2 * x1 - 7)**2 + (2 * x0 + x1 - 5)**2


booth = Objective(
    name="booth", fn=_booth, bounds=(-10.0, 10.0),
    facts=lambda dim, params: (Critical((1.0, 3.0), 0.0, "global_min"),),
)


def _goldstein_price(x: torch.Tensor) -> torch.Tensor:
    """Goldstein–Price: [1 + (x0+x1+1)²(19 − 14x0 + 3x0² − 14x1 + 6x0x1 + 3x1²)]
    · [30 + (2x0 − 3x1)²(18 − 32x0 + 12x0² + 48x1 − 36x0x1 + 27x1²)]."""
    x0, x1 = x[..., 0], x[..., 1]
    a = 1 + (x0 + x1 + 1)**2 * (19 - 14 * x0 + 3 * x0**2 - 14 * x1 + 6 * x0 * x1 + 3 * x1**2)
    b = 30 + (2 * x0 - 3 * x1)**2 * (18 - 32 * x0 + 12 * x0**2 + 48 * x1 - 36 * x0 * x1 + 27 * x1**2)
    return a * b


goldstein_price = Objective(
    name="goldstein_price", fn=_goldstein_price, bounds=(-2.0, 2.0),
    facts=lambda dim, params: (
        Critical((0.0, -1.0), 3.0, "global_min"),
        Critical((-0.6, -0.4), 30.0, "local_min"),
        Critical((1.8, 0.2), 84.0, "local_min"),
        Critical((1.2, 0.8), 840.0, "local_min"),
    ),
)


def _six_hump_camel(x: torch.Tensor) -> torch.Tensor:
    """Six-hump camel: (4 − 2.1x0² + x0⁴/3)x0² + x0x1 + (−4 + 4x1²)x1²."""
    x0, x1 = x[..., 0], x[..., 1]
    x0_2 = x0**2  # x0⁴ as (x0²)²: torch's pow(x, 4) differs between its vector and scalar loops
    return (4 - 2.1 * x0_2 + x0_2**2 / 3) * x0_2 + x0 * x1 + (-4 + 4 * x1**2) * x1**2


# ±(0.0898, −0.7126), f* = −1.0316 (Molga & Smutnicki; Jamil & Yang), to double precision.
_CAMEL_FACTS = (
    Critical((0.08984201310031806, -0.7126564030207396), -1.0316284534898774, "global_min"),
    Critical((-0.08984201310031806, 0.7126564030207396), -1.0316284534898774, "global_min"),
    Critical((-1.7036067149699807, 0.7960835686726252), -0.21546382438371725, "local_min"),
    Critical((1.7036067149699807, -0.7960835686726252), -0.21546382438371725, "local_min"),
    Critical((1.6071047529201974, 0.5686514548841314), 2.1042503103112598, "local_min"),
    Critical((-1.6071047529201974, -0.5686514548841314), 2.1042503103112598, "local_min"),
)

six_hump_camel = Objective(
    name="six_hump_camel", fn=_six_hump_camel, bounds=((-3.0, 3.0), (-2.0, 2.0)),
    facts=lambda dim, params: _CAMEL_FACTS,
)


def _matyas(x: torch.Tensor) -> torch.Tensor:
    """Matyas: 0.26(x0² + x1²) − 0.48x0x1."""
    x0, x1 = x[..., 0], x[..., 1]
    return 0.26 * (x0**2 + x1**2) - 0.48 * x0 * x1


matyas = Objective(
    name="matyas", fn=_matyas, bounds=(-10.0, 10.0),
    facts=lambda dim, params: (Critical((0.0, 0.0), 0.0, "global_min"),),
)


_3PI = 3 * math.pi
_2PI = 2 * math.pi


def _levi13(x: torch.Tensor) -> torch.Tensor:
    """Lévi N.13: sin²(3πx0) + (x0 − 1)²(1 + sin²(3πx1)) + (x1 − 1)²(1 + sin²(2πx1))."""
    x0, x1 = x[..., 0], x[..., 1]
    return (torch.sin(_3PI * x0)**2 + (x0 - 1)**2 * (1 + torch.sin(_3PI * x1)**2)
            + (x1 - 1)**2 * (1 + torch.sin(_2PI * x1)**2))


levi13 = Objective(
    name="levi13", fn=_levi13, bounds=(-10.0, 10.0),
    facts=lambda dim, params: (Critical((1.0, 1.0), 0.0, "global_min"),),
)
