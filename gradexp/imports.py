"""Resolving ``_target_`` import paths with one-line errors."""

from __future__ import annotations

import logging


def import_object(path: str):
    """The object at import path ``path`` (``pkg.module.Name``).

    Raises ``ImportError`` with a one-line reason when it does not import. Hydra's own error log
    line for a failed lookup is silenced: the caller reports the failure once, in its own words.
    """
    from hydra.utils import get_object

    log = logging.getLogger("hydra.utils")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        return get_object(path)
    except Exception as exc:  # ImportError, AttributeError, hydra's wrapped errors
        cause = exc.__cause__ or exc  # hydra wraps the ImportError/AttributeError that says why
        text = " ".join(str(cause).split()) or type(cause).__name__
        raise ImportError(text[:157] + "..." if len(text) > 160 else text) from None
    finally:
        log.setLevel(level)
