"""``python -m gradexp --help`` is answered without starting Hydra: it must equal Hydra's own help."""

import pytest

from tests.conftest import run_cli


def test_fast_help_equals_hydras_help(tmp_path):
    """The fast path (only --help) prints exactly what Hydra prints for the same config.

    ``seed=0 --help`` composes the same default config but goes through Hydra's own help.
    """
    fast = run_cli(["--help"], cwd=tmp_path)
    hydra = run_cli(["seed=0", "--help"], cwd=tmp_path)
    assert fast.returncode == 0 and hydra.returncode == 0, (fast.stderr, hydra.stderr)
    assert fast.stdout == hydra.stdout
    assert "== Config groups ==" in fast.stdout and "optimizer: adadelta, adagrad, adam" in fast.stdout
    assert "engine: exact" in fast.stdout


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_flags_print_groups_and_defaults(tmp_path, flag):
    out = run_cli([flag], cwd=tmp_path)
    assert out.returncode == 0 and out.stderr == ""
    text = out.stdout
    assert "objective: ackley, bbob, beale" in text and "start: grid, point, points, uniform" in text
    assert "objective:\n  _target_: gradexp.objectives.himmelblau" in text
    assert "optimizer:\n  _target_: torch.optim.Adam" in text
