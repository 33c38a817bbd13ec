"""Independent references shared by the tests: the Himmelblau formula written out, plain torch.optim
loops, and the promises of the README that the tests check (never read from the code under test)."""

from __future__ import annotations

import numpy as np
import torch

# README "Outputs": `minimum` is the index of the known optimum a start ended within 1e-2 of.
CLOSE_TO_OPTIMUM = 1e-2
# README "Sweeps and the report": the targets Δf of rt_<Δf> and metrics.csv, loosest first.
TARGETS = {"rt_1e1": 1e1, "rt_1e-1": 1e-1, "rt_1e-3": 1e-3, "rt_1e-5": 1e-5, "rt_1e-7": 1e-7}
# README "Objectives": Himmelblau's minima (in this order) and its local maximum.
HIMMELBLAU_MINIMA = [(3.0, 2.0), (-2.805118, 3.131313), (-3.779310, -3.283186), (3.584428, -1.848127)]
HIMMELBLAU_MAXIMUM, HIMMELBLAU_F_MAX = (-0.270845, -0.923039), 181.6165


def himmelblau(x):
    """Himmelblau's function of ``x[0], x[1]`` (tensors or numbers), as the literature writes it."""
    return (x[0] ** 2 + x[1] - 11) ** 2 + (x[0] + x[1] ** 2 - 7) ** 2


def plain_loop(cls, kw, steps, start, f=himmelblau, maximize=False, clip=None):
    """A tutorial-style torch.optim loop from one start: (f at steps 0..steps as float32, final x).

    Maximizing ascends by minimising -f (f itself is recorded). ``clip``: gradient-norm clipping.
    """
    x = torch.tensor([float(v) for v in start], requires_grad=True)
    opt = cls([x], **kw)
    fs = []
    for step in range(steps + 1):
        value = f(x)
        fs.append(value.item())
        if step == steps:
            break
        opt.zero_grad()
        (-value if maximize else value).backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_([x], clip)
        opt.step()
    return np.array(fs, dtype=np.float32), x.detach().numpy()


def first_step(reached) -> float:
    """Index of the first True, NaN when there is none."""
    hits = np.flatnonzero(reached)
    return float(hits[0]) if len(hits) else float("nan")


CALLS = {"n": 0}


def bowl_that_signals(x, at: int = 10, signum: int = 15):
    """Σ x² that sends ``signum`` to this process on its ``at``-th call (counted in CALLS): a signal
    that arrives while a run is stepping, without a second process."""
    import os

    CALLS["n"] += 1
    if CALLS["n"] == at:
        os.kill(os.getpid(), signum)
    return (x ** 2).sum(-1)
