"""Evaluating a parsed condition on an observation: whether it held, explained with the observed values inlined.

Evaluating never raises for what it reads: a missing path, a value of the wrong type or a foreign object
makes the test fail with a reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..regexes import RegexTooSlow, bounded_search
from .show import show
from .tree import COMPARE, MISSING, Join, Length, Literal, Node, Not, Operand, PathRef, Regex, Test, is_number


@dataclass(frozen=True)
class _NoLength:
    """len() of a value that has none."""

    value: object


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if is_number(value):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, bytes):
        return "bytes"
    return f"a value of type {type(value).__name__}"


def _resolve(path: PathRef, observed: Mapping[str, object]) -> object:
    if path.root not in observed:
        return MISSING
    value = observed[path.root]
    for index, step in enumerate(path.steps):
        value = _step(value, step, headers=path.root == "headers" and index == 0)
        if value is MISSING:
            break
    return value


def _step(value: object, step: str | int, headers: bool) -> object:
    if isinstance(value, Mapping):
        if isinstance(step, str) and headers:
            key = step.lower()
            if key in value:
                return value[key]
            return next((value[k] for k in value if isinstance(k, str) and k.lower() == key), MISSING)
        for written in (step, str(step)):  # json.codes[200] finds the key "200" too
            if written in value:
                return value[written]
        return MISSING
    if isinstance(value, (list, tuple)) and isinstance(step, int) and -len(value) <= step < len(value):
        return value[step]
    return MISSING


def _same(a: object, b: object) -> bool:
    """Equality of observed values: numbers by value (true is not 1), lists and mappings item by item."""
    pairs = [(a, b)]
    while pairs:
        x, y = pairs.pop()
        if is_number(x) and is_number(y):
            if x != y:
                return False
        elif isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
            if len(x) != len(y):
                return False
            pairs.extend(zip(x, y, strict=True))
        elif isinstance(x, Mapping) and isinstance(y, Mapping):
            if len(x) != len(y) or any(key not in y for key in x):
                return False
            pairs.extend((x[key], y[key]) for key in x)
        elif isinstance(x, (str, bool, bytes)) or x is None:
            if type(x) is not type(y) or x != y:
                return False
        else:
            return False
    return True


def _truthy(value: object) -> bool:
    if value is MISSING or value is None or isinstance(value, _NoLength):
        return False
    if isinstance(value, (str, bytes, list, tuple, Mapping)):
        return len(value) > 0
    if is_number(value) or isinstance(value, bool):
        return value != 0
    return True


def _compare(op: str, a: object, b: object, headers: bool) -> tuple[bool, str | None]:
    """Whether `a op b` holds, and why not when the types do not fit (the note)."""
    if a is MISSING or b is MISSING or isinstance(a, _NoLength) or isinstance(b, _NoLength):
        return False, None
    if op in ("==", "!="):
        same = _same(a, b)
        if op == "!=":
            return not same, None
        differ = not same and _kind(a) != _kind(b) and a is not None and b is not None
        return same, f"{_kind(a)} is never equal to {_kind(b)}" if differ else None
    if op in COMPARE:
        if (is_number(a) and is_number(b)) or (isinstance(a, str) and isinstance(b, str)):
            return COMPARE[op](a, b), None
        return False, f"{_kind(a)} and {_kind(b)} cannot be ordered"
    if op == "contains":
        if isinstance(a, str):
            if isinstance(b, str):
                return b in a, None
            return False, f"a string contains only strings, not {_kind(b)}"
        if isinstance(a, (list, tuple)):
            return any(_same(item, b) for item in a), None
        if isinstance(a, Mapping):
            if headers and isinstance(b, str):
                return any(isinstance(key, str) and key.lower() == b.lower() for key in a), None
            return any(_same(key, b) for key in a), None
        return False, f"{_kind(a)} contains nothing"
    if op == "in":
        assert isinstance(b, tuple)
        return any(_same(a, item) for item in b), None
    assert op == "matches" and isinstance(b, re.Pattern)
    text = str(a) if isinstance(a, int) and not isinstance(a, bool) and abs(a) < 10**30 else a  # a status code
    if isinstance(text, str):
        try:
            return bounded_search(b, text), None
        except RegexTooSlow as slow:
            return False, str(slow)
    return False, f"{_kind(a)} is not text"


def evaluate_tree(node: Node, observed: Mapping[str, object]) -> tuple[bool, str]:
    if isinstance(node, Join):
        results = [evaluate_tree(part, observed) for part in node.parts]
        passed = all(ok for ok, _ in results) if node.word == "and" else any(ok for ok, _ in results)
        # the parts that decided: a failing `and` its failing parts, a passing `or` its passing ones, else all
        shown = [(part, text) for part, (ok, text) in zip(node.parts, results, strict=True) if ok == passed]
        return passed, f" {node.word} ".join(
            f"({text})" if isinstance(part, Join) and part.word == "or" and node.word == "and" else text
            for part, text in shown
        )
    if isinstance(node, Not):
        ok, text = evaluate_tree(node.inner, observed)
        return not ok, f"not ({text})" if isinstance(node.inner, Join) else f"not {text}"
    return _evaluate_test(node, observed)


def _evaluate_test(test: Test, observed: Mapping[str, object]) -> tuple[bool, str]:
    left = _value(test.left, observed)
    if test.op == "exists":
        there = left is not MISSING
        return there, f"{test.left.text} exists" if there else f"{test.left.text} (missing) exists"
    if test.op == "":
        return _truthy(left), _shown(test.left, left, None)
    assert test.right is not None
    right = _value(test.right, observed)
    headers = isinstance(test.left, PathRef) and test.left.root == "headers" and not test.left.steps
    passed, note = _compare(test.op, left, right, headers)
    left_unit = test.right.unit if isinstance(test.right, Literal) else None
    right_unit = test.left.unit if isinstance(test.left, Literal) else None
    text = f"{_shown(test.left, left, left_unit)} {test.op} {_shown(test.right, right, right_unit)}"
    return passed, f"{text} ({note})" if note else text


def _value(operand: Operand, observed: Mapping[str, object]) -> object:
    if isinstance(operand, PathRef):
        return _resolve(operand, observed)
    if isinstance(operand, Length):
        value = _resolve(operand.path, observed)
        if value is MISSING:
            return MISSING
        if isinstance(value, (str, bytes, list, tuple, Mapping)):
            return len(value)
        return _NoLength(value)
    if isinstance(operand, Literal):
        return operand.value
    return operand.pattern


def _shown(operand: Operand, value: object, unit: str | None) -> str:
    """The operand as written, and what it observed in parentheses (a literal is only as written)."""
    if isinstance(operand, (Literal, Regex)):
        return operand.text
    if isinstance(value, _NoLength):
        return f"{operand.text} ({show(value.value, None)} has no length)"
    return f"{operand.text} ({show(value, unit)})"

