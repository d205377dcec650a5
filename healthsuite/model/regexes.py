"""Regular expressions a person wrote, searched in what a target answered, with a time bound.

Python's `re` has no timeout: a pattern that backtracks (`(a+)+$`) on a 1 MB body can take hours,
and a monitoring run must never hang on its own input. The patterns are compiled by `re` when the file
loads (its syntax and error messages), and searched with the `regex` module, which takes a timeout.
"""

from __future__ import annotations

import re
from functools import lru_cache

import regex

SEARCH_TIMEOUT_S = 0.5


class RegexTooSlow(Exception):
    """The search did not finish in SEARCH_TIMEOUT_S."""

    def __init__(self, pattern: str, length: int) -> None:
        super().__init__(
            f"the regex /{pattern}/ took over {SEARCH_TIMEOUT_S:g} s on {length:,} characters (it backtracks: "
            "simplify it, e.g. no nested repeats like (a+)+)"
        )


@lru_cache(maxsize=256)
def _bounded(pattern: str, ignore_case: bool) -> regex.Pattern[str]:
    return regex.compile(pattern, regex.IGNORECASE if ignore_case else 0)


def bounded_search(pattern: re.Pattern[str] | str, text: str) -> bool:
    """Whether `pattern` is found in `text`; RegexTooSlow when it takes too long."""
    source = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    ignore_case = isinstance(pattern, re.Pattern) and bool(pattern.flags & re.IGNORECASE)
    try:
        return _bounded(source, ignore_case).search(text, timeout=SEARCH_TIMEOUT_S) is not None
    except TimeoutError:
        raise RegexTooSlow(source, len(text)) from None
