"""The environment file's `maintenance:` windows: when a failure of some checks is expected.

A window selects checks by diagnosis, category and target (each a list; a check is selected when it
matches every list the window gives) and says when: one-off (`from`/`to`, ISO 8601 with an offset) or
recurring (`every` weekday, `between: "02:00-04:00"`, `timezone`, an IANA name). Checks still run
inside a window; a check that fails there is recorded as failed during maintenance (its own outcome)
and not announced (healthsuite.assessments.maintenance judges, the plugin records).

The environment model has no tags on targets or checks, so a window has no `tags:` selector.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import time
from typing import Literal

from pydantic import AwareDatetime, Field, field_validator, model_validator

from .types import Model, Name, rule_error

MAX_WINDOWS = 100  # windows of one environment file
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
WINDOW_EXAMPLE = ('every: [sun], between: "02:00-04:00", timezone: Europe/Berlin; '
                  "or from: 2026-12-24T22:00:00+01:00, to: 2026-12-25T02:00:00+01:00")


def hours_of(between: str) -> tuple[time, time | None]:
    """The start and end of `"HH:MM-HH:MM"` (an end of 24:00 is None: midnight after the start's day).
    ValueError when it is not such a range."""
    found = _HOURS.match(between)
    if found is None:
        raise ValueError(between)
    start = time(int(found[1]), int(found[2]))
    if found[3] == "24":
        if found[4] != "00":
            raise ValueError(between)
        return start, None
    return start, time(int(found[3]), int(found[4]))


class MaintenanceWindow(Model):
    """One window: what it covers, when, and why."""

    name: Name = Field(description="The window's name, shown in every output, e.g. nightly-vacuum.")
    reason: str = Field(min_length=1, max_length=500,
                        description="Why failures are expected, shown in every output, e.g. CHG-1234 database upgrade.")
    diagnoses: list[str] = Field([], max_length=200, description="Diagnosis IDs it covers, e.g. [DB1, DB2].")
    categories: list[str] = Field([], max_length=50, description="Categories it covers, e.g. [database].")
    targets: list[str] = Field([], max_length=200, description="Target names it covers, e.g. [main].")
    from_: AwareDatetime | None = Field(
        None, alias="from", description="One-off: its start, ISO 8601 with an offset, e.g. 2026-12-24T22:00:00+01:00."
    )
    to: AwareDatetime | None = Field(None, description="One-off: its end (excluded), ISO 8601 with an offset.")
    every: list[Weekday] = Field(
        [], description="Recurring: the weekdays it starts on (mon ... sun); without it, every day."
    )
    between: str | None = Field(
        None, description='Recurring: its hours on the local clock, e.g. "02:00-04:00"; "22:00-02:00" runs past '
        'midnight into the next day; "00:00-24:00" is the whole day.'
    )
    timezone: str | None = Field(None, description="Recurring: the IANA time zone of `between`, e.g. Europe/Berlin.")

    @field_validator("between")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            start, end = hours_of(value)
        except ValueError:
            raise rule_error(f"between: {value!r} is not a range of hours",
                             'write "HH:MM-HH:MM" on a 24-hour clock, e.g. "02:00-04:00"') from None
        if start == end:
            raise rule_error(f"between: {value!r} starts and ends at the same time",
                             'write a range, e.g. "02:00-04:00" ("00:00-24:00" for the whole day)')
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise rule_error(f"timezone: {value!r} is not a known time zone",
                             "write an IANA name, e.g. Europe/Berlin, America/New_York or UTC") from None
        return value

    @model_validator(mode="after")
    def _when(self) -> MaintenanceWindow:
        if not (self.diagnoses or self.categories or self.targets):
            raise rule_error(f"window {self.name!r} selects no check",
                             "give diagnoses, categories or targets (a check must match every list given)")
        one_off = self.from_ is not None or self.to is not None
        recurring = self.between is not None or self.timezone is not None or bool(self.every)
        if one_off and recurring:
            raise rule_error(f"window {self.name!r} is both one-off (from/to) and recurring (every/between/timezone)",
                             "keep one of them: a second window can hold the other")
        if one_off:
            if self.from_ is None or self.to is None:
                missing = "from" if self.from_ is None else "to"
                raise rule_error(f"window {self.name!r} has no `{missing}`",
                                 "a one-off window needs both from and to, ISO 8601 with an offset",
                                 at=("to" if missing == "from" else "from",))
            if self.to <= self.from_:
                raise rule_error(f"window {self.name!r} ends ({self.to.isoformat()}) before it starts "
                                 f"({self.from_.isoformat()})", "write a `to` after `from`", at=("to",))
        elif recurring:
            if self.between is None or self.timezone is None:
                missing = "between" if self.between is None else "timezone"
                raise rule_error(f"window {self.name!r} has no `{missing}`",
                                 'a recurring window needs between ("02:00-04:00") and timezone (e.g. Europe/Berlin)')
        else:
            raise rule_error(f"window {self.name!r} says not when", f"give {WINDOW_EXAMPLE}")
        return self
