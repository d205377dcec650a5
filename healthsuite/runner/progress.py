"""What a long run says while it waits on the probe pool: one line naming the exchanges still out,
the longest-running first, and when such a line is due.

    >>> waiting_line([("endpoints/slow", 98.0), ("payments/webhook", 97.9), ("databases/main", 98.8)], now=100.0)
    'healthsuite: waiting on 3 exchanges: payments/webhook 2.1 s, endpoints/slow 2.0 s, databases/main 1.2 s'

Plain Python, no pytest: healthsuite.plugin prints the line through pytest's terminal reporter from the
main thread, where a check waits for its own exchanges.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

FIRST_AFTER_S = 5.0  # a run says nothing until it has waited this long without a break
EVERY_S = 10.0  # then at most one line this often while the waiting goes on
MAX_LINES = 12  # and at most this many lines in a run, however long it waits
NAMED = 5  # targets named in a line; the rest are counted


def waiting_line(running: Iterable[tuple[str, float]], now: float, named: int = NAMED) -> str | None:
    """One line for the exchanges in flight, given as (target key, monotonic start), each target once
    with its longest-running exchange, longest first, at most `named` of them and "and N more";
    None when nothing is in flight.

    >>> waiting_line([("auth/api", 7.0), ("auth/api", 8.5), ("pages/home", 9.0)], now=10.0, named=1)
    'healthsuite: waiting on 3 exchanges: auth/api 3.0 s (2 exchanges) and 1 more'
    """
    since: dict[str, float] = {}
    count: dict[str, int] = {}
    for target, started in running:
        since[target] = min(started, since.get(target, started))
        count[target] = count.get(target, 0) + 1
    if not since:
        return None
    total = sum(count.values())
    order = sorted(since, key=lambda target: (since[target], target))
    parts = []
    for target in order[:named]:
        several = f" ({count[target]} exchanges)" if count[target] > 1 else ""
        parts.append(f"{target} {max(now - since[target], 0.0):.1f} s{several}")
    rest = len(order) - len(parts)
    more = f" and {rest} more" if rest else ""
    noun = "exchange" if total == 1 else "exchanges"
    return f"healthsuite: waiting on {total} {noun}: {', '.join(parts)}{more}"


@dataclass
class Pacer:
    """When a waiting line is due: once a wait has lasted `first_after_s`, then at most every
    `every_s` while waiting goes on (from one check's wait to the next), at most `max_lines` a run.

    >>> pacer = Pacer()
    >>> pacer.due(waiting_since=0.0, now=4.0), pacer.due(waiting_since=0.0, now=5.0)
    (False, True)
    >>> pacer.due(waiting_since=0.0, now=9.0), pacer.due(waiting_since=0.0, now=15.0)
    (False, True)
    """

    first_after_s: float = FIRST_AFTER_S
    every_s: float = EVERY_S
    max_lines: int = MAX_LINES
    lines: int = 0
    last: float | None = None  # monotonic time of the last line

    def due(self, waiting_since: float, now: float) -> bool:
        """Whether to print a line now (and count it) for a wait that began at `waiting_since`."""
        if self.lines >= self.max_lines or now - waiting_since < self.first_after_s:
            return False
        if self.last is not None and now - self.last < self.every_s:
            return False
        self.lines += 1
        self.last = now
        return True
