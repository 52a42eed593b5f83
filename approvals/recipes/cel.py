"""CEL (cel-python) for ``when`` conditions: compile once, check at publish, evaluate.

Two facts about cel-python 0.5.0 shape this module (TOOLCHAIN.md):

- Its parser is a process-wide singleton built with the tree class of the first
  ``Environment``; the compiled runner needs its own tree class, so this module
  makes the compiled environment first, at import, and is the only CEL user.
- ``CompiledRunner.evaluate`` stores the activation and the result in the
  globals of ``celpy.evaluation``: two threads evaluating at once would read
  each other's values. Every compile and evaluation holds ``_LOCK``; they take
  tens of microseconds, so the lock costs nothing worth measuring.
- Its compiled ``has()`` returns a Python bool that ``&&``/``||`` then refuse
  (``has(inputs.x) && inputs.x > 1`` fails). Expressions using ``has()`` run on
  the interpreted runner, which gets them right, at about 3x the cost.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import celpy
import lark
from celpy import celtypes
from celpy.celparser import CELParseError

_ENV = celpy.Environment(runner_class=celpy.CompiledRunner)
_INTERPRETED_ENV = celpy.Environment(runner_class=celpy.InterpretedRunner)
_LOCK = threading.RLock()
# The compiled runner logs every failed evaluation as an "Internal error"; a
# failed ``when`` is an expected outcome that the engine records in the audit trail.
logging.getLogger("celpy.Transpiler").setLevel(logging.CRITICAL)

SCOPE_NAMES = ("inputs", "requester", "now")
REQUESTER_FIELDS = ("username", "department", "title", "roles")
# Words an input may not be named: CEL keywords and type names would not resolve to it.
RESERVED_NAMES = frozenset(
    {
        *SCOPE_NAMES,
        *("true", "false", "null", "in", "as", "break", "const", "continue", "else", "for"),
        *("function", "if", "import", "let", "loop", "package", "namespace", "return"),
        *("var", "void", "while", "int", "uint", "double", "bool", "string", "bytes"),
        *("list", "map", "type", "dyn", "null_type"),
    }
)
MAX_EXPRESSION_CHARS = 2000
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_CLASS_NOISE = re.compile(r" <class '[\w.]+'>")


class CelCompileError(ValueError):
    """A ``when`` that does not parse."""


@dataclass(frozen=True)
class Compiled:
    """One compiled expression and what it reads."""

    text: str
    runner: celpy.Runner
    # Free identifiers the expression uses (input names, inputs, requester, now).
    names: frozenset[str]
    # Fields read as ``inputs.F`` / ``requester.F``.
    input_fields: frozenset[str]
    requester_fields: frozenset[str]
    # Whether ``inputs`` / ``requester`` is used other than as ``x.FIELD``.
    whole_inputs: bool
    whole_requester: bool
    # Source spans of the operands of the top-level &&, || and ?: (for publish checks).
    operands: tuple[str, ...]

    def seen_keys(self) -> list[str]:
        """The audit trail's names for what the expression read, in a stable order."""
        keys = sorted(n for n in self.names if n not in SCOPE_NAMES)
        keys += [f"inputs.{f}" for f in sorted(self.input_fields)]
        keys += [f"requester.{f}" for f in sorted(self.requester_fields)]
        keys += [n for n in ("inputs", "requester") if getattr(self, f"whole_{n}")]
        if "now" in self.names:
            keys.append("now")
        return keys


