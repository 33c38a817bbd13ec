"""Every preset in experiments/ composes through the packaged config and its parts instantiate."""

from pathlib import Path

import pytest
import torch
import yaml
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
PRESETS = sorted(p.stem for p in EXPERIMENTS.glob("*.yaml"))
TUTORIAL = ("seed_gradient", "seed_sgd", "seed_adam_himmelblau", "himmelblau_maximum", "himmelblau_basins")


def _compose(name, extra=(), hydra=False):
    with initialize_config_module(config_module="gradexp.conf", version_base=None):
        return compose(config_name="config", overrides=[f"experiment={name}", *extra],
                       return_hydra_config=hydra)


def _leaves(node, prefix=""):
    """(dotted key, value) for every leaf of a plain mapping."""
    for k, v in node.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from _leaves(v, key + ".")
        else:
            yield key, v


def test_the_tutorial_presets_exist():
    assert set(TUTORIAL) <= set(PRESETS)


def test_presets_are_global_packages():
    for name in PRESETS:
        first = (EXPERIMENTS / f"{name}.yaml").read_text(encoding="utf-8").splitlines()[0]
        assert first.strip() == "# @package _global_", name


@pytest.mark.parametrize("name", PRESETS)
def test_preset_composes_with_its_own_values(name):
    from omegaconf import OmegaConf

    cfg = _compose(name, hydra=True)
    raw = yaml.safe_load((EXPERIMENTS / f"{name}.yaml").read_text(encoding="utf-8"))
    choices = cfg.hydra.runtime.choices
    for entry in raw.pop("defaults", []):
        for group_key, option in entry.items():
            group = group_key.replace("override", "").strip().strip("/")
            assert choices[group] == option, f"{name}: {group}"
    # every value the preset sets is the composed value (not hidden by the root config's own)
    sweep_params = "hydra.sweeper.params."  # (their keys are dotted names themselves)
    for key, value in _leaves(raw):
        if key.startswith(sweep_params):
            assert cfg.hydra.sweeper.params[key[len(sweep_params):]] == value, f"{name}: {key}"
            continue
        assert OmegaConf.select(cfg, key) == value, f"{name}: {key}"
    if name in TUTORIAL:  # the tutorial's 2-D presets draw the surface
        assert cfg.plot.surface is True
    assert cfg.run.grad_tol == 0


@pytest.mark.parametrize("name", PRESETS)
def test_preset_parts_instantiate(name):
    from gradexp.objectives import build
    from gradexp.starts import make_starts

    cfg = _compose(name)
    problem = build(cfg.objective)
    assert problem.dim == (2 if name in TUTORIAL else cfg.objective.dim)
    starts = make_starts(cfg.start, problem, cfg.seed)
    assert starts.dtype == torch.float32 and starts.shape[1] == problem.dim and starts.shape[0] >= 1
    x = starts.clone().requires_grad_(True)
    opt = instantiate(cfg.optimizer)([x])
    assert isinstance(opt, torch.optim.Optimizer)
    f = problem.f(x)
    assert f.shape == (starts.shape[0],) and torch.isfinite(f).all()


def test_seed_presets_match_the_tutorial_settings():
    sgd = _compose("seed_sgd")
    assert sgd.optimizer._target_ == "torch.optim.SGD"
    assert sgd.optimizer.lr == 0.1 and sgd.optimizer.momentum == 0
    assert sgd.run.steps == 10 and sgd.report.print_every == 1 and sgd.report.format == "seed"
    adam = _compose("seed_adam_himmelblau")
    assert adam.optimizer._target_ == "torch.optim.Adam"
    defaults = torch.optim.Adam([torch.zeros(1, requires_grad=True)]).defaults
    assert adam.optimizer.lr == defaults["lr"] and tuple(adam.optimizer.betas) == defaults["betas"]
    assert adam.optimizer.eps == defaults["eps"]
    assert adam.run.steps == 20000 and adam.report.print_every == 1000
    grad = _compose("seed_gradient")
    assert grad.run.steps == 0 and grad.report.print_tensors is True
    assert _compose("himmelblau_maximum").objective.maximize is True


def test_command_line_overrides_win_over_a_preset():
    cfg = _compose("seed_sgd", ["run.steps=3", "report.print_every=2"])
    assert cfg.run.steps == 3 and cfg.report.print_every == 2
