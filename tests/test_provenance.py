"""The config hash that resumes a sweep: what counts as the same job."""

import pytest

from gradexp.provenance import config_hash
from tests.conftest import compose, run_cli_inprocess

SAME = ["resume=false", "run.progress=false", "plot.parallel=false", "report.print_every=5", "report.format=seed",
        "report.print_tensors=true", "report.max_starts=2", "report.basins=true", "report.holdout=0.3",
        "report.coco=true"]
DIFFERENT = ["run.steps=11", "seed=1", "optimizer.lr=0.5", "report.targets=coco", "report.targets=[1,2]",
             "plot.max_paths=3", "plot.enabled=true", "run.log.points=7", "start.n=3"]


@pytest.mark.parametrize("override", SAME)
def test_printing_and_sweep_report_settings_are_the_same_job(override):
    assert config_hash(compose("run.steps=10", override)) == config_hash(compose("run.steps=10"))


@pytest.mark.parametrize("override", DIFFERENT)
def test_what_changes_a_jobs_files_is_another_job(override):
    assert config_hash(compose("run.steps=10", override)) != config_hash(compose("run.steps=10"))


def test_a_sweep_resumed_with_the_report_settings_changed_skips_its_jobs(tmp_path):
    args = ["-m", "optimizer=sgd,adam", "run.steps=20", "start.n=2", "plot.enabled=false",
            f"hydra.sweep.dir={tmp_path / 'sw'}"]
    first = run_cli_inprocess(args, tmp_path)
    assert first.returncode == 0, first.stderr
    again = run_cli_inprocess([*args, "report.holdout=0.5", "report.basins=true"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already complete") == 2
    assert (tmp_path / "sw" / "holdout.csv").is_file()  # the report is rebuilt with the new settings
    redo = run_cli_inprocess([*args, "report.targets=[1,1e-3]"], tmp_path)
    assert redo.returncode == 0 and "already complete" not in redo.stdout
