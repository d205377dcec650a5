"""The condition language: what must hold of what a probe observed (declared checks, issue 18).

A condition is parsed once, against the names its probe observes, then evaluated on each observation;
the outcome explains itself with the observed values inlined (docs/CONDITIONS.md):

    >>> condition = parse_condition("status == 200 and time.total < 500ms", ("status", "time"))
    >>> sorted(condition.roots())
    ['status', 'time']
    >>> condition.evaluate({"status": 404, "time": {"total": 1.52}}).explanation
    'status (404) == 200 and time.total (1.52 s) < 500ms'
    >>> parse_condition("stauts == 200", ("status", "time"))
    Traceback (most recent call last):
    ...
    healthsuite.model.conditions.ConditionError: column 1 (`stauts`): unknown name `stauts`

A hand-written tokenizer and recursive-descent parser: no eval(), no parser library. Nesting is counted
(at most MAX_DEPTH levels of parentheses and `not`) and the text is at most MAX_LENGTH characters, so
parsing never nears Python's recursion limit. Evaluating never raises: a missing path, a value of the
wrong type or a foreign object makes the test fail with a reason.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from .regexes import PatternRefused, RegexTooSlow, bounded_search, compile_pattern

MAX_LENGTH = 500  # characters of one condition
MAX_DEPTH = 20  # levels of parentheses and `not`
CUT = 80  # characters of an observed string (or list, mapping) shown in an explanation

# unit -> (kind, factor to the base unit: seconds, bytes, percent)
UNITS: dict[str, tuple[str, int | float]] = {
    "ms": ("time", 0.001), "s": ("time", 1), "m": ("time", 60), "h": ("time", 3600), "d": ("time", 86400),
    "B": ("size", 1), "KB": ("size", 1000), "MB": ("size", 1000**2), "GB": ("size", 1000**3),
    "KiB": ("size", 1024), "MiB": ("size", 1024**2), "GiB": ("size", 1024**3), "%": ("percent", 1),
}
_TIME_UNITS = "ms, s, m, h, d"
_SIZE_UNITS = "B, KB, MB, GB, KiB, MiB, GiB"
# what people write for a unit (lower case) -> the unit meant, or "" for its kind only
_ALIASES: dict[str, tuple[str, str]] = {
    **{word: ("time", "ms") for word in ("ms", "msec", "msecs", "millis", "millisecond", "milliseconds")},
    **{word: ("time", "s") for word in ("s", "sec", "secs", "second", "seconds")},
    **{word: ("time", "m") for word in ("m", "min", "mins", "minute", "minutes")},
    **{word: ("time", "h") for word in ("h", "hr", "hrs", "hour", "hours")},
    **{word: ("time", "d") for word in ("d", "day", "days")},
    **{word: ("time", "") for word in ("us", "ns", "w", "wk", "week", "weeks", "mo", "month", "months", "y", "yr")},
    **{word: ("size", "B") for word in ("b", "byte", "bytes")},
    "kb": ("size", "KB"), "mb": ("size", "MB"), "gb": ("size", "GB"),
    "kib": ("size", "KiB"), "mib": ("size", "MiB"), "gib": ("size", "GiB"), "tb": ("size", ""), "tib": ("size", ""),
}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
_WORD_OPERATORS = ("contains", "matches", "in", "exists")
_KEYWORDS = ("and", "or", "not", *_WORD_OPERATORS, "true", "false", "null", "len")
_NOT_OPERATORS = {  # written for an operator of other languages -> (problem, fix)
    "=": ("`=` alone is not an operator", "compare with `==`"),
    "!": ("`!` is not an operator", "negate a test with `not`, or compare with `!=`"),
    "&&": ("`&&` is not an operator", "join tests with `and`"),
    "||": ("`||` is not an operator", "join tests with `or`"),
    "&": ("`&` is not an operator", "join tests with `and`"),
    "|": ("`|` is not an operator", "join tests with `or`"),
    "<>": ("`<>` is not an operator", "write `!=`"),
    "=>": ("`=>` is not an operator", "write `>=`"),
    "=<": ("`=<` is not an operator", "write `<=`"),
}
_PUNCTUATION = "()[],.%-"


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


# --- the tree -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Path:
    """A name: its root and the steps below it (`.field`, `["key"]` as str, `[0]` as int)."""

    root: str
    steps: tuple[str | int, ...]
    text: str  # as written, without spaces
    start: int = field(compare=False)
    end: int = field(compare=False)


@dataclass(frozen=True)
class _Len:
    path: _Path
    text: str
    start: int = field(compare=False)
    end: int = field(compare=False)


@dataclass(frozen=True)
class _Literal:
    value: object  # in base units; a list is a tuple
    text: str
    unit: str | None  # the unit written (of the first item, for a list)
    start: int = field(compare=False)
    end: int = field(compare=False)


@dataclass(frozen=True)
class _Regex:
    pattern: re.Pattern[str]
    text: str
    start: int = field(compare=False)
    end: int = field(compare=False)


_Operand = _Path | _Len | _Literal | _Regex


@dataclass(frozen=True)
class _Test:
    """`left op right`; op "exists" (no right) or "" (the left alone, truthy)."""

    op: str
    left: _Operand
    right: _Operand | None = None


@dataclass(frozen=True)
class _Not:
    inner: _Node


@dataclass(frozen=True)
class _Join:
    word: str  # "and" | "or"
    parts: tuple[_Node, ...]


_Node = _Test | _Not | _Join


# --- tokens ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "name" | "number" | "string" | "regex" | "op" | "end"
    text: str  # as written
    start: int  # 0-based
    value: object = None  # a number's or string's value, a regex's compiled pattern

    @property
    def end(self) -> int:
        return self.start + len(self.text)


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_SPACE = " \t\r\n"
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}


def _fail(text: str, start: int, part: str, problem: str, fix: str) -> NoReturn:
    raise ConditionError(text, start + 1, part, problem, fix)


def _tokenize(text: str) -> list[_Token]:
    """The tokens of `text`, ending with an "end" token; a character that starts none is a ConditionError."""
    tokens: list[_Token] = []
    at = 0
    while at < len(text):
        char = text[at]
        if char in _SPACE:
            at += 1
            continue
        number = _NUMBER.match(text, at)
        name = _NAME.match(text, at)
        if number:
            written = number.group()
            tokens.append(_Token("number", written, at, float(written) if "." in written else int(written)))
        elif name:
            tokens.append(_Token("name", name.group(), at))
        elif char in "\"'":
            tokens.append(_string(text, at))
        elif char == "/":
            tokens.append(_regex(text, at))
        elif text.startswith(("==", "!=", "<=", ">="), at):
            tokens.append(_Token("op", text[at:at + 2], at))
        elif text.startswith(("&&", "||", "<>", "=>", "=<"), at):
            problem, fix = _NOT_OPERATORS[text[at:at + 2]]
            _fail(text, at, text[at:at + 2], problem, fix)
        elif char in "<>" or char in _PUNCTUATION:
            tokens.append(_Token("op", char, at))
        elif char in _NOT_OPERATORS:
            problem, fix = _NOT_OPERATORS[char]
            _fail(text, at, char, problem, fix)
        else:
            _fail(text, at, char, f"unexpected character `{char}`",
                  "names are letters, digits and `_` (a key with other characters is quoted: "
                  "headers[\"content-type\"]); text is quoted: 'like this'")
        at = tokens[-1].end
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _string(text: str, start: int) -> _Token:
    quote, at, value = text[start], start + 1, []
    while at < len(text) and text[at] != quote:
        if text[at] == "\\" and at + 1 < len(text):
            value.append(_ESCAPES.get(text[at + 1], "\\" + text[at + 1]))
            at += 2
        else:
            value.append(text[at])
            at += 1
    if at >= len(text):
        _fail(text, start, text[start:start + 20], "the string is never closed", f"end it with a closing `{quote}`")
    return _Token("string", text[start:at + 1], start, "".join(value))


def _regex(text: str, start: int) -> _Token:
    at, pattern = start + 1, []
    while at < len(text) and text[at] != "/":
        if text[at] == "\\" and text[at + 1:at + 2] == "/":
            pattern.append("/")
            at += 2
        elif text[at] == "\\" and at + 1 < len(text):
            pattern.append(text[at:at + 2])
            at += 2
        else:
            pattern.append(text[at])
            at += 1
    if at >= len(text):
        _fail(text, start, text[start:start + 20], "the regex is never closed",
              "end it with `/` (a `/` inside is written `\\/`)")
    flags = _NAME.match(text, at + 1)
    written = flags.group() if flags else ""
    if written not in ("", "i"):
        _fail(text, at + 1, written, f"unknown regex flag `{written}`", "the only flag is `i` (ignore case): /ok/i")
    source = "".join(pattern)
    if not source:
        _fail(text, start, "//", "the regex is empty, so it matches everything", "write what must be found, e.g. /ok/")
    try:
        compiled = compile_pattern(source, ignore_case=bool(written))
    except PatternRefused as refused:
        _fail(text, start, text[start:at + 1 + len(written)], refused.problem, refused.fix)
    except (re.error, OverflowError) as exc:
        where = f" at position {exc.pos}" if isinstance(exc, re.error) and exc.pos is not None else ""
        problem = exc.msg if isinstance(exc, re.error) else str(exc)
        _fail(text, start, text[start:at + 1 + len(written)], f"the regex does not compile: {problem}{where}",
              "fix the regex (Python `re` syntax); escape a special character with `\\`, e.g. /a\\(b/")
    return _Token("regex", text[start:at + 1 + len(written)], start, compiled)


# --- the parser -----------------------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the grammar of docs/CONDITIONS.md, one token of look-ahead."""

    def __init__(self, text: str, roots: tuple[str, ...]) -> None:
        self.text, self.roots = text, roots
        self.example = roots[0] if roots else "status"  # the name examples in fixes use
        self.tokens = _tokenize(text)
        self.at = 0
        self.depth = 0

    # helpers
    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.at + ahead, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.peek()
        self.at = min(self.at + 1, len(self.tokens) - 1)
        return token

    def last(self) -> _Token | None:
        return self.tokens[self.at - 1] if self.at else None

    def fail(self, token: _Token, problem: str, fix: str, part: str | None = None) -> NoReturn:
        _fail(self.text, token.start, token.text if part is None else part, problem, fix)

    def is_word(self, token: _Token, *words: str) -> bool:
        return token.kind == "name" and token.text in words

    def is_operator(self, token: _Token) -> bool:
        """Whether `token`, after an operand, is a comparison."""
        return (token.kind == "op" and token.text in _COMPARE) or self.is_word(token, *_WORD_OPERATORS)

    def nest(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(token, f"nested over {MAX_DEPTH} levels",
                      "flatten it: join tests with `and`/`or` instead of nesting parentheses and `not`")

    # grammar
    def condition(self) -> _Node:
        if self.peek().kind == "end":
            _fail(self.text, 0, self.text.strip(), "the condition is empty",
                  f"write a test, e.g. `{self.example} == 200`")
        node = self.join("or")
        if self.peek().kind != "end":
            self.after_test(self.peek())
        return node

    def join(self, word: str) -> _Node:
        """or := and ("or" and)* ; and := unary ("and" unary)*"""
        parts = [self.join("and") if word == "or" else self.unary()]
        while self.is_word(self.peek(), word):
            self.take()
            parts.append(self.join("and") if word == "or" else self.unary())
        return parts[0] if len(parts) == 1 else _Join(word, tuple(parts))

    def unary(self) -> _Node:
        """unary := "not" unary | "(" or ")" | test"""
        token = self.peek()
        if self.is_word(token, "not"):
            self.nest(self.take())
            inner = self.unary()
            self.depth -= 1
            return _Not(inner)
        if token.kind == "op" and token.text == "(":
            self.nest(self.take())
            node = self.join("or")
            closing = self.peek()
            if closing.kind == "end":
                self.fail(token, "`(` is never closed", "add `)` where the group ends")
            if closing.text != ")" or closing.kind != "op":
                self.after_test(closing)
            self.take()
            self.depth -= 1
            return node
        return self.test()

    def after_test(self, token: _Token) -> NoReturn:
        """What follows a complete test is neither `and`, `or`, `)` nor the end."""
        if token.kind == "op" and token.text == ")":
            self.fail(token, "`)` has no matching `(`", "remove it, or add the `(` where the group starts")
        if self.is_operator(token):
            self.fail(token, "comparisons do not chain", "join two tests with `and`, e.g. `x > 1 and x < 5`")
        if self.is_word(token, "not"):
            self.fail(token, "`not` goes before a test", "write `not x in [1, 2]`, or `x != 1`")
        if token.kind == "name" and token.text.lower() in _KEYWORDS:
            self.fail(token, f"unexpected `{token.text}` after a complete test",
                      f"write `{token.text.lower()}` in lower case")
        self.fail(token, f"unexpected `{token.text}` after a complete test", "join tests with `and` or `or`")

    def test(self) -> _Test:
        """test := operand [compare operand | "contains" operand | "matches" regex | "in" list | "exists"]"""
        left = self.operand()
        token = self.peek()
        if self.is_word(token, "not") and self.is_operator(self.peek(1)):
            self.fail(token, f"`not` goes before the test, not before `{self.peek(1).text}`",
                      f"write `not {left.text} {self.peek(1).text} ...`")
        if not self.is_operator(token):
            if isinstance(left, (_Literal, _Regex)):
                example = f"{self.example} {'matches' if isinstance(left, _Regex) else '=='} {left.text}"
                _fail(self.text, left.start, left.text, "a value alone never depends on what was observed",
                      f"compare a name with it, e.g. `{example}`")
            return _Test("", left)
        op = self.take()
        if op.text == "exists":
            if not isinstance(left, _Path):
                self.fail(op, "`exists` follows a name", "e.g. `json.token exists`")
            return _Test("exists", left)
        right = self.operand()
        if isinstance(left, (_Literal, _Regex)) and isinstance(right, (_Literal, _Regex)):
            _fail(self.text, left.start, self.text[left.start:right.end],
                  "compares two values written here, so it never depends on what was observed",
                  f"put a name on one side, e.g. `{self.example} {op.text} {right.text}`")
        written = self.text[right.start:right.end]
        if op.text == "matches" and not isinstance(right, _Regex):
            regex = f"/{right.value}/" if isinstance(right, _Literal) and isinstance(right.value, str) else "/ok/"
            _fail(self.text, right.start, written, "`matches` takes a regex", f"write it as `{regex}`")
        if op.text == "in" and not (isinstance(right, _Literal) and isinstance(right.value, tuple)):
            fix = (f"for what was observed, write `{right.text} contains {left.text}`" if isinstance(right, _Path)
                   else f"write the values in brackets: `in [{right.text}]`")
            _fail(self.text, right.start, written, "`in` takes a list written here, e.g. `in [200, 204]`", fix)
        for side in (left, right):
            if isinstance(side, _Regex) and op.text != "matches":
                _fail(self.text, side.start, side.text, "a regex only follows `matches`",
                      f"write `{left.text if side is right else right.text} matches {side.text}`")
        return _Test(op.text, left, right)

    def missing_operand(self, token: _Token) -> NoReturn:
        """No operand where one must be: say which operator lacks it."""
        before = self.last()
        if token.kind == "op" and token.text == ")" and before is not None and before.text == "(":
            self.fail(before, "empty parentheses", "put a test inside, or remove them",
                      part=self.text[before.start:token.end])
        if self.is_operator(token) or self.is_word(token, "and", "or"):
            self.fail(token, f"`{token.text}` has nothing on its left",
                      f"put a name before it, e.g. `{self.example} == 200`" if self.is_operator(token)
                      else "put a test before it, or remove it")
        if before is None:
            self.fail(token, f"unexpected `{token.text}`", f"start with a name, e.g. `{self.example} == 200`")
        value = before.kind == "op" or self.is_word(before, *_WORD_OPERATORS)
        self.fail(before, f"`{before.text}` has nothing on its right",
                  "put a name or a value after it, e.g. `200`" if value else "put a test after it, or remove it")

    def operand(self) -> _Operand:
        """operand := path | "len" "(" path ")" | number [unit] | string | true | false | null | list | regex"""
        token = self.peek()
        if token.kind == "number":
            return self.number()
        if token.kind == "string":
            self.take()
            return _Literal(token.value, token.text, None, token.start, token.end)
        if token.kind == "regex":
            self.take()
            assert isinstance(token.value, re.Pattern)
            return _Regex(token.value, token.text, token.start, token.end)
        if token.kind == "op" and token.text == "[":
            return self.values()
        if token.kind == "op" and token.text == "(":
            self.fail(token, "parentheses group tests, not values", f"remove them, e.g. `{self.example} == 200`")
        if token.kind == "op" and token.text in "%-.":
            self.fail(token, f"unexpected `{token.text}`", {
                "%": "`%` follows a number: `80%`", "-": "a negative number is written `-3`",
                ".": "a field follows a name: `json.status`"}[token.text])
        if token.kind != "name":
            self.missing_operand(token)
        constants = {"true": True, "false": False, "null": None}
        if token.text in constants:
            self.take()
            return _Literal(constants[token.text], token.text, None, token.start, token.end)
        if token.text == "not":
            self.fail(token, "`not` negates a test, it is not a value", "write `not (x == 1)`, or `x != 1`")
        if token.text == "len" and self.peek(1).text == "(" and "len" not in self.roots:
            return self.length()
        if token.text in self.roots:
            return self.path()
        if token.text in ("and", "or", *_WORD_OPERATORS):
            self.missing_operand(token)
        if self.peek(1).kind == "op" and self.peek(1).text == "(" and self.peek(1).start == token.end:
            self.fail(token, f"unknown function `{token.text}`",
                      "the only function is len(name), e.g. `len(json.items)`")
        self.unknown_name(token)

    def unknown_name(self, token: _Token) -> NoReturn:
        lower = {"true": "true", "false": "false", "null": "null", "none": "null", "nil": "null"}
        if token.text.lower() in lower:
            self.fail(token, f"unknown name `{token.text}`", f"write `{lower[token.text.lower()]}` (lower case)")
        listed = ", ".join(self.roots) if self.roots else "none"
        close = difflib.get_close_matches(token.text, self.roots, n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        if token.text == "len":
            hint = "write `len(name)`, e.g. `len(json.items) > 0`; "
        self.fail(token, f"unknown name `{token.text}`", f"{hint}names here: {listed}")

    def path(self) -> _Path:
        """path := root ("." field | "[" integer "]" | "[" string "]")*"""
        root = self.take()
        steps: list[str | int] = []
        text = [root.text]
        while True:
            token = self.peek()
            before = self.tokens[self.at - 1]
            if token.kind == "op" and token.text == "-" and token.start == before.end and before.kind == "name" \
                    and len(text) > 1:
                self.hyphenated(text)
            if token.kind != "op" or token.text not in ".[":
                break
            self.take()
            after = self.peek()
            if token.text == ".":
                if after.kind == "name":
                    steps.append(self.take().text)
                    text.append("." + after.text)
                    continue
                if after.kind == "number":
                    self.fail(token, "a field name follows `.`", f"for an index write `[{after.text}]`",
                              part=self.text[token.start:after.end])
                self.fail(token, "`.` has no field name after it",
                          "write a field, e.g. `json.status`, or a quoted key: `json[\"a-b\"]`")
            if after.kind == "op" and after.text == "]":
                self.fail(token, "empty index", "write `[0]` for the first item or `[\"key\"]` for a key",
                          part=self.text[token.start:after.end])
            if not (after.kind == "string" or (after.kind == "number" and isinstance(after.value, int))):
                if after.kind == "end":
                    self.fail(token, "`[` is never closed", "write `[0]` or `[\"key\"]`")
                self.fail(after, "an index is a whole number or a quoted key", "write `[0]` or `[\"key\"]`")
            self.take()
            if self.peek().kind != "op" or self.peek().text != "]":
                self.fail(token, "`[` is never closed", f"write `[{after.text}]`")
            self.take()
            assert isinstance(after.value, (str, int))
            steps.append(after.value)
            text.append(f"[{after.text}]")
        last = self.tokens[self.at - 1]
        return _Path(root.text, tuple(steps), "".join(text), root.start, last.end)

    def hyphenated(self, text: list[str]) -> NoReturn:
        """`headers.content-type`: a key with `-` written bare."""
        first = self.at - 1
        end = self.at
        while (self.tokens[end].text == "-" and self.tokens[end + 1].kind in ("name", "number")
               and self.tokens[end + 1].start == self.tokens[end].end):
            end += 2
        key = self.text[self.tokens[first].start:self.tokens[end - 1].end]
        head = "".join(text[:-1])
        _fail(self.text, self.tokens[first].start, key, f"`{key}` has a `-`, which a bare field cannot have",
              f"quote it: `{head}[\"{key}\"]`")

    def length(self) -> _Len:
        name, opening = self.take(), self.take()
        argument = self.peek()
        if argument.kind == "op" and argument.text == ")":
            self.fail(name, "len() has nothing to measure", "write `len(json.items)`",
                      part=self.text[name.start:argument.end])
        if argument.kind != "name" or argument.text not in self.roots:
            if argument.kind == "name" and argument.text not in _KEYWORDS:
                self.unknown_name(argument)
            if argument.kind == "end":
                self.fail(opening, "`(` of len( is never closed", "write `len(json.items)`")
            self.fail(argument, "len() takes a name", "e.g. `len(json.items) > 0`")
        path = self.path()
        if self.peek().kind != "op" or self.peek().text != ")":
            self.fail(opening, "`(` of len( is never closed", f"write `len({path.text})`")
        closing = self.take()
        return _Len(path, f"len({path.text})", name.start, closing.end)

    def number(self) -> _Literal:
        token = self.take()
        assert isinstance(token.value, (int, float))
        value: int | float = token.value
        unit = self.unit(token)
        if unit is not None:
            value = value / 1000 if unit.text == "ms" else value * UNITS[unit.text][1]  # 100ms is 0.1 exactly
            return _Literal(value, self.text[token.start:unit.end], unit.text, token.start, unit.end)
        return _Literal(value, token.text, None, token.start, token.end)

    def unit(self, number: _Token) -> _Token | None:
        """The unit after `number` (beside it or after a space), or None; an unknown one is a ConditionError."""
        token = self.peek()
        if token.kind == "op" and token.text == "%":
            return self.take()
        if token.kind != "name":
            return None
        beside = token.start == number.end
        unitlike = token.text in UNITS or token.text.lower() in _ALIASES
        if not beside and (token.text in self.roots or not unitlike):
            return None  # a name after a space: trailing text, reported as such
        if token.text in UNITS:
            return self.take()
        kind, meant = _ALIASES.get(token.text.lower(), ("", ""))
        lists = {"time": _TIME_UNITS, "size": _SIZE_UNITS}
        fix = f"use {lists[kind]}" if kind else f"use {_TIME_UNITS} (times), {_SIZE_UNITS} (sizes) or %"
        if meant:
            fix += f", e.g. `{number.text}{meant}`"
        self.fail(token, f"unknown unit `{token.text}`", fix)

    def values(self) -> _Literal:
        """list := "[" [item ("," item)* [","]] "]" where an item is a number, string, true, false or null"""
        opening = self.take()
        items: list[_Literal] = []
        while True:
            token = self.peek()
            if token.kind == "op" and token.text == "]":
                break
            if token.kind == "end":
                self.fail(opening, "`[` is never closed", "end the list with `]`")
            if items:
                if token.kind != "op" or token.text != ",":
                    self.fail(token, f"expected `,` or `]` in the list, found `{token.text}`",
                              "separate the items with `,`")
                self.take()
                if self.peek().kind == "op" and self.peek().text == "]":
                    break
                token = self.peek()
            if token.kind in ("number", "string") or self.is_word(token, "true", "false", "null"):
                item = self.operand()
                assert isinstance(item, _Literal)
                items.append(item)
            elif token.kind == "end":
                self.fail(opening, "`[` is never closed", "end the list with `]`")
            else:
                self.fail(token, "a list written here holds numbers, strings, true, false or null",
                          "to look in what was observed, use `contains`, e.g. `json.tags contains 'x'`")
        closing = self.take()
        unit = next((item.unit for item in items if item.unit), None)
        return _Literal(tuple(item.value for item in items), self.text[opening.start:closing.end], unit,
                        opening.start, closing.end)


def _roots_of(node: _Node) -> Iterator[str]:
    if isinstance(node, _Test):
        for side in (node.left, node.right):
            if isinstance(side, _Path):
                yield side.root
            elif isinstance(side, _Len):
                yield side.path.root
    elif isinstance(node, _Not):
        yield from _roots_of(node.inner)
    else:
        for part in node.parts:
            yield from _roots_of(part)


# --- evaluation -----------------------------------------------------------------------------------------


class _Missing:
    """What a path that is not there evaluates to."""

    def __repr__(self) -> str:
        return "missing"


MISSING = _Missing()


@dataclass(frozen=True)
class _NoLength:
    """len() of a value that has none."""

    value: object


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if _is_number(value):
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


def _resolve(path: _Path, observed: Mapping[str, object]) -> object:
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
        if _is_number(x) and _is_number(y):
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
    if _is_number(value) or isinstance(value, bool):
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
    if op in _COMPARE:
        if (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str)):
            return _COMPARE[op](a, b), None
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


def _evaluate(node: _Node, observed: Mapping[str, object]) -> tuple[bool, str]:
    if isinstance(node, _Join):
        results = [_evaluate(part, observed) for part in node.parts]
        passed = all(ok for ok, _ in results) if node.word == "and" else any(ok for ok, _ in results)
        # the parts that decided: a failing `and` its failing parts, a passing `or` its passing ones, else all
        shown = [(part, text) for part, (ok, text) in zip(node.parts, results, strict=True) if ok == passed]
        return passed, f" {node.word} ".join(
            f"({text})" if isinstance(part, _Join) and part.word == "or" and node.word == "and" else text
            for part, text in shown
        )
    if isinstance(node, _Not):
        ok, text = _evaluate(node.inner, observed)
        return not ok, f"not ({text})" if isinstance(node.inner, _Join) else f"not {text}"
    return _evaluate_test(node, observed)


def _evaluate_test(test: _Test, observed: Mapping[str, object]) -> tuple[bool, str]:
    left = _value(test.left, observed)
    if test.op == "exists":
        there = left is not MISSING
        return there, f"{test.left.text} exists" if there else f"{test.left.text} (missing) exists"
    if test.op == "":
        return _truthy(left), _shown(test.left, left, None)
    assert test.right is not None
    right = _value(test.right, observed)
    headers = isinstance(test.left, _Path) and test.left.root == "headers" and not test.left.steps
    passed, note = _compare(test.op, left, right, headers)
    left_unit = test.right.unit if isinstance(test.right, _Literal) else None
    right_unit = test.left.unit if isinstance(test.left, _Literal) else None
    text = f"{_shown(test.left, left, left_unit)} {test.op} {_shown(test.right, right, right_unit)}"
    return passed, f"{text} ({note})" if note else text


def _value(operand: _Operand, observed: Mapping[str, object]) -> object:
    if isinstance(operand, _Path):
        return _resolve(operand, observed)
    if isinstance(operand, _Len):
        value = _resolve(operand.path, observed)
        if value is MISSING:
            return MISSING
        if isinstance(value, (str, bytes, list, tuple, Mapping)):
            return len(value)
        return _NoLength(value)
    if isinstance(operand, _Literal):
        return operand.value
    return operand.pattern


def _shown(operand: _Operand, value: object, unit: str | None) -> str:
    """The operand as written, and what it observed in parentheses (a literal is only as written)."""
    if isinstance(operand, (_Literal, _Regex)):
        return operand.text
    if isinstance(value, _NoLength):
        return f"{operand.text} ({_show(value.value, None)} has no length)"
    return f"{operand.text} ({_show(value, unit)})"


# --- showing values -------------------------------------------------------------------------------------


def _show(value: object, unit: str | None) -> str:
    """An observed value for a person: in the unit of the literal it is compared with, strings quoted and cut."""
    if value is MISSING:
        return "missing"
    if unit is not None and _is_number(value) and (not isinstance(value, int) or abs(value) < 10**30):
        assert isinstance(value, (int, float))
        if math.isfinite(value):
            return _with_unit(value, unit)
    if isinstance(value, str):
        return _quote(value, CUT)
    if isinstance(value, (list, tuple, Mapping)):
        return _container(value)
    return _scalar(value)


def _short(number: float) -> str:
    if abs(number) >= 1e15:
        return repr(number)
    text = f"{number:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _with_unit(value: float, unit: str) -> str:
    kind, factor = UNITS[unit]
    if kind == "percent":
        return f"{_short(value)}%"
    if kind == "time":
        if unit in ("m", "h", "d"):
            return f"{_short(value / factor)} {unit}"
        return f"{_short(value * 1000)} ms" if abs(value) < 1 else f"{_short(value)} s"
    ladder = ("GiB", "MiB", "KiB") if unit.endswith("iB") else ("GB", "MB", "KB")
    for name in ladder:
        if abs(value) >= UNITS[name][1]:
            return f"{_short(value / UNITS[name][1])} {name}"
    return f"{_short(value)} B"


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if abs(value) >= 10**30:
            return f"{'-' if value < 0 else ''}~1e{int(math.log10(abs(value)))}"
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return _quote(value, CUT)
    if isinstance(value, bytes):
        return "b" + _quote(value[:CUT + 1].decode("latin-1"), CUT)
    return f"<{type(value).__name__}>"


_CONTROL = {ord("\\"): "\\\\", ord("'"): "\\'", ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t",
            **{code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F) if code not in (9, 10, 13)}}


