"""summary.csv's `minimum` column against the README's promise: the index, in the README's order of
the objective's known optima, of the optimum a start ended within 1e-2 of; empty when none."""

import numpy as np
import pandas as pd

import gradexp
from tests.conftest import compose
from tests.helpers import CLOSE_TO_OPTIMUM, HIMMELBLAU_MINIMA


def test_minimum_index_within_the_promised_distance():
    """run.steps=0 ends every start where it began: points placed at known distances from the minima."""
    offsets = [0.5, 0.05, 0.4 * CLOSE_TO_OPTIMUM, 3e-3, 2 * CLOSE_TO_OPTIMUM, 1e-5]
    points = [(HIMMELBLAU_MINIMA[j % 4][0] + dx, HIMMELBLAU_MINIMA[j % 4][1]) for j, dx in enumerate(offsets)]
    spec = "start.points=[%s]" % ",".join(f"[{a!r},{b!r}]" for a, b in points)
    _, s = gradexp.run(compose("objective=himmelblau", "start=points", spec, "run.steps=0"))
    minima = np.array(HIMMELBLAU_MINIMA)
    for i, p in enumerate(points):
        d = np.linalg.norm(minima - np.array(p, dtype=np.float32), axis=1)
        want = int(d.argmin()) if d.min() <= CLOSE_TO_OPTIMUM else None
        got = s.loc[i, "minimum"]
        if want is None:
            assert pd.isna(got), (i, got)
        else:
            assert not pd.isna(got) and got == want, (i, got, want)
    assert s["minimum"].isna().sum() == 3 and set(s["minimum"].dropna()) == {1, 2, 3}
