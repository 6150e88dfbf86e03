"""Forward functions y_k = f_k(x0, x1) of the Two Birds problem: presets, safe expressions, callables.

A function pair is given as

- a preset name (``original``, ``data1``, ``data2``; see ``PRESETS``);
- text: two comma-separated expressions in ``x0`` and ``x1``, e.g.
  ``"sin(31*x0+17*x1), cos(23*x0+41*x1)"``. The text is parsed with ``ast`` into a small tree of
  arithmetic, numbers, ``pi`` and a whitelist of torch functions; nothing is ever ``eval``-ed, so a
  config file or command line cannot run code;
- a torch callable ``f(x0, x1) -> (y0, y1)`` from Python.

``ForwardFunctions(x)`` maps lines ``x`` of shape ``(..., n, 2)`` to ``y`` of the same shape.
"""

from __future__ import annotations

import ast
import math
import operator
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Tuple, Union

import torch

from ..errors import ExpressionError

PRESETS = {
    "original": "cos(49*x0 + 42*x1), cos(56*x0 + 63*x1)",  # the challenge's functions
    "data1": "sin(5*x0 + 3*x1), cos(4*x0 + 8*x1)",  # the seed's first data set
    "data2": "cos(49*x0 + 63*x1), cos(4*x0 + 8*x1)",  # the seed's second data set
}

_FUNCTIONS = {
    "sin": torch.sin,
    "cos": torch.cos,
    "tan": torch.tan,
    "exp": torch.exp,
    "log": torch.log,
    "sqrt": torch.sqrt,
    "tanh": torch.tanh,
    "abs": torch.abs,
}
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_CONSTANTS = {"pi": math.pi}
_VARIABLES = ("x0", "x1")

Scalar = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TrigLinear:
    """``y = cos(p*x0 + q*x1 + c)``; a sine is stored as a cosine with ``c`` shifted by -π/2."""

    p: float
    q: float
    c: float


#: bounds that keep every allowed expression finite to evaluate: a number's magnitude, and a
#: power's exponent (which must be a number)
MAX_MAGNITUDE = 1e6
MAX_EXPONENT = 16
MAX_LENGTH = 1000


class _Constant(float):
    """A number known when the expression is compiled, so arithmetic on it is folded then."""


def _constant(value: float, text: str) -> _Constant:
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise ExpressionError(f"a number in {text!r} is {value:g}: numbers must stay within ±{MAX_MAGNITUDE:g}")
    return _Constant(value)


def _compile(node: ast.AST, text: str) -> Union[Scalar, _Constant]:
    """A function of (x0, x1) for one parsed node, or the number it folds to; anything outside
    the whitelist, and any number or exponent beyond the bounds, is an ``ExpressionError``."""
    if isinstance(node, ast.Expression):
        return _compile(node.body, text)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        if isinstance(node.value, int) and abs(node.value) > MAX_MAGNITUDE:  # float() of a huge int overflows
            raise ExpressionError(f"a number in {text!r} is beyond ±{MAX_MAGNITUDE:g}")
        return _constant(float(node.value), text)
    if isinstance(node, ast.Name):
        if node.id in _VARIABLES:
            index = _VARIABLES.index(node.id)
            return lambda x0, x1: (x0, x1)[index]
        if node.id in _CONSTANTS:
            return _Constant(_CONSTANTS[node.id])
        raise ExpressionError(f"unknown name {node.id!r} in function {text!r}; use x0, x1 and pi")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _binary(node, text)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        op, operand = _UNARY[type(node.op)], _compile(node.operand, text)
        if isinstance(operand, _Constant):
            return _constant(op(operand), text)
        return lambda x0, x1: op(operand(x0, x1))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        if node.func.id not in _FUNCTIONS:
            raise ExpressionError(
                f"unknown function {node.func.id!r} in {text!r}; allowed: {', '.join(sorted(_FUNCTIONS))}"
            )
        if len(node.args) != 1:
            raise ExpressionError(f"{node.func.id}() takes one argument in {text!r}")
        fn, arg = _FUNCTIONS[node.func.id], _as_function(_compile(node.args[0], text))
        return lambda x0, x1: fn(torch.as_tensor(arg(x0, x1), dtype=x0.dtype, device=x0.device))
    raise ExpressionError(
        f"function {text!r} may only hold numbers, x0, x1, pi, + - * / ** and "
        f"{', '.join(sorted(_FUNCTIONS))}; found {type(node).__name__}"
    )


def _binary(node: ast.BinOp, text: str) -> Union[Scalar, _Constant]:
    op, left, right = _BINARY[type(node.op)], _compile(node.left, text), _compile(node.right, text)
    if isinstance(node.op, ast.Pow) and not (isinstance(right, _Constant) and abs(right) <= MAX_EXPONENT):
        raise ExpressionError(f"exponents in {text!r} must be numbers within ±{MAX_EXPONENT}")
    if isinstance(left, _Constant) and isinstance(right, _Constant):
        try:
            return _constant(op(left, right), text)
        except (ZeroDivisionError, OverflowError):
            raise ExpressionError(f"{text!r} divides by zero or overflows") from None
        except TypeError:  # a negative number to a fractional power: complex
            raise ExpressionError(f"{text!r} raises a negative number to a fractional power") from None
    f, g = _as_function(left), _as_function(right)
    return lambda x0, x1: op(f(x0, x1), g(x0, x1))


