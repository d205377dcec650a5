"""The condition language's tokenizer: names, numbers, strings, regexes and operators, each with its column."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..regexes import PatternRefused, compile_pattern
from .tree import fail_at

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


@dataclass(frozen=True)
class Token:
    """One token of a condition, as written, with its 0-based start."""

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


def tokenize(text: str) -> list[Token]:
    """The tokens of `text`, ending with an "end" token; a character that starts none is a ConditionError."""
    tokens: list[Token] = []
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
            tokens.append(Token("number", written, at, float(written) if "." in written else int(written)))
        elif name:
            tokens.append(Token("name", name.group(), at))
        elif char in "\"'":
            tokens.append(_string(text, at))
        elif char == "/":
            tokens.append(_regex(text, at))
        elif text.startswith(("==", "!=", "<=", ">="), at):
            tokens.append(Token("op", text[at:at + 2], at))
        elif text.startswith(("&&", "||", "<>", "=>", "=<"), at):
            problem, fix = _NOT_OPERATORS[text[at:at + 2]]
            fail_at(text, at, text[at:at + 2], problem, fix)
        elif char in "<>" or char in _PUNCTUATION:
            tokens.append(Token("op", char, at))
        elif char in _NOT_OPERATORS:
            problem, fix = _NOT_OPERATORS[char]
            fail_at(text, at, char, problem, fix)
        else:
            fail_at(text, at, char, f"unexpected character `{char}`",
                    "names are letters, digits and `_` (a key with other characters is quoted: "
                    "headers[\"content-type\"]); text is quoted: 'like this'")
        at = tokens[-1].end
    tokens.append(Token("end", "", len(text)))
    return tokens


def _string(text: str, start: int) -> Token:
    quote, at, value = text[start], start + 1, []
    while at < len(text) and text[at] != quote:
        if text[at] == "\\" and at + 1 < len(text):
            value.append(_ESCAPES.get(text[at + 1], "\\" + text[at + 1]))
            at += 2
        else:
            value.append(text[at])
            at += 1
    if at >= len(text):
        fail_at(text, start, text[start:start + 20], "the string is never closed", f"end it with a closing `{quote}`")
    return Token("string", text[start:at + 1], start, "".join(value))


def _regex(text: str, start: int) -> Token:
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
        fail_at(text, start, text[start:start + 20], "the regex is never closed",
                "end it with `/` (a `/` inside is written `\\/`)")
    flags = _NAME.match(text, at + 1)
    written = flags.group() if flags else ""
    if written not in ("", "i"):
        fail_at(text, at + 1, written, f"unknown regex flag `{written}`", "the only flag is `i` (ignore case): /ok/i")
    source = "".join(pattern)
    if not source:
        fail_at(text, start, "//", "the regex is empty, so it matches everything",
                "write what must be found, e.g. /ok/")
    try:
        compiled = compile_pattern(source, ignore_case=bool(written))
    except PatternRefused as refused:
        fail_at(text, start, text[start:at + 1 + len(written)], refused.problem, refused.fix)
    except (re.error, OverflowError) as exc:
        where = f" at position {exc.pos}" if isinstance(exc, re.error) and exc.pos is not None else ""
        problem = exc.msg if isinstance(exc, re.error) else str(exc)
        fail_at(text, start, text[start:at + 1 + len(written)], f"the regex does not compile: {problem}{where}",
                "fix the regex (Python `re` syntax); escape a special character with `\\`, e.g. /a\\(b/")
    return Token("regex", text[start:at + 1 + len(written)], start, compiled)

