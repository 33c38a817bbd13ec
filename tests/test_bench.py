"""Smoke test of the benchmark at tiny sizes: it runs, writes the CSV columns and computes the ratios."""

import csv

import pytest

from gradexp import bench


def test_quick_bench_writes_csv_with_ratios(tmp_path):
    out = tmp_path / "b.csv"
    b = bench.main(["--quick", "--cases", "tutorial,bare,runner", "--sizes", "4", "--optimizers", "adam",
                    "--steps", "5", "--out", str(out)])
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0].keys()) == bench.COLUMNS
    cases = [r["case"] for r in rows]
    assert cases == ["tutorial", "bare", "runner"]
    tutorial, runner = rows[0], rows[2]
    assert float(runner["point_steps_per_s"]) == 4 * 5 / float(runner["seconds"])
    assert float(runner["speedup_vs_tutorial"]) == pytest.approx(
        float(runner["point_steps_per_s"]) / float(tutorial["point_steps_per_s"]), rel=1e-6)
    assert any(name.startswith("2.") for name, _, _ in b.targets)


def test_runner_row_ratio_is_the_runner_time_over_the_bare_time(tmp_path, monkeypatch):
    """With every bare loop taking 2 s and every runner run 3 s, the row says run/bare = 1.5."""
    monkeypatch.setattr(bench, "bare_loop", lambda *a, **k: 2.0)
    monkeypatch.setattr(bench, "runner_run", lambda overrides: (3.0, None))
    out = tmp_path / "b.csv"
    bench.main(["--quick", "--cases", "bare,runner", "--sizes", "4", "--optimizers", "adam", "--steps", "5",
                "--out", str(out)])
    bare, runner = list(csv.DictReader(out.open()))
    assert (bare["case"], float(bare["seconds"])) == ("bare", 2.0)
    assert (runner["case"], float(runner["seconds"]), float(runner["runner_over_bare"])) == ("runner", 3.0, 1.5)


def test_quick_study_reports_vector_rows_and_deviation(tmp_path, monkeypatch):
    """The study rows: one vector job per function and optimizer, a sampled exact deviation."""
    monkeypatch.setattr(bench, "_lion", lambda: None)  # keep it short: Adam and SGD only
    out = tmp_path / "s.csv"
    b = bench.main(["--quick", "--cases", "study", "--out", str(out)])
    rows = list(csv.DictReader(out.open()))
    assert [(r["objective"], r["optimizer"]) for r in rows] == [
        ("rastrigin", "adam"), ("rastrigin", "sgd"), ("rosenbrock", "adam"), ("rosenbrock", "sgd")]
    assert [int(r["N"]) for r in rows] == [20, 40, 20, 40]
    for r in rows:
        assert r["case"] == "study_vec" and float(r["max_abs_dev"]) >= 0
    assert any(name.startswith("6.") for name, _, _ in b.targets)


def test_help_target_measured(tmp_path):
    b = bench.main(["--quick", "--cases", "help", "--out", str(tmp_path / "h.csv")])
    (name, ok, detail), = [t for t in b.targets if t[0].startswith("3.")]
    assert detail.endswith(" s") and float(detail.split()[0]) > 0


def test_sandwich_ratio_cancels_a_linear_drift():
    """The machine slows down steadily while a row is timed (each run 10 % of the first run's time
    slower than the one before); the runner costs 1.15 x the bare loop at any one moment. Each runner
    run against the mean of the bare runs around it reads 1.15; against the bare run before it alone,
    more."""
    speed = [1 + 0.1 * i for i in range(7)]  # bare, runner, bare, runner, bare, runner, bare
    bare = [speed[i] for i in (0, 2, 4, 6)]
    runner = [1.15 * speed[i] for i in (1, 3, 5)]
    ratios = bench.sandwich_ratios(bare, runner)
    assert len(ratios) == 3
    assert all(abs(r - 1.15) < 1e-12 for r in ratios)
    assert all(r / b > 1.19 for r, b in zip(runner, bare))  # the one-sided pair keeps the drift


def _sandwiches(ratios, bare=0.3):
    """Timings of a row whose runner runs read ``ratios`` against a bare loop of ``bare`` seconds."""
    return [bare] * (len(ratios) + 1), [r * bare for r in ratios]


def test_a_steady_row_stops_at_the_least_runs_and_a_noisy_one_goes_on():
    repeat = 5
    steady = [1.10, 1.11, 1.10, 1.09, 1.10, 1.11, 1.10, 1.09, 1.10]  # 2 x repeat - 1 runs, tight quartiles
    assert bench.more_runs_needed(*_sandwiches(steady[:8]), True, repeat)  # fewer than the least
    assert not bench.more_runs_needed(*_sandwiches(steady), True, repeat)
    noisy = [1.0, 1.2, 1.05, 1.25, 1.1, 0.95, 1.3, 1.0, 1.15]
    assert bench.median_halfwidth(noisy) > bench.PRECISION
    assert bench.more_runs_needed(*_sandwiches(noisy), True, repeat)
    noisy19 = (noisy * 3)[:4 * repeat - 1]
    assert not bench.more_runs_needed(*_sandwiches(noisy19), True, repeat)  # the most runs


def test_long_rows_take_between_three_and_five_runner_runs():
    repeat = 5
    long_noisy = [1.0, 1.3, 1.1, 1.2, 1.05]
    assert bench.more_runs_needed(*_sandwiches(long_noisy[:2], bare=6.0), True, repeat)
    assert bench.more_runs_needed(*_sandwiches(long_noisy[:4], bare=6.0), True, repeat)  # still imprecise
    assert not bench.more_runs_needed(*_sandwiches(long_noisy, bare=6.0), True, repeat)
    long_steady = [1.10, 1.10, 1.11, 1.10]
    assert bench.more_runs_needed(*_sandwiches(long_steady[:3], bare=6.0), True, repeat)  # < 4 values: unknown
    assert not bench.more_runs_needed(*_sandwiches(long_steady, bare=6.0), True, repeat)


def test_unpaired_and_quick_rows_take_repeat_runs():
    assert bench.more_runs_needed([0.3] * 4, [], False, 5)
    assert not bench.more_runs_needed([0.3] * 5, [], False, 5)
    assert not bench.more_runs_needed([0.3, 0.3], [0.5], True, 1)  # --quick: one runner run


def test_median_halfwidth_is_the_standard_error_of_a_normal_median():
    import random
    import statistics

    rng = random.Random(0)
    values = [rng.gauss(1.1, 0.02) for _ in range(400)]
    # sigma 0.02, n 400: the standard error of the median is 1.2533 * 0.02 / 20 = 0.00125
    assert abs(bench.median_halfwidth(values) - 1.2533 * 0.02 / 20) < 0.0002
    assert bench.median_halfwidth([1.0, 1.1, 1.2]) == float("inf")
    assert abs(statistics.median(values) - 1.1) < 3 * 0.00125


def test_quick_ladder_case_times_both_target_sets(tmp_path):
    from gradexp import bench

    b = bench.main(["--quick", "--cases", "ladder", "--out", str(tmp_path / "l.csv")])
    rows = [r for r in b.rows if r["case"] == "ladder"]
    assert sorted((r["optimizer"], r["note"].split(";")[0]) for r in rows) == [
        ("adam/exact", "report.targets=coco"), ("adam/exact", "report.targets=default"),
        ("adam/vector", "report.targets=coco"), ("adam/vector", "report.targets=default")]
    assert any(name.startswith("8. COCO's 51 targets") for name, _, _ in b.targets)
