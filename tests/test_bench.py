"""Smoke test of the benchmark at tiny sizes: it runs, writes the CSV columns and computes the ratios."""

import csv

from gradexp import bench


def test_quick_bench_writes_csv_with_ratios(tmp_path):
    out = tmp_path / "b.csv"
    b = bench.main(["--quick", "--cases", "tutorial,bare,runner", "--sizes", "4", "--optimizers", "adam",
                    "--steps", "5", "--out", str(out)])
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0].keys()) == bench.COLUMNS
    cases = [r["case"] for r in rows]
    assert cases == ["tutorial", "bare", "runner"]
    runner = rows[2]
    assert float(runner["runner_over_bare"]) > 0
    assert float(runner["point_steps_per_s"]) == 4 * 5 / float(runner["seconds"])
    assert float(runner["speedup_vs_tutorial"]) > 0
    assert any(name.startswith("2.") for name, _, _ in b.targets)


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
