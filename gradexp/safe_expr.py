"""Read numbers and formulas from configs without ``eval``.

Two entry points:

- :func:`parse_number` reads ``"pi/3"``, ``"2*e"``, ``"1e-3"`` (or a plain int/float) as a float.
- :func:`compile_expression` turns ``"(x0**2 + x1 - 11)**2 + (x0 + x1**2 - 7)**2"`` into a batched
  torch function ``f(x[..., d]) -> [...]``.

Both parse the text with :func:`ast.parse` and walk a whitelist of node types; anything else is
refused with a one-line :class:`~gradexp.errors.ConfigError`. Nothing is ever passed to ``eval``,
``exec`` or ``compile``: the formula becomes a tree of small Python closures over torch operations.
Limits (text length, nesting depth, node count, size of constant powers) are checked before any
arithmetic is done, so no input can hang or exhaust the process.
"""

from __future__ import annotations

import ast
import math
import operator
from typing import Any, Callable

from gradexp.errors import ConfigError

MAX_CHARS = 10_000        # longest accepted expression text
MAX_DEPTH = 100           # deepest accepted syntax tree
MAX_NODES = 2_000         # most syntax-tree nodes
MAX_EXPONENT = 1_000      # largest |constant exponent| of a power
MAX_INT_BITS = 4_096      # integer constants larger than this are refused (floats overflow anyway)

CONSTANTS = {"pi": math.pi, "e": math.e}

_BINOPS: dict[type, tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv),
    ast.Pow: ("**", operator.pow),
    ast.Mod: ("%", operator.mod),
}
_UNARYOPS: dict[type, tuple[str, Callable[[Any], Any]]] = {
    ast.USub: ("-", operator.neg),
    ast.UAdd: ("+", operator.pos),
}


def _torch():
    import torch

    return torch


# Integer exponents torch evaluates identically in its vectorised and scalar loops (special
# cases of its pow kernel). Other integer powers are built from multiplications instead, so a
# point's value never depends on its position in a batch.
_TORCH_POW_EXACT = frozenset({-2, -1, 0, 1, 2, 3})


def _int_power(t, k: int):
    """``t ** k`` for an integer ``k`` by repeated squaring (elementwise multiplications only)."""
    if k < 0:
        return 1 / _int_power(t, -k)
    result = None
    base = t
    while k:
        if k & 1:
            result = base if result is None else result * base
        k >>= 1
        if k:
            base = base * base
    return result


def _relu_const(a):
    return max(a, 0.0)


def _sigmoid_const(a):
    return 1.0 / (1.0 + math.exp(-a)) if a >= 0 else math.exp(a) / (1.0 + math.exp(a))


def _min_t(a, b):
    torch = _torch()
    if isinstance(a, (int, float)):
        return torch.clamp(b, max=a)
    if isinstance(b, (int, float)):
        return torch.clamp(a, max=b)
    return torch.minimum(a, b)


def _max_t(a, b):
    torch = _torch()
    if isinstance(a, (int, float)):
        return torch.clamp(b, min=a)
    if isinstance(b, (int, float)):
        return torch.clamp(a, min=b)
    return torch.maximum(a, b)


def _atan2_t(a, b):
    torch = _torch()
    like = b if isinstance(a, (int, float)) else a
    a = torch.full_like(like, a) if isinstance(a, (int, float)) else a
    b = torch.full_like(like, b) if isinstance(b, (int, float)) else b
    return torch.atan2(a, b)


# sinh, cosh and sigmoid are composed from expm1/exp: torch's own kernels for them give results
# that depend on an element's position in the tensor (vectorised vs scalar loop).
def _sinh_t(a):
    torch = _torch()
    return (torch.expm1(a) - torch.expm1(-a)) / 2


def _cosh_t(a):
    torch = _torch()
    return (torch.exp(a) + torch.exp(-a)) / 2


def _sigmoid_t(a):
    return 1 / (1 + _torch().exp(-a))


def _unary_t(name):
    def apply(a):
        return getattr(_torch(), name)(a)

    apply.__name__ = name
    return apply


# name -> (number of arguments, function on Python floats, function on tensors)
FUNCTIONS: dict[str, tuple[int, Callable, Callable]] = {
    "sin": (1, math.sin, _unary_t("sin")),
    "cos": (1, math.cos, _unary_t("cos")),
    "tan": (1, math.tan, _unary_t("tan")),
    "asin": (1, math.asin, _unary_t("asin")),
    "acos": (1, math.acos, _unary_t("acos")),
    "atan": (1, math.atan, _unary_t("atan")),
    "sinh": (1, math.sinh, _sinh_t),
    "cosh": (1, math.cosh, _cosh_t),
    "tanh": (1, math.tanh, _unary_t("tanh")),
    "exp": (1, math.exp, _unary_t("exp")),
    "log": (1, math.log, _unary_t("log")),
    "log2": (1, math.log2, _unary_t("log2")),
    "log10": (1, math.log10, _unary_t("log10")),
    "sqrt": (1, math.sqrt, _unary_t("sqrt")),
    "abs": (1, abs, _unary_t("abs")),
    "sigmoid": (1, _sigmoid_const, _sigmoid_t),
    "relu": (1, _relu_const, _unary_t("relu")),
    "atan2": (2, math.atan2, _atan2_t),
    "min": (2, min, _min_t),
    "max": (2, max, _max_t),
}

