"""Facts about the machine and build a run depends on: recorded in provenance.json, compared by reproduce.

Cheap and import-free: torch and numpy are read only when already imported (their installed
versions otherwise), the git state only of gradexp's own source folder.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

#: the recorded facts that can change a run's numbers, in the order reproduce names them
KEYS = ("gradexp", "torch", "numpy", "python", "threads", "platform", "gradexp_git_commit", "gradexp_git_dirty")


def _version(name: str) -> str | None:
    module = sys.modules.get(name)
    if getattr(module, "__version__", None) is not None:
        return str(module.__version__)
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return None


def threads() -> int | None:
    """torch's intra-op thread count (None when torch is not imported)."""
    torch = sys.modules.get("torch")
    try:
        return int(torch.get_num_threads()) if torch is not None else None
    except Exception:
        return None


@functools.lru_cache(maxsize=None)
def git_dirty(cwd=None) -> bool | None:
    """True when gradexp's source tree has uncommitted changes to tracked files (None outside git).

    Asked once per process (``git status`` costs tens of ms; a sweep's jobs share the answer).
    """
    where = cwd or Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def environment() -> dict:
    """The facts provenance.json records beside the versions it already had: numpy, threads, dirty tree."""
    return {"numpy": _version("numpy"), "threads": threads(), "gradexp_git_dirty": git_dirty()}


def current() -> dict:
    """Every fact of :data:`KEYS` for this process, as provenance.json would record it now."""
    from gradexp._version import __version__

    facts = {"gradexp": __version__, "torch": _version("torch"), "python": platform.python_version(),
             "platform": platform.platform(),
             "gradexp_git_commit": git_commit(Path(__file__).resolve().parent)}
    facts.update(environment())
    return {k: facts.get(k) for k in KEYS}


COMMAND_ENV = "GRADEXP_COMMAND"  # the launching process's command line, for the jobs it starts


def user_command() -> list[str]:
    """The command line of the launching process (a job started by a launcher has its own ``sys.argv``)."""
    try:
        command = json.loads(os.environ[COMMAND_ENV])
        if isinstance(command, list) and all(isinstance(a, str) for a in command):
            return command
    except (KeyError, ValueError):
        pass
    return list(sys.argv)


def git_commit(cwd=None) -> str | None:
    """The current git commit of ``cwd`` (or None outside a repository)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
