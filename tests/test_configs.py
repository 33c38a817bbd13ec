"""Every config option composes and instantiates; the package ships every config folder."""

import tomllib
from pathlib import Path

import pytest
import torch

from gradexp.objectives import build
from gradexp.optim import is_elementwise, optimizer_spec, schedule_factory
from gradexp.starts import make_starts
from tests.conftest import compose

ROOT = Path(__file__).resolve().parents[1]


def options(group):
    return sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml"))


@pytest.mark.parametrize("name", options("optimizer"))
def test_optimizer_instantiates_with_torch_defaults(name):
    extra = ["optimizer._target_=torch.optim.SGD"] if name == "custom" else []
    cfg = compose(f"optimizer={name}", *extra)
    cls, kwargs = optimizer_spec(cfg.optimizer)
    x = torch.zeros(3, 2, requires_grad=True)
    opt = cls([x], **kwargs)
    # the config's values are torch's own defaults for every key it names
    defaults = cls([torch.zeros(1, requires_grad=True)]).defaults
    for key, value in kwargs.items():
        if key in defaults and value is not None:  # None: torch derives it (LBFGS max_eval)
            want = defaults[key]
            assert (list(value) if isinstance(value, (list, tuple)) else value) == (
                list(want) if isinstance(want, (list, tuple)) else want), (name, key)
    assert opt.param_groups[0]["params"][0] is x
    if name != "custom":
        assert is_elementwise(cls) == (name != "lbfgs")


@pytest.mark.parametrize("group,name", [("optimizer", n) for n in options("optimizer")]
                         + [("schedule", n) for n in options("schedule") if n != "none"])
def test_factories_are_what_hydra_instantiate_builds(group, name):
    """The optimizer and schedule factories equal hydra.utils.instantiate(node, _partial_=True)."""
    import functools

    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from gradexp.optim import _partial

    extra = ["optimizer._target_=torch.optim.SGD"] if name == "custom" else []
    cfg = compose(f"{group}={name}", "run.steps=100", *extra)
    node = OmegaConf.to_container(cfg[group], resolve=True)
    want = instantiate(node, _partial_=True, _convert_="all")
    cls, got = _partial(cfg[group], group)
    assert isinstance(got, functools.partial) and got.func is want.func is cls
    assert got.args == want.args and got.keywords == want.keywords
    assert [type(v) for v in got.keywords.values()] == [type(v) for v in want.keywords.values()]


def test_a_nested_target_is_still_instantiated():
    """A keyword that is itself a ``_target_`` node is built by Hydra (not passed on as a dict)."""
    from gradexp.optim import _partial

    node = {"_target_": "builtins.dict", "inner": {"_target_": "builtins.dict", "a": 1}}
    _, factory = _partial(node, "schedule")
    assert factory() == {"inner": {"a": 1}}


@pytest.mark.parametrize("name", options("schedule"))
def test_schedule_instantiates(name):
    cfg = compose(f"schedule={name}", "run.steps=100")
    make = schedule_factory(cfg.get("schedule"))
    if name == "none":
        assert make is None
        return
    from hydra.utils import get_class
    from omegaconf import OmegaConf

    # the same torch class built here from the file's own keys gives the same lr at every step
    keys = OmegaConf.to_container(cfg.schedule, resolve=True)
    cls = get_class(keys.pop("_target_"))
    keys.pop("_partial_", None)
    opt, ref_opt = (torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1) for _ in range(2))
    sched, ref = make(opt), cls(ref_opt, **keys)
    assert type(sched) is cls
    for _ in range(5):
        for o, s in ((opt, sched), (ref_opt, ref)):
            o.step()
            s.step()
        assert opt.param_groups[0]["lr"] == ref_opt.param_groups[0]["lr"]


@pytest.mark.parametrize("name", options("start"))
def test_start_instantiates_inside_bounds(name):
    cfg = compose(f"start={name}")
    problem = build(cfg.objective)
    x = make_starts(cfg.start, problem, seed=0)
    assert x.dtype == torch.float32 and x.shape[1] == problem.dim and x.shape[0] >= 1
    assert (x >= torch.tensor(problem.lower)).all() and (x <= torch.tensor(problem.upper)).all()


def test_default_is_himmelblau_adam_grid():
    cfg = compose()
    assert cfg.objective._target_.endswith("himmelblau") and cfg.optimizer._target_ == "torch.optim.Adam"
    x = make_starts(cfg.start, build(cfg.objective), seed=0)
    assert cfg.start.kind == "grid" and x.shape == (25, 2)  # the 5 x 5 grid the README promises


@pytest.mark.parametrize("dim, per_axis", [(3, 5), (5, 5), (6, 4), (7, 3), (8, 2), (10, 2), (12, 2), (14, 2)])
def test_default_grid_stays_small_in_many_dimensions(dim, per_axis):
    # the README: 5 per axis, else the most per axis (>= 2) within 4096 starts; 2 per axis from 13-D
    cfg = compose("objective=rosenbrock", f"objective.dim={dim}")
    problem = build(cfg.objective)
    x = make_starts(cfg.start, problem, seed=0)
    assert x.shape == (per_axis**dim, dim)
    for axis in range(dim):  # every axis: per_axis values from the lower to the upper bound
        values = torch.unique(x[:, axis])
        assert len(values) == per_axis
        assert values[0] == problem.lower[axis] and values[-1] == problem.upper[axis]


def test_grid_n_refuses_words_other_than_auto():
    from gradexp.errors import ConfigError

    cfg = compose("start.n=many")
    with pytest.raises(ConfigError, match="start.n must be a whole number >= 1 or auto"):
        make_starts(cfg.start, build(cfg.objective), seed=0)


def test_every_config_folder_is_a_shipped_package():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = set(meta["tool"]["setuptools"]["packages"])
    for folder in (ROOT / "conf").iterdir():
        if folder.is_dir() and not folder.name.startswith("__"):
            assert f"gradexp.conf.{folder.name}" in packages, folder.name
            assert (folder / "__init__.py").is_file(), folder.name
    for folder in (ROOT / "gradexp").iterdir():
        if folder.is_dir() and (folder / "__init__.py").is_file():
            assert f"gradexp.{folder.name}" in packages, folder.name
