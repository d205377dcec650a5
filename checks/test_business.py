"""Business: bookings keep coming in while the business is open (BIZ1), a silent-failure detector read
from the declared `data.bookings` table. Runbook 001 "Monitoring Automation > Automated Daily Report"
(daily-report.sh's booking counts). Outside the declared business hours the check is skipped."""

from datetime import UTC, datetime

import pytest

from healthsuite import plans
from healthsuite.assessments import pg_data as judge
from healthsuite.checkapi import check
from healthsuite.probes import pg_data


def recent_bookings(db, postgres, threshold):
    """What the check reads (the plan runs it on the probe pool first: healthsuite.plans.on_database);
    nothing outside business hours, when the check skips."""
    if not judge.business_hours(postgres.data.bookings, datetime.now(UTC)).open:
        return None
    return pg_data.recent_bookings(db, postgres.data.bookings, window_h=threshold("window_h"))


@check("BIZ1", needs="data.bookings", plan=plans.on_database(recent_bookings))
def test_bookings_were_made_during_business_hours(postgres, probes, expect):
    bookings = postgres.data.bookings
    hours = judge.business_hours(bookings, datetime.now(UTC))
    if hours.problem is not None:
        expect.finding(hours.problem)
    if not hours.open:
        pytest.skip(judge.outside_hours_reason(hours))
    observation = recent_bookings(probes.postgres(postgres), postgres, expect.threshold)
    if observation is None:  # the window closed since
        pytest.skip(judge.outside_hours_reason(judge.business_hours(bookings, datetime.now(UTC))))
    expect.reached(observation)
    expect.finding(judge.recent_bookings(observation, hours, min_bookings=expect.threshold("min_bookings")))
