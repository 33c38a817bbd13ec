"""Whether one optimizer may drive all starts of a run as one tensor, exactly.

torch.optim's element-wise classes are known (``gradexp.optim.ELEMENTWISE``). Any other class is
probed once per process and settings: a few random rows are stepped a few times as one ``[rows, d]``
tensor and each row alone as a ``[1, d]`` tensor, with the same gradients, and the results compared
bit for bit. A class whose update of a row depends on other rows (a whole-tensor norm as in LAMB or
LARS, Adafactor's factored moments, noise drawn per tensor) fails, and runs one optimizer per start.
``optimizer.batched=true|false`` forces either path without probing.
"""

from __future__ import annotations

import functools

ROWS, DIM, STEPS = 5, 3, 6  # the probe's tensor and number of steps


def _grad(x):
    """A gradient that differs per element and per step (a fixed, non-linear function of x)."""
    import torch

    return torch.sin(3.0 * x) + 0.25 * x * x * x - 0.5


def _step_all(make, x, steps):
    """``x`` after ``steps`` steps of an optimizer made by ``make`` on the one tensor ``x``."""
    import torch

    p = x.clone().requires_grad_(True)
    opt = make([p])
    for _ in range(steps):
        with torch.no_grad():
            p.grad = _grad(p)
        opt.step()
    return p.detach()


@functools.lru_cache(maxsize=64)
def _verdict(cls, kwargs_items) -> tuple[bool, str]:
    import torch

    kwargs = dict(kwargs_items)

    def make(params):
        return cls(params, **kwargs)

    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(ROWS, DIM, generator=gen) * 4 - 2).to(torch.float32)
    try:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            together = _step_all(make, x, STEPS)
            alone = []
            for i in range(ROWS):
                torch.manual_seed(0)
                alone.append(_step_all(make, x[i:i + 1], STEPS))
    except Exception as exc:  # noqa: BLE001  (a class that needs a closure, refuses the shapes, ...)
        return False, f"the batching probe could not step it: {type(exc).__name__}"
    alone = torch.cat(alone)
    same = torch.equal(together.view(torch.int32), alone.view(torch.int32))
    if same:
        return True, "the batching probe found rows independent, bit for bit"
    return False, "the batching probe found rows coupled: batched differs from one row at a time"


def batching(cls, kwargs: dict, forced=None) -> tuple[bool, str]:
    """``(batched, why)``: may one optimizer of ``cls`` drive all starts as one tensor?

    ``forced``: the user's ``optimizer.batched`` (True/False decides, None probes)."""
    from gradexp.optim import is_elementwise

    if forced is not None:
        return bool(forced), f"optimizer.batched={str(bool(forced)).lower()}"
    if is_elementwise(cls):
        return True, "element-wise torch.optim class"
    try:
        key = tuple(sorted((k, _hashable(v)) for k, v in kwargs.items()))
    except TypeError:
        key = None
    if key is None:
        return _verdict.__wrapped__(cls, tuple(kwargs.items()))
    return _verdict(cls, key)


def _hashable(v):
    if isinstance(v, list):
        return tuple(_hashable(i) for i in v)
    if isinstance(v, dict):
        raise TypeError("unhashable")
    hash(v)
    return v
