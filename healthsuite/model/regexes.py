"""Regular expressions a person wrote, compiled when the file loads and searched with a time bound.

Python's `re` has no timeout and holds the GIL: a pattern that backtracks (`(a+)+$`) on a 1 MB body can
take hours, and nothing, not even the run deadline, stops it. A monitoring run must never hang on its own
input, nor grow past its memory on it (`x{4294967294}` makes a regex engine allocate until the kernel
kills the process). So every pattern from a file goes through `compile_pattern` at load: `re` checks its
syntax (its error messages), its repetition counts and its size unrolled are bounded, and the `regex`
module, which takes a timeout, compiles it. Every search of it goes through `bounded_search` or
`bounded_match`: a search that runs out of time raises RegexTooSlow, which fails its check saying so.
"""

from __future__ import annotations

import re
import time
from functools import lru_cache
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import regex

SEARCH_TIMEOUT_S = 0.5  # one search (one body, one line)
READ_BUDGET_S = 5.0  # all the searches of one read of a file (every line of it)
MAX_REPEAT = 1000  # a count written in {n} or {n,m}
MAX_UNROLLED = 100_000  # the pattern's size with every counted repeat written out (x{1000}{1000}: 1,000,000)
MAX_PATTERN_CHARS = 4096


class PatternRefused(ValueError):
    """A pattern that compiles but is refused at load: what is wrong with it and the fix."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


class RegexTooSlow(Exception):
    """The search did not finish in SEARCH_TIMEOUT_S (or the searches of a read in READ_BUDGET_S)."""

    def __init__(self, pattern: str, length: int, *, budget: bool = False) -> None:
        spent = (f"the searches with /{pattern}/ ran out of time: they took over {READ_BUDGET_S:g} s in all"
                 if budget else f"the regex /{pattern}/ took over {SEARCH_TIMEOUT_S:g} s on {length:,} characters")
        super().__init__(
            f"{spent} (the search ran out of time; the pattern backtracks: simplify it, e.g. no nested "
            "repeats like (a+)+)"
        )


class Budget:
    """The time left for the searches of one read (a file's lines): each search is bounded by the
    smaller of SEARCH_TIMEOUT_S and what is left."""

    def __init__(self, seconds: float = READ_BUDGET_S) -> None:
        self.left = seconds


def _unrolled(items: Any) -> int:
    """The size of a parsed pattern (re's parse tree) with its counted repeats written out; PatternRefused
    for a count over MAX_REPEAT."""
    total = 0
    for op, av in items:
        if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT):
            low, high, inner = av
            for count in (low, high):
                if count is not sre_constants.MAXREPEAT and count > MAX_REPEAT:
                    raise PatternRefused(
                        f"the regex repeats something {count:,} times (at most {MAX_REPEAT:,} are searched: a "
                        "count like that makes the regex engine allocate without bound)",
                        f"write a count of at most {MAX_REPEAT:,}, or `+`/`*` for 'any number', e.g. x{{1,100}} or x+",
                    )
            times = high if high is not sre_constants.MAXREPEAT else max(low, 1)
            total += _unrolled(inner) * times
        elif op is sre_constants.SUBPATTERN:
            total += 1 + _unrolled(av[3])
        elif op is sre_constants.BRANCH:
            total += 1 + sum(_unrolled(branch) for branch in av[1])
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            total += 1 + _unrolled(av[1])
        elif op is sre_constants.ATOMIC_GROUP:
            total += 1 + _unrolled(av)
        elif op is sre_constants.GROUPREF_EXISTS:
            total += 1 + _unrolled(av[1]) + (_unrolled(av[2]) if av[2] is not None else 0)
        else:
            total += 1
        if total > MAX_UNROLLED:
            raise PatternRefused(
                f"the regex is too large once its counted repeats are written out (over {MAX_UNROLLED:,} "
                "items: nested counts multiply, e.g. (x{1000}){1000})",
                "use fewer or smaller nested counts, or `+`/`*` for 'any number'",
            )
    return total


def compile_pattern(source: str, ignore_case: bool = False) -> re.Pattern[str]:
    """`source` compiled now, with its bounds checked: re.error (or OverflowError) for a syntax error,
    PatternRefused for a pattern too large to search in bounded memory."""
    if len(source) > MAX_PATTERN_CHARS:
        raise PatternRefused(f"the regex is {len(source):,} characters long (at most {MAX_PATTERN_CHARS:,})",
                             "write a shorter pattern: what must be found, not the whole line")
    flags = re.IGNORECASE if ignore_case else 0
    compiled = re.compile(source, flags)
    try:
        _unrolled(sre_parse.parse(source, flags))
    except RecursionError:
        raise PatternRefused("the regex nests groups too deeply", "use fewer nested parentheses") from None
    try:
        _bounded(source, ignore_case)
    except (regex.error, OverflowError, RecursionError, MemoryError) as exc:
        raise PatternRefused(f"the regex cannot be searched with a time bound ({exc})",
                             "write it in plain Python `re` syntax, without nested counts") from None
    return compiled


def problem_of(source: str) -> tuple[str, str] | None:
    """(problem, fix) of a pattern from a file, None when it is fine: for validators."""
    try:
        compile_pattern(source)
    except re.error as exc:
        return f"not a valid regular expression ({exc})", "fix the pattern"
    except OverflowError as exc:
        return f"not a valid regular expression ({exc})", f"write a count of at most {MAX_REPEAT:,}"
    except PatternRefused as refused:
        return refused.problem, refused.fix
    return None


@lru_cache(maxsize=256)
def _bounded(pattern: str, ignore_case: bool) -> regex.Pattern[str]:
    return regex.compile(pattern, regex.IGNORECASE if ignore_case else 0)


def _prepared(pattern: re.Pattern[str] | str) -> tuple[str, regex.Pattern[str]]:
    source = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    ignore_case = isinstance(pattern, re.Pattern) and bool(pattern.flags & re.IGNORECASE)
    if not isinstance(pattern, re.Pattern):
        _checked(source)  # the bounds, for a pattern that did not come through compile_pattern
    return source, _bounded(source, ignore_case)


@lru_cache(maxsize=256)
def _checked(source: str) -> None:
    compile_pattern(source)


def bounded_match(pattern: re.Pattern[str] | str, text: str, budget: Budget | None = None) -> regex.Match[str] | None:
    """The first place `pattern` is found in `text`; RegexTooSlow when the search (or, with `budget`,
    the searches of the read so far) take too long."""
    source, compiled = _prepared(pattern)
    timeout = SEARCH_TIMEOUT_S
    if budget is not None:
        if budget.left <= 0:
            raise RegexTooSlow(source, len(text), budget=True)
        timeout = min(timeout, budget.left)
    started = time.monotonic()
    try:
        return compiled.search(text, timeout=timeout)
    except TimeoutError:
        if budget is not None and timeout < SEARCH_TIMEOUT_S:
            budget.left = 0.0
            raise RegexTooSlow(source, len(text), budget=True) from None
        raise RegexTooSlow(source, len(text)) from None
    finally:
        if budget is not None:
            budget.left -= time.monotonic() - started


def bounded_search(pattern: re.Pattern[str] | str, text: str, budget: Budget | None = None) -> bool:
    """Whether `pattern` is found in `text`; RegexTooSlow when it takes too long."""
    return bounded_match(pattern, text, budget) is not None
