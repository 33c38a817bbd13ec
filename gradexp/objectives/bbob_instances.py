"""COCO's BBOB instance generator: the legacy bbob2009 random numbers, x_opt, f_opt and rotations.

A plain-Python transcription of the generator COCO uses for its noiseless ``bbob`` suite (COCO's
``suite_bbob_legacy_code.c``): a Park–Miller generator with a 32-entry shuffle table gives uniform
numbers, Box–Muller turns them into Gaussian ones, Gram–Schmidt turns a Gaussian matrix into a
rotation. Everything is float64 and summed in COCO's order, so the numbers are COCO's own.
The seed of function F, instance I is ``F + 10000 I`` (F = 4 and 18 use the seeds of 3 and 17).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

MAX_DIM = 44  # COCO's legacy rotation holds DIM * DIM < 2000 Gaussian numbers


def uniform(n: int, seed: int) -> list[float]:
    """``n`` uniform numbers in (0, 1) from ``seed`` (COCO's ``bbob2009_unif``)."""
    seed = abs(int(seed))
    seed = max(seed, 1)
    table = [0] * 32
    for i in range(39, -1, -1):
        tmp = seed // 127773
        seed = 16807 * (seed - tmp * 127773) - 2836 * tmp
        if seed < 0:
            seed += 2147483647
        if i < 32:
            table[i] = seed
    current = table[0]
    out = []
    for _ in range(n):
        tmp = seed // 127773
        seed = 16807 * (seed - tmp * 127773) - 2836 * tmp
        if seed < 0:
            seed += 2147483647
        k = current // 67108865
        current = table[k]
        table[k] = seed
        r = current / 2.147483647e9
        out.append(r if r != 0.0 else 1e-99)
    return out


def gauss(n: int, seed: int) -> list[float]:
    """``n`` standard normal numbers from ``seed`` (COCO's ``bbob2009_gauss``, Box–Muller)."""
    u = uniform(2 * n, seed)
    out = []
    for i in range(n):
        g = math.sqrt(-2 * math.log(u[i])) * math.cos(2 * math.pi * u[n + i])
        out.append(g if g != 0.0 else 1e-99)
    return out


@lru_cache(maxsize=256)
def rotation(seed: int, dim: int) -> np.ndarray:
    """The ``dim`` × ``dim`` rotation of ``seed`` (COCO's ``bbob2009_compute_rotation``)."""
    g = gauss(dim * dim, seed)
    b = [[g[j * dim + i] for j in range(dim)] for i in range(dim)]  # b[row][column]
    for i in range(dim):
        for j in range(i):
            prod = 0.0
            for k in range(dim):
                prod += b[k][i] * b[k][j]
            for k in range(dim):
                b[k][i] -= prod * b[k][j]
        prod = 0.0
        for k in range(dim):
            prod += b[k][i] * b[k][i]
        norm = math.sqrt(prod)
        for k in range(dim):
            b[k][i] /= norm
    out = np.array(b, dtype=np.float64)
    out.setflags(write=False)
    return out


def xopt(seed: int, dim: int) -> np.ndarray:
    """COCO's random optimum: 8 floor(1e4 u) / 1e4 − 4 per coordinate (0 becomes −1e-5)."""
    u = uniform(dim, seed)
    x = [8 * math.floor(1e4 * v) / 1e4 - 4 for v in u]
    return np.array([v if v != 0.0 else -1e-5 for v in x], dtype=np.float64)


def fopt(function: int, instance: int) -> float:
    """COCO's f_opt of a function and instance: a rounded Gaussian ratio clipped to [−1000, 1000]."""
    base = {4: 3, 18: 17}.get(function, function)
    seed = base + 10000 * instance
    ratio = 100.0 * 100.0 * gauss(1, seed)[0] / gauss(1, seed + 1)[0]
    return min(1000.0, max(-1000.0, math.floor(ratio + 0.5) / 100.0))


def seed_of(function: int, instance: int) -> int:
    """The seed COCO's bbob suite gives function ``function``, instance ``instance``."""
    return {4: 3, 18: 17}.get(function, function) + 10000 * instance


def conditioned_rotation(seed: int, dim: int, condition: float) -> np.ndarray:
    """R Λ Q with R = rotation(seed + 1e6), Q = rotation(seed), Λ_kk = sqrt(condition)^(k/(d−1))."""
    r, q = rotation(seed + 1000000, dim), rotation(seed, dim)
    lam = [math.pow(math.sqrt(condition), k / (dim - 1.0)) for k in range(dim)]
    m = np.zeros((dim, dim))
    for i in range(dim):
        for j in range(dim):
            acc = 0.0
            for k in range(dim):
                acc += r[i, k] * lam[k] * q[k, j]
            m[i, j] = acc
    return m
