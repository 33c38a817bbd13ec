"""Metric functions of the sweep report on small hand-made tables (answers worked out by hand)."""

import math

import numpy as np
import pandas as pd
import pytest

from gradexp.report import metrics as M

inf, nan = math.inf, math.nan


def test_art_counts_unsuccessful_and_diverged_starts():
    # start 0 reached at step 10; start 1 diverged after 50 steps (cost 50); start 2 reached at 30.
    # aRT = (10 + 50 + 30) / 2 successes = 45
    cost, ok = M.start_costs([10, nan, 30], [100, 50, 100], ["max_steps", "diverged", "converged"], 100)
    assert cost.tolist() == [10, 50, 30]
    assert ok.tolist() == [True, False, True]
    assert M.average_runtime(cost, ok) == 45.0


def test_art_is_inf_without_success():
    # nobody reached the target: sum 300 / 0 successes -> inf
    cost, ok = M.start_costs([nan, nan], [100, 200], ["max_steps", "max_steps"], 200)
    assert cost.tolist() == [100, 200]
    assert M.average_runtime(cost, ok) == inf


def test_start_without_steps_costs_budget_only_when_it_failed():
    # error with empty steps -> budget 200; error with 0 steps -> 200; interrupted 0 -> 200;
    # max_steps with 0 steps (a run.steps=0 job) -> 0; reached at step 0 -> 0 (success)
    cost, ok = M.start_costs([nan, nan, nan, nan, 0], [nan, 0, 0, 0, 0],
                             ["error", "error", "interrupted", "max_steps", "max_steps"], 200)
    assert cost.tolist() == [200, 200, 200, 0, 0]
    assert ok.tolist() == [False, False, False, False, True]
    # one success at cost 0, total cost 600 -> aRT 600
    assert M.average_runtime(cost, ok) == 600.0


def test_ecdf_step_values():
    # runtimes 1, 3 reached; inf and nan are failures; 4 pairs in all
    r = [1, 3, inf, nan]
    assert M.ecdf(r, [0, 1, 2, 3, 100]).tolist() == [0.0, 0.25, 0.25, 0.5, 0.5]
    assert M.ecdf([], [1, 2]).tolist() == [0.0, 0.0]


def test_performance_profile_values():
    # problems x solvers; ratios: p0 [1, 2], p1 [2, 1], p2 [1, inf], p3 (nobody) [inf, inf]
    costs = [[1, 2], [4, 2], [3, inf], [inf, nan]]
    r = M.performance_ratios(costs)
    assert r.tolist() == [[1, 2], [2, 1], [1, inf], [inf, inf]]
    rho = M.performance_profile(costs, [1, 1.5, 2, 100])
    # tau=1: solver0 best on p0, p2 -> 2/4; solver1 on p1 -> 1/4
    # tau=2: solver0 p0, p1, p2 -> 3/4; solver1 p0, p1 -> 2/4
    assert rho.tolist() == [[0.5, 0.25], [0.5, 0.25], [0.75, 0.5], [0.75, 0.5]]


def test_holdout_split_is_deterministic_and_by_index():
    # frac((i+1)*0.6180339887): .618 .236 .854 .472 .090 .708 .326 .944 .562 .180
    # held out (< 0.5): i = 1, 3, 4, 6, 9
    mask = M.holdout_mask(np.arange(10), 0.5)
    assert np.flatnonzero(mask).tolist() == [1, 3, 4, 6, 9]
    assert M.holdout_mask(np.arange(10)[::-1], 0.5).tolist() == mask[::-1].tolist()
    assert np.array_equal(M.holdout_mask(np.arange(10), 0.5), mask)
    assert not M.holdout_mask(np.arange(100), 0.0).any()
    assert abs(M.holdout_mask(np.arange(1000), 0.3).mean() - 0.3) < 0.01


def test_quantile_with_inf_and_nan():
    assert M.quantile([1, 2, 3, 4], 0.5) == 2.5          # (2 + 3) / 2
    assert M.quantile([4, 1, 3, 2], 0.25) == 1.75        # pos 0.75 between 1 and 2
    assert M.quantile([1, 2, inf], 0.5) == 2             # exact order statistic
    assert M.quantile([1, 2, inf], 0.75) == inf          # between 2 and inf
    assert M.quantile([1, nan, 3], 0.5) == 3             # nan counts as inf: sorted 1, 3, inf
    assert math.isnan(M.quantile([], 0.5))


def test_final_gap_floors_and_counts_divergence_as_failure():
    g = M.final_gap([1.0, 1e-20, inf, 5.0, nan], 0.0, ["max_steps", "converged", "diverged", "diverged", "error"])
    assert g.tolist() == [1.0, 1e-12, inf, inf, inf]
    # maximize: f* = 10, f = 9 -> gap 1
    assert M.final_gap([9.0], 10.0, ["max_steps"], maximize=True).tolist() == [1.0]


def test_first_hit_on_logged_steps():
    steps, f = [0, 1, 5, 10], [100.0, 20.0, 5.0, 0.05]
    assert M.first_hit(steps, f, 0.0, 10) == 5        # 5 <= 0 + 10 first at step 5
    assert M.first_hit(steps, f, 0.0, 0.1) == 10
    assert math.isnan(M.first_hit(steps, f, 0.0, 1e-3))
    # maximize: f* = 10; f >= 10 - 1 first at step 2
    assert M.first_hit([0, 1, 2], [0.0, 5.0, 9.5], 10.0, 1.0, maximize=True) == 2


