"""A policy rule's `when:`: a CEL expression over the call, compiled once, checked per call.

CEL (through cel-rust) is safe to evaluate on input the model chose: no I/O, no loops that do
not end, no Python underneath. It sees three names: `args` (the call's arguments, as the JSON
the model sent), `user` (the Slack id of who asked) and `tool` (the tool's name).

cel-rust compiles names it does not know and fails only when it meets them, so `compile_condition`
also checks every name and function the expression refers to: a typo stops start-up instead of
failing closed on every call.

Numbers keep their JSON type: `600` is a CEL int and `500.5` a double. Comparisons and `==`
work across the two (`args.amount > 500` holds for 600 and for 500.5), but arithmetic does not
mix them (`args.amount * 2` fails for a double): write `double(args.amount) * 2.0` there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import cel

VARIABLES = ("args", "user", "tool")
"""What a condition may refer to."""

TYPE_NAMES = frozenset(
    {"bool", "int", "uint", "double", "string", "bytes", "list", "map", "null_type", "type"}
)
"""Type names are identifiers too (`type(args.n) == int`)."""

FUNCTIONS = frozenset(
    {
        "size",
        "contains",
        "startsWith",
        "endsWith",
        "matches",
        "int",
        "uint",
        "double",
        "string",
        "bytes",
        "dyn",
        "type",
        "timestamp",
        "duration",
        "getFullYear",
        "getMonth",
        "getDate",
        "getDayOfMonth",
        "getDayOfWeek",
        "getDayOfYear",
        "getHours",
        "getMinutes",
        "getSeconds",
        "getMilliseconds",
    }
)
"""cel-rust's own functions (cel-python's opt-in Python extras are not offered: each is a
Python callback per call). Macros (`has`, `all`, `exists`, `exists_one`, `map`, `filter`) and
operators are not listed by name."""

_OPERATOR = re.compile(r"^[_@!\-]")
_BOUND_BY_MACRO = re.compile(
    r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,"
)
_PARSE_ERROR = re.compile(r"<input>:(\d+):(\d+):\s*([^\n]*)")
_EXPECTED_TOKENS = re.compile(r"\s*expecting \{[^}]*\}")


class ConditionError(Exception):
    """A condition that cannot be evaluated for this call (a missing key, a type mismatch,
    a result that is not true or false); the message is short enough to show a person."""


@dataclass(frozen=True)
class Condition:
    """A compiled `when:` expression."""

    source: str
    program: cel.Program

    def holds(self, context: cel.Context) -> bool:
        """Whether the call satisfies the condition; raises ConditionError when it cannot say."""
        try:
            result = self.program.execute(context)
        except Exception as exc:  # cel-rust raises KeyError, TypeError, RuntimeError, …
            raise ConditionError(_short(exc)) from exc
        if not isinstance(result, bool):
            raise ConditionError(f"it gave {result!r} ({type(result).__name__}), not true or false")
        return result


def compile_condition(source: object) -> Condition:
    """Compile a `when:`, or raise ValueError saying what is wrong (one line)."""
    if not isinstance(source, str):
        raise ValueError(f"must be a CEL expression in quotes, not {source!r}")
    if not source.strip():
        raise ValueError("is empty; leave `when` out to match every call to the tool")
    try:
        program = cel.compile(source)
    except ValueError as exc:
        raise ValueError(_parse_error(str(exc))) from exc
    bound = set(_BOUND_BY_MACRO.findall(source))
    if unknown := [
        name
        for name in program.variables()
        if name not in VARIABLES and name not in TYPE_NAMES and name not in bound
    ]:
        raise ValueError(
            f"unknown name {unknown[0]!r}: a condition can use args (the call's arguments, "
            f"e.g. args.{unknown[0]}), user and tool"
        )
    if unknown := [
        name for name in program.functions() if not _OPERATOR.match(name) and name not in FUNCTIONS
    ]:
        raise ValueError(
            f"unknown function {unknown[0]!r}; available: {', '.join(sorted(FUNCTIONS))}, "
            "and the macros has, all, exists, exists_one, map, filter"
        )
    return Condition(source, program)


def call_context(tool: str, arguments: dict[str, Any], user: str) -> cel.Context:
    """The names a condition sees for one call; raises ConditionError if the arguments are
    not plain JSON values."""
    try:
        return cel.Context(variables={"args": arguments, "user": user, "tool": tool})
    except Exception as exc:  # a value CEL has no type for
        raise ConditionError(f"the arguments cannot be given to CEL: {_short(exc)}") from exc


def _parse_error(message: str) -> str:
    """cel-rust's multi-line parse error as one line, with the column it names."""
    if match := _PARSE_ERROR.search(message):
        line, column, problem = match.groups()
        problem = _EXPECTED_TOKENS.sub("", problem)
        problem = problem.replace("mismatched input '<EOF>'", "the expression ends too soon")
        where = f"column {column}" if line == "1" else f"line {line}, column {column}"
        return f"{problem.strip()} (at {where})"
    return " ".join(message.split())


def _short(exc: Exception) -> str:
    """The first sentence of an evaluation error (cel-rust appends long advice)."""
    if isinstance(exc, KeyError):
        return f"no such key: {exc.args[0]!r}" if exc.args else "no such key"
    text = " ".join(str(exc).split()) or type(exc).__name__
    if text.startswith("No such overload"):
        return "the values' types do not fit the operator, e.g. a string compared with a number"
    first, _, _ = text.partition(". ")
    return first.rstrip(".")
