"""COCO's 24 noiseless BBOB functions as batched torch functions.

Each ``_fNN(function, instance, dim)`` builds one instance from COCO's generator
(:mod:`gradexp.objectives.bbob_instances`) and returns ``(raw, consts, x_opt, f_opt)``:
``raw(x, c)`` evaluates ``x[..., dim]`` with ``c`` the constants as tensors of x's dtype and device.
The formulas, transformations and their order are COCO's (``f_*.c``, ``transform_*.c``).

Batching is exact: rotations are written as products summed over the last axis (never a matrix
product, whose summation order can depend on the batch size), powers
with non-integer exponents as ``exp(p · log t)`` (torch's ``pow`` rounds differently in its
vectorised and scalar loops), and every reduction runs over the last axis only.

Where f is not differentiable the gradient autograd returns is used: 0 across the steps of
``floor`` (f7's plateaus, f23's fractional parts), 0 for ``|t|`` at t = 0, 0 for a square root
or power at 0 (f13's ridge, f14's optimum, f17/f18 at z = 0), the active branch of ``max``/``min``/
``where`` (f5 outside the box, f7, f21/f22's highest peak, f24's two funnels).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from gradexp.objectives import bbob_instances as G


def _lin(i: int, d: int) -> float:
    return i / (d - 1.0)


def rotate(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """z_i = Σ_j m[i, j] x_j as products summed over the last axis (the same bits in any batch)."""
    return (x[..., None, :] * m).sum(-1)


def _safe(t, cond):
    return torch.where(cond, t, torch.ones_like(t))


def oscillate(x: torch.Tensor) -> torch.Tensor:
    """COCO's T_osz, element-wise (0 stays 0)."""
    nz, pos = x != 0, x > 0
    t = _safe(x.abs(), nz).log() / 0.1
    s = torch.sin(torch.where(pos, t, 0.55 * t)) + torch.sin(torch.where(pos, 0.79 * t, 0.31 * t))
    y = torch.exp(0.1 * (t + 0.49 * s))
    return torch.where(nz, torch.where(pos, y, -y), torch.zeros_like(x))


def asymmetric(x: torch.Tensor, frac: torch.Tensor, beta: float) -> torch.Tensor:
    """COCO's T_asy^beta: x_i^(1 + beta · i/(d−1) · sqrt(x_i)) where x_i > 0, else x_i."""
    pos = x > 0
    safe = _safe(x, pos)
    return torch.where(pos, torch.exp((1 + beta * frac * safe.sqrt()) * safe.log()), x)


def penalty(x: torch.Tensor) -> torch.Tensor:
    """Σ max(0, |x_i| − 5)² (COCO's boundary penalty)."""
    return (torch.clamp(x.abs() - 5.0, min=0.0) ** 2).sum(-1)


def _power(t: torch.Tensor, p: float) -> torch.Tensor:
    """t^p for t >= 0 as exp(p log t) (0 at 0, gradient 0 there)."""
    pos = t > 0
    return torch.where(pos, torch.exp(p * _safe(t, pos).log()), torch.zeros_like(t))


def _cos_sum(z):
    return torch.cos(2 * math.pi * z).sum(-1)


def _rastrigin(z):
    return 10.0 * (z.shape[-1] - _cos_sum(z)) + (z ** 2).sum(-1)


def _ellipsoid_weights(d, cond=1e6):
    return np.array([1.0] + [math.pow(cond, _lin(i, d)) for i in range(1, d)])


def _round(t):
    return torch.floor(t + 0.5)


def _frac(d):
    return np.array([_lin(i, d) for i in range(d)])


# ------------------------------------------------------------------------------------- builders
def _f1(fn, inst, d):
    xo = G.xopt(G.seed_of(fn, inst), d)
    return (lambda x, c: ((x - c["xo"]) ** 2).sum(-1)), {"xo": xo}, xo


def _f2(fn, inst, d):
    xo = G.xopt(G.seed_of(fn, inst), d)
    raw = lambda x, c: (c["w"] * oscillate(x - c["xo"]) ** 2).sum(-1)
    return raw, {"xo": xo, "w": _ellipsoid_weights(d)}, xo


def _f3(fn, inst, d):
    xo = G.xopt(G.seed_of(fn, inst), d)
    lam = np.array([math.pow(10.0, 0.5 * _lin(i, d)) for i in range(d)])
    raw = lambda x, c: _rastrigin(c["lam"] * asymmetric(oscillate(x - c["xo"]), c["frac"], 0.2))
    return raw, {"xo": xo, "lam": lam, "frac": _frac(d)}, xo


