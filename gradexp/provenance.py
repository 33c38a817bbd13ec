"""The provenance record of a run (provenance.json) and the config digest that resumes a sweep."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

from gradexp import facts as _facts
from gradexp.facts import git_commit, user_command


#: Keys that change neither the computation nor a job's files, left out of :func:`config_hash`: what
#: is printed while a job runs, and the settings of the sweep's report (read from the job files).
NOT_HASHED = {"run": ("progress",), "plot": ("parallel",),
              "report": ("print_every", "format", "print_tensors", "max_starts", "basins", "holdout", "coco")}


def config_hash(cfg) -> str:
    """A digest of the composed config: equal digests mean the same job (used to resume sweeps).

    ``resume`` and the keys of :data:`NOT_HASHED` are left out (``report.targets`` counts: it
    chooses summary.csv's columns).
    """
    import hashlib

    from omegaconf import OmegaConf

    data = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    data.pop("resume", None)
    for section, keys in NOT_HASHED.items():
        if isinstance(data.get(section), dict):
            data[section] = {k: v for k, v in data[section].items() if k not in keys}
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def provenance(cfg, problem, cls, kwargs, maximize, f_opt, n_starts, status, error=None, t_start=None):
    """The provenance record of a run as a dict (versions, seed, command line, git commit, ...)."""
    from gradexp._version import __version__
    from gradexp.optim import class_path

    overrides = []
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            overrides = list(HydraConfig.get().overrides.task)
    except Exception:  # provenance never fails a run
        pass
    now = time.time()
    return {
        "gradexp": __version__,
        "python": platform.python_version(),
        "torch": _torch_version(),
        **_facts.environment(),  # numpy, torch threads, uncommitted changes (compared by reproduce)
        "platform": platform.platform(),
        "seed": cfg.get("seed"),
        "command": user_command(),  # the launching process's command, not a launcher worker's
        "cwd": os.getcwd(),
        "git_commit": git_commit(),
        "gradexp_git_commit": git_commit(Path(__file__).resolve().parent),
        "objective": getattr(problem, "name", None),
        "dim": getattr(problem, "dim", None),
        "optimizer": class_path(cls) if cls is not None else None,
        "lr": (kwargs or {}).get("lr"),
        "steps": cfg.get("run", {}).get("steps"),
        "starts": n_starts,
        "f_star": f_opt,
        "maximize": maximize,
        "status": status,
        "error": error,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t_start or now)),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now)),
        "seconds": round(now - (t_start or now), 3),
        "overrides": overrides,
        "config_hash": config_hash(cfg),
    }


def _torch_version() -> str | None:
    """torch's version without importing it (a job interrupted while importing torch is still recorded)."""
    torch = sys.modules.get("torch")
    version = getattr(torch, "__version__", None)
    if version is not None:
        return str(version)
    try:
        from importlib.metadata import version as dist_version

        return dist_version("torch")
    except Exception:
        return None
