"""Durations as people write them in the catalogue and in environment files, and as notices say them.

    >>> parse_duration("30 min"), parse_duration("1h30m"), parse_duration("never")
    (1800.0, 5400.0, None)
    >>> duration_text(3900)
    '1 h 05 min'

A duration is one or more `<number><unit>` parts (`15m`, `2h`, `1h30m`, `90 s`, `1 d`; units s, m or
min, h, d), or `off` / `never` (None: no duration). A bare number is refused: minutes or hours is not a
guess to make for someone's pager.
"""

from __future__ import annotations

import re

OFF = ("off", "never")
UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(sec|min|s|m|h|d)(?![a-z])", re.IGNORECASE)
EXAMPLES = "15m, 30 min, 2h, 1h30m or off"


class DurationError(ValueError):
    """Text that is no duration; the message says what was found and what is accepted."""


def parse_duration(text: object) -> float | None:
    """Seconds of `text` (None for `off` or `never`); DurationError when it is not a duration."""
    if text is False:  # YAML 1.1 reads a bare `off` as false
        return None
    if not isinstance(text, str):
        raise DurationError(f"{text!r} is not a duration: write it with a unit ({EXAMPLES})")
    written = text.strip().lower()
    if written in OFF:
        return None
    total, position = 0.0, 0
    for match in _PART.finditer(written):
        if match.start() != position:
            break
        total += float(match[1]) * UNITS[match[2].lower()]
        position = match.end()
    if not written or position != len(written):
        raise DurationError(f"{text!r} is not a duration: write it with a unit ({EXAMPLES})")
    return total


def duration_text(seconds: float) -> str:
    """How a notice says a duration: `45 s`, `12 min`, `1 h 05 min`, `2 d 3 h`."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
