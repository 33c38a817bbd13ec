"""gradexp.safe_expr: numbers and formulas read without eval; hostile input refused."""

import math
import operator

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gradexp.errors import ConfigError
from gradexp.safe_expr import compile_expression, parse_number
from tests.helpers import himmelblau

HIMMELBLAU = "(x0**2 + x1 - 11)**2 + (x0 + x1**2 - 7)**2"


# ---------------------------------------------------------------------------------------------
# parse_number
@pytest.mark.parametrize(
    "text, expected",
    [
        ("pi/3", math.pi / 3),
        ("pi/6", math.pi / 6),
        ("-pi", -math.pi),
        ("2*e", 2 * math.e),
        ("1e-3", 1e-3),
        ("  4  ", 4.0),
        ("-2**-1", -0.5),
        ("2**3**2", 512.0),
        ("(1+2)*3 - 4/8", 8.5),
        ("+3", 3.0),
        ("7 % 3", 1.0),
        ("1_000", 1000.0),
        (3, 3.0),
        (-0.25, -0.25),
    ],
)
def test_parse_number_values(text, expected):
    value = parse_number(text)
    assert type(value) is float
    assert value == expected


@pytest.mark.parametrize(
    "text",
    ["foo", "x0", "", "   ", "1/0", "(-8)**(1/3)", "1e400", "10**1000", "9**9**9", "2 +",
     "sin(1)", "True", "'3'", "1j", "[1]", "pi.real", None, True, [1.0], float("inf"), float("nan")],
)
def test_parse_number_refuses(text):
    with pytest.raises(ConfigError, match="as a number"):
        parse_number(text)


def test_parse_number_message_names_the_text():
    with pytest.raises(ConfigError) as err:
        parse_number("foo")
    assert "'foo'" in str(err.value)
    assert "use numbers, pi, e and + - * / **" in str(err.value)
    assert "\n" not in str(err.value)


_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


@st.composite
def arithmetic(draw, depth=0):
    """(text, value, finite): a random formula of small numbers, its value by Python's own operators,
    and whether every intermediate value was finite (an overflow inside, e.g. 1 / 5e-324, can be
    washed out later: 0 / inf is 0)."""
    if depth >= 3 or draw(st.booleans()):
        kind = draw(st.sampled_from(["int", "float", "pi", "e"]))
        if kind == "int":
            v = draw(st.integers(0, 50))
            return str(v), v, True
        if kind == "float":
            v = draw(st.floats(0, 100, allow_nan=False, allow_infinity=False))
            return repr(v), v, True
        return kind, {"pi": math.pi, "e": math.e}[kind], True
    choice = draw(st.sampled_from(["+", "-", "*", "/", "neg", "pow"]))
    a_text, a, a_ok = draw(arithmetic(depth + 1))
    if choice == "neg":
        return f"-({a_text})", -a, a_ok
    if choice == "pow":
        k = draw(st.integers(0, 3))
        v = a**k
        return f"({a_text})**{k}", v, a_ok and math.isfinite(v)
    b_text, b, b_ok = draw(arithmetic(depth + 1))
    assume(not (choice == "/" and b == 0))
    v = _OPS[choice](a, b)
    return f"({a_text}) {choice} ({b_text})", v, a_ok and b_ok and math.isfinite(v)


@settings(max_examples=200, deadline=None)
@given(arithmetic())
def test_parse_number_matches_python_arithmetic(case):
    """Python's own value when every step of it is finite; a refusal when one overflows (e.g. 1 / 5e-324),
    even if a later step washes the overflow out (0 / inf)."""
    text, expected, finite = case
    if finite:
        assert parse_number(text) == float(expected)
    else:
        with pytest.raises(ConfigError, match="finite"):
            parse_number(text)


def test_an_overflow_inside_a_formula_is_refused_even_when_washed_out():
    with pytest.raises(ConfigError, match="no finite value for"):
        parse_number("1 + 0 / (1.0 / 5e-324)")


# ---------------------------------------------------------------------------------------------
# compile_expression: values
def test_himmelblau_string_matches_the_formula_bitwise():
    f, dim = compile_expression(HIMMELBLAU)
    assert dim == 2
    gen = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        x = (torch.rand(7, 3, 2, generator=gen, dtype=dtype) - 0.5) * 10
        expected = himmelblau((x[..., 0], x[..., 1]))
        got = f(x)
        assert got.shape == (7, 3) and got.dtype == dtype
        assert torch.equal(got, expected)
    # the tutorial's start point: f(0, 0) = 170
    assert f(torch.zeros(2)).item() == 170.0


