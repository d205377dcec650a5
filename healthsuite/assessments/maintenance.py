"""Which maintenance window covers a check now: pure, the windows and the clock in, a Cover or None out.

- A window covers a check when it selects it (each of its lists `diagnoses`, `categories`, `targets`
  that is given holds the check's value) and `now` is inside it.
- One-off: `from` <= now < `to` (the start counts, the end does not).
- Recurring: on each weekday of `every` (every day without it) from the start of `between` to its end
  on the wall clock of `timezone`; an end at or before the start is on the next day (`22:00-02:00`
  that starts on Sunday ends on Monday). Wall-clock times the day's change of daylight saving time
  skips are read with the offset before the change (so `02:00-04:00` on the spring change is one hour
  long), and those it repeats with their first occurrence (on the autumn change, three hours long).
- When several windows cover a check, the one that ends last counts (the failure is expected until
  then); of those ending together, the first declared.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from ..model.maintenance import WEEKDAYS, MaintenanceWindow, hours_of


@dataclass(frozen=True, slots=True)
class Cover:
    """The window a check is in: its name, its reason, and when it ends (UTC)."""

    name: str
    reason: str
    until: datetime

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "reason": self.reason, "until": self.until.isoformat(timespec="seconds")}


def selects(window: MaintenanceWindow, diagnosis: str, category: str, target: str) -> bool:
    """The window is about this check: every selector it gives holds the check's value."""
    return ((not window.diagnoses or diagnosis in window.diagnoses)
            and (not window.categories or category in window.categories)
            and (not window.targets or target in window.targets))


def occurrence(window: MaintenanceWindow, now: datetime) -> tuple[datetime, datetime] | None:
    """The occurrence of `window` that `now` is in, as (start, end) in UTC; None when now is outside."""
    now = now.astimezone(UTC)
    if window.from_ is not None and window.to is not None:
        start, end = window.from_.astimezone(UTC), window.to.astimezone(UTC)
        return (start, end) if start <= now < end else None
    if window.between is None or window.timezone is None:
        return None
    zone = zoneinfo.ZoneInfo(window.timezone)
    begins, ends = hours_of(window.between)
    days = {WEEKDAYS.index(d) for d in window.every} or set(range(7))
    today = now.astimezone(zone).date()
    for back in (0, 1):  # an occurrence runs into the next day at most
        day = today - timedelta(days=back)
        if day.weekday() not in days:
            continue
        start = datetime.combine(day, begins, tzinfo=zone).astimezone(UTC)
        end_day = day + timedelta(days=1) if ends is None or ends <= begins else day
        end = datetime.combine(end_day, ends or time(0), tzinfo=zone).astimezone(UTC)
        if start <= now < end:
            return start, end
    return None


def covering(windows: Sequence[MaintenanceWindow], diagnosis: str, category: str, target: str,
             now: datetime) -> Cover | None:
    """The window that covers the check `now` (the one ending last), or None."""
    best: Cover | None = None
    for window in windows:
        if not selects(window, diagnosis, category, target):
            continue
        found = occurrence(window, now)
        if found is not None and (best is None or found[1] > best.until):
            best = Cover(window.name, window.reason, found[1])
    return best
