"""The condition language's parser: recursive descent over the tokens, into the tree (docs/CONDITIONS.md).

Nesting is counted (at most MAX_DEPTH levels of parentheses and `not`) and the text is at most MAX_LENGTH
characters, so parsing never nears Python's recursion limit. A mistake is a ConditionError naming the
column, the part as written, the problem and the fix.
"""

from __future__ import annotations

import difflib
import re
from typing import NoReturn

from .tokens import Token, tokenize
from .tree import (
    COMPARE,
    MAX_DEPTH,
    MAX_LENGTH,
    UNITS,
    ConditionError,
    Join,
    Length,
    Literal,
    Node,
    Not,
    Operand,
    PathRef,
    Regex,
    Test,
    fail_at,
)

# the units a fix lists (their factors are tree.UNITS)
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
_WORD_OPERATORS = ("contains", "matches", "in", "exists")
_KEYWORDS = ("and", "or", "not", *_WORD_OPERATORS, "true", "false", "null", "len")


class _Parser:
    """Recursive descent over the grammar of docs/CONDITIONS.md, one token of look-ahead."""

    def __init__(self, text: str, roots: tuple[str, ...]) -> None:
        self.text, self.roots = text, roots
        self.example = roots[0] if roots else "status"  # the name examples in fixes use
        self.tokens = tokenize(text)
        self.at = 0
        self.depth = 0

    # helpers
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.at + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.peek()
        self.at = min(self.at + 1, len(self.tokens) - 1)
        return token

    def last(self) -> Token | None:
        return self.tokens[self.at - 1] if self.at else None

    def fail(self, token: Token, problem: str, fix: str, part: str | None = None) -> NoReturn:
        fail_at(self.text, token.start, token.text if part is None else part, problem, fix)

    def is_word(self, token: Token, *words: str) -> bool:
        return token.kind == "name" and token.text in words

    def is_operator(self, token: Token) -> bool:
        """Whether `token`, after an operand, is a comparison."""
        return (token.kind == "op" and token.text in COMPARE) or self.is_word(token, *_WORD_OPERATORS)

    def nest(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(token, f"nested over {MAX_DEPTH} levels",
                      "flatten it: join tests with `and`/`or` instead of nesting parentheses and `not`")

    # grammar
    def condition(self) -> Node:
        if self.peek().kind == "end":
            fail_at(self.text, 0, self.text.strip(), "the condition is empty",
                    f"write a test, e.g. `{self.example} == 200`")
        node = self.join("or")
        if self.peek().kind != "end":
            self.after_test(self.peek())
        return node

    def join(self, word: str) -> Node:
        """or := and ("or" and)* ; and := unary ("and" unary)*"""
        parts = [self.join("and") if word == "or" else self.unary()]
        while self.is_word(self.peek(), word):
            self.take()
            parts.append(self.join("and") if word == "or" else self.unary())
        return parts[0] if len(parts) == 1 else Join(word, tuple(parts))

    def unary(self) -> Node:
        """unary := "not" unary | "(" or ")" | test"""
        token = self.peek()
        if self.is_word(token, "not"):
            self.nest(self.take())
            inner = self.unary()
            self.depth -= 1
            return Not(inner)
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

    def after_test(self, token: Token) -> NoReturn:
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

    def test(self) -> Test:
        """test := operand [compare operand | "contains" operand | "matches" regex | "in" list | "exists"]"""
        left = self.operand()
        token = self.peek()
        if self.is_word(token, "not") and self.is_operator(self.peek(1)):
            self.fail(token, f"`not` goes before the test, not before `{self.peek(1).text}`",
                      f"write `not {left.text} {self.peek(1).text} ...`")
        if not self.is_operator(token):
            if isinstance(left, (Literal, Regex)):
                example = f"{self.example} {'matches' if isinstance(left, Regex) else '=='} {left.text}"
                fail_at(self.text, left.start, left.text, "a value alone never depends on what was observed",
                        f"compare a name with it, e.g. `{example}`")
            return Test("", left)
        op = self.take()
        if op.text == "exists":
            if not isinstance(left, PathRef):
                self.fail(op, "`exists` follows a name", "e.g. `json.token exists`")
            return Test("exists", left)
        right = self.operand()
        if isinstance(left, (Literal, Regex)) and isinstance(right, (Literal, Regex)):
            fail_at(self.text, left.start, self.text[left.start:right.end],
                    "compares two values written here, so it never depends on what was observed",
                    f"put a name on one side, e.g. `{self.example} {op.text} {right.text}`")
        written = self.text[right.start:right.end]
        if op.text == "matches" and not isinstance(right, Regex):
            regex = f"/{right.value}/" if isinstance(right, Literal) and isinstance(right.value, str) else "/ok/"
            fail_at(self.text, right.start, written, "`matches` takes a regex", f"write it as `{regex}`")
        if op.text == "in" and not (isinstance(right, Literal) and isinstance(right.value, tuple)):
            fix = (f"for what was observed, write `{right.text} contains {left.text}`" if isinstance(right, PathRef)
                   else f"write the values in brackets: `in [{right.text}]`")
            fail_at(self.text, right.start, written, "`in` takes a list written here, e.g. `in [200, 204]`", fix)
        for side in (left, right):
            if isinstance(side, Regex) and op.text != "matches":
                fail_at(self.text, side.start, side.text, "a regex only follows `matches`",
                        f"write `{left.text if side is right else right.text} matches {side.text}`")
        return Test(op.text, left, right)

    def missing_operand(self, token: Token) -> NoReturn:
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

    def operand(self) -> Operand:
        """operand := path | "len" "(" path ")" | number [unit] | string | true | false | null | list | regex"""
        token = self.peek()
        if token.kind == "number":
            return self.number()
        if token.kind == "string":
            self.take()
            return Literal(token.value, token.text, None, token.start, token.end)
        if token.kind == "regex":
            self.take()
            assert isinstance(token.value, re.Pattern)
            return Regex(token.value, token.text, token.start, token.end)
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
            return Literal(constants[token.text], token.text, None, token.start, token.end)
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

    def unknown_name(self, token: Token) -> NoReturn:
        lower = {"true": "true", "false": "false", "null": "null", "none": "null", "nil": "null"}
        if token.text.lower() in lower:
            self.fail(token, f"unknown name `{token.text}`", f"write `{lower[token.text.lower()]}` (lower case)")
        listed = ", ".join(self.roots) if self.roots else "none"
        close = difflib.get_close_matches(token.text, self.roots, n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        if token.text == "len":
            hint = "write `len(name)`, e.g. `len(json.items) > 0`; "
        self.fail(token, f"unknown name `{token.text}`", f"{hint}names here: {listed}")

    def path(self) -> PathRef:
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
        return PathRef(root.text, tuple(steps), "".join(text), root.start, last.end)

    def hyphenated(self, text: list[str]) -> NoReturn:
        """`headers.content-type`: a key with `-` written bare."""
        first = self.at - 1
        end = self.at
        while (self.tokens[end].text == "-" and self.tokens[end + 1].kind in ("name", "number")
               and self.tokens[end + 1].start == self.tokens[end].end):
            end += 2
        key = self.text[self.tokens[first].start:self.tokens[end - 1].end]
        head = "".join(text[:-1])
        fail_at(self.text, self.tokens[first].start, key, f"`{key}` has a `-`, which a bare field cannot have",
                f"quote it: `{head}[\"{key}\"]`")

    def length(self) -> Length:
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
        return Length(path, f"len({path.text})", name.start, closing.end)

    def number(self) -> Literal:
        token = self.take()
        assert isinstance(token.value, (int, float))
        value: int | float = token.value
        unit = self.unit(token)
        if unit is not None:
            value = value / 1000 if unit.text == "ms" else value * UNITS[unit.text][1]  # 100ms is 0.1 exactly
            return Literal(value, self.text[token.start:unit.end], unit.text, token.start, unit.end)
        return Literal(value, token.text, None, token.start, token.end)

    def unit(self, number: Token) -> Token | None:
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

    def values(self) -> Literal:
        """list := "[" [item ("," item)* [","]] "]" where an item is a number, string, true, false or null"""
        opening = self.take()
        items: list[Literal] = []
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
                assert isinstance(item, Literal)
                items.append(item)
            elif token.kind == "end":
                self.fail(opening, "`[` is never closed", "end the list with `]`")
            else:
                self.fail(token, "a list written here holds numbers, strings, true, false or null",
                          "to look in what was observed, use `contains`, e.g. `json.tags contains 'x'`")
        closing = self.take()
        unit = next((item.unit for item in items if item.unit), None)
        return Literal(tuple(item.value for item in items), self.text[opening.start:closing.end], unit,
                        opening.start, closing.end)


def parse(text: str, roots: tuple[str, ...]) -> Node:
    """The tree of `text`, whose names are `roots` (in the order messages list them); raises ConditionError."""
    if len(text) > MAX_LENGTH:
        raise ConditionError(text, MAX_LENGTH + 1, text[MAX_LENGTH:MAX_LENGTH + 20],
                             f"the condition is {len(text)} characters long, over the limit of {MAX_LENGTH}",
                             "split it into several shorter conditions (a list: each must hold)")
    return _Parser(text, roots).condition()
