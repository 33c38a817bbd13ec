"""The two debugging helpers gradexp grew from: ``ptf_tensor`` and ``draw3D_func``.

``ptf_tensor`` prints a tensor's facts in a fixed block layout; ``draw3D_func`` draws a
two-variable function as a 3-D surface (shown on a screen, saved to a PNG file without one).
``write_surface`` draws a gradexp objective over its bounds and saves it (``surface.png``).
"""

from __future__ import annotations

import os
import sys

import numpy as np

__all__ = ["ptf_tensor", "draw3D_func", "write_surface", "format_tensor"]

_RULE = "#" * 29

# Backends that draw to files only (no window).
_FILE_BACKENDS = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}


def format_tensor(t) -> str:
    """Return ``t`` as ``print`` shows it, without autograd or device noise.

    A 0-dim tensor gives the Python repr of its value (``-1.0``, ``-1.674528956413269``),
    as ``'{}'.format(t)`` does; any other tensor gives ``tensor([1.7321, 1.7321])``.
    ``None`` gives ``'None'``; other objects their ``str``.
    """
    if t is None:
        return "None"
    detach = getattr(t, "detach", None)
    if detach is None:
        return str(t)
    t = detach().cpu()
    if t.dim() == 0:
        return format(t.item())
    return str(t)


def ptf_tensor(t, tag: str = "tensor") -> None:
    """Print a tensor's dims, size, element count, dtype and data in a fixed block.

    The block starts with a blank line and ends with one, so two blocks in a row are
    separated by two blank lines::


        The info of f grad:
        #############################
          @dims: 1
          @size: torch.Size([2])
          @ele_sum: 2
          @dtype: torch.float32
          @data:
        tensor([1.7321, 1.7321])
        #############################

    """
    print(
        "\nThe info of {}:\n{}\n  @dims: {}\n  @size: {}\n  @ele_sum: {}\n"
        "  @dtype: {}\n  @data:\n{}\n{}\n".format(
            tag, _RULE, t.dim(), t.size(), t.numel(), t.dtype, format_tensor(t), _RULE
        )
    )


def _pyplot():
    """Import pyplot, choosing the file-only Agg backend when there is no screen."""
    import matplotlib

    if (
        sys.platform.startswith("linux")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
        and not os.environ.get("MPLBACKEND")
    ):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _has_display(plt) -> bool:
    """True when pyplot's backend can open a window (or an inline notebook view)."""
    backend = str(plt.get_backend()).lower()
    if backend.startswith("module://"):
        return "inline" in backend or "ipympl" in backend or "widget" in backend
    return backend not in _FILE_BACKENDS


def _as_numpy(z, shape) -> np.ndarray:
    """Convert a function's result (numpy array, torch tensor, number) to a float array."""
    if hasattr(z, "detach"):
        z = z.detach().cpu().numpy()
    z = np.asarray(z, dtype=float)
    if z.shape != tuple(shape):
        z = np.broadcast_to(z, shape)
    return z


def _surface_figure(plt, func, x_range, y_range, title=None):
    """Build the 3-D surface Figure of ``func([X, Y])`` over the two ranges."""
    X, Y = np.meshgrid(np.asarray(x_range), np.asarray(y_range))
    Z = _as_numpy(func([X, Y]), X.shape)
    fig = plt.figure()
    ax = fig.add_subplot(projection="3d")
    ax.plot_surface(X, Y, Z, cmap="viridis", linewidth=0, antialiased=True)
    ax.view_init(60, -30)
    ax.set_xlabel("x[0]")
    ax.set_ylabel("x[1]")
    if title:
        ax.set_title(title)
    return fig


def draw3D_func(
    func,
    x_range=np.arange(-6, 6, 0.1),
    y_range=np.arange(-6, 6, 0.1),
    path=None,
    show=None,
):
    """Draw ``func`` as a 3-D surface over ``x_range`` × ``y_range`` and return the Figure.

    ``func`` is called once as ``func([X, Y])`` with the two numpy meshgrids (a list), so
    ``lambda x: (x[0]**2 + x[1] - 11)**2 + (x[0] + x[1]**2 - 7)**2`` works as written; it may
    return a numpy array or a torch tensor. The view is ``view_init(60, -30)`` with axes
    labelled ``x[0]`` and ``x[1]``.

    With a screen (an interactive matplotlib backend) and ``show`` not False the figure is
    shown. Without one, or with ``show=False``, it is saved to ``path`` (default
    ``surface.png`` in the current folder) and the path is printed. A given ``path`` is
    always written.
    """
    plt = _pyplot()
    fig = _surface_figure(plt, func, x_range, y_range)
    showing = show is not False and _has_display(plt)
    if path is not None or not showing:
        target = os.fspath(path) if path is not None else "surface.png"
        fig.savefig(target, dpi=100)
        if not showing:
            print("surface saved to {}".format(target))
    if showing:
        plt.show()
    else:
        plt.close(fig)
    return fig


def write_surface(problem, path, n: int = 121):
    """Draw a 2-D gradexp ``Problem`` over its bounds as a 3-D surface and save it to ``path``.

    The same figure as ``draw3D_func`` (``n`` grid points per axis, bounds included), titled
    with the objective's name; nothing is shown or printed. Returns the Figure. Raises
    ValueError for an objective that is not two-dimensional.
    """
    import torch

    if int(problem.dim) != 2:
        raise ValueError(
            "surface plot needs a 2-D objective, got {} with dim={}".format(problem.name, problem.dim)
        )
    lower = np.broadcast_to(np.asarray(_to_list(problem.lower), dtype=float), (2,))
    upper = np.broadcast_to(np.asarray(_to_list(problem.upper), dtype=float), (2,))

    def func(xy):
        pts = torch.as_tensor(np.stack(xy, axis=-1), dtype=torch.float32)
        with torch.no_grad():
            return problem.f(pts)

    plt = _pyplot()
    fig = _surface_figure(
        plt, func, np.linspace(lower[0], upper[0], n), np.linspace(lower[1], upper[1], n),
        title=str(problem.name),
    )
    fig.axes[0].set_zlabel("f(x)")
    fig.savefig(os.fspath(path), dpi=100)
    plt.close(fig)
    return fig


def _to_list(v):
    """Bounds as plain numbers: accepts floats, sequences, numpy arrays and tensors."""
    if hasattr(v, "detach"):
        return v.detach().cpu().tolist()
    if hasattr(v, "tolist"):
        return v.tolist()
    return v
