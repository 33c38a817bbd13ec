"""Per-run plots drawn headless from small hand-made tables."""

import matplotlib.image as mpimg
import numpy as np
import pandas as pd

from gradexp import plots
from gradexp.objectives import build


def _tables():
    trace = pd.DataFrame({"start": [0, 0, 0, 1, 1], "step": [0, 1, 10, 0, 10],
                          "x0": [0.0, 1.0, 3.0, -4.0, -3.8], "x1": [0.0, 1.0, 2.0, -4.0, -3.3],
                          "f": [170.0, 106.0, 0.0, 26.0, 0.1], "grad_norm": 1.0, "lr": 0.1})
    summary = pd.DataFrame({"start": [0, 1], "status": ["max_steps", "diverged"], "steps": [10, 10],
                            "x0": [3.0, np.nan], "x1": [2.0, np.nan], "start_x0": [0.0, -4.0], "start_x1": [0.0, -4.0]})
    return trace, summary


def _size(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    h, w = mpimg.imread(path).shape[:2]
    return w, h


def test_convergence_with_and_without_f_star(tmp_path):
    trace, _ = _tables()
    plots.convergence(trace, 0.0, tmp_path / "a.png", title="t")
    plots.convergence(trace, None, tmp_path / "b.png", title="t")
    plots.convergence(trace, 181.6, tmp_path / "c.png", title="t", maximize=True)
    for name in "abc":
        assert _size(tmp_path / f"{name}.png") == (770, 495)  # 7 x 4.5 in at 110 dpi


def test_trajectory_marks_optima_and_handles_diverged(tmp_path):
    trace, summary = _tables()
    problem = build({"_target_": "gradexp.objectives.himmelblau", "dim": 2})
    plots.trajectory(trace, summary, problem, False, tmp_path / "t.png", title="t", resolution=50)
    plots.trajectory(trace, summary, problem, True, tmp_path / "m.png", title="t", resolution=50)
    assert _size(tmp_path / "t.png") == (715, 605)
    assert _size(tmp_path / "m.png") == (715, 605)
