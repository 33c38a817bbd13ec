"""The command line's garbage-collector policy (gradexp.startup)."""

import gc
import os
import subprocess
import sys
import textwrap

from conftest import compose

PROBE = textwrap.dedent("""
    import gc, os
    import torch

    class Probe(torch.optim.SGD):
        '''SGD that notes whether the cyclic collector is on when built and refuses to step without it.'''

        def __init__(self, params, **kw):
            with open(os.environ["GC_PROBE_FILE"], "a") as fh:
                fh.write(f"init {gc.isenabled()}\\n")
            super().__init__(params, **kw)

        def step(self, closure=None):
            if not gc.isenabled():
                raise RuntimeError("the cyclic garbage collector is off while stepping")
            return super().step(closure)
""")


def test_cli_pauses_the_collector_while_setting_up_and_collects_while_stepping(tmp_path):
    (tmp_path / "gcprobe.py").write_text(PROBE)
    notes = tmp_path / "notes.txt"
    env = dict(os.environ, PYTHONPATH=str(tmp_path), GC_PROBE_FILE=str(notes), MPLBACKEND="Agg")
    p = subprocess.run([sys.executable, "-m", "gradexp", "optimizer=custom", "optimizer._target_=gcprobe.Probe",
                        "optimizer.lr=0.01", "start=grid", "start.n=2", "run.steps=40", "plot.enabled=false",
                        "run.stop_at_target=false",
                        f"hydra.run.dir={tmp_path / 'run'}"], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert notes.read_text().split("\n")[0] == "init False"  # built while paused (the imports before it)
    summary = (tmp_path / "run" / "summary.csv").read_text()
    assert summary.count("max_steps") == 4  # every start stepped to the end with the collector on


def test_pause_resume_and_the_freeze_at_exit():
    code = textwrap.dedent("""
        import atexit, gc, sys
        atexit.register(lambda: print("exit", gc.get_freeze_count(), flush=True))  # runs after startup's
        from gradexp import startup
        startup.pause()
        assert not gc.isenabled()
        before = gc.get_freeze_count()
        startup.resume()
        assert gc.isenabled() and gc.get_freeze_count() > before
        frozen = gc.get_freeze_count()
        startup.resume()  # a second resume changes nothing
        assert gc.get_freeze_count() == frozen
        keep = [[i] for i in range(1000)]  # alive at exit, not frozen yet
        print("end", gc.get_freeze_count(), flush=True)
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = dict(line.split() for line in p.stdout.split("\n") if line)
    assert int(lines["exit"]) > int(lines["end"]) + 900  # the survivors (keep: 1001 lists) frozen at exit


def test_library_runs_leave_the_collector_of_the_process_alone():
    from gradexp.runner import run

    enabled, frozen = gc.isenabled(), gc.get_freeze_count()
    run(compose("start=grid", "start.n=2", "run.steps=5"))
    assert gc.isenabled() == enabled
    assert gc.get_freeze_count() == frozen
