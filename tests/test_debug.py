"""The two helpers of gradexp.debug against the tutorial's printed text, and headless plotting."""

from math import pi
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from gradexp.debug import draw3D_func, format_tensor, ptf_tensor, write_surface  # noqa: E402
from tests.helpers import himmelblau  # noqa: E402

DATA = Path(__file__).parent / "data"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_ptf_tensor_prints_the_tutorial_blocks(capsys):
    # The tutorial's own code, run with the helper; expected text transcribed from the tutorial.
    x = torch.tensor([pi / 3, pi / 6], requires_grad=True)
    f = -((x.cos() ** 2).sum()) ** 2
    ptf_tensor(f, "f(x1,x2) value")
    f.backward()
    ptf_tensor(x.grad, "f grad")
    out = capsys.readouterr().out
    assert out == (DATA / "seed_gradient.txt").read_text(encoding="utf-8")


def test_ptf_tensor_default_tag_and_no_autograd_noise(capsys):
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    ptf_tensor(x * 2)
    out = capsys.readouterr().out
    assert out.startswith("\nThe info of tensor:\n" + "#" * 29 + "\n")
    assert "tensor([2., 4.])\n" in out
    assert "grad_fn" not in out and "requires_grad" not in out
    assert out.endswith("#" * 29 + "\n\n")


def test_ptf_tensor_two_dims_counts(capsys):
    ptf_tensor(torch.zeros(3, 4, dtype=torch.float64), "m")
    lines = capsys.readouterr().out.splitlines()
    assert lines[3:7] == ["  @dims: 2", "  @size: torch.Size([3, 4])", "  @ele_sum: 12",
                          "  @dtype: torch.float64"]


def test_format_tensor_zero_dim_is_python_float_repr():
    # float32 value of -1.674528956413269 as the tutorial prints it
    assert format_tensor(torch.tensor(-1.674528956413269)) == "-1.674528956413269"
    assert format_tensor(None) == "None"
    assert format_tensor(torch.tensor([2.3792e-04, 4.1876e-05])) == "tensor([2.3792e-04, 4.1876e-05])"


def _check_png(path, width=640, height=480):
    data = Path(path).read_bytes()
    assert data[:8] == PNG_MAGIC
    img = mpimg.imread(path)
    assert img.shape[0] == height and img.shape[1] == width


def test_draw3D_func_saves_png_headless(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    seen = []

    def func(xy):
        seen.append(xy)
        return himmelblau(xy)

    path = tmp_path / "himmelblau.png"
    fig = draw3D_func(func, path=path)
    assert isinstance(fig, Figure)
    assert len(seen) == 1 and isinstance(seen[0], list) and len(seen[0]) == 2
    X, Y = seen[0]
    assert X.shape == Y.shape == (120, 120)  # np.arange(-6, 6, 0.1)
    _check_png(path)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "x[0]" and ax.get_ylabel() == "x[1]"
    assert (ax.elev, ax.azim) == (60, -30)
    assert str(path) in capsys.readouterr().out


def test_draw3D_func_default_path_and_torch_result(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def func(xy):  # the tutorial's cos² objective written for tensors
        x0, x1 = (torch.as_tensor(v) for v in xy)
        return -((x0.cos() ** 2 + x1.cos() ** 2) ** 2)

    fig = draw3D_func(func, np.linspace(-2, 2, 30), np.linspace(-1, 1, 20), show=False)
    assert isinstance(fig, Figure)
    _check_png(tmp_path / "surface.png")
    z = fig.axes[0].get_zlim()
    assert z[0] <= -3.9 and z[1] >= -1.0  # f spans [-4, about -0.3] on this box


class _Box:
    name = "bowl"
    dim = 2
    lower = (-1.0, -2.0)
    upper = (1.0, 2.0)

    def __init__(self):
        self.shapes = []

    def f(self, x):
        self.shapes.append(tuple(x.shape))
        return (x ** 2).sum(-1)


def test_write_surface_draws_problem_over_bounds(tmp_path):
    prob = _Box()
    path = tmp_path / "surface.png"
    fig = write_surface(prob, path, n=31)
    _check_png(path)
    assert prob.shapes == [(31, 31, 2)]
    ax = fig.axes[0]
    assert ax.get_xlim()[0] <= -1.0 and ax.get_xlim()[1] >= 1.0
    assert ax.get_ylim()[0] <= -2.0 and ax.get_ylim()[1] >= 2.0


def test_write_surface_refuses_other_dims(tmp_path):
    prob = _Box()
    prob.dim = 3
    with pytest.raises(ValueError, match="dim=3"):
        write_surface(prob, tmp_path / "s.png")