@lru_cache(maxsize=4096)
def compile_expression(text: str) -> Compiled:
    """Compile ``text`` once per process. Raises CelCompileError."""
    if len(text) > MAX_EXPRESSION_CHARS:
        raise CelCompileError(f"is longer than {MAX_EXPRESSION_CHARS} characters")
    with _LOCK:
        try:
            ast = _ENV.compile(text)
        except CELParseError as exc:
            raise CelCompileError(_parse_message(exc, text)) from None
        except (lark.exceptions.LarkError, RecursionError) as exc:
            raise CelCompileError(f"does not parse: {type(exc).__name__}") from None
        try:
            analysis = _Analysis()
            analysis.visit(ast)
            env = _INTERPRETED_ENV if analysis.uses_has else _ENV
            runner = env.program(ast)
        except Exception as exc:  # a construct the transpiler cannot handle, deep nesting
            raise CelCompileError(f"cannot be compiled: {exc}") from None
    spans = tuple(dict.fromkeys(_operand_spans(ast, text)))
    return Compiled(
        text=text,
        runner=runner,
        names=frozenset(analysis.free - analysis.bound),
        input_fields=frozenset(analysis.fields["inputs"]),
        requester_fields=frozenset(analysis.fields["requester"]),
        whole_inputs=analysis.whole["inputs"],
        whole_requester=analysis.whole["requester"],
        operands=spans if len(spans) > 1 else (),
    )


def run(compiled: Compiled, activation: Mapping[str, Any]) -> Any:
    """Evaluate; returns the CEL value or raises CELEvalError (or another error)."""
    with _LOCK:
        return compiled.runner.evaluate(dict(activation))


def describe_error(exc: BaseException) -> str:
    """A readable message from cel-python's nested error arguments."""
    args: tuple[Any, ...] = exc.args
    # The compiled runner wraps the real error: ("evaluation error", type, inner.args).
    while len(args) >= 3 and args[0] == "evaluation error" and isinstance(args[2], tuple):
        args = args[2]
    parts = [str(a) for a in args if isinstance(a, str)]
    nested = next((a for a in args if isinstance(a, tuple)), ())
    parts += [str(a) for a in nested if isinstance(a, str) and a not in parts]
    message = ": ".join(dict.fromkeys(parts)) if parts else repr(exc)
    message = message.replace("no such overload: no such overload", "no such overload")
    return _CLASS_NOISE.sub("", message)


def is_type_error(exc: BaseException) -> bool:
    """Whether a failure is a type mismatch (``int > double``, ``string + int``)."""

    def walk(value: Any) -> Iterator[Any]:
        yield value
        if isinstance(value, tuple | list):
            for item in value:
                yield from walk(item)
        elif isinstance(value, BaseException):
            yield from walk(value.args)

    return any(
        v is TypeError or (isinstance(v, str) and "no such overload" in v) for v in walk(exc)
    )


def to_cel(type_name: str, value: Any) -> Any:
    """A cleaned input value as the CEL type its input type declares."""
    if value is None:
        return None
    if type_name in ("money", "number"):
        return celtypes.DoubleType(float(value))
    if type_name == "integer":
        return celtypes.IntType(int(value))
    if type_name == "boolean":
        return celtypes.BoolType(bool(value))
    return celtypes.StringType(str(value))


def requester_to_cel(requester: Mapping[str, Any]) -> Any:
    roles = requester.get("roles") or ()
    return _requester_map(
        str(requester.get("username") or ""),
        str(requester.get("department") or ""),
        str(requester.get("title") or ""),
        tuple(str(r) for r in roles),
    )


@lru_cache(maxsize=1024)
def _requester_map(username: str, department: str, title: str, roles: tuple[str, ...]) -> Any:
    # Building a CEL map costs more than the comparison that reads it; the same
    # requester comes back for every step of a request. CEL never mutates values.
    return celtypes.MapType(
        {
            celtypes.StringType("username"): celtypes.StringType(username),
            celtypes.StringType("department"): celtypes.StringType(department),
            celtypes.StringType("title"): celtypes.StringType(title),
            celtypes.StringType("roles"): celtypes.ListType(
                [celtypes.StringType(r) for r in roles]
            ),
        }
    )


def now_to_cel(now: datetime) -> Any:
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return celtypes.TimestampType(now)