_NUMBER_HELP = "use numbers, pi, e and + - * / **"


def _expr_help(dim: int | None) -> str:
    names = "x0..x{d-1}" if dim is None else ("x0" if dim == 1 else f"x0..x{dim - 1}")
    return (f"accepted: numbers, {names}, pi, e, + - * / % ** (unary - +), parentheses and "
            f"calls of {', '.join(FUNCTIONS)}")


def _snippet(text: str, node: ast.AST | None = None, width: int = 60) -> str:
    piece = None
    if node is not None and hasattr(node, "col_offset"):
        try:
            piece = ast.get_source_segment(text, node)
        except Exception:  # pragma: no cover - defensive
            piece = None
    if piece is None:
        piece = text if node is None else type(node).__name__
    piece = " ".join(piece.split())
    return piece if len(piece) <= width else piece[: width - 3] + "..."


class _Refused(Exception):
    """Why a text was refused (formatted into a ConfigError by the public functions)."""


def _parse(text: str) -> ast.Expression:
    """Parse ``text`` as one Python expression and check the size limits."""
    if not isinstance(text, str):
        raise _Refused("not a string")
    if not text.strip():
        raise _Refused("it is empty")
    if len(text) > MAX_CHARS:
        raise _Refused(f"it is {len(text)} characters long, at most {MAX_CHARS} are accepted")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        where = f" at column {err.offset}" if err.offset else " at the end"
        raise _Refused(f"{err.msg}{where}") from None
    except (RecursionError, MemoryError, ValueError, OverflowError):
        raise _Refused("too deeply nested or too large") from None
    # Size limits, with an explicit stack (no recursion on hostile input).
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise _Refused(f"nested more than {MAX_DEPTH} levels deep")
        if count > MAX_NODES:
            raise _Refused(f"more than {MAX_NODES} parts")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return tree


class _Compiler:
    """Walk a parsed expression; return Python numbers for constant parts, closures otherwise.

    ``allow_vars=False`` (numbers) accepts only arithmetic of numbers, ``pi`` and ``e``;
    ``allow_vars=True`` (expressions) adds the variables and the :data:`FUNCTIONS`.
    """

    def __init__(self, text: str, allow_vars: bool, dim: int | None):
        self.text, self.allow_vars, self.dim = text.strip(), allow_vars, dim
        self.max_index = -1

    def fail(self, node: ast.AST, why: str) -> _Refused:
        return _Refused(f"{why} {_snippet(self.text, node)!r}")

    def const(self, node: ast.AST, compute: Callable[[], Any]) -> int | float:
        """Compute a constant sub-expression in double precision, refusing anything odd."""
        try:
            value = compute()
        except ZeroDivisionError:
            raise self.fail(node, "division by zero in") from None
        except (ValueError, OverflowError, TypeError):
            raise self.fail(node, "no finite real value for") from None
        if isinstance(value, complex):
            raise self.fail(node, "no real value for")
        if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
            raise self.fail(node, "number too large:")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(node, "no finite value for")
        return value

    def walk(self, node: ast.AST):
        if isinstance(node, ast.Expression):
            return self.walk(node.body)
        if isinstance(node, ast.Constant):
            value = node.value
            if type(value) not in (int, float):
                raise self.fail(node, "not a number:")
            return self.const(node, lambda: value)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARYOPS:
            _, op = _UNARYOPS[type(node.op)]
            a = self.walk(node.operand)
            if not callable(a):
                return self.const(node, lambda: op(a))
            return lambda x: op(a(x))
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return self.binop(node)
        if isinstance(node, ast.Call) and self.allow_vars:
            return self.call(node)
        raise self.fail(node, "not accepted:")

    def name(self, node: ast.Name):
        ident = node.id
        if ident in CONSTANTS:
            return CONSTANTS[ident]
        if self.allow_vars and ident[:1] == "x" and ident[1:].isdigit() and ident[1:].isascii():
            digits = ident[1:]
            if len(digits) > 1 and digits[0] == "0" or len(digits) > 6:
                raise self.fail(node, "bad variable name")
            index = int(digits)
            if self.dim is not None and index >= self.dim:
                raise _Refused(f"{ident} needs dim >= {index + 1} but dim is {self.dim}")
            self.max_index = max(self.max_index, index)
            return lambda x: x[..., index]
        raise self.fail(node, "unknown name")

    def binop(self, node: ast.BinOp):
        _, op = _BINOPS[type(node.op)]
        a = self.walk(node.left)
        b = self.walk(node.right)
        if isinstance(node.op, ast.Pow) and not callable(b) and abs(b) > MAX_EXPONENT:
            raise self.fail(node, f"exponent larger than {MAX_EXPONENT} in")
        if not callable(a) and not callable(b):
            if isinstance(node.op, ast.Pow) and isinstance(a, int) and isinstance(b, int) and b > 0:
                if max(abs(a), 1).bit_length() * b > MAX_INT_BITS + 64:
                    raise self.fail(node, "number too large:")
            return self.const(node, lambda: op(a, b))
        if not callable(a):
            return lambda x: op(a, b(x))
        if not callable(b):
            if isinstance(node.op, ast.Pow) and float(b).is_integer() and int(b) not in _TORCH_POW_EXACT:
                k = int(b)
                return lambda x: _int_power(a(x), k)
            return lambda x: op(a(x), b)
        return lambda x: op(a(x), b(x))

    def call(self, node: ast.Call):
        func = node.func
        if not isinstance(func, ast.Name) or func.id not in FUNCTIONS:
            raise self.fail(node, "unknown function in")
        if node.keywords:
            raise self.fail(node, "keyword arguments are not accepted in")
        nargs, on_const, on_tensor = FUNCTIONS[func.id]
        if len(node.args) != nargs:
            raise self.fail(node, f"{func.id} takes {nargs} argument{'s' if nargs > 1 else ''}, see")
        args = [self.walk(arg) for arg in node.args]  # refuses Starred and the like
        if not any(callable(a) for a in args):
            return self.const(node, lambda: on_const(*args))
        if nargs == 1:
            (a,) = args
            return lambda x: on_tensor(a(x))
        a, b = args
        if not callable(a):
            return lambda x: on_tensor(a, b(x))
        if not callable(b):
            return lambda x: on_tensor(a(x), b)
        return lambda x: on_tensor(a(x), b(x))


