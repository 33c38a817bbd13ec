"""Shared fixtures: compose gradexp configs the way the command line does, without a subprocess."""

import os
import sys

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


def compose(*overrides):
    """The config ``python -m gradexp OVERRIDES`` would run (plots off unless asked for)."""
    from hydra import compose as _compose
    from hydra import initialize_config_module

    with initialize_config_module(config_module="gradexp.conf", version_base=None):
        return _compose("config", overrides=["plot.enabled=false", *overrides])


@pytest.fixture
def cfg_of():
    return compose


def run_cli(args, cwd, env=None, timeout=300):
    """Run ``python -m gradexp ARGS`` in ``cwd``; return the CompletedProcess."""
    import subprocess

    full_env = dict(os.environ, MPLBACKEND="Agg", **(env or {}))
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([sys.executable, "-m", "gradexp", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
