"""Which maintenance window covers a check (healthsuite.assessments.maintenance): one-off borders, windows
over midnight, the changes of daylight saving time, selectors, overlapping windows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from healthsuite.assessments.maintenance import covering, occurrence
from healthsuite.model.maintenance import MaintenanceWindow

BERLIN = "Europe/Berlin"


def window(**fields: Any) -> MaintenanceWindow:
    fields.setdefault("name", "w")
    fields.setdefault("reason", "planned work")
    fields.setdefault("diagnoses", ["DB1"])
    return MaintenanceWindow.model_validate(fields)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


ONE_OFF = window(**{"from": "2026-12-24T22:00:00+01:00", "to": "2026-12-25T02:00:00+01:00"})


@pytest.mark.parametrize(("now", "inside"), [
    ("2026-12-24T20:59:59+00:00", False),  # a second before the start
    ("2026-12-24T21:00:00+00:00", True),  # the start counts
    ("2026-12-25T00:59:59+00:00", True),
    ("2026-12-25T01:00:00+00:00", False),  # the end does not
    ("2026-12-25T02:30:00+01:00", False),
])
def test_one_off_borders(now: str, inside: bool) -> None:
    assert (occurrence(ONE_OFF, utc(now)) is not None) is inside


def test_one_off_until_is_its_end() -> None:
    cover = covering([ONE_OFF], "DB1", "database", "main", utc("2026-12-24T23:00:00+01:00"))
    assert cover is not None
    assert cover.as_dict() == {"name": "w", "reason": "planned work", "until": "2026-12-25T01:00:00+00:00"}


OVER_MIDNIGHT = window(every=["sun"], between="22:00-02:00", timezone=BERLIN)


@pytest.mark.parametrize(("now", "inside"), [
    ("2026-12-06T21:59:00+01:00", False),  # Sunday, before
    ("2026-12-06T22:00:00+01:00", True),  # Sunday, the start
    ("2026-12-07T01:59:00+01:00", True),  # Monday, after midnight: the Sunday occurrence
    ("2026-12-07T02:00:00+01:00", False),  # its end
    ("2026-12-07T22:30:00+01:00", False),  # Monday evening: not a listed day
    ("2026-12-06T00:30:00+01:00", False),  # Sunday just after midnight: Saturday did not start one
])
def test_recurring_over_midnight(now: str, inside: bool) -> None:
    assert (occurrence(OVER_MIDNIGHT, utc(now)) is not None) is inside


def test_over_midnight_ends_on_the_next_day() -> None:
    found = occurrence(OVER_MIDNIGHT, utc("2026-12-07T00:10:00+01:00"))
    assert found == (utc("2026-12-06T22:00:00+01:00"), utc("2026-12-07T02:00:00+01:00"))


def test_whole_day_and_every_day() -> None:
    daily = window(between="00:00-24:00", timezone="UTC")
    found = occurrence(daily, utc("2026-12-07T23:59:59+00:00"))
    assert found == (utc("2026-12-07T00:00:00+00:00"), utc("2026-12-08T00:00:00+00:00"))


NIGHTLY = window(every=["sun"], between="02:00-04:00", timezone=BERLIN)


def test_spring_change_skips_an_hour_of_the_window() -> None:
    # 2026-03-29, Sunday: Berlin's clocks go from 02:00 CET to 03:00 CEST; the window is 01:00Z-02:00Z
    found = occurrence(NIGHTLY, utc("2026-03-29T01:30:00+00:00"))
    assert found == (utc("2026-03-29T01:00:00+00:00"), utc("2026-03-29T02:00:00+00:00"))
    assert occurrence(NIGHTLY, utc("2026-03-29T00:59:59+00:00")) is None
    assert occurrence(NIGHTLY, utc("2026-03-29T02:00:00+00:00")) is None  # 04:00 CEST


def test_autumn_change_repeats_an_hour_of_the_window() -> None:
    # 2026-10-25, Sunday: 03:00 CEST goes back to 02:00 CET; the window is 00:00Z (02:00 CEST) to 03:00Z
    found = occurrence(NIGHTLY, utc("2026-10-25T02:30:00+00:00"))  # 03:30 CET, the repeated hour passed
    assert found == (utc("2026-10-25T00:00:00+00:00"), utc("2026-10-25T03:00:00+00:00"))
    assert occurrence(NIGHTLY, utc("2026-10-24T23:59:59+00:00")) is None


def test_summer_and_winter_offsets() -> None:
    assert occurrence(NIGHTLY, utc("2026-07-05T00:30:00+00:00")) is not None  # 02:30 CEST
    assert occurrence(NIGHTLY, utc("2026-12-06T01:30:00+00:00")) is not None  # 02:30 CET
    assert occurrence(NIGHTLY, utc("2026-12-06T00:30:00+00:00")) is None  # 01:30 CET


def test_selectors_must_all_hold() -> None:
    both = window(diagnoses=["DB1", "DB2"], targets=["main"], between="00:00-24:00", timezone="UTC")
    now = utc("2026-12-07T12:00:00+00:00")
    assert covering([both], "DB1", "database", "main", now) is not None
    assert covering([both], "DB1", "database", "replica", now) is None
    assert covering([both], "AV1", "availability", "main", now) is None
    by_category = window(diagnoses=[], categories=["database"], between="00:00-24:00", timezone="UTC")
    assert covering([by_category], "DB7", "database", "", now) is not None
    assert covering([by_category], "CACHE1", "cache", "main", now) is None


def test_of_overlapping_windows_the_last_to_end_counts() -> None:
    short = window(name="short", between="11:00-13:00", timezone="UTC")
    long = window(name="long", between="10:00-18:00", timezone="UTC")
    cover = covering([short, long], "DB1", "database", "main", utc("2026-12-07T12:00:00+00:00"))
    assert cover is not None and cover.name == "long"
    assert covering([short, long], "DB1", "database", "main", utc("2026-12-07T19:00:00+00:00")) is None
