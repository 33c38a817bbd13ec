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
