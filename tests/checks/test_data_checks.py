"""The data checks of several modules (PAY4, PAY5, AUTH5, AUTH6, SEC1-SEC5, BIZ1) together against
real PostgreSQL: the demo's booking database passes when healthy, all faults fail and undoing them
heals; a wrong mapping names the key to fix; other column types (naive timestamps, ISO text, 0/1 flags,
inet) are read sensibly. Each diagnosis's own demo fault is in the mirror of its check module
(tests/checks/support.py: assert_only_its_own_demo_fault_fails)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from healthsuite.demo.faults.pg_data import FAULTS, VARIANTS
from healthsuite.demo.stack import MONITOR_ROLE, DemoStack
from tests.checks.support import DATA, SELECT, broken, data_env, database, entry, port
from tests.conftest import RunChecks

TYPES_DB = "hs_data_types"


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
