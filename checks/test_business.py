"""Business: bookings keep coming in while the business is open (BIZ1), a silent-failure detector read
from the declared `data.bookings` table. Runbook 001 "Monitoring Automation > Automated Daily Report"
(daily-report.sh's booking counts). Outside the declared business hours the check is skipped."""

from datetime import UTC, datetime

import pytest

from healthsuite.assessments import pg_data as judge
from healthsuite.checkapi import check
from healthsuite.probes import pg_data


@check("BIZ1", needs="data.bookings")
def test_bookings_were_made_during_business_hours(postgres, probes, expect):
    bookings = postgres.data.bookings
    hours = judge.business_hours(bookings, datetime.now(UTC))
    if hours.problem is not None:
        expect.finding(hours.problem)
    if not hours.open:
        pytest.skip(judge.outside_hours_reason(hours))
    observation = expect.reached(
        pg_data.recent_bookings(probes.postgres(postgres), bookings, window_h=expect.threshold("window_h"))
    )
    expect.finding(judge.recent_bookings(observation, hours, min_bookings=expect.threshold("min_bookings")))
