"""PAY4, PAY5, AUTH5, AUTH6, SEC1-SEC5 and BIZ1 against real PostgreSQL: the demo's booking database
passes when healthy and each demo fault (healthsuite.demo.faults.pg_data) fails its own diagnosis only,
with its category and severity, naming the observed values; plus the mapping errors (wrong table,
column or type named by key), a role without SELECT, other column types (naive timestamps, ISO text,
0/1 flags, inet), the allow list and time filter of SEC2, unused API keys one level lower, and BIZ1's
business hours (skipped outside them, failed on an unknown time zone)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from healthsuite.assessments import pg_data as judge
from healthsuite.catalogue.diagnoses import load_catalogue
from healthsuite.demo.faults.pg_data import FAULTS, VARIANTS, inject
from healthsuite.demo.stack import DATABASE, MONITOR_ROLE, DemoStack
from healthsuite.model.data import Bookings
from healthsuite.probes import pg_data
from healthsuite.probes.pgreader import PgReader
from tests.conftest import RunChecks

DATA = ("PAY4", "PAY5", "AUTH5", "AUTH6", "SEC1", "SEC2", "SEC3", "SEC4", "SEC5", "BIZ1")
SELECT = ("--diagnosis", ",".join(DATA))
TYPES_DB = "hs_data_types"


def entry(diagnosis: str) -> dict[str, str]:
    found = load_catalogue().diagnosis(diagnosis)
    return {"category": found.category, "severity": found.severity}


@contextmanager
def broken(stack: DemoStack, *diagnoses: str) -> Iterator[None]:
    assert stack.postgres is not None
    undos = []
    try:
        for diagnosis in diagnoses:
            undos.append(inject(diagnosis, stack.postgres, DATABASE))
        yield
    finally:
        for undo in reversed(undos):
            undo()


def database(name: str, port: int, data: dict[str, Any], dbname: str = DATABASE, user: str = MONITOR_ROLE,
             password: str = "HEALTHSUITE_DEMO_PG_PASSWORD") -> str:
    return (
        f"  - name: {name}\n    engine: postgresql\n"
        f"    dsn: postgresql://{user}:${{{password}}}@127.0.0.1:{port}/{dbname}\n"
        f"    data: {json.dumps(data)}\n"
    )


def data_env(stack: DemoStack, *databases: str, thresholds: dict[str, dict[str, float]] | None = None) -> str:
    return (
        f"name: data\nkind: test\nsecrets_file: {stack.directory / 'secrets.env'}\n"
        f"thresholds: {json.dumps(thresholds or {})}\ndatabases:\n{''.join(databases)}"
    )


def port(stack: DemoStack) -> int:
    assert stack.postgres is not None
    return stack.postgres.port


# --- the demo: healthy, each fault, all faults ---------------------------------------------------------------


HEALTHY = {
    "PAY4": "0 of 1 payment failed in the last 24 h (0 %)",
    "PAY5": "no payment pending for more than 1 h",
    "AUTH5": "every user has a role",
    "AUTH6": "0 stale sessions (no activity for 7 days); no user with more than 20 sessions active in the last 24 h",
    "SEC1": "no IP over 5 failed logins in the last 24 h",
    "SEC2": "no unapproved admin/elevate/privilege action in the last 7 days",
    "SEC3": "0 of 2 users dormant (0 %",
    "SEC4": "no expired key active, no active key unused for 90 days",
    "SEC5": "no user+IP over 100 requests in the last 1 h",
    "BIZ1": "1 booking created in the open business hours of the last 4 h: ",
}

BROKEN = {
    "PAY4": "3 of 20 payments failed in the last 24 h (15 %): fault-pay4-ref-1, fault-pay4-ref-2, fault-pay4-ref-3",
    "PAY5": "1 payment pending for more than 1 h (oldest 2.0 h): fault-pay5-ref-1 (2.0 h)",
    "AUTH5": "2 users without a role (NULL or empty): fault-auth5-empty (''), fault-auth5-null (NULL)",
    "AUTH6": "1 user with more than 20 sessions active in the last 24 h: usr-2 (26)",
    "SEC1": "1 IP with more than 5 failed logins in the last 24 h: 203.0.113.66 (6)",
    "SEC2": "1 privilege-escalation action in the last 7 days not on the allow list: admin.role.grant by usr-2 "
    "from 203.0.113.66 at ",
    "SEC3": "2 of 4 users dormant (50 %; no login in 30 days, or never): fault-sec3-never (never logged in), "
    "fault-sec3-gone (last login ",
    "SEC4": "1 expired API key still active: fault-sec4-expired (user usr-1, expired 24.0 h ago)",
    "SEC5": "1 user+IP pair with more than 100 API requests in the last 1 h: usr-2 from 203.0.113.66 (101)",
    "BIZ1": "0 bookings created in the open business hours of the last 4 h: ",
}


def test_every_data_diagnosis_has_a_demo_fault() -> None:
    assert set(FAULTS) == set(DATA)
    assert all(any(name.startswith(d) for d in DATA) for name in VARIANTS)


def test_the_healthy_demo_passes_all_ten_then_all_faults_fail_and_undo_heals(
    run_checks: RunChecks, stack: DemoStack
) -> None:
    run = run_checks(*SELECT)
    for diagnosis in DATA:
        record = run.assert_outcome(diagnosis, "booking", "passed", **entry(diagnosis))
        assert HEALTHY[diagnosis] in record["observed"], record["observed"]
    with broken(stack, *DATA):
        run = run_checks(*SELECT)
    for diagnosis in DATA:
        record = run.assert_outcome(diagnosis, "booking", "failed", **entry(diagnosis))
        assert record["observed"] in record["message"]
    assert "Traceback" not in run.output
    healed = run_checks(*SELECT)
    for diagnosis in DATA:
        healed.assert_outcome(diagnosis, "booking", "passed", **entry(diagnosis))


@pytest.mark.parametrize("diagnosis", DATA)
def test_each_demo_fault_fails_only_its_own_diagnosis(run_checks: RunChecks, stack: DemoStack, diagnosis: str) -> None:
    with broken(stack, diagnosis):
        run = run_checks(*SELECT)
    record = run.assert_outcome(diagnosis, "booking", "failed", **entry(diagnosis))
    assert BROKEN[diagnosis] in record["observed"], record["observed"]
    assert record["observed"] in record["message"]
    others = [run.record(other, "booking")["outcome"] for other in DATA if other != diagnosis]
    assert others == ["passed"] * (len(DATA) - 1), run.output


# --- thresholds, allow lists and severities --------------------------------------------------------------


def test_auth6_fails_on_stale_sessions_over_a_small_threshold(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    env = env_file(data_env(
        stack, database("booking", port(stack), {"sessions": {}}),
        thresholds={"AUTH6": {"max_stale_sessions": 2, "max_sessions_per_user": 100}},
    ))
    with broken(stack, "AUTH6"):
        run = run_checks("--diagnosis", "AUTH6", env=env)
    record = run.assert_outcome("AUTH6", "booking", "failed", category="auth", severity="low")
    assert record["observed"].startswith("3 stale sessions (no activity for 7 days), oldest idle 10 days; ")
    assert "no user with more than 100 sessions" in record["observed"]
    assert record["observed"].endswith("; 10.3 % of 29 sessions stale: the stale count exceeds its limit (3 > 2); "
                                       "the share is within (10.3 % <= 20 %)"), record["observed"]
    assert "stale sessions are not being cleaned up" in record["message"]


def test_auth6_fails_on_the_stale_share_of_a_small_platform(run_checks: RunChecks, stack: DemoStack) -> None:
    """400 sessions, 160 (40 %) stale: under the count limit of 1000, over the share limit of 20 %."""
    with broken(stack, "AUTH6SHARE"):
        run = run_checks("--diagnosis", "AUTH6")
    record = run.assert_outcome("AUTH6", "booking", "failed", category="auth", severity="low")
    observed = record["observed"]
    assert observed.startswith("160 stale sessions (no activity for 7 days), oldest idle 10 days; "), observed
    assert observed.endswith(
        "; 40 % of 400 sessions stale: the stale share exceeds its limit (40 % > 20 %); the count is within "
        "(160 <= 1000)"
    ), observed
    assert "no user with more than 20 sessions active in the last 24 h" in observed
    assert "stale sessions are not being cleaned up" in record["message"]
    assert "at most 20 % of sessions without activity for 7 days" in record["expected"]


def test_sec2_honours_the_allow_list_case_and_the_time_window(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    assert stack.postgres is not None
    stack.postgres.psql(
        "INSERT INTO audit_logs (id, user_id, action, ip_address, timestamp) VALUES "
        "('fault-test-sec2-old', 'usr-1', 'admin.elevate', '192.0.2.1', now() - interval '8 days'), "
        "('fault-test-sec2-case', 'usr-1', 'PRIVILEGE.Review', '192.0.2.2', now() - interval '2 hours'), "
        "('fault-test-sec2-system', NULL, 'nightly.admin_sync', NULL, now() - interval '3 hours')",
        dbname=DATABASE,
    )
    try:
        env = env_file(data_env(
            stack,
            database("strict", port(stack), {"audit_log": {}}),
            database("approved", port(stack), {
                "audit_log": {"allow": ["usr-2", "PRIVILEGE.Review", "nightly.admin_sync"]},
            }),
        ))
        with broken(stack, "SEC2"):
            run = run_checks("--diagnosis", "SEC2", env=env)
    finally:
        stack.postgres.psql("DELETE FROM audit_logs WHERE id LIKE 'fault-test-sec2-%'", dbname=DATABASE)
    strict = run.assert_outcome("SEC2", "strict", "failed", category="security", severity="medium")
    observed = strict["observed"]
    assert observed.startswith("3 privilege-escalation actions in the last 7 days not on the allow list: ")
    assert "admin.role.grant by usr-2" in observed and "PRIVILEGE.Review by usr-1" in observed
    assert "nightly.admin_sync by no user" in observed
    assert "admin.elevate" not in observed  # 8 days old: the runbook's OR/AND precedence would list it
    approved = run.assert_outcome("SEC2", "approved", "passed", category="security", severity="medium")
    assert "(usr-2, PRIVILEGE.Review, nightly.admin_sync)" in approved["expected"]


def test_sec4_unused_key_fails_one_level_below(run_checks: RunChecks, stack: DemoStack) -> None:
    assert stack.postgres is not None
    stack.postgres.psql(
        "INSERT INTO api_keys (id, user_id, name, created_at, last_used, expires_at, revoked) VALUES "
        "('fault-test-sec4-idle', 'usr-1', 'old widget', now() - interval '200 days', now() - interval '100 days', "
        "now() + interval '30 days', false), "
        "('fault-test-sec4-never', 'usr-1', 'never used', now() - interval '120 days', NULL, NULL, false), "
        "('fault-test-sec4-new', 'usr-1', 'new, not used yet', now() - interval '1 day', NULL, NULL, false), "
        "('fault-test-sec4-revoked', 'usr-1', 'revoked', now() - interval '400 days', NULL, "
        "now() - interval '9 days', true)",
        dbname=DATABASE,
    )
    try:
        run = run_checks("--diagnosis", "SEC4")
    finally:
        stack.postgres.psql("DELETE FROM api_keys WHERE id LIKE 'fault-test-sec4-%'", dbname=DATABASE)
    record = run.assert_outcome("SEC4", "booking", "failed", category="security", severity="low")
    assert record["observed"].startswith(
        "2 active API keys unused for 90 days: fault-test-sec4-never (user usr-1, never used), "
        "fault-test-sec4-idle (user usr-1, last used "
    ), record["observed"]
    assert "fault-test-sec4-new" not in record["observed"] and "fault-test-sec4-revoked" not in record["observed"]


def test_sec4_reads_flag_and_time_expressions(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    """The demo's keys are revoked (`revoked = true`), not deactivated: `active: "NOT revoked"` declares
    SEC4 for that schema; a time key takes an expression too; a wrong expression fails naming its key."""
    env = env_file(data_env(
        stack,
        database("revoked", port(stack), {"api_keys": {"active": "NOT revoked"}}),
        database("coalesced", port(stack), {"api_keys": {
            "active": "CASE WHEN revoked THEN 0 ELSE 1 END",
            "last_used": "coalesce(last_used, created_at)",
        }}),
        database("typo", port(stack), {"api_keys": {"active": "NOT revokd"}}),
        database("not-a-flag", port(stack), {"api_keys": {"active": "coalesce(expires_at, created_at)"}}),
        database("default", port(stack), {"api_keys": {}}),
    ))
    with broken(stack, "SEC4"):
        run = run_checks("--diagnosis", "SEC4", env=env)
    for name in ("revoked", "coalesced"):
        record = run.assert_outcome("SEC4", name, "failed", category="security", severity="medium")
        assert record["observed"] == "1 expired API key still active: fault-sec4-expired (user usr-1, expired 24.0 h ago)"
    typo = run.assert_outcome("SEC4", "typo", "failed", category="security", severity="medium")
    assert typo["observed"].startswith("expression `NOT revokd` of `data.api_keys.active` cannot be evaluated on "
                                       'api_keys: column "revokd" does not exist'), typo["observed"]
    assert typo["observed"].endswith("(environment-file key `data.api_keys.active`)")
    flag = run.assert_outcome("SEC4", "not-a-flag", "failed", category="security", severity="medium")
    assert flag["observed"].startswith("expression `coalesce(expires_at, created_at)` of `data.api_keys.active` is "
                                       "timestamp with time zone, not a true/false flag")
    default = run.assert_outcome("SEC4", "default", "failed", category="security", severity="medium")
    assert default["observed"].startswith("column api_keys.is_active does not exist")
    assert "Traceback" not in run.output


# --- BIZ1: business hours ------------------------------------------------------------------------------


def test_biz1_is_skipped_outside_business_hours_and_fails_on_an_unknown_zone(
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
def test_biz1_judges_the_open_hours_of_its_window(
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


def test_biz1_window_closed_all_along_is_not_judged() -> None:
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
def test_business_hours_windows(window: str, days: list[int], local: str, is_open: bool) -> None:
    bookings = Bookings(business_hours=window, days=days, timezone="Africa/Johannesburg")
    now = datetime.fromisoformat(local + "+02:00")
    assert judge.business_hours(bookings, now).open is is_open


def test_describe_days() -> None:
    assert judge.describe_days([1, 2, 3, 4, 5, 6]) == "Mon-Sat"
    assert judge.describe_days(range(1, 8)) == "every day"
    assert judge.describe_days([1, 3, 6, 7]) == "Mon, Wed, Sat, Sun"


# --- mappings, privileges and column types ----------------------------------------------------------------


def test_a_wrong_mapping_fails_naming_the_key_to_fix(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    env = env_file(data_env(stack, database("booking", port(stack), {
        "payments": {"status": "stauts"},
        "users": {"table": "accounts"},
        "api_keys": {"expires_at": "revoked"},
        "auth_attempts": {"success": "timestamp"},
    })))
    run = run_checks("--diagnosis", "PAY4,PAY5,AUTH5,SEC3,SEC4,SEC1", env=env)
    for diagnosis in ("PAY4", "PAY5"):
        record = run.assert_outcome(diagnosis, "booking", "failed", **entry(diagnosis))
        assert record["observed"].startswith("column payments.stauts does not exist (did you mean status? columns of "
                                             "payments: id, appointment_id, reference, ")
        assert record["observed"].endswith("(environment-file key `data.payments.status`)")
        assert "In the environment file, set `data.payments.status` to the column of payments that holds it." in record["message"]
    for diagnosis in ("AUTH5", "SEC3"):
        record = run.assert_outcome(diagnosis, "booking", "failed", **entry(diagnosis))
        assert record["observed"].startswith("table accounts does not exist in this database")
        assert "`data.users.table`" in record["observed"]
    sec4 = run.assert_outcome("SEC4", "booking", "failed", category="security", severity="medium")
    assert sec4["observed"] == ("column api_keys.revoked is boolean, not a point in time "
                                "(environment-file key `data.api_keys.expires_at`)")
    sec1 = run.assert_outcome("SEC1", "booking", "failed", category="security", severity="high")
    assert "not a true/false flag (environment-file key `data.auth_attempts.success`)" in sec1["observed"]
    assert "Traceback" not in run.output


def test_a_role_without_select_fails_naming_the_grant(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    assert stack.postgres is not None
    password = secrets.token_urlsafe(12)
    stack.postgres.create_role("hs_nogrant", password)
    try:
        env = env_file(data_env(
            stack, database("booking", port(stack), {"payments": {}}, user="hs_nogrant", password="NOGRANT_PW")
        ))
        run = run_checks("--diagnosis", "PAY4", env=env, environ={"NOGRANT_PW": password})
    finally:
        stack.postgres.psql("DROP ROLE hs_nogrant")
    record = run.assert_outcome("PAY4", "booking", "failed", category="payments", severity="high")
    assert record["observed"].startswith("permission denied: ")
    assert "the role hs_nogrant has no SELECT on payments: GRANT SELECT ON payments TO hs_nogrant;" in record["observed"]
    assert "GRANT SELECT ON ALL TABLES IN SCHEMA public TO hs_nogrant;" in record["message"]


TYPES_SCHEMA = """
CREATE TABLE payments (id text PRIMARY KEY, reference text NOT NULL, status text NOT NULL, created_at timestamp);
CREATE DOMAIN utc_time AS timestamptz;
CREATE TABLE no_payments (id text PRIMARY KEY, reference varchar(40), status text, created_at utc_time);
CREATE TABLE auth_attempts (id text PRIMARY KEY, ip_address inet, success integer, timestamp text);
CREATE TABLE api_keys (id text PRIMARY KEY, user_id integer, created_at text, last_used text, expires_at text,
                       is_active text);
