"""The compiled engine (run.engine=compiled) against the exact path on a few starts.

Tolerance: the engine fuses the same float32 formulas in another order, so each step differs from
torch.optim by a few ulps; on these well-conditioned runs (Himmelblau near a minimum, 60 steps,
|x| <= 5) the difference stays below 1e-4 absolute. Statuses and stop steps are decided by the
same rules and agree exactly.
"""

import math

import numpy as np
import pytest

from gradexp.errors import ConfigError
from gradexp.runner import run
from tests.conftest import compose
from tests.helpers import himmelblau

POINTS = "start.points=[[0,0],[1,-1],[-4,4],[3.5,-1.5],[2e4,2e4]]"  # the last one starts beyond the divergence radius


def test_unsupported_optimizer_refused():
    with pytest.raises(ConfigError, match="compiled does not support optimizer torch.optim.LBFGS"):
        run(compose("optimizer=lbfgs", "run.engine=compiled", "run.steps=3", "start=point"))


def test_unknown_engine_refused():
    with pytest.raises(ConfigError, match="run.engine='fast'"):
        run(compose("run.engine=fast", "run.steps=3", "start=point"))


@pytest.mark.slow
@pytest.mark.parametrize("opt", [["optimizer=adam", "optimizer.lr=0.05"],
                                 ["optimizer=sgd", "optimizer.lr=0.002", "optimizer.momentum=0.9",
                                  "optimizer.nesterov=true"],
                                 ["optimizer=rmsprop", "optimizer.lr=0.01"]])
def test_compiled_close_to_exact(opt):
    """Same columns, steps, statuses and stop steps; points within 1e-4 (compiles: ~30 s each)."""
    base = [*opt, "start=points", POINTS, "run.steps=60"]
    te, se = run(compose(*base))
    tc, sc = run(compose(*base, "run.engine=compiled"))
    assert list(tc.columns) == list(te.columns) and list(sc.columns) == list(se.columns)
    assert (tc[["start", "step"]].to_numpy() == te[["start", "step"]].to_numpy()).all()
    assert list(sc["status"]) == list(se["status"])
    assert list(sc["status"])[-1] == "diverged"
    assert list(sc["steps"]) == list(se["steps"])
    ok = se["status"] != "diverged"
    assert np.allclose(sc.loc[ok, ["x0", "x1"]].to_numpy(float), se.loc[ok, ["x0", "x1"]].to_numpy(float),
                       rtol=0, atol=1e-4)


# --- run.engine=vector: the same functional steps, eager, one [G, 1] tensor per hyper-parameter ---

def _lion_available():
    try:
        from pytorch_optimizer import Lion  # noqa: F401
    except ImportError:
        return False
    return True


def adam_loop(lr, steps, start, clip):
    """A plain torch.optim.Adam loop on Himmelblau with per-start gradient-norm clipping."""
    import torch

    x = torch.tensor(start, requires_grad=True)
    o = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        o.zero_grad()
        f = himmelblau(x)
        f.backward()
        torch.nn.utils.clip_grad_norm_([x], clip)
        o.step()
    return x.detach().numpy()


def test_vector_engine_many_lrs_match_torch_loops():
    """Each of several lrs in one vector job ends where a plain torch.optim loop with that lr ends."""
    lrs = [0.001, 0.01, 0.05, 0.2]
    _, s = run(compose("optimizer=adam", "start=point", "start.x=[0,0]", "run.steps=80", "run.clip_grad_norm=1.0",
                       "+run.hparams={lr:[%s]}" % ",".join(map(str, lrs)), "run.engine=vector"))
    assert list(s["optimizer.lr"]) == lrs
    for i, lr in enumerate(lrs):
        ref = adam_loop(lr, 80, [0.0, 0.0], 1.0)
        assert np.allclose(s.loc[i, ["x0", "x1"]].to_numpy(float), ref, rtol=0, atol=1e-4), lr


@pytest.mark.parametrize("opt", [["optimizer=sgd", "optimizer.momentum=0.9", "optimizer.nesterov=true"],
                                 ["optimizer=rmsprop", "optimizer.centered=true", "optimizer.momentum=0.5"],
                                 ["optimizer=adamw"]])
def test_vector_engine_close_to_exact(opt):
    """Statuses, stop steps and first hitting steps equal the exact path's; points within 1e-4."""
    base = [*opt, "optimizer.lr=0.002", "start=points", POINTS, "run.steps=60", "+run.hparams={weight_decay:[0,0.1]}"]
    _, se = run(compose(*base))
    _, sv = run(compose(*base, "run.engine=vector"))
    assert list(sv.columns) == list(se.columns)
    assert list(sv["status"]) == list(se["status"]) and list(sv["steps"]) == list(se["steps"])
    ok = se["status"] != "diverged"
    assert np.allclose(sv.loc[ok, ["x0", "x1"]].to_numpy(float), se.loc[ok, ["x0", "x1"]].to_numpy(float),
                       rtol=0, atol=1e-4)
    rt = [c for c in se.columns if c.startswith("rt_")]
    assert se[rt].fillna(-1).equals(sv[rt].fillna(-1))


@pytest.mark.skipif(not _lion_available(), reason="pytorch-optimizer not installed")
def test_vector_engine_lion_matches_its_optimizer():
    """Lion (pytorch_optimizer) written out per row: each lr equals the library's own optimizer run alone."""
    import torch
    from pytorch_optimizer import Lion

    lrs = [1e-3, 1e-2, 0.1]
    _, s = run(compose("optimizer=custom", "optimizer._target_=pytorch_optimizer.Lion", "optimizer.lr=1e-4",
                       "start=point", "start.x=[-2,3.5]", "objective=rastrigin", "run.steps=50",
                       "+run.hparams={lr:[%s],weight_decay:[0,0.5]}" % ",".join(map(str, lrs)), "run.engine=vector"))
    i = 0
    for lr in lrs:
        for wd in (0.0, 0.5):
            x = torch.tensor([-2.0, 3.5], requires_grad=True)
            o = Lion([x], lr=lr, weight_decay=wd)
            for _ in range(50):
                o.zero_grad()
                (20 + (x ** 2 - 10 * torch.cos(2 * math.pi * x)).sum()).backward()
                o.step()
            assert np.allclose(s.loc[i, ["x0", "x1"]].to_numpy(float), x.detach().numpy(), rtol=0, atol=1e-5), (lr, wd)
            i += 1


def test_vector_engine_refuses_unsupported():
    with pytest.raises(ConfigError, match="run.engine=vector does not support optimizer torch.optim.LBFGS"):
        run(compose("optimizer=lbfgs", "run.engine=vector", "run.steps=3", "start=point"))
    with pytest.raises(ConfigError, match="run.threads=0"):
        run(compose("run.engine=compiled", "+run.threads=0", "run.steps=3", "start=point"))
