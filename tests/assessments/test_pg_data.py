"""healthsuite.assessments.pg_data on its own: BIZ1's business hours and windows."""

from __future__ import annotations

from datetime import datetime

import pytest

from healthsuite.assessments import pg_data as judge
from healthsuite.model.data import Bookings


def test_BIZ1_window_closed_all_along_is_not_judged() -> None:
    bookings = Bookings(business_hours="08:00-18:00", timezone="Africa/Johannesburg", days=[1, 2, 3, 4, 5, 6])
    sunday = datetime.fromisoformat("2026-11-22 12:00+02:00")
    assert not judge.booking_window(bookings, sunday, 4).open
    early_monday = datetime.fromisoformat("2026-11-23 03:00+02:00")  # Saturday closed at 18:00
    assert not judge.booking_window(bookings, early_monday, 4).open
    night = Bookings(business_hours="22:00-06:00", timezone="UTC", days=[5])
    window = judge.booking_window(night, datetime.fromisoformat("2026-11-28 01:30+00:00"), 4)
    assert window.judged == "Fri 22:00-Sat 01:30"


@pytest.mark.parametrize(
    ("window", "days", "local", "is_open"),
    [
        ("08:00-18:00", [1, 2, 3, 4, 5, 6], "2026-11-23 08:00", True),  # Monday, opening minute
        ("08:00-18:00", [1, 2, 3, 4, 5, 6], "2026-11-23 18:00", False),  # closing minute
        ("08:00-18:00", [1, 2, 3, 4, 5, 6], "2026-11-22 12:00", False),  # Sunday
        ("22:00-06:00", [5], "2026-11-27 23:30", True),  # Friday night
        ("22:00-06:00", [5], "2026-11-28 05:59", True),  # early Saturday: Friday's window
        ("22:00-06:00", [5], "2026-11-27 05:00", False),  # early Friday: Thursday's window
        ("00:00-24:00", [7], "2026-11-22 23:59", True),
    ],
)
def test_BIZ1_business_hours_windows(window: str, days: list[int], local: str, is_open: bool) -> None:
    bookings = Bookings(business_hours=window, days=days, timezone="Africa/Johannesburg")
    now = datetime.fromisoformat(local + "+02:00")
    assert judge.business_hours(bookings, now).open is is_open


def test_BIZ1_describe_days() -> None:
    assert judge.describe_days([1, 2, 3, 4, 5, 6]) == "Mon-Sat"
    assert judge.describe_days(range(1, 8)) == "every day"
    assert judge.describe_days([1, 3, 6, 7]) == "Mon, Wed, Sat, Sun"
