"""The condition language's tree: the nodes a condition parses into, its error and outcome, the limits, the units.

Every other module of the package imports this one and nothing imports upward: tokens and parse build
the tree, show and evaluate read it.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

MAX_LENGTH = 500  # characters of one condition
MAX_DEPTH = 20  # levels of parentheses and `not`

# unit -> (kind, factor to the base unit: seconds, bytes, percent)
UNITS: dict[str, tuple[str, int | float]] = {
    "ms": ("time", 0.001), "s": ("time", 1), "m": ("time", 60), "h": ("time", 3600), "d": ("time", 86400),
    "B": ("size", 1), "KB": ("size", 1000), "MB": ("size", 1000**2), "GB": ("size", 1000**3),
    "KiB": ("size", 1024), "MiB": ("size", 1024**2), "GiB": ("size", 1024**3), "%": ("percent", 1),
}
COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


class ConditionError(ValueError):
    """A condition that cannot be parsed or names something unknown.

    `column` is 1-based in `text`, `part` the wrong part as written; str() is
    "column {column} (`{part}`): {problem}", and `fix` says what to write instead.
    """

    def __init__(self, text: str, column: int, part: str, problem: str, fix: str) -> None:
        super().__init__(f"column {column} (`{part}`): {problem}")
        self.text, self.column, self.part, self.problem, self.fix = text, column, part, problem, fix

    def __reduce__(self) -> tuple[type[ConditionError], tuple[str, int, str, str, str]]:
        return type(self), (self.text, self.column, self.part, self.problem, self.fix)


@dataclass(frozen=True)
class Outcome:
    """Whether a condition held, and why, with the observed values inlined."""

    passed: bool
    explanation: str


def fail_at(text: str, start: int, part: str, problem: str, fix: str) -> NoReturn:
    """Raise the ConditionError of `part` at 0-based `start` in `text`."""
    raise ConditionError(text, start + 1, part, problem, fix)


# --- the tree -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathRef:
    """A name: its root and the steps below it (`.field`, `["key"]` as str, `[0]` as int)."""

    root: str
    steps: tuple[str | int, ...]
    text: str  # as written, without spaces
    start: int = field(compare=False)
    end: int = field(compare=False)


@dataclass(frozen=True)
class Length:
    path: PathRef
    text: str
    start: int = field(compare=False)
    end: int = field(compare=False)


@dataclass(frozen=True)
class Literal:
    value: object  # in base units; a list is a tuple
    text: str
    unit: str | None  # the unit written (of the first item, for a list)
    start: int = field(compare=False)
    end: int = field(compare=False)


@dataclass(frozen=True)
class Regex:
    pattern: re.Pattern[str]
    text: str
    start: int = field(compare=False)
    end: int = field(compare=False)


Operand = PathRef | Length | Literal | Regex


@dataclass(frozen=True)
class Test:
    """`left op right`; op "exists" (no right) or "" (the left alone, truthy)."""

    op: str
    left: Operand
    right: Operand | None = None


@dataclass(frozen=True)
class Not:
    inner: Node


@dataclass(frozen=True)
class Join:
    word: str  # "and" | "or"
    parts: tuple[Node, ...]


Node = Test | Not | Join


def roots_of(node: Node) -> Iterator[str]:
    """The root names the tests of `node` read, once per use."""
    if isinstance(node, Test):
        for side in (node.left, node.right):
            if isinstance(side, PathRef):
                yield side.root
            elif isinstance(side, Length):
                yield side.path.root
    elif isinstance(node, Not):
        yield from roots_of(node.inner)
    else:
        for part in node.parts:
            yield from roots_of(part)


# --- values ---------------------------------------------------------------------------------------------


class _Missing:
    """What a path that is not there evaluates to."""

    def __repr__(self) -> str:
        return "missing"


MISSING = _Missing()


def is_number(value: object) -> bool:
    """An int or a float, not a bool (true is not 1)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
