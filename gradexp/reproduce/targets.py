"""Which import paths a recorded config would import, and whether they may be imported.

A folder from someone else is untrusted: importing a module runs its top-level code, and a
``_target_`` is imported and called. The paths are read from the YAML text only (``yaml.safe_load``,
nothing imported); every path must lie under an allowed module prefix. After that textual check the
paths are resolved and the object each names must itself live under an allowed prefix, so that a
path through an allowed module to something else (``gradexp.runner.os.system``) is refused too.
"""

from __future__ import annotations

import types

#: modules a recorded config may import without ``--allow``
DEFAULT_ALLOWED = ("gradexp", "torch.optim")  # torch.optim covers torch.optim.lr_scheduler


def find_targets(node, where: str = "") -> list[tuple[str, object]]:
    """Every ``(key path, value)`` of a ``_target_`` key anywhere in a loaded YAML tree (lists too)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}.{key}" if where else str(key)
            if key == "_target_":
                found.append((path, value))
            else:
                found.extend(find_targets(value, path))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(find_targets(value, f"{where}[{i}]"))
    return found


def allowed(path: str, prefixes) -> bool:
    """True when dotted ``path`` is one of ``prefixes`` or lies below one (``a.b`` allows ``a.b.c``)."""
    return any(path == p or path.startswith(p + ".") for p in prefixes)


def refused(targets, prefixes) -> list[tuple[str, object]]:
    """The targets whose text is not an allowed import path (placeholders ``???`` and null pass)."""
    bad = []
    for key, value in targets:
        if value is None or value in ("???", "none"):
            continue
        if not isinstance(value, str) or not allowed(value.strip(), prefixes):
            bad.append((key, value))
    return bad


def home_module(obj) -> str:
    """The module an imported object belongs to (a module's own name; a builtin's ``builtins``)."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    module = getattr(obj, "__module__", None)
    if not isinstance(module, str):
        module = type(obj).__module__
    return module


def refused_resolved(targets, prefixes) -> list[tuple[str, str, str]]:
    """``(key, path, home module)`` of textually allowed targets that resolve outside the prefixes.

    Only call this after :func:`refused` found nothing: it imports the (allowed) modules.
    """
    from gradexp.imports import import_object

    bad = []
    for key, value in targets:
        if not isinstance(value, str) or value in ("???", "none"):
            continue
        try:
            obj = import_object(value)
        except ImportError:
            continue  # the rerun reports it as the original run did
        home = home_module(obj)
        if not allowed(home, prefixes):
            bad.append((key, value, home))
    return bad
