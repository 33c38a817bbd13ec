"""Building optimizers and schedules from their ``_target_`` configs.

The runner drives one optimizer over all starts of a run when the optimizer is element-wise
(every row of the ``[N, d]`` tensor then follows exactly the path it would follow alone); any
other class — LBFGS, third-party optimizers with whole-tensor norms — gets one optimizer per start.
"""

from __future__ import annotations

import functools
import inspect
import itertools
from collections.abc import Mapping

from gradexp.errors import ConfigError

# torch.optim classes whose update of an element depends only on that element's own history.
ELEMENTWISE = frozenset(
    "torch.optim." + name
    for name in (
        "SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop",
        "Adagrad", "Adadelta", "ASGD", "Rprop",
    )
)
# Keys we never forward to a constructor (gradexp's own bookkeeping).
_OWN_KEYS = ("_target_", "_partial_", "_recursive_", "_convert_", "_args_", "batched")


def class_path(cls) -> str:
    """``module.Qualname`` of a class, with torch.optim's private submodules folded away."""
    module = cls.__module__
    if module.startswith("torch.optim."):
        module = "torch.optim"
    return f"{module}.{cls.__qualname__}"


def _resolve_target(target: str, group: str):
    from gradexp.imports import import_object

    if not isinstance(target, str) or not target or target == "???":
        raise ConfigError(
            f"{group}._target_ is not set; give a class by import path, e.g. {group}._target_=torch.optim.Adam"
        )
    try:
        return import_object(target)
    except ImportError as exc:
        raise ConfigError(f"{group}._target_={target!r} does not import ({exc})") from None


def _check_kwargs(cls, kwargs: Mapping, group: str, skip_first: int) -> None:
    try:
        sig = inspect.signature(cls.__init__ if inspect.isclass(cls) else cls)
    except (TypeError, ValueError):
        return
    params = list(sig.parameters.values())[skip_first:]
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    accepted = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key in kwargs:
        if key not in accepted:
            raise ConfigError(
                f"{class_path(cls) if inspect.isclass(cls) else cls} does not accept {group}.{key}; "
                f"accepted: {', '.join(accepted)}"
            )


def _partial(cfg, group: str):
    """``hydra.utils.instantiate(cfg, _partial_=True)`` after checking the target and keywords.

    A node of plain keywords (no nested ``_target_``, no ``_args_``, ``_recursive_`` or
    ``_convert_``) gives the same ``functools.partial(cls, **keywords)``, built directly:
    instantiate's round trip through OmegaConf costs a few ms per run.
    """
    from omegaconf import OmegaConf

    node = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    cls = _resolve_target(node.get("_target_"), group)
    kwargs = {k: v for k, v in node.items() if k not in _OWN_KEYS}
    _check_kwargs(cls, kwargs, group, skip_first=2)
    if not set(node) & {"_args_", "_recursive_", "_convert_"} and not _has_target(kwargs):
        return cls, functools.partial(cls, **kwargs)
    from hydra.utils import instantiate

    return cls, instantiate(node, _partial_=True, _convert_="all")


def _has_target(value) -> bool:
    """True when a nested mapping (at any depth, in lists too) names a ``_target_``."""
    if isinstance(value, Mapping):
        return "_target_" in value or any(_has_target(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_target(v) for v in value)
    return False


def optimizer_spec(cfg) -> tuple[type, dict]:
    """Resolve the ``optimizer`` config to ``(class, keyword arguments)``, checked once.

    The config is read as ``hydra.utils.instantiate`` reads it (``_target_`` + keywords), so any
    optimizer class reachable by import works. Raises ``ConfigError`` for a target that does not
    import, a keyword the class does not accept, or a learning rate that is not a positive number.
    """
    cls, factory = _partial(cfg, "optimizer")
    kwargs = dict(factory.keywords)
    check_lr(kwargs.get("lr"), "optimizer.lr")
    return cls, kwargs


def check_lr(lr, what: str) -> None:
    """Refuse a learning rate that is not a finite number > 0."""
    if lr is None:
        return
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (0 < lr < float("inf")):
        raise ConfigError(f"{what}={lr!r} is not accepted; the learning rate must be a number > 0")


def is_elementwise(cls) -> bool:
    """True for optimizers that may drive all starts as one tensor without coupling them."""
    return class_path(cls) in ELEMENTWISE


def expand_hparams(hparams, cls, base_kwargs: Mapping) -> list[dict]:
    """Expand ``run.hparams`` ({key: [values]}) into one dict of settings per param group.

    The groups are the Cartesian product of the lists, in the order written. ``None`` or an
    empty mapping gives one group with no extra settings.
    """
    from omegaconf import OmegaConf

    if hparams is None:
        return [{}]
    node = OmegaConf.to_container(hparams, resolve=True) if OmegaConf.is_config(hparams) else hparams
    if not isinstance(node, Mapping):
        raise ConfigError(f"run.hparams must be a mapping like {{lr: [0.001, 0.01]}}, got {node!r}")
    if not node:
        return [{}]
    keys, lists = [], []
    for key, values in node.items():
        if not isinstance(values, (list, tuple)) or len(values) == 0:
            raise ConfigError(f"run.hparams.{key} must be a non-empty list of values, got {values!r}")
        keys.append(key)
        lists.append(list(values))
    _check_kwargs(cls, dict.fromkeys(keys), "optimizer", skip_first=2)
    groups = [dict(zip(keys, combo)) for combo in itertools.product(*lists)]
    if "lr" in keys:
        for g in groups:
            check_lr(g["lr"], "run.hparams.lr")
    return groups


def schedule_factory(cfg):
    """Return ``callable(optimizer) -> scheduler`` for the ``schedule`` config, or None for no schedule."""
    from omegaconf import OmegaConf

    if cfg is None:
        return None
    node = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    if not node or node.get("_target_") in (None, "none"):
        return None
    cls, factory = _partial(node, "schedule")

    def make(optimizer):
        try:
            return factory(optimizer)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"schedule {class_path(cls)} refused its settings: {exc}") from None

    return make