def _f4(fn, inst, d):
    xo = G.xopt(G.seed_of(fn, inst), d)
    xo[0::2] = np.abs(xo[0::2])
    base = np.array([math.pow(math.sqrt(10.0), _lin(i, d)) for i in range(d)])
    even = np.array([i % 2 == 0 for i in range(d)])

    def raw(x, c):
        z = oscillate(x - c["xo"])
        z = torch.where((z > 0) & c["even"], 10.0 * c["base"] * z, c["base"] * z)
        return _rastrigin(z) + 100.0 * penalty(x)
    return raw, {"xo": xo, "base": base, "even": even}, xo


def _f5(fn, inst, d):
    xo = np.where(G.xopt(G.seed_of(fn, inst), d) < 0, -5.0, 5.0)
    s = np.sign(xo) * np.array([math.pow(math.sqrt(100.0), _lin(i, d)) for i in range(d)])

    def raw(x, c):
        z = torch.where(x * c["xo"] < 25.0, x, c["xo"].expand_as(x))
        return (5.0 * c["s"].abs() - c["s"] * z).sum(-1)
    return raw, {"xo": xo, "s": s}, xo


def _f6(fn, inst, d):
    seed = G.seed_of(fn, inst)
    xo = G.xopt(seed, d)

    def raw(x, c):
        z = rotate(x - c["xo"], c["m"])
        y = torch.where(c["xo"] * z > 0, 1e4 * z ** 2, z ** 2).sum(-1)
        return _power(oscillate(y), 0.9)
    return raw, {"xo": xo, "m": G.conditioned_rotation(seed, d, 10.0)}, xo


def _f7(fn, inst, d):
    seed = G.seed_of(fn, inst)
    xo = G.xopt(seed, d)
    c1 = np.array([math.sqrt(math.pow(10.0, _lin(i, d))) for i in range(d)])
    w = np.array([math.pow(100.0, _lin(i, d)) for i in range(d)])

    def raw(x, c):
        z = rotate(x - c["xo"], c["m"])
        z1 = z[..., 0]
        z = torch.where(z.abs() > 0.5, _round(z), _round(10.0 * z) / 10.0)
        y = (c["w"] * rotate(z, c["r1"]) ** 2).sum(-1)
        return 0.1 * torch.maximum(z1.abs() * 1.0e-4, y) + penalty(x)
    m = c1[:, None] * G.rotation(seed, d)
    return raw, {"xo": xo, "m": m, "r1": G.rotation(seed + 1000000, d), "w": w}, xo


def _rosenbrock(z):
    a, b = z[..., :-1], z[..., 1:]
    return (100.0 * (a ** 2 - b) ** 2 + (a - 1.0) ** 2).sum(-1)


def _f8(fn, inst, d):
    xo = 0.75 * G.xopt(G.seed_of(fn, inst), d)
    k = max(1.0, math.sqrt(d) / 8.0)
    return (lambda x, c: _rosenbrock(k * (x - c["xo"]) + 1.0)), {"xo": xo}, xo


def _f9(fn, inst, d):
    r = G.rotation(G.seed_of(fn, inst), d)
    k = max(1.0, math.sqrt(d) / 8.0)
    xo = r.T @ np.full(d, 0.5 / k)
    return (lambda x, c: _rosenbrock(rotate(x, c["m"]) + 0.5)), {"m": k * r}, xo


def _rotated(fn, inst, d, core, xopt_shift=0):
    """f10–f12/f14 pattern: core(R (x − x_opt)) with R = rotation(seed + 1e6)."""
    seed = G.seed_of(fn, inst)
    xo = G.xopt(seed + xopt_shift, d)
    return (lambda x, c: core(rotate(x - c["xo"], c["r"]), c)), {"xo": xo, "r": G.rotation(seed + 1000000, d)}, xo


def _f10(fn, inst, d):
    raw, consts, xo = _rotated(fn, inst, d, lambda z, c: (c["w"] * oscillate(z) ** 2).sum(-1))
    return raw, {**consts, "w": _ellipsoid_weights(d)}, xo


def _f11(fn, inst, d):
    def core(z, c):
        z = oscillate(z)
        return 1e6 * z[..., 0] ** 2 + (z[..., 1:] ** 2).sum(-1)
    return _rotated(fn, inst, d, core)


def _f12(fn, inst, d):
    def core(z, c):
        z = rotate(asymmetric(z, c["frac"], 0.5), c["r"])
        return z[..., 0] ** 2 + 1e6 * (z[..., 1:] ** 2).sum(-1)
    raw, consts, xo = _rotated(fn, inst, d, core, xopt_shift=1000000)  # COCO's f12 draws x_opt from seed + 1e6
    return raw, {**consts, "frac": _frac(d)}, xo