CREATE TABLE appointments (id text PRIMARY KEY, created_at date);
INSERT INTO payments VALUES
    ('p1', 'naive-failed', 'failed', (now() AT TIME ZONE 'UTC') - interval '10 minutes'),
    ('p2', 'naive-ok', 'success', (now() AT TIME ZONE 'UTC') - interval '20 minutes'),
    ('p3', 'naive-old-failed', 'failed', (now() AT TIME ZONE 'UTC') - interval '2 days');
INSERT INTO auth_attempts
    SELECT 'a' || i, '203.0.113.9', 0, to_char((now() AT TIME ZONE 'UTC') - i * interval '1 minute',
                                              'YYYY-MM-DD HH24:MI:SS') FROM generate_series(1, 4) AS i;
INSERT INTO auth_attempts VALUES
    ('b1', '203.0.113.9', 0, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
    ('b2', '203.0.113.9', 0, to_char((now() - interval '5 minutes') AT TIME ZONE 'Africa/Johannesburg',
                                    'YYYY-MM-DD"T"HH24:MI:SS"+02:00"')),
    ('b3', '203.0.113.9', 1, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')),
    ('b4', '203.0.113.9', 0, to_char((now() AT TIME ZONE 'UTC') - interval '3 days', 'YYYY-MM-DD HH24:MI:SS')),
    ('b5', '198.51.100.1', 0, '');
INSERT INTO api_keys VALUES
    ('k-expired', 7, '2020-01-01 00:00:00', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
     to_char((now() AT TIME ZONE 'UTC') - interval '30 hours', 'YYYY-MM-DD HH24:MI:SS'), 'true'),
    ('k-off', 8, '2020-01-01 00:00:00', NULL, '2021-01-01 00:00:00', 'false');
INSERT INTO appointments VALUES ('apt-today', (now() AT TIME ZONE 'UTC')::date);
"""


@pytest.fixture(scope="module")
def types_database(demo_stack: DemoStack) -> Iterator[DemoStack]:
    """A database of the demo's server whose tables use other column types (as a D1 export would)."""
    server = demo_stack.postgres
    assert server is not None
    server.psql(f"DROP DATABASE IF EXISTS {TYPES_DB}")
    server.create_database(TYPES_DB)
    server.psql(TYPES_SCHEMA + f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {MONITOR_ROLE};", dbname=TYPES_DB)
    yield demo_stack
    server.psql(f"DROP DATABASE IF EXISTS {TYPES_DB} WITH (FORCE)")


def test_other_column_types_are_read_sensibly(
    run_checks: RunChecks, types_database: DemoStack, env_file: Callable[[str], Path]
) -> None:
    stack = types_database
    env = env_file(data_env(
        stack,
        database("types", port(stack), {
            "payments": {}, "auth_attempts": {}, "api_keys": {},
            "bookings": {"business_hours": "00:00-24:00", "days": [1, 2, 3, 4, 5, 6, 7]},
        }, dbname=TYPES_DB),
        database("empty", port(stack), {"payments": {"table": "public.no_payments"}}, dbname=TYPES_DB),
        thresholds={"BIZ1": {"window_h": 24}},  # a date column: today's booking is at 00:00 UTC
    ))
    run = run_checks("--diagnosis", "PAY4,SEC1,SEC4,BIZ1", env=env)
    pay4 = run.assert_outcome("PAY4", "types", "failed", category="payments", severity="high")
    assert pay4["observed"] == "1 of 2 payments failed in the last 24 h (50 %): naive-failed"
    sec1 = run.assert_outcome("SEC1", "types", "failed", category="security", severity="high")
    assert sec1["observed"] == "1 IP with more than 5 failed logins in the last 24 h: 203.0.113.9 (6)"
    sec4 = run.assert_outcome("SEC4", "types", "failed", category="security", severity="medium")
    assert sec4["observed"].startswith("1 expired API key still active: k-expired (user 7, expired 30.0 h ago)")
    run.assert_outcome("BIZ1", "types", "passed", category="business", severity="low")
    empty = run.assert_outcome("PAY4", "empty", "passed", category="payments", severity="high")
    assert empty["observed"].startswith("no payments created in the last 24 h: no failure share to judge")
