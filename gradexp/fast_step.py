"""The functional engines' step: one pure function of tensors (eval, bookkeeping, update).

:func:`make_step` returns ``step(x, s1, s2, s3, act, status, stop, f_best, hits, c, k, last)`` on
the transposed ``[d, M]`` state (see :mod:`gradexp.fast`), made of three parts: f and its gradient,
the per-start bookkeeping (:func:`_bookkeeping`) and the optimizer's update written out (one
``_*_update`` per supported optimizer, on the ``[d, G, N]`` view: one set of scalars per group).
"""

from __future__ import annotations

import torch

from gradexp.outcome import CONVERGED, DIVERGED, MAX_STEPS


def make_step(problem, name: str, sets: list[dict], G: int, st, sense: float, center, radius: float, thresholds,
              eager: bool = False):
    """The pure function of one step (eval, bookkeeping, update) on the ``[d, M]`` state.

    ``eager``: the gradient by ``torch.autograd.grad`` (cheaper than ``torch.func`` outside a
    compiled graph); otherwise by ``torch.func.grad_and_value`` so that ``torch.compile`` traces it.
    """
    gv = _value_and_grad(problem.f, sense, eager)
    bookkeeping = _bookkeeping(st, sense, center, radius, thresholds)
    update = _UPDATES[name](sets)
    clip = st.clip_grad_norm

    def step(x, s1, s2, s3, act, status, stop, f_best, hits, c, k, last):
        """x [d, M]; s1..s3 optimizer state; c [C, G, 1] this step's scalars; k step (0-d)."""
        d, M = x.shape
        g, (gn, f) = gv(x)
        fs = f if sense > 0 else -f
        if not eager:
            gn = torch.linalg.vector_norm(g, dim=0)
        act, status, stop, f_best, hits = bookkeeping(x, gn, fs, act, status, stop, f_best, hits, k, last)
        if clip is not None:
            g = g * torch.clamp(clip / (gn + 1e-6), max=1.0)
        xv, gv3 = x.view(d, G, -1), g.view(d, G, -1)
        v1, v2, v3 = (s.view(d, G, -1) if s is not None else None for s in (s1, s2, s3))
        new, v1, v2, v3 = update(xv, gv3, v1, v2, v3, c)
        new = new.reshape(d, M)
        x = torch.where(act > 0, new, x)
        s1, s2, s3 = (v.reshape(d, M) if v is not None else None for v in (v1, v2, v3))
        return x, s1, s2, s3, act, status, stop, f_best, hits, f, gn

    return step


def _value_and_grad(f_obj, sense: float, eager: bool):
    """``x [d, M] -> (gradient [d, M], (gradient norm [M] or None, f [M]))`` of the optimised sum."""
    if eager:
        def gv(x):
            # f on a contiguous [M, d] copy, as the exact runner evaluates it: the same kernels, so
            # the same bits of f and of its gradient
            with torch.enable_grad():
                xr = x.t().contiguous().requires_grad_(True)
                f = f_obj(xr)
                fs = f if sense > 0 else -f
                (g,) = torch.autograd.grad(fs.sum(), xr)
            return g.t(), (torch.linalg.vector_norm(g, dim=-1), f.detach())
        return gv
    from torch.func import grad_and_value

    def loss(xt):
        f = f_obj(xt.t())
        fs = f if sense > 0 else -f
        return fs.sum(), f
    return grad_and_value(loss, has_aux=True)