def _as_function(compiled: Union[Scalar, _Constant]) -> Scalar:
    if isinstance(compiled, _Constant):
        value = float(compiled)
        return lambda x0, x1: value
    return compiled


def _trig_linear(node: ast.AST, text: str) -> Optional[TrigLinear]:
    """Coefficients when the expression is sin or cos of an affine function of x0 and x1."""
    body = node.body if isinstance(node, ast.Expression) else node
    if not (isinstance(body, ast.Call) and isinstance(body.func, ast.Name) and body.func.id in ("sin", "cos")):
        return None
    inner = _as_function(_compile(body.args[0], text))

    def at(a, b):
        x0 = torch.tensor([a], dtype=torch.float64)
        return float(torch.as_tensor(inner(x0, torch.tensor([b], dtype=torch.float64)), dtype=torch.float64))

    c = at(0.0, 0.0)
    p, q = at(1.0, 0.0) - c, at(0.0, 1.0) - c
    if not all(math.isfinite(v) for v in (p, q, c)):  # e.g. a log of x0, undefined at 0
        return None
    # affine iff it matches at a few other points (exact up to rounding for affine expressions)
    for a, b in ((0.37, 0.81), (0.93, 0.12), (2.5, -1.3)):
        if abs(at(a, b) - (p * a + q * b + c)) > 1e-9 * (1 + abs(p) + abs(q) + abs(c)):
            return None
    return TrigLinear(p, q, c - (math.pi / 2 if body.func.id == "sin" else 0.0))


class ForwardFunctions:
    """The forward map of a Two Birds problem: lines ``x (..., n, 2)`` to signals ``y (..., n, 2)``.

    Parameters
    ----------
    spec : a preset name, text ``"f0, f1"`` in x0 and x1, or a callable ``f(x0, x1) -> (y0, y1)``.
    """

    #: y(t) depends on x(t) alone (each signal is f_k of the same point's x0, x1): the
    #: refinement's Jacobian uses it (``refine.jacobian``)
    pointwise = True

    def __init__(self, spec: Union[str, Callable, "ForwardFunctions"] = "original"):
        if isinstance(spec, ForwardFunctions):
            spec = spec.spec
        self.spec = spec
        #: per function, its (p, q, c) when it is sin/cos of an affine argument, else None
        self.terms: Tuple[Optional[TrigLinear], ...] = (None, None)
        if callable(spec):
            self._pair = spec
            self.text = getattr(spec, "__name__", "callable")
            return
        if not isinstance(spec, str):
            raise TypeError(f"functions must be a preset name, text or a callable, got {type(spec).__name__}")
        self.text = PRESETS.get(spec.strip(), spec)
        if len(self.text) > MAX_LENGTH:
            raise ExpressionError(f"functions must be at most {MAX_LENGTH} characters, got {len(self.text)}")
        parts = [part.strip() for part in _split_top_level(self.text)]
        if len(parts) != 2:
            raise ExpressionError(
                f"functions must name a preset ({', '.join(PRESETS)}) or give two comma-separated "
                f"expressions in x0 and x1, got {spec!r}"
            )
        trees = [_parse(part) for part in parts]
        try:
            compiled = [_as_function(_compile(tree, part)) for tree, part in zip(trees, parts)]
            self.terms = tuple(_trig_linear(tree, part) for tree, part in zip(trees, parts))
        except RecursionError:  # nesting too deep for the compiler
            raise ExpressionError(f"functions {self.text[:80]!r} are nested too deeply") from None
        self._pair = lambda x0, x1: tuple(
            torch.as_tensor(f(x0, x1), dtype=x0.dtype) * torch.ones_like(x0) for f in compiled
        )
        self._check_finite_on_the_box()

    def _check_finite_on_the_box(self) -> None:
        """The functions must give finite signals wherever the prior puts lines (x in [0.1, 1])."""
        grid = torch.linspace(0.1, 1.0, 19, dtype=torch.float64)
        x0, x1 = torch.meshgrid(grid, grid, indexing="ij")
        y = self(torch.stack([x0, x1], dim=-1))
        if not torch.isfinite(y).all():
            raise ExpressionError(
                f"functions {self.text!r} give NaN or infinite values for lines in the prior's box "
                "(x0, x1 in [0.1, 1]), e.g. a log or sqrt of a negative number or a division by zero"
            )

    @property
    def trig_linear(self) -> Optional[Tuple[TrigLinear, TrigLinear]]:
        """Both functions' (p, q, c) if both are sin/cos of affine arguments (exactly solvable)."""
        return self.terms if all(term is not None for term in self.terms) else None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != 2:
            raise ValueError(f"x must have shape (..., n_points, 2) holding (x0, x1), got {tuple(x.shape)}")
        y0, y1 = self._pair(x[..., 0], x[..., 1])
        return torch.stack([y0, y1], dim=-1)

    def __repr__(self) -> str:
        return f"ForwardFunctions({self.text!r})"


def _parse(part: str) -> ast.Expression:
    try:
        return ast.parse(part, mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"function {part!r} is not a valid expression: {error.msg}") from None
    except (ValueError, RecursionError, MemoryError) as error:  # null bytes, nesting too deep
        raise ExpressionError(f"function {part[:80]!r} cannot be parsed: {type(error).__name__}") from None


def _split_top_level(text: str) -> Sequence[str]:
    """Split at commas that are not inside parentheses."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts
