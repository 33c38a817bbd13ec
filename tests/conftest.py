"""Shared fixtures: compose gradexp configs the way the command line does, without a subprocess."""

import os
import sys

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

# CI runs the property tests on hypothesis's fixed sequence of examples (no flaky failures);
# elsewhere every run explores new examples.
if os.environ.get("CI"):
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, deadline=None)
    settings.load_profile("ci")


def same_bits(a, b) -> bool:
    """float32 arrays equal to the last bit; NaN matches NaN."""
    import numpy as np

    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    if a.shape != b.shape:
        return False
    nan = np.isnan(a)
    return bool(np.array_equal(nan, np.isnan(b)) and np.array_equal(a[~nan].view(np.int32), b[~nan].view(np.int32)))


def compose(*overrides):
    """The config ``python -m gradexp OVERRIDES`` would run (plots off unless asked for)."""
    from hydra import compose as _compose
    from hydra import initialize_config_module

    with initialize_config_module(config_module="gradexp.conf", version_base=None):
        return _compose("config", overrides=["plot.enabled=false", *overrides])


@pytest.fixture
def cfg_of():
    return compose


def run_cli(args, cwd=None, env=None, timeout=300, module="gradexp"):
    """Run ``python -m MODULE ARGS`` (default ``gradexp``) in ``cwd`` in a fresh process; return the
    CompletedProcess. Agg backend; HYDRA_FULL_ERROR only when ``env`` sets it."""
    import subprocess

    full_env = dict(os.environ, MPLBACKEND="Agg")
    full_env.pop("HYDRA_FULL_ERROR", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def run_cli_inprocess(args, cwd):
    """``python -m gradexp ARGS`` inside this process (no torch import per case): a CompletedProcess.

    The command line's own code path (gradexp.__main__.main, Hydra and all) runs with sys.argv,
    the working folder, the environment and the signal handlers restored afterwards.
    """
    import contextlib
    import io
    import signal
    import subprocess
    from unittest import mock

    from hydra.core.global_hydra import GlobalHydra

    import gradexp.__main__ as cli
    from gradexp import startup

    out, err = io.StringIO(), io.StringIO()
    saved = (list(sys.argv), os.getcwd(), dict(os.environ), signal.getsignal(signal.SIGTERM),
             signal.getsignal(signal.SIGINT))
    code = 0
    try:
        sys.argv = ["gradexp", *args]
        os.chdir(cwd)
        os.environ.pop("HYDRA_FULL_ERROR", None)
        os.environ.pop("GRADEXP_FULL_ERROR", None)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                mock.patch.object(startup, "pause", lambda: None):  # the test process's collector is left alone
            try:
                cli.main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv[:] = saved[0]
        os.chdir(saved[1])
        os.environ.clear()
        os.environ.update(saved[2])
        signal.signal(signal.SIGTERM, saved[3])
        signal.signal(signal.SIGINT, saved[4])
        GlobalHydra.instance().clear()
    return subprocess.CompletedProcess(["gradexp", *args], code, out.getvalue(), err.getvalue())