def _f13(fn, inst, d):
    seed = G.seed_of(fn, inst)
    xo = G.xopt(seed, d)

    def raw(x, c):
        z = rotate(x - c["xo"], c["m"])
        return z[..., 0] ** 2 + 100.0 * _power((z[..., 1:] ** 2).sum(-1), 0.5)
    return raw, {"xo": xo, "m": G.conditioned_rotation(seed, d, 10.0)}, xo


def _f14(fn, inst, d):
    def core(z, c):
        a = z.abs()
        pos = a > 0
        powered = torch.where(pos, torch.exp(c["p"] * _safe(a, pos).log()), torch.zeros_like(a))
        return _power(powered.sum(-1), 0.5)
    raw, consts, xo = _rotated(fn, inst, d, core)
    return raw, {**consts, "p": np.array([2.0 + 4.0 * _lin(i, d) for i in range(d)])}, xo


def _f15(fn, inst, d):
    seed = G.seed_of(fn, inst)
    xo = G.xopt(seed, d)

    def raw(x, c):
        z = asymmetric(oscillate(rotate(x - c["xo"], c["r"])), c["frac"], 0.2)
        return _rastrigin(rotate(z, c["m"]))
    return raw, {"xo": xo, "r": G.rotation(seed + 1000000, d), "m": G.conditioned_rotation(seed, d, 10.0),
                 "frac": _frac(d)}, xo


_WEIERSTRASS_K = 12


def _f16(fn, inst, d):
    seed = G.seed_of(fn, inst)
    xo = G.xopt(seed, d)
    f0 = 0.0
    for k in range(_WEIERSTRASS_K):
        f0 += 0.5 ** k * math.cos(2 * math.pi * 3.0 ** k * 0.5)

    def raw(x, c):
        z = rotate(oscillate(rotate(x - c["xo"], c["r"])), c["m"])
        s = (c["a"] * torch.cos(2 * math.pi * (z[..., None] + 0.5) * c["b"])).sum((-2, -1))
        return 10.0 * (s / d - f0) ** 3 + 10.0 / d * penalty(x)
    a = np.array([0.5 ** k for k in range(_WEIERSTRASS_K)])
    b = np.array([3.0 ** k for k in range(_WEIERSTRASS_K)])
    return raw, {"xo": xo, "r": G.rotation(seed + 1000000, d), "m": G.conditioned_rotation(seed, d, 0.01),
                 "a": a, "b": b}, xo


def _schaffers(cond):
    def build(fn, inst, d):
        seed = G.seed_of(fn, inst)
        xo = G.xopt(seed, d)
        lam = np.array([math.pow(math.sqrt(cond), _lin(i, d)) for i in range(d)])

        def raw(x, c):
            z = rotate(asymmetric(rotate(x - c["xo"], c["r1"]), c["frac"], 0.5), c["m"])
            t = z[..., :-1] ** 2 + z[..., 1:] ** 2
            s = (_power(t, 0.25) * (1.0 + torch.sin(50.0 * _power(t, 0.1)) ** 2)).sum(-1)
            return (s / (d - 1.0)) ** 2 + 10.0 * penalty(x)
        return raw, {"xo": xo, "frac": _frac(d), "r1": G.rotation(seed + 1000000, d),
                     "m": G.rotation(seed, d) * lam[:, None]}, xo
    return build


def _f19(fn, inst, d):
    r = G.rotation(G.seed_of(fn, inst), d)
    k = max(1.0, math.sqrt(d) / 8.0)
    xo = r.T @ np.full(d, 0.5 / k)

    def raw(x, c):
        z = rotate(x, c["m"]) + 0.5
        a, b = z[..., :-1], z[..., 1:]
        s = 100.0 * (a ** 2 - b) ** 2 + (1.0 - a) ** 2
        return 10.0 + 10.0 * (s / 4000.0 - torch.cos(s)).sum(-1) / (d - 1)
    return raw, {"m": k * r}, xo


def _f20(fn, inst, d):
    u = np.array(G.uniform(d, G.seed_of(fn, inst)))
    sign = np.where(u - 0.5 < 0, -1.0, 1.0)
    xo_in = sign * 0.5 * 4.2096874637
    lam = np.array([math.pow(10.0, 0.5 * _lin(i, d)) for i in range(d)])

    def raw(x, c):
        xh = 2.0 * c["sign"] * x
        zh = torch.cat([xh[..., :1], xh[..., 1:] + 0.25 * (xh[..., :-1] - c["two_abs"][:-1])], -1)
        z = 100.0 * (c["lam"] * (zh - c["two_abs"]) + c["two_abs"])
        a = z.abs()
        nz = a > 0
        term = torch.where(nz, z * torch.sin(_safe(a, nz).sqrt()), torch.zeros_like(z))
        pen = (torch.clamp(a - 500.0, min=0.0) ** 2).sum(-1)
        return 0.01 * (pen + 418.9828872724339 - term.sum(-1) / d)
    return raw, {"sign": sign, "two_abs": 2.0 * np.abs(xo_in), "lam": lam}, sign * 0.5 * 4.2096874633