def test_gradient_flows():
    f, _ = compile_expression("sin(x0) * x1**2")
    x = torch.tensor([0.3, -1.2], dtype=torch.float64, requires_grad=True)
    f(x).backward()
    expected = torch.tensor([math.cos(0.3) * 1.44, 2 * math.sin(0.3) * -1.2], dtype=torch.float64)
    assert torch.allclose(x.grad, expected, rtol=1e-14, atol=0)


@pytest.mark.parametrize(
    "expr, reference",
    [
        ("sin(x0) + cos(x1) - tan(x0/4)", lambda a, b: math.sin(a) + math.cos(b) - math.tan(a / 4)),
        ("exp(-x0**2) * log(2 + x1**2)", lambda a, b: math.exp(-(a**2)) * math.log(2 + b**2)),
        ("sqrt(abs(x0)) + log2(1 + abs(x1)) + log10(3)",
         lambda a, b: math.sqrt(abs(a)) + math.log2(1 + abs(b)) + math.log10(3)),
        ("atan2(x0, x1) + atan(x0) + asin(x1/10) + acos(x0/10)",
         lambda a, b: math.atan2(a, b) + math.atan(a) + math.asin(b / 10) + math.acos(a / 10)),
        ("sinh(x0/3) + cosh(x1/3) + tanh(x0)", lambda a, b: math.sinh(a / 3) + math.cosh(b / 3) + math.tanh(a)),
        ("min(x0, x1) + max(x0, 0.5) + min(1, x1)", lambda a, b: min(a, b) + max(a, 0.5) + min(1, b)),
        ("relu(x0) + sigmoid(x1)", lambda a, b: max(a, 0) + 1 / (1 + math.exp(-b))),
        ("x0 % 1.5 + 2**x1 - pi*e", lambda a, b: a % 1.5 + 2**b - math.pi * math.e),
        ("-x0 + +x1", lambda a, b: -a + b),
    ],
)
def test_functions_match_math(expr, reference):
    f, dim = compile_expression(expr, dim=2)
    assert dim == 2
    points = [(0.7, -1.3), (-2.1, 0.4), (3.3, 2.2)]
    x = torch.tensor(points, dtype=torch.float64)
    got = f(x)
    for value, (a, b) in zip(got.tolist(), points):
        assert value == pytest.approx(reference(a, b), rel=1e-12, abs=1e-12)


def test_dim_inferred_or_given():
    assert compile_expression("x0")[1] == 1
    assert compile_expression("x4 + x1")[1] == 5
    assert compile_expression("3")[1] == 1
    assert compile_expression("x0", dim=3)[1] == 3
    with pytest.raises(ConfigError, match="x3 needs dim >= 4"):
        compile_expression("x0 + x3", dim=2)
    for bad in (0, -1, 2.0, True, "2"):
        with pytest.raises(ConfigError, match="dim"):
            compile_expression("x0", dim=bad)


def test_constant_expression_broadcasts_and_keeps_grad():
    f, dim = compile_expression("2*pi", dim=3)
    x = torch.zeros(4, 5, 3, requires_grad=True)
    y = f(x)
    assert y.shape == (4, 5)
    assert torch.all(y == 2 * math.pi).item()
    y.sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_unused_variables_keep_shape():
    f, _ = compile_expression("x1", dim=3)
    x = torch.arange(12.0).reshape(4, 3)
    assert torch.equal(f(x), x[:, 1])


# ---------------------------------------------------------------------------------------------
# compile_expression: refusals
@pytest.mark.parametrize(
    "expr, piece",
    [
        ("", "empty"),
        ("x0 +", "at the end"),
        ("x0 +* 3", "column 5"),
        ("(x0", "never closed"),
        ("foo + x0", "unknown name 'foo'"),
        ("y", "unknown name 'y'"),
        ("x01", "bad variable name"),
        ("foo(x0)", "unknown function"),
        ("sin(x0, x1)", "sin takes 1 argument"),
        ("min(x0)", "min takes 2 arguments"),
        ("sin(x=x0)", "keyword arguments"),
        ("x0**1e6", "exponent larger than 1000"),
        ("x0**-2000", "exponent larger than 1000"),
        ("1/0 + x0", "division by zero"),
        ("sqrt(-1) + x0", "no finite real value"),
        ("x0 < 1", "not accepted"),
    ],
)
def test_refusals_name_the_piece(expr, piece):
    with pytest.raises(ConfigError) as err:
        compile_expression(expr)
    message = str(err.value)
    assert piece in message
    assert "accepted:" in message and "sin" in message
    assert "\n" not in message


