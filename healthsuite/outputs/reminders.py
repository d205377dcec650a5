"""Reminders: a critical or high failure that persists is told again at its severity's cadence.

    >>> every_s("critical", catalogue_tiers={"critical": 1800.0}, reminders=None)
    1800.0

The cadence is the catalogue's (`severity_tiers.<severity>.remind_every`, from runbook 000's tiers:
critical 30 min, high 4 h, medium and low never: they are not announced at all), overridden by the
environment's `reminders:` (`{critical: 15m, high: 2h}`, or `off`). A failure announced before, failing
now, whose last telling (`told`, outputs.notice_state) is at least its cadence ago, is due: the notice
says it under "STILL FAILING" (`still failing for 1 h 05 min since 2026-12-07 21:00 UTC`). Pure: the
time is the `now` the notice is sent at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from ..catalogue.durations import duration_text
from ..model.notify import Reminders
from .notice_state import Told


def every_s(severity: str, *, catalogue_tiers: Mapping[str, float | None],
            reminders: Reminders | None) -> float | None:
    """The cadence of `severity` in seconds (None: never reminded)."""
    written = reminders.every_s(severity) if reminders is not None else "default"
    return catalogue_tiers.get(severity) if written == "default" else written


@dataclass(frozen=True)
class Due:
    """A failure due a reminder."""

    check_id: str
    first: datetime
    told: datetime

    def failing_for_s(self, now: datetime) -> float:
        return (now - self.first).total_seconds()

    def text(self, now: datetime) -> str:
        return (f"still failing for {duration_text(self.failing_for_s(now))} since "
                f"{self.first.strftime('%Y-%m-%d %H:%M UTC')}")


def due(check_id: str, told: Told, cadence_s: float | None, now: datetime) -> Due | None:
    """The reminder of an announced failure failing now, when its cadence has passed since it was told."""
    if cadence_s is None or (now - told.told).total_seconds() < cadence_s:
        return None
    return Due(check_id, told.first, told.told)