def _bookkeeping(st, sense: float, center, radius: float, thresholds):
    """Stopping, divergence, best f and the targets' first steps of one step, as pure tensor ops."""
    grad_tol = st.grad_tol
    f_target = None if st.f_target is None else sense * st.f_target
    flt_max = float(torch.finfo(torch.float32).max)

    def bookkeeping(x, gn, fs, act, status, stop, f_best, hits, k, last):
        # masks as float 1/0 (bool vectors take slow, partly scalar paths in Inductor's C++ code)
        done = torch.where(((x - center).abs().amax(0) <= radius) & (fs.abs() <= flt_max), 0.0, 1.0)
        conv = None
        if grad_tol > 0:
            conv = torch.where(gn <= grad_tol, 1.0, 0.0)
        if f_target is not None:
            hit = torch.where(fs <= f_target, 1.0, 0.0)
            conv = hit if conv is None else torch.maximum(conv, hit)
        stopping = torch.maximum(done, last) if conv is None else torch.maximum(torch.maximum(done, conv), last)
        newly = act * stopping
        if conv is None:
            code = torch.where(done > 0, float(DIVERGED), float(MAX_STEPS))
        else:
            code = torch.where(done > 0, float(DIVERGED), torch.where(conv > 0, float(CONVERGED), float(MAX_STEPS)))
        status = torch.where(newly > 0, code, status)
        stop = torch.where(newly > 0, k, stop)
        act = act - newly
        f_best = torch.where(fs < f_best, fs, f_best)  # fmin: a NaN f never replaces the best
        hits = torch.where((hits < 0) & (fs <= thresholds), k, hits)
        return act, status, stop, f_best, hits
    return bookkeeping


def _sgd_update(sets):
    momentum = any(s["momentum"] != 0 for s in sets)
    nesterov = bool(sets[0]["nesterov"])
    wd = any(s["weight_decay"] != 0 for s in sets)

    def update(xv, gv3, v1, v2, v3, c):
        lr, wdc, cm, cg, mom = c[0], c[1], c[2], c[3], c[4]
        if wd:
            gv3 = gv3 + wdc * xv
        if momentum:
            v1 = v1 * cm + cg * gv3
            gv3 = gv3 + mom * v1 if nesterov else v1
        return xv - lr * gv3, v1, v2, v3
    return update


def _adam_update(sets, decoupled: bool):
    wd = any(s["weight_decay"] != 0 for s in sets)

    def update(xv, gv3, v1, v2, v3, c):
        step_size, bc2_sqrt, one_b1, b2, one_b2, eps, decay = (c[j] for j in range(7))
        if decoupled:
            xv = xv * decay if wd else xv
        elif wd:
            gv3 = gv3 + decay * xv
        v1 = v1 + (gv3 - v1) * one_b1
        v2 = v2 * b2 + one_b2 * gv3 * gv3
        return xv - step_size * (v1 / (v2.sqrt() / bc2_sqrt + eps)), v1, v2, v3
    return update


def _lion_update(sets):
    wd = any(s["weight_decay"] != 0 for s in sets)
    decoupled = bool(sets[0]["weight_decouple"])

    def update(xv, gv3, v1, v2, v3, c):
        lr, one_b1, one_b2, decay = c[0], c[1], c[2], c[3]
        if wd and decoupled:
            xv = xv * decay
        elif wd:
            gv3 = gv3 + decay * xv
        upd = torch.sign(v1 + (gv3 - v1) * one_b1)
        v1 = v1 + (gv3 - v1) * one_b2
        return xv - lr * upd, v1, v2, v3
    return update


def _rmsprop_update(sets):
    momentum = any(s["momentum"] != 0 for s in sets)
    centered = bool(sets[0]["centered"])
    wd = any(s["weight_decay"] != 0 for s in sets)

    def update(xv, gv3, v1, v2, v3, c):
        lr, wdc, alpha, one_alpha, eps, mom = (c[j] for j in range(6))
        if wd:
            gv3 = gv3 + wdc * xv
        v1 = v1 * alpha + one_alpha * gv3 * gv3
        if centered:
            v2 = v2 + (gv3 - v2) * one_alpha
            avg = (v1 - v2 * v2).sqrt() + eps
        else:
            avg = v1.sqrt() + eps
        if momentum:
            v3 = v3 * mom + gv3 / avg
            return xv - lr * v3, v1, v2, v3
        return xv - lr * gv3 / avg, v1, v2, v3
    return update


#: each supported optimizer's update (by the name :func:`gradexp.fast._settings` gives it)
_UPDATES = {
    "SGD": _sgd_update,
    "Adam": lambda sets: _adam_update(sets, decoupled=False),
    "AdamW": lambda sets: _adam_update(sets, decoupled=True),
    "Lion": _lion_update,
    "RMSprop": _rmsprop_update,
}