def _gallagher(peaks):
    def build(fn, inst, d):
        seed = G.seed_of(fn, inst)
        b, c0, cond0 = (10.0, 5.0, math.sqrt(1000.0)) if peaks == 101 else (9.8, 4.9, 1000.0)
        rot = G.rotation(seed, d)
        u = G.uniform(peaks - 1, seed)
        order = sorted(range(peaks - 1), key=lambda i: u[i])  # COCO's qsort of (value, index)
        cond = [cond0] + [math.pow(1000.0, order[i - 1] / (peaks - 2.0)) for i in range(1, peaks)]
        heights = [10.0] + [(i - 1) / (peaks - 2.0) * (9.1 - 1.1) + 1.1 for i in range(1, peaks)]
        scales = np.zeros((peaks, d))
        for i in range(peaks):
            v = G.uniform(d, seed + 1000 * i)
            perm = sorted(range(d), key=lambda j: v[j])
            scales[i] = [math.pow(cond[i], perm[j] / (d - 1.0) - 0.5) for j in range(d)]
        r = G.uniform(d * peaks, seed)
        local = np.zeros((peaks, d))  # local[j] = peak j's centre in rotated coordinates
        for i in range(d):
            for j in range(peaks):
                acc = 0.0
                for k in range(d):
                    acc += rot[i, k] * (b * r[j * d + k] - c0)
                local[j, i] = 0.8 * acc if j == 0 else acc
        xo = np.array([0.8 * (b * r[i] - c0) for i in range(d)])

        def raw(x, c):
            t = rotate(x, c["rot"])
            q = (c["scales"] * (t[..., None, :] - c["local"]) ** 2).sum(-1)
            top = (c["h"] * torch.exp(-0.5 / d * q)).amax(-1)
            return oscillate(10.0 - top) ** 2 + penalty(x)
        return raw, {"rot": rot, "scales": scales, "local": local, "h": np.array(heights)}, xo
    return build


def _f23(fn, inst, d):
    seed = G.seed_of(fn, inst)
    xo = G.xopt(seed, d)
    two = np.array([2.0 ** j for j in range(1, 33)])

    def raw(x, c):
        z = rotate(x - c["xo"], c["m"])
        t = z[..., None] * c["two"]
        s = ((t - _round(t)).abs() / c["two"]).sum(-1)
        terms = torch.exp(10.0 / d ** 1.2 * torch.log(1.0 + c["i1"] * s))
        prod = terms[..., 0]
        for i in range(1, d):
            prod = prod * terms[..., i]
        return 10.0 / d / d * (prod - 1.0) + penalty(x)
    return raw, {"xo": xo, "m": G.conditioned_rotation(seed, d, 100.0), "two": two,
                 "i1": np.arange(1.0, d + 1.0)}, xo


def _f24(fn, inst, d):
    seed = G.seed_of(fn, inst)
    mu0, s = 2.5, 1.0 - 0.5 / (math.sqrt(d + 20.0) - 4.1)
    mu1 = -math.sqrt((mu0 * mu0 - 1.0) / s)
    sign = np.where(np.array(G.gauss(d, seed)) < 0, -1.0, 1.0)
    lam = np.array([math.pow(math.sqrt(100.0), _lin(i, d)) for i in range(d)])

    def raw(x, c):
        xh = 2.0 * c["sign"] * x
        z = rotate(c["lam"] * rotate(xh - mu0, c["r2"]), c["r1"])
        sphere0 = ((xh - mu0) ** 2).sum(-1)
        sphere1 = ((xh - mu1) ** 2).sum(-1)
        return (torch.minimum(sphere0, 1.0 * d + s * sphere1) + 10.0 * (d - _cos_sum(z))
                + 1e4 * penalty(x))
    return raw, {"sign": sign, "lam": lam, "r1": G.rotation(seed + 1000000, d), "r2": G.rotation(seed, d)}, \
        sign * 0.5 * mu0


BUILDERS = {1: _f1, 2: _f2, 3: _f3, 4: _f4, 5: _f5, 6: _f6, 7: _f7, 8: _f8, 9: _f9, 10: _f10, 11: _f11,
            12: _f12, 13: _f13, 14: _f14, 15: _f15, 16: _f16, 17: _schaffers(10.0), 18: _schaffers(1000.0),
            19: _f19, 20: _f20, 21: _gallagher(101), 22: _gallagher(21), 23: _f23, 24: _f24}
