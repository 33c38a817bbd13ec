"""The command line's garbage-collector policy: pause while importing, freeze what was imported.

A ``python -m gradexp`` process imports torch (and ``torch._dynamo``, which torch.optim loads when
the first optimizer is built), pandas and Hydra: millions of long-lived Python objects. CPython's
cyclic collector walks all of them on every full collection (several during those imports, 0.05 to
0.2 s each here) and again while the interpreter shuts down (~1 s after torch._dynamo). None of it
frees anything that matters: modules live until exit.

So the command line calls :func:`pause` first thing, the runner calls :func:`resume` once its
optimizer is built (the imports are done then): every object alive at that point is frozen
(``gc.freeze``: kept out of later collections) and collection is turned back on for the run itself,
so cycles made while stepping are freed as usual. At exit whatever is alive is frozen too, so the
shut-down does not walk it. Library use (``gradexp.run`` from your own code) never calls
:func:`pause`, and :func:`resume` then does nothing: the collector of your process is not touched.
"""

from __future__ import annotations

import atexit
import gc

_paused = False
_at_exit = False


def pause() -> None:
    """Turn the cyclic collector off until :func:`resume`, and freeze the survivors at exit."""
    global _paused, _at_exit
    if gc.isenabled():
        gc.disable()
        _paused = True
    if not _at_exit:
        _at_exit = True
        atexit.register(gc.freeze)  # registered early, so it runs late among the exit handlers


def resume() -> None:
    """If :func:`pause` turned the collector off: freeze every object alive now, turn it back on."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