ATTACKS = [
    "__import__('os').system('touch MARKER')",
    "__import__('os').system('touch MARKER') or x0",
    "().__class__.__bases__[0].__subclasses__()",
    "x0.__class__.__mro__[-1].__subclasses__()",
    "open('MARKER','w')",
    "open('MARKER','w').write('x')",
    "(lambda: open('MARKER','w'))()",
    "(lambda: 1)()",
    "[x for x in ()]",
    "[open('MARKER','w') for _ in (1,)]",
    "{open('MARKER','w')}",
    "{1: open('MARKER','w')}",
    "(open('MARKER','w') for _ in (1,))",
    "x0.__class__",
    "x0.real",
    "x0[0]",
    "exec(\"open('MARKER','w')\")",
    "eval(\"open('MARKER','w')\")",
    "compile('1', 'f', 'eval')",
    "globals()",
    "locals()",
    "vars()",
    "getattr(x0, '__class__')",
    "sin.__globals__",
    "'a'*10**9",
    "b'a'*10**9",
    "'MARKER'",
    "9**9**9**9",
    "9**9**9",
    "10**10**10 + x0",
    "2**(2**20)",
    "(" * 10000 + "x0" + ")" * 10000,
    "(" * 1000 + "x0" + ")" * 1000,
    "-" * 5000 + "x0",
    "+".join(["x0"] * 3000),
    "sin(" * 200 + "x0" + ")" * 200,
    "x0" + " " * 20000,
    "x0 if 1 else 2",
    'f"{x0}"',
    "f\"{open('MARKER','w')}\"",
    "(y := 1)",
    "x0 and open('MARKER','w')",
    "not x0",
    "x0 == x1",
    "*x0",
    "[*x0]",
    "sin(*x0)",
    "sin(**x0)",
    "await x0",
    "yield x0",
    "x0; open('MARKER','w')",
    "import os",
    "x0\nopen('MARKER','w')",
    "1j * x0",
    "True + x0",
    "None",
    "...",
    "x0 @ x1",
    "x0 // 2",
    "x0 << 2",
    "~x0",
    "slice(1)",
    "__builtins__",
    "x0.__getattribute__('__class__')",
    "breakpoint()",
    "\x00",
]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda s: repr(s[:40]))
def test_attacks_are_refused(attack, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError):
        f, dim = compile_expression(attack)
        f(torch.zeros(1, dim))  # never reached: compile must refuse
    with pytest.raises(ConfigError):
        parse_number(attack)
    assert not (tmp_path / "MARKER").exists()
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# a point's value and gradient do not depend on its place in a batch
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "expr",
    ["x0**4 + x1**5 - x0**-3 + x1**7.0", "sinh(x0) + cosh(x1) + sigmoid(x0 - x1)",
     "sin(x0) * cos(x1) + exp(x0/3) + log(1 + x1**2) + sqrt(abs(x0)) + tanh(x1)",
     "atan2(x0, x1) + min(x0, x1) + max(x0, 0.5) + relu(x1) + x0 % 1.5"],
)
def test_rows_match_each_point_alone(expr, dtype):
    f, dim = compile_expression(expr, dim=2)
    gen = torch.Generator().manual_seed(5)
    x = ((torch.rand(200, 2, generator=gen, dtype=torch.float64) * 4 + 0.1)).to(dtype).requires_grad_(True)
    y = f(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    for i in range(x.shape[0]):
        xi = x[i].detach().clone().requires_grad_(True)
        yi = f(xi)
        assert torch.equal(yi, y[i]), i
        assert torch.equal(torch.autograd.grad(yi, xi)[0], grad[i]), i


def test_integer_powers_close_to_torch_pow():
    f, _ = compile_expression("x0**4 + x0**-5 + x0**11")
    x = torch.linspace(0.5, 2.0, 101, dtype=torch.float64).reshape(-1, 1)
    t = x[:, 0]
    assert torch.allclose(f(x), t**4 + t**-5 + t**11, rtol=1e-14, atol=0)


def test_parse_number_refuses_overflow():
    for text in ("1/5e-324", "1e308*10", "(10**300)**2"):
        with pytest.raises(ConfigError):
            parse_number(text)
