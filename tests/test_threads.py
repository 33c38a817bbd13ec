"""The thread policy (gradexp.threads): one thread for small work, under a parallel launcher and when
no other core is idle; ``run.threads`` wins. Speed is measured by ``python -m gradexp.bench --cases busy``."""

import os
import subprocess
import sys

import pytest
import torch

from gradexp import threads
from gradexp.runner import run
from tests.conftest import compose


def test_run_threads_is_used_as_given():
    assert threads.choose(3, 10) == 3 and threads.choose(1, 1 << 22) == 1


def test_small_work_runs_on_one_thread():
    assert threads.choose(None, threads.MIN_ELEMENTS - 1) == 1


def test_other_engines_keep_their_own_rule():
    assert threads.choose(None, 1 << 22, engine="compiled") is None


def test_no_idle_core_means_one_thread():
    cores = len(os.sched_getaffinity(0))
    spin = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        import time

        time.sleep(0.3)  # the spinners are running
        assert threads.idle_cores() == 0
        assert threads.choose(None, 1 << 22) == 1
    finally:
        for p in spin:
            p.kill()
            p.wait()


@pytest.mark.parametrize("launcher,parallel", [("basic", False), ("joblib", True)])
def test_a_parallel_launchers_job_takes_one_thread(launcher, parallel, monkeypatch):
    from hydra import compose as hcompose
    from hydra import initialize_config_module
    from hydra.core.hydra_config import HydraConfig

    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    with initialize_config_module(config_module="gradexp.conf", version_base=None):
        cfg = hcompose("config", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    monkeypatch.setattr(threads, "idle_cores", lambda: 2)  # as on a quiet 2-core machine
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert threads.parallel_launcher() is parallel
        assert threads.choose(None, 1 << 22) == (1 if parallel else 2)
    finally:
        HydraConfig.instance().cfg = None
        torch.set_num_threads(old)


def test_the_run_restores_torchs_thread_count():
    before = torch.get_num_threads()
    run(compose("start.n=2", "run.steps=5", "run.threads=1"))
    assert torch.get_num_threads() == before