def _quote(text: str, cut: int) -> str:
    """'text' with quotes and control characters escaped, cut to `cut` characters (then `...`)."""
    return "'" + text[:cut].translate(_CONTROL) + ("..." if len(text) > cut else "") + "'"


def _container(value: object) -> str:
    """A list or mapping written like JSON with quoted strings, cut to CUT characters."""
    pieces: list[str] = []
    size = 0
    for piece in _pieces(value):
        pieces.append(piece)
        size += len(piece)
        if size > CUT:
            return "".join(pieces)[:CUT] + "..."
    return "".join(pieces)


def _pieces(value: object) -> Iterator[str]:
    """The text of `value` piece by piece (each level yields before descending, so a reader that stops after
    CUT characters never goes deeper than CUT levels)."""
    if isinstance(value, (list, tuple)):
        yield "["
        for index, item in enumerate(value):
            yield ", " if index else ""
            yield from _pieces(item)
        yield "]"
    elif isinstance(value, Mapping):
        yield "{"
        for index, key in enumerate(value):
            yield ", " if index else ""
            yield _scalar(key) + ": "
            yield from _pieces(value[key])
        yield "}"
    else:
        yield _scalar(value)


# --- the API --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """A parsed condition; `evaluate` judges an observation (names to values, in base units)."""

    text: str
    _tree: _Node = field(repr=False, compare=False)
    _roots: frozenset[str] = field(repr=False, compare=False, default=frozenset())

    def roots(self) -> frozenset[str]:
        """The root names the condition reads, e.g. frozenset({'status', 'json'})."""
        return self._roots

    def evaluate(self, observed: Mapping[str, object]) -> Outcome:
        """Whether the condition holds of `observed`, explained; never raises."""
        try:
            passed, explanation = _evaluate(self._tree, observed)
        except Exception as exc:  # a foreign object whose methods raise: still an outcome, never a traceback
            return Outcome(False, f"{self.text} (could not be evaluated: {type(exc).__name__})")
        return Outcome(passed, explanation)


def parse_condition(text: str, roots: Collection[str]) -> Condition:
    """Parse `text` against the root names a probe observes; raises ConditionError naming column and part.

    A sequence of roots keeps its order in messages; any other collection is sorted (deterministic).
    """
    ordered = (roots,) if isinstance(roots, str) else tuple(roots) if isinstance(roots, Sequence) else tuple(
        sorted(roots))
    if len(text) > MAX_LENGTH:
        raise ConditionError(text, MAX_LENGTH + 1, text[MAX_LENGTH:MAX_LENGTH + 20],
                             f"the condition is {len(text)} characters long, over the limit of {MAX_LENGTH}",
                             "split it into several shorter conditions (a list: each must hold)")
    tree = _Parser(text, ordered).condition()
    return Condition(text, tree, frozenset(_roots_of(tree)))
