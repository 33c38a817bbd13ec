"""The compiled engine (run.engine=compiled) against the exact path on a few starts.

Tolerance: the engine fuses the same float32 formulas in another order, so each step differs from
torch.optim by a few ulps; on these well-conditioned runs (Himmelblau near a minimum, 60 steps,
|x| <= 5) the difference stays below 1e-4 absolute. Statuses and stop steps are decided by the
same rules and agree exactly.
"""

import numpy as np
import pytest

from gradexp.errors import ConfigError
from gradexp.runner import run
from tests.conftest import compose

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
