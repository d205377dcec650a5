"""Mirrors checks/test_business.py. BIZ1 against real PostgreSQL: its demo fault fails it; skipped
outside business hours, failed on an unknown time zone; the open hours of its window are judged."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from healthsuite.assessments import pg_data as judge
from healthsuite.demo.stack import DATABASE, MONITOR_ROLE, DemoStack
from healthsuite.model.data import Bookings
from healthsuite.probes import pg_data
from healthsuite.probes.pgreader import PgReader
from tests.checks.support import assert_only_its_own_demo_fault_fails, broken, data_env, database, port
from tests.conftest import RunChecks

# --- BIZ1: business hours ------------------------------------------------------------------------------


def test_BIZ1_is_skipped_outside_business_hours_and_fails_on_an_unknown_zone(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    another_day = (datetime.now(UTC) + timedelta(days=3)).isoweekday()  # never today, whatever the zone
    env = env_file(data_env(
        stack,
        database("closed", port(stack), {"bookings": {"timezone": "UTC", "days": [another_day]}}),
        database("badzone", port(stack), {"bookings": {"timezone": "Mars/Olympus_Mons"}}),
    ))
    with broken(stack, "BIZ1"):
        run = run_checks("--diagnosis", "BIZ1", env=env)
    closed = run.assert_outcome("BIZ1", "closed", "skipped", category="business", severity="low")
    day = judge.describe_days([another_day])
    assert closed["message"].startswith(f"outside business hours (08:00-18:00 UTC, {day}; now ")
    assert closed["message"].endswith(", none of the last 4 h open): no bookings expected")
    bad = run.assert_outcome("BIZ1", "badzone", "failed", category="business", severity="low")
    assert bad["observed"].startswith("time zone 'Mars/Olympus_Mons' cannot be loaded (environment-file key "
                                      "`data.bookings.timezone`)")
    assert "tzdata" in bad["message"]


BIZ1_ROWS = "fault-test-biz1-%"


@pytest.fixture
def monday_bookings(stack: DemoStack) -> Iterator[PgReader]:
    """Bookings of Monday 2026-11-23 (Africa/Johannesburg) at 08:00, 08:30 and 09:00 in the demo's database,
    and a reader as the checks' monitoring role: BIZ1's window is placed in time by the probe's `now`."""
    assert stack.postgres is not None
    stack.postgres.psql(
        "INSERT INTO appointments (id, tenant_id, scheduled_time, status, created_at) "
        "SELECT 'fault-test-biz1-' || i, 'instylehairboutique', now(), 'confirmed', "
        "timestamptz '2026-11-23 08:00+02' + (i - 1) * interval '30 minutes' FROM generate_series(1, 3) AS i",
        dbname=DATABASE,
    )
    reader = PgReader(stack.postgres.dsn(MONITOR_ROLE, stack.pg_password, DATABASE), 5)
    try:
        yield reader
    finally:
        reader.close()
        stack.postgres.psql(f"DELETE FROM appointments WHERE id LIKE '{BIZ1_ROWS}'", dbname=DATABASE)


@pytest.mark.parametrize(
    ("local_now", "judged", "count"),
    [
        ("2026-11-23 15:00", "Mon 11:00-15:00", 0),  # bookings stopped 6 h ago, inside business hours: fails
        ("2026-11-23 11:00", "Mon 08:00-11:00", 3),  # the window opened at 08:00: only its open part counts
        ("2026-11-23 08:45", "Mon 08:00-08:45", 2),
        ("2026-11-23 20:00", "Mon 16:00-18:00", 0),  # closed since 18:00: the last open hours are judged
    ],
)
def test_BIZ1_judges_the_open_hours_of_its_window(
    monday_bookings: PgReader, local_now: str, judged: str, count: int
) -> None:
    bookings = Bookings(business_hours="08:00-18:00", timezone="Africa/Johannesburg", days=[1, 2, 3, 4, 5, 6])
    now = datetime.fromisoformat(local_now + "+02:00")
    window = judge.booking_window(bookings, now, 4)
    assert window.open and window.judged == judged
    observation = pg_data.recent_bookings(monday_bookings, bookings, window_h=4, now=now)
    assert observation.error is None and observation.problem is None, observation
    assert observation.now == now
    finding = judge.recent_bookings(observation, judge.booking_window(bookings, observation.now, 4), min_bookings=1)
    assert finding.ok is (count >= 1)
    assert finding.observed == (
        f"{count} booking{'' if count == 1 else 's'} created in the open business hours of the last 4 h: {judged} "
        f"(now Mon {local_now[-5:]}; business hours 08:00-18:00 Africa/Johannesburg, Mon-Sat)"
    )
    assert finding.expected == (
        "at least 1 booking created in the open business hours of the last 4 h (Africa/Johannesburg)"
    )


def test_BIZ1_demo_fault_fails_only_its_own_diagnosis(run_checks: RunChecks, stack: DemoStack) -> None:
    assert_only_its_own_demo_fault_fails(run_checks, stack, "BIZ1")
