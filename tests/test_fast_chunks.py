"""The compiled engine over many steps with sparse logging, so that almost every step runs inside a
multi-step compiled chunk, against plain torch.optim loops written here.

README ("Exact, compiled or vector"): the compiled engine's points agree with the exact path "to a
few float32 ulps per step". The tolerance below is that promise taken generously: 8 ulps of the
largest |x| on the path, per step. Adam (lr 0.01, 240 steps from these starts) is still travelling
towards a minimum, so an error in any step's coefficients (bias corrections change every step)
moves the end point by ~1e-2, far above it.
"""

import numpy as np
import pytest
import torch

import gradexp
from tests.conftest import compose
from tests.helpers import plain_loop

STARTS = [(0.0, 0.0), (1.0, -1.0), (-1.0, 0.5)]
STEPS = 240


@pytest.mark.slow
def test_compiled_chunks_follow_plain_adam():
    """Logged steps are 0, a few early ones and the last: the run is mostly fused chunks (~1 min: compiles)."""
    points = "start.points=[%s]" % ",".join(f"[{a},{b}]" for a, b in STARTS)
    trace, s = gradexp.run(compose("optimizer=adam", "optimizer.lr=0.01", "start=points", points,
                                   f"run.steps={STEPS}", "run.log.points=3", "run.engine=compiled"))
    assert trace.groupby("start").size().max() <= 6  # sparse: chunks of steps between logged steps
    ulp = np.spacing(np.float32(5.0))  # |x| stays below 5 on these paths
    tol = 8 * ulp * STEPS
    for i, start in enumerate(STARTS):
        fs, x = plain_loop(torch.optim.Adam, dict(lr=0.01), STEPS, start)
        got = s.loc[i, ["x0", "x1"]].to_numpy(np.float64)
        assert np.abs(got - x).max() <= tol, (i, got, x, tol)
        assert abs(s.loc[i, "f_final"] - fs[-1]) <= 1e-3 * max(1.0, abs(fs[-1])), i
        assert s.loc[i, "steps"] == STEPS and s.loc[i, "status"] == "max_steps"
