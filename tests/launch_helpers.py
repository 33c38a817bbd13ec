"""Optimizer classes for the launcher tests, importable by job processes (``PYTHONPATH`` = repository).

``KillOnce`` is SGD that kills its own process with SIGKILL when it is built with ``lr`` equal to
``kill_lr`` and the file ``flag`` exists (the file is removed first, so a second sweep runs the job):
a job that dies hard, as under the out-of-memory killer or a cluster's time limit.
"""

import os
import signal

import torch
from hydra.experimental.callback import Callback


class KillOnce(torch.optim.SGD):
    """torch.optim.SGD, except that one job's process kills itself once (see the module doc)."""

    def __init__(self, params, lr, kill_lr=None, flag=None, **kwargs):
        if flag and kill_lr == lr and os.path.exists(flag):
            os.remove(flag)
            os.kill(os.getpid(), signal.SIGKILL)
        super().__init__(params, lr=lr, **kwargs)


class RecordScore(Callback):
    """Hydra callback: writes each job's return value (the number a sweeper receives) to ``score.txt``
    in the job's folder (``on_job_end`` runs in the job's process)."""

    def on_job_end(self, config, job_return, **kwargs):
        from pathlib import Path

        from hydra.core.hydra_config import HydraConfig

        out = Path(HydraConfig.get().runtime.output_dir)
        (out / "score.txt").write_text(repr(float(job_return.return_value)))