def _starts(costs, oks, gaps, status=None):
    n = len(gaps)
    d = {"gap": gaps, "status": status or ["max_steps"] * n}
    for lab, c, o in zip(("1e1", "1e-1", "1e-3", "1e-5", "1e-7"), costs, oks):
        d[f"cost_{lab}"], d[f"ok_{lab}"] = c, o
    return pd.DataFrame(d)


def test_configuration_metrics_and_ranking():
    # config A: 2 starts, each target reached at 10 and 20 -> aRT (10 + 20) / 2 = 15
    a = _starts([[10, 20]] * 5, [[True, True]] * 5, [1e-9, 1e-8])
    # config B: target 1e1..1e-5 at 5 and 5, 1e-7 reached by one start at 5, the other ran 100 steps:
    # aRT(1e-7) = (5 + 100) / 1 = 105
    b = _starts([[5, 5]] * 4 + [[5, 100]], [[True, True]] * 4 + [[True, False]], [1e-9, 1e-6],
                ["max_steps", "diverged"])
    rows = []
    for cfg, s in (("A", a), ("B", b)):
        for m in M.configuration_metrics(s, [100, 100]):
            rows.append({"config": cfg, **m})
    m = pd.DataFrame(rows)
    arts = m.set_index(["config", "target"])["aRT"]
    assert arts[("A", 1e-7)] == 15 and arts[("B", 1e-7)] == 105 and arts[("B", 1e1)] == 5
    assert m.loc[m["config"] == "B", "diverged"].iloc[0] == 1
    assert m.loc[m["config"] == "B", "budget"].iloc[0] == 200
    # deciding target: the tightest reached (1e-7): A (15) beats B (105)
    order, t = M.rank_configurations(m)
    assert order == ["A", "B"] and t == 1e-7
    # nobody reached anything: ranked by median gap
    none = m.assign(successes=0, aRT=inf)
    order, t = M.rank_configurations(none)
    assert t is None and order == ["A", "B"]  # median gaps 5.5e-9 (A) < 5.005e-7 (B)


@pytest.mark.parametrize("t, lab", [(10, "1e1"), (0.1, "1e-1"), (1e-3, "1e-3"), (1e-5, "1e-5"), (1e-7, "1e-7"),
                                    (100, "1e2"), (1, "1e0"), (1e-8, "1e-8")])
def test_target_labels_of_powers_of_ten(t, lab):
    assert M.target_label(t) == lab and float(lab) == t


@pytest.mark.parametrize("t, lab", [(10 ** 1.8, "1e1.8"), (10 ** -0.2, "1e-0.2"), (10 ** -7.6, "1e-7.6"),
                                    (0.5, "0.5"), (2e-3, "0.002"),
                                    (0.1000000000000002, "1e-1")])  # numpy's 10 ** -1.0000000000000004
def test_target_labels_of_other_numbers(t, lab):
    assert M.target_label(t) == lab


def test_configuration_metrics_gap_quartiles():
    # gaps sorted 0.5, 1, 2, 8, 32 (positions 0..4): Q1 at position 1 -> 1, median at 2 -> 2, Q3 at 3 -> 8
    # (numpy's default linear quantile gives the same: positions q * (n - 1) fall on whole numbers)
    s = _starts([[1] * 5] * 5, [[True] * 5] * 5, [32.0, 0.5, 8.0, 1.0, 2.0])
    row = M.configuration_metrics(s, [10] * 5)[0]
    assert (row["gap_q1"], row["gap_median"], row["gap_q3"]) == (1.0, 2.0, 8.0)
    # four gaps 1, 2, 4, 8: Q1 at position 0.75 -> 1.75, median 3, Q3 at position 2.25 -> 4 + 0.25 * 4 = 5
    s = _starts([[1] * 4] * 5, [[True] * 4] * 5, [8.0, 4.0, 2.0, 1.0])
    row = M.configuration_metrics(s, [10] * 4)[0]
    assert (row["gap_q1"], row["gap_median"], row["gap_q3"]) == (1.75, 3.0, 5.0)


def test_ranking_ties_on_art_and_gap_broken_by_higher_success_rate():
    # A: 2 starts, one reached every target at step 10, the other ran 10 steps: aRT 20 / 1 = 20, rate 1/2
    # B: 3 starts, all reached at 5, 5, 50: aRT 60 / 3 = 20, rate 1; same median gap 1e-3 -> B first
    a = _starts([[10, 10]] * 5, [[True, False]] * 5, [1e-3, 1e-3])
    b = _starts([[5, 5, 50]] * 5, [[True, True, True]] * 5, [1e-3, 1e-3, 1e-3])
    rows = [{"config": cfg, **m} for cfg, s in (("A", a), ("B", b)) for m in M.configuration_metrics(s, [100] * len(s))]
    m = pd.DataFrame(rows)
    assert set(m["aRT"]) == {20.0}
    order, t = M.rank_configurations(m)
    assert order == ["B", "A"] and t == 1e-7
    # without the success-rate tie, the median gap decides: A's smaller gap puts it first
    a_better_gap = _starts([[10, 10]] * 5, [[True, False]] * 5, [1e-4, 1e-4])
    rows = [{"config": cfg, **m} for cfg, s in (("A", a_better_gap), ("B", b))
            for m in M.configuration_metrics(s, [100] * len(s))]
    assert M.rank_configurations(pd.DataFrame(rows))[0] == ["A", "B"]