def _parse_message(exc: CELParseError, text: str) -> str:
    """One line (the CLI prints ``path:line: message``): where, and what came there."""
    line = getattr(exc, "line", None) or 1
    column = getattr(exc, "column", None)
    if not column:
        return f"does not parse: {text!r}"
    cause = exc.__context__
    token = getattr(cause, "token", None)
    if token is not None and token.type == "$END":
        what = "it ends too early"
    elif token is not None:
        what = f"unexpected {str(token)!r}"
    elif getattr(cause, "char", None):
        what = f"unexpected {cause.char!r}"  # type: ignore[union-attr]
    else:
        what = "unexpected text"
    where = f"column {column}" if line == 1 else f"line {line}, column {column}"
    return f"does not parse: {what} at {where} of {text!r}"


class _Analysis(lark.visitors.Visitor_Recursive):
    """Which names an expression reads, and which it binds in macros."""

    def __init__(self) -> None:
        self.free: set[str] = set()
        self.bound: set[str] = set()
        self.fields: dict[str, set[str]] = {"inputs": set(), "requester": set()}
        self.dotted: dict[str, int] = {"inputs": 0, "requester": 0}
        self.whole: dict[str, bool] = {"inputs": False, "requester": False}
        self.uses_has = False
        self._uses: dict[str, int] = {"inputs": 0, "requester": 0}

    def visit(self, tree: lark.Tree) -> lark.Tree:  # type: ignore[override]
        super().visit(tree)
        for name in ("inputs", "requester"):
            self.whole[name] = self._uses[name] > self.dotted[name]
        return tree

    def ident(self, tree: lark.Tree) -> None:
        name = str(tree.children[0])
        self.free.add(name)
        if name in self._uses:
            self._uses[name] += 1

    def ident_arg(self, tree: lark.Tree) -> None:
        if str(tree.children[0]) == "has":
            self.uses_has = True

    def member_dot(self, tree: lark.Tree) -> None:
        head = _bare_ident(tree.children[0])
        if head in self.fields:
            self.fields[head].add(str(tree.children[1]))
            self.dotted[head] += 1

    def member_dot_arg(self, tree: lark.Tree) -> None:
        if str(tree.children[1]) in _MACROS and len(tree.children) > 2:
            exprlist = tree.children[2]
            if isinstance(exprlist, lark.Tree) and exprlist.children:
                variable = _bare_ident(exprlist.children[0])
                if variable:
                    self.bound.add(variable)


def _bare_ident(node: Any) -> str | None:
    """The name if ``node`` is just an identifier (through the grammar's single-child chain)."""
    while isinstance(node, lark.Tree):
        if node.data == "ident":
            return str(node.children[0])
        if len(node.children) != 1:
            return None
        node = node.children[0]
    return None


def _operand_spans(node: lark.Tree, text: str) -> Iterator[str]:
    """The source of each operand of the top-level logical operators, recursively
    through parentheses. Each must be a boolean on its own, and evaluating them
    one by one finds type errors that short-circuiting would hide from one sample."""
    data = node.data
    if data in ("expr", "conditionalor", "conditionaland"):
        children = [c for c in node.children if isinstance(c, lark.Tree)]
        if data == "expr" and len(children) == 3:
            # cond ? a : b: the condition and both branches are booleans here.
            for child in children:
                yield from _operand_spans(child, text)
            return
        if len(children) == 1:
            yield from _operand_spans(children[0], text)
            return
        for child in children:
            yield from _operand_spans(child, text)
        return
    inner = _paren_inner(node)
    if inner is not None:
        yield from _operand_spans(inner, text)
        return
    meta = node.meta
    if not getattr(meta, "empty", True):
        yield text[meta.start_pos : meta.end_pos]


def _paren_inner(node: lark.Tree) -> lark.Tree | None:
    while isinstance(node, lark.Tree) and len(node.children) == 1:
        if node.data == "paren_expr":
            child = node.children[0]
            return child if isinstance(child, lark.Tree) else None
        node = node.children[0]
    if isinstance(node, lark.Tree) and node.data == "paren_expr":
        child = node.children[0]
        return child if isinstance(child, lark.Tree) else None
    return None
