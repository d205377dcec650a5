"""Business: bookings keep coming in while the business is open (BIZ1), a silent-failure detector read
from the declared `data.bookings` table. Runbook 001 "Monitoring Automation > Automated Daily Report"
(daily-report.sh's booking counts). The last few hours (thresholds.BIZ1.window_h) are judged on their
open business hours; the check is skipped only when none of them is open."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from healthsuite import plans
from healthsuite.assessments import pg_data as judge
from healthsuite.checkapi import check
from healthsuite.probes import pg_data

if TYPE_CHECKING:
    from healthsuite.checkapi import Expect
    from healthsuite.model.environment import PostgresDatabase
    from healthsuite.probes.pgreader import PgReader
    from healthsuite.probes.session import ProbeSession


def recent_bookings(
    db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold
) -> pg_data.RecentBookings | None:
    """What the check reads (the plan runs it on the probe pool first: healthsuite.plans.on_database);
    nothing when the whole window is closed, when the check skips."""
    bookings = postgres.data.bookings
    assert bookings is not None  # needs="data.bookings": only databases that declare it are checked
    window = judge.booking_window(bookings, datetime.now(UTC), threshold("window_h"))
    if not window.open:
        return None
    return pg_data.recent_bookings(db, bookings, window_h=threshold("window_h"))


@check("BIZ1", needs="data.bookings", plan=plans.on_database(recent_bookings))
def test_bookings_were_made_during_business_hours(
    postgres: PostgresDatabase, probes: ProbeSession, expect: Expect
) -> None:
    bookings, window_h = postgres.data.bookings, expect.threshold("window_h")
    assert bookings is not None  # needs="data.bookings"
    window = judge.booking_window(bookings, datetime.now(UTC), window_h)
    if window.problem is not None:
        expect.finding(window.problem)
    if not window.open:
        pytest.skip(judge.outside_hours_reason(window))
    observation = recent_bookings(probes.postgres(postgres), postgres, expect.threshold)
    if observation is None:  # the window closed since
        pytest.skip(judge.outside_hours_reason(judge.booking_window(bookings, datetime.now(UTC), window_h)))
    expect.reached(observation)
    if observation.now is not None:  # None: the mapping has a problem, which the finding below names
        window = judge.booking_window(bookings, observation.now, window_h)  # the window the database counted
        if not window.open:
            pytest.skip(judge.outside_hours_reason(window))
    expect.finding(judge.recent_bookings(observation, window, min_bookings=expect.threshold("min_bookings")))
