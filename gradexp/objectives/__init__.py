"""Test functions: batched pure functions plus their facts (bounds, dimension rule, known optima).

``objective/<name>.yaml`` selects one of the objects below with ``_target_:
gradexp.objectives.<name>``; :func:`build` turns the composed config node into a
:class:`Problem` (see :mod:`gradexp.objectives.core`). Every objective is also callable on a
batch: ``gradexp.objectives.himmelblau(x)`` for ``x[..., 2]``.
"""

from gradexp.objectives.bbob import bbob
from gradexp.objectives.core import KINDS, Critical, Objective, Problem, build, read_bounds, wrap_callable
from gradexp.objectives.n_d import (
    ackley,
    cos_squared,
    expression,
    quadratic,
    rastrigin,
    rosenbrock,
    sphere,
    styblinski_tang,
)
from gradexp.objectives.two_d import beale, booth, goldstein_price, himmelblau, levi13, matyas, six_hump_camel

#: every named objective, by the name its config file uses
OBJECTIVES = {
    obj.name: obj
    for obj in (cos_squared, himmelblau, rosenbrock, rastrigin, ackley, beale, booth, goldstein_price,
                six_hump_camel, styblinski_tang, matyas, levi13, sphere, quadratic, expression, bbob)
}

__all__ = [
    "KINDS", "OBJECTIVES", "Critical", "Objective", "Problem", "build", "read_bounds", "wrap_callable",
    *OBJECTIVES,
]