def _show(text, width: int = 60) -> str:
    """``repr`` of a config value, shortened to one readable line."""
    shown = repr(text) if not isinstance(text, str) else repr(_snippet(text, width=width))
    return shown


def parse_number(text) -> float:
    """Read a number from a config value: an int/float, or arithmetic of numbers, ``pi`` and ``e``.

    ``parse_number("pi/3") == math.pi / 3`` (computed in double precision, as Python would).
    Accepted: numbers, ``pi``, ``e``, ``+ - * / **`` (and ``%``), unary minus/plus, parentheses.
    Anything else raises :class:`ConfigError` naming the text, e.g.
    ``cannot read 'foo' as a number (unknown name 'foo'): use numbers, pi, e and + - * / **``.
    """
    if isinstance(text, bool) or not isinstance(text, (int, float, str)):
        raise ConfigError(f"cannot read {_show(text)} as a number: {_NUMBER_HELP}")
    if isinstance(text, (int, float)):
        value = float(text)
        if not math.isfinite(value):
            raise ConfigError(f"cannot read {_show(text)} as a number (not finite): {_NUMBER_HELP}")
        return value
    try:
        tree = _parse(text)
        value = float(_Compiler(text, allow_vars=False, dim=None).walk(tree))
    except _Refused as why:
        raise ConfigError(f"cannot read {_show(text)} as a number ({why}): {_NUMBER_HELP}") from None
    except (OverflowError, RecursionError):
        raise ConfigError(f"cannot read {_show(text)} as a number (too large): {_NUMBER_HELP}") from None
    return value


def compile_expression(expr: str, dim: int | None = None):
    """Compile a formula of ``x0..x{d-1}`` into a batched torch function; return ``(f, dim)``.

    ``f`` maps ``x[..., dim]`` to ``[...]`` (``xi`` is ``x[..., i]``; a formula without variables
    still returns one value per row). ``dim`` is the given one, or 1 + the highest variable index
    used (at least 1). Constant parts are computed once in double precision; the rest runs as torch
    operations in the input's dtype. See :data:`FUNCTIONS` for the callable names. Raises
    :class:`ConfigError` for anything outside the whitelist or over the size limits.
    """
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
        raise ConfigError(f"dim {dim!r} is not accepted for an expression: use an integer >= 1")
    try:
        tree = _parse(expr)
        compiler = _Compiler(expr, allow_vars=True, dim=dim)
        body = compiler.walk(tree)
    except _Refused as why:
        raise ConfigError(f"cannot read expression {_show(expr)} ({why}): {_expr_help(dim)}") from None
    except RecursionError:  # pragma: no cover - depth is limited by _parse
        raise ConfigError(f"cannot read expression {_show(expr)} (nested too deeply)") from None
    out_dim = dim if dim is not None else max(compiler.max_index + 1, 1)

    if callable(body):
        def f(x):
            return body(x)
    else:
        value = body

        def f(x):
            # One value per row, with the graph kept so backward() works (the gradient is zero).
            return x[..., 0] * 0 + value

    f.__doc__ = f"f(x) = {expr}"
    f.expr = expr
    return f, out_dim
