"""Mirrors checks/test_database.py. DB1 against a throwaway PostgreSQL and SQLite files: pass when
healthy, and each failure kind (refused, authentication, missing database, hung server, wrong protocol,
missing/corrupt file) fails with its sentence, category and severity. DB2, DB3, DB5, DB6, DB7, DB14
against the demo's PostgreSQL: each passes when healthy and fails on its real fault (roles refused,
connections held, a query sleeping, a transaction left open, a row lock waited on, statistics reset),
with its category and severity, naming the observed sessions. Plus: a role without pg_monitor fails
naming the grant (never passes on hidden rows), the checks' connection cannot write, and a run opens
one connection per database."""

from __future__ import annotations

import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from healthsuite.demo.faults import pg_activity as faults
from healthsuite.demo.stack import DATABASE, MONITOR_ROLE, DemoStack
from healthsuite.probes import postgres, sqlite
from healthsuite.probes.pgreader import PgReader
from healthsuite.testing.listeners import GarbageListener, SilentListener
from healthsuite.testing.ports import free_port
from healthsuite.testing.postgres_server import PostgresServer
from tests.checks.support import EnvFile
from tests.conftest import RunChecks


def db_env(*databases: str, timeout: float = 2) -> str:
    return f"""
name: db
kind: test
timeouts:
  database_s: {timeout}
databases:
{''.join(databases)}"""


def pg(name: str, dsn: str) -> str:
    return f"  - name: {name}\n    engine: postgresql\n    dsn: {dsn}\n"


def lite(name: str, path: Path | str) -> str:
    return f"  - name: {name}\n    engine: sqlite\n    path: {path}\n"


def test_DB1_passes_on_postgres_and_sqlite(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "DB1")
    booking = run.assert_outcome("DB1", "booking", "passed", category="database", severity="critical")
    assert "read-only session: on" in booking["observed"]
    d1 = run.assert_outcome("DB1", "d1", "passed", category="database", severity="critical")
    assert "opened read-only" in d1["observed"]


def test_DB1_fails_with_refused_when_postgres_is_stopped(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.break_(["DB1"])
    run = run_checks("--diagnosis", "DB1")
    record = run.assert_outcome("DB1", "booking", "failed", category="database", severity="critical")
    assert record["observed"].startswith("connection refused: nothing accepted the connection at 127.0.0.1:")
    assert "pg_isready" in record["message"]  # the remediation for this kind of failure
    run.assert_outcome("DB1", "d1", "passed", category="database", severity="critical")


def test_DB1_fails_with_refused_after_a_crash(run_checks: RunChecks, env_file, tmp_path: Path) -> None:
    with PostgresServer(tmp_path / "crash") as server:
        dsn = server.dsn()
        server.kill()
        run = run_checks("--diagnosis", "DB1", env=env_file(db_env(pg("crashed", dsn))))
    record = run.assert_outcome("DB1", "crashed", "failed", category="database", severity="critical")
    assert record["observed"].startswith("connection refused")


def test_DB1_fails_with_authentication_failed(run_checks: RunChecks, stack: DemoStack, env_file) -> None:
    assert stack.postgres is not None
    dsn = f"postgresql://healthsuite:${{WRONG_PG_PASSWORD}}@127.0.0.1:{stack.postgres.port}/booking"
    run = run_checks("--diagnosis", "DB1", env=env_file(db_env(pg("booking", dsn))),
                     environ={"WRONG_PG_PASSWORD": "not-the-password"})
    record = run.assert_outcome("DB1", "booking", "failed", category="database", severity="critical")
    assert record["observed"].startswith("authentication failed: ")
    assert "password authentication failed" in record["observed"]
    assert "not-the-password" not in run.output + str(run.report)


def test_DB1_fails_when_the_database_does_not_exist(run_checks: RunChecks, stack: DemoStack, env_file) -> None:
    assert stack.postgres is not None
    dsn = f"postgresql://healthsuite:${{HEALTHSUITE_DEMO_PG_PASSWORD}}@127.0.0.1:{stack.postgres.port}/nosuchdb"
    env = env_file(db_env(pg("booking", dsn)) + f"secrets_file: {stack.directory / 'secrets.env'}\n")
    run = run_checks("--diagnosis", "DB1", env=env)
    record = run.assert_outcome("DB1", "booking", "failed", category="database", severity="critical")
    assert record["observed"].startswith("database does not exist:") and "nosuchdb" in record["observed"]


def test_DB1_fails_with_timeout_on_a_hung_server(run_checks: RunChecks, env_file) -> None:
    with SilentListener() as silent:
        dsn = f"postgresql://monitor@{silent.host}:{silent.port}/app"
        run = run_checks("--diagnosis", "DB1", env=env_file(db_env(pg("hung", dsn), timeout=1)))
    record = run.assert_outcome("DB1", "hung", "failed", category="database", severity="critical")
    assert record["observed"].startswith("timed out")
    assert record["duration_s"] < 6


def test_DB1_fails_with_protocol_error_on_a_non_postgres_server(run_checks: RunChecks, env_file) -> None:
    with GarbageListener() as garbage:
        dsn = f"postgresql://monitor@{garbage.host}:{garbage.port}/app?sslmode=disable"
        run = run_checks("--diagnosis", "DB1", env=env_file(db_env(pg("garbage", dsn))))
    record = run.assert_outcome("DB1", "garbage", "failed", category="database", severity="critical")
    assert record["observed"].split(":")[0] in ("protocol error", "connection reset"), record["observed"]


def test_DB1_fails_on_missing_and_corrupt_sqlite_files(run_checks: RunChecks, env_file, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"this is not a database" * 200)
    run = run_checks("--diagnosis", "DB1", env=env_file(db_env(lite("missing", tmp_path / "nope.sqlite"), lite("corrupt", corrupt))))
    missing = run.assert_outcome("DB1", "missing", "failed", category="database", severity="critical")
    assert missing["observed"].startswith("database does not exist")
    bad = run.assert_outcome("DB1", "corrupt", "failed", category="database", severity="critical")
    assert bad["observed"].startswith("not a database: ")
    assert not (tmp_path / "nope.sqlite").exists(), "a check must never create the file it checks"


def test_DB1_skips_naming_the_unset_variable(run_checks: RunChecks, env_file, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNSET_DATABASE_URL", raising=False)
    run = run_checks("--diagnosis", "DB1", env=env_file(db_env(pg("main", "${UNSET_DATABASE_URL}"))))
    record = run.assert_outcome("DB1", "main", "skipped", category="database", severity="critical")
    assert "UNSET_DATABASE_URL is not set" in record["message"] and "databases[main].dsn" in record["message"]


# --- the probes cannot write ------------------------------------------------------------------------


def test_postgres_probe_session_refuses_writes(stack: DemoStack) -> None:
    assert stack.postgres is not None
    dsn = stack.postgres.dsn(dbname="booking")
    with postgres.connect(dsn, timeout_s=2) as conn:
        assert conn.execute("SHOW transaction_read_only").fetchone() == ("on",)
        assert conn.execute("SHOW statement_timeout").fetchone() == ("2s",)
        assert conn.execute("SHOW lock_timeout").fetchone() == ("2s",)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO tenants (id, name) VALUES ('x', 'x')")


def test_sqlite_probe_opens_read_only(tmp_path: Path) -> None:
    path = tmp_path / "d1.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    ro = sqlite.connect_read_only(path, 1)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.execute("INSERT INTO t VALUES (1)")
    ro.close()


ACTIVITY = ("DB2", "DB3", "DB5", "DB6", "DB7", "DB14")




def activity_env(
    stack: DemoStack,
    *,
    thresholds: str = "{}",
    user: str = MONITOR_ROLE,
    password: str = "${HEALTHSUITE_DEMO_PG_PASSWORD}",
    large_tables: str = "[appointments, payments]",
    database: str = "",
) -> str:
    assert stack.postgres is not None
    return f"""
name: activity
kind: test
secrets_file: {stack.directory / "secrets.env"}
timeouts: {{database_s: 3}}
thresholds: {thresholds}
databases:
  - name: booking
    engine: postgresql
    dsn: postgresql://{user}:{password}@127.0.0.1:{stack.postgres.port}/{DATABASE}
    schema: {{large_tables: {large_tables}}}
{database}"""


def sql(stack: DemoStack, query: str, dbname: str = DATABASE) -> str:
    assert stack.postgres is not None
    return stack.postgres.psql(query, dbname=dbname).strip()


@pytest.fixture
def inject(stack: DemoStack) -> Iterator[Callable[[str], None]]:
    """inject("DB5") makes the demo fault real on booking; every fault is undone after the test."""
    undos: list[Callable[[], None]] = []

    def make(diagnosis: str) -> None:
        assert stack.postgres is not None
        undos.append(faults.inject(diagnosis, stack.postgres, DATABASE))

    yield make
    errors = []
    for undo in reversed(undos):  # every one runs, so no session outlives the test
        try:
            undo()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
    assert not errors, errors


@pytest.fixture
def quick_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Timed faults age 1.2 s instead of the demo's 2.5 s (the tests' limits are 1 s)."""
    monkeypatch.setattr(faults, "FAULT_AGE_S", 1.2)


def fault_pids(stack: DemoStack, state: str) -> list[int]:
    rows = sql(stack, f"SELECT pid FROM pg_stat_activity WHERE application_name = '{faults.FAULT_APPLICATION}' "
                      f"AND state = '{state}' ORDER BY pid")
    return [int(pid) for pid in rows.split()]


# --- healthy: everything passes, on one connection ---------------------------------------------------------


def _sessions_of_booking(stack: DemoStack) -> int:
    return int(sql(stack, f"SELECT sessions FROM pg_stat_database WHERE datname = '{DATABASE}'", dbname="postgres"))


def test_DB2_DB3_DB5_DB6_DB7_DB14_healthy_demo_passes_every_activity_check_on_one_connection(
    run_checks: RunChecks, stack: DemoStack
) -> None:
    before = _sessions_of_booking(stack)
    run = run_checks("--diagnosis", "DB1," + ",".join(ACTIVITY))
    severities = {"DB2": "critical", "DB3": "high", "DB5": "high", "DB6": "medium", "DB7": "high", "DB14": "low"}
    records = {d: run.assert_outcome(d, "booking", "passed", category="database", severity=s)
               for d, s in severities.items()}
    assert stack.postgres is not None
    assert re.fullmatch(
        rf"connected as healthsuite to 127\.0\.0\.1:{stack.postgres.port}/booking in \d+ ms "
        r"\(PostgreSQL 1\d\.\S+, primary\)",
        records["DB2"]["observed"],
    ), records["DB2"]["observed"]
    assert re.fullmatch(r"\d+ of 30 connections \(\d+ %\)", records["DB3"]["observed"])
    assert records["DB14"]["observed"].startswith("analyzed: appointments ")
    # the server counted one session to booking for DB1 and the six activity checks: the shared connection
    deadline = time.monotonic() + 5
    alive = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'healthsuite'"
    while sql(stack, alive, dbname="postgres") != "0":  # (read from another database: psql is a session too)
        assert time.monotonic() < deadline, "the run's connection outlived the run"
        time.sleep(0.05)
    time.sleep(0.2)
    assert _sessions_of_booking(stack) - before == 1


def _activity_reads(stack: DemoStack) -> list[tuple[str, int]]:
    """(statement, calls) of the monitoring role's statements on booking that read pg_stat_activity, as the
    server recorded them in pg_stat_statements (track = all, so nested statements would count too)."""
    rows = sql(stack, "SELECT s.calls, regexp_replace(s.query, '\\s+', ' ', 'g') FROM pg_stat_statements s "
                      "JOIN pg_roles r ON r.oid = s.userid JOIN pg_database d ON d.oid = s.dbid "
                      f"WHERE r.rolname = '{MONITOR_ROLE}' AND d.datname = '{DATABASE}' "
                      "AND s.query ILIKE '%pg_stat_activity%' ORDER BY s.query")
    return [(query, int(calls)) for calls, query in (line.split("|", 1) for line in rows.splitlines() if line)]


@pytest.mark.usefixtures("quick_faults")
def test_DB3_DB5_DB6_share_one_read_of_pg_stat_activity(
    run_checks: RunChecks, stack: DemoStack, env_file: EnvFile, inject: Callable[[str], None]
) -> None:
    inject("DB5")
    inject("DB6")
    [running] = fault_pids(stack, "active")
    [idle] = fault_pids(stack, "idle in transaction")
    thresholds = ("{DB5: {max_active_query_s: 1, leak_query_s: 1.1}, "
                  "DB6: {max_idle_in_transaction_s: 1, max_idle_s: 3600}}")
    sql(stack, "SELECT pg_stat_statements_reset()")  # (as the superuser)
    run = run_checks("--diagnosis", "DB3,DB5,DB6", env=env_file(activity_env(stack, thresholds=thresholds)))
    reads = _activity_reads(stack)
    run.assert_outcome("DB3", "booking", "passed", category="database", severity="high")
    long_query = run.assert_outcome("DB5", "booking", "failed", category="database", severity="high")
    assert f"pid {running} (booking-api, user postgres) running for " in long_query["observed"]
    idle_session = run.assert_outcome("DB6", "booking", "failed", category="database", severity="medium")
    assert idle_session["observed"].startswith(f"1 session(s) idle in transaction for over 1 s: pid {idle} ")
    # one statement, run once, served all three and the visibility check they share
    assert len(reads) == 1 and reads[0][1] == 1, reads


# --- DB2: the connection ---------------------------------------------------------------------------------


def test_DB2_fails_naming_authentication_when_the_role_may_not_log_in(
    run_checks: RunChecks, inject: Callable[[str], None]
) -> None:
    inject("DB2")
    run = run_checks("--diagnosis", "DB2")
    record = run.assert_outcome("DB2", "booking", "failed", category="database", severity="critical")
    assert record["observed"].startswith("authentication failed: ")
    assert 'role "healthsuite" is not permitted to log in' in record["observed"]
    # the remediation of this kind of failure, with the real server and role
    assert re.search(r"psql -h 127\.0\.0\.1 -p \d+ -U healthsuite", record["message"]), record["message"]


def test_DB2_names_refused_missing_database_and_missing_connect_privilege(
    run_checks: RunChecks, stack: DemoStack, env_file: EnvFile
) -> None:
    assert stack.postgres is not None
    sql(stack, "CREATE DATABASE hs_noconnect", dbname="postgres")
    try:
        sql(stack, "REVOKE CONNECT ON DATABASE hs_noconnect FROM PUBLIC", dbname="postgres")
        base = "postgresql://healthsuite:${HEALTHSUITE_DEMO_PG_PASSWORD}@127.0.0.1"
        env = env_file(f"""
name: kinds
kind: test
secrets_file: {stack.directory / "secrets.env"}
timeouts: {{database_s: 2}}
databases:
  - {{name: refused, engine: postgresql, dsn: "{base}:{free_port()}/booking"}}
  - {{name: missing, engine: postgresql, dsn: "{base}:{stack.postgres.port}/nosuchdb"}}
  - {{name: noconnect, engine: postgresql, dsn: "{base}:{stack.postgres.port}/hs_noconnect"}}
""")
        run = run_checks("--diagnosis", "DB2", env=env)
    finally:
        sql(stack, "DROP DATABASE hs_noconnect", dbname="postgres")
    refused = run.assert_outcome("DB2", "refused", "failed", category="database", severity="critical")
    assert refused["observed"].startswith("connection refused: nothing accepted the connection at 127.0.0.1:")
    assert "pg_isready" in refused["message"]
    missing = run.assert_outcome("DB2", "missing", "failed", category="database", severity="critical")
    assert missing["observed"].startswith("database does not exist: ") and "nosuchdb" in missing["observed"]
    denied = run.assert_outcome("DB2", "noconnect", "failed", category="database", severity="critical")
    assert denied["observed"].startswith("permission denied: ")
    assert 'permission denied for database "hs_noconnect"' in denied["observed"]
    assert "`GRANT CONNECT ON DATABASE hs_noconnect TO healthsuite;`" in denied["message"]


# --- DB3: connections ---------------------------------------------------------------------------------------


def test_DB3_DB2_fails_when_a_client_holds_80_percent_and_DB2_names_exhaustion(
    run_checks: RunChecks, stack: DemoStack, inject: Callable[[str], None]
) -> None:
    inject("DB3")
    run = run_checks("--diagnosis", "DB2,DB3")
    run.assert_outcome("DB2", "booking", "passed", category="database", severity="critical")
    record = run.assert_outcome("DB3", "booking", "failed", category="database", severity="high")
    assert record["observed"].startswith("24 of 30 connections (80 %); largest groups")
    assert re.search(r"booking-api/idle/postgres: \d+", record["observed"])
    assert "only 3 of the 27 connections open to ordinary roles remain" in record["message"]
    # three more: the ordinary slots are gone, the monitoring role is refused and DB2 names the kind
    assert stack.postgres is not None
    more = [psycopg.connect(stack.postgres.dsn(dbname=DATABASE), autocommit=True) for _ in range(3)]
    try:
        run = run_checks("--diagnosis", "DB2,DB3")
    finally:
        for conn in more:
            conn.close()
    record = run.assert_outcome("DB2", "booking", "failed", category="database", severity="critical")
    assert record["observed"].startswith("too many connections: ")
    assert "remaining connection slots are reserved" in record["observed"]
    assert "Count connections against `max_connections`" in record["message"]
    run.assert_outcome("DB3", "booking", "failed", category="database", severity="high")


# --- DB5: long-running queries ---------------------------------------------------------------------------


@pytest.mark.usefixtures("quick_faults")
def test_DB5_fails_on_a_long_running_query_reported_as_leaked(
    run_checks: RunChecks, stack: DemoStack, env_file: EnvFile, inject: Callable[[str], None]
) -> None:
    inject("DB5")
    [pid] = fault_pids(stack, "active")
    env = env_file(activity_env(stack, thresholds="{DB5: {max_active_query_s: 1, leak_query_s: 1.1}}"))
    run = run_checks("--diagnosis", "DB5", env=env)
    record = run.assert_outcome("DB5", "booking", "failed", category="database", severity="high")
    observed = record["observed"]
    assert observed.startswith("1 active query older than 1 s (1 older than 1.1 s: leaked connection): ")
    assert f"pid {pid} (booking-api, user postgres) running for " in observed
    assert "SELECT pg_sleep(3600), count(*) FROM appointments" in observed
    assert f"pg_cancel_backend({pid})" in record["message"]


# --- DB6: idle sessions -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("quick_faults")
def test_DB6_fails_on_a_session_idle_in_transaction(
    run_checks: RunChecks, stack: DemoStack, env_file: EnvFile, inject: Callable[[str], None]
) -> None:
    inject("DB6")
    [pid] = fault_pids(stack, "idle in transaction")
    thresholds = "{DB6: {max_idle_in_transaction_s: 1, max_idle_s: 3600}}"
    run = run_checks("--diagnosis", "DB6", env=env_file(activity_env(stack, thresholds=thresholds)))
    record = run.assert_outcome("DB6", "booking", "failed", category="database", severity="medium")
    assert record["observed"].startswith("1 session(s) idle in transaction for over 1 s: ")
    assert f"pid {pid} (booking-api, user postgres) idle in transaction for " in record["observed"]
    assert "SELECT id FROM appointments WHERE id = $1" in record["observed"]
    assert "idle_in_transaction_session_timeout" in record["message"]


def test_DB6_passes_a_pool_of_plain_idle_sessions_unless_the_file_includes_them(
    run_checks: RunChecks, stack: DemoStack, env_file: EnvFile
) -> None:
    """Idle connections are what a pool keeps: counted and named, not failed, by default; a database with
    `idle_sessions: include` fails them past max_idle_s."""
    assert stack.postgres is not None
    thresholds = "{DB6: {max_idle_in_transaction_s: 1, max_idle_s: 1}}"
    pool = [psycopg.connect(stack.postgres.dsn(dbname=DATABASE), autocommit=True, application_name="pool")
            for _ in range(3)]
    try:
        for conn in pool:
            conn.execute("SELECT 1")
        time.sleep(1.2)
        default = run_checks("--diagnosis", "DB6", env=env_file(activity_env(stack, thresholds=thresholds)))
        included = run_checks("--diagnosis", "DB6", env=env_file(
            activity_env(stack, thresholds=thresholds, database="    idle_sessions: include\n")))
        pids = [conn.info.backend_pid for conn in pool]
    finally:
        for conn in pool:
            conn.close()
    passed = default.assert_outcome("DB6", "booking", "passed", category="database", severity="medium")
    assert re.fullmatch(
        r"no session idle in transaction over 1 s \((\d+) plain idle session\(s\) over 1 s, as a connection pool "
        r"keeps them: not judged without idle_sessions: include\)", passed["observed"]
    ), passed["observed"]
    assert int(re.search(r"\((\d+) plain", passed["observed"])[1]) >= 3  # type: ignore[index]
    record = included.assert_outcome("DB6", "booking", "failed", category="database", severity="medium")
    assert re.match(r"\d+ session\(s\) idle for over 1 s: ", record["observed"]), record["observed"]
    assert f"pid {pids[0]} (pool, user postgres) idle for " in record["observed"]
    assert "idle_session_timeout" in record["message"]
    assert "idle_in_transaction_session_timeout" not in record["message"]  # that advice is for the other fault


def test_DB6_fails_on_a_session_idle_in_an_aborted_transaction(
    run_checks: RunChecks, stack: DemoStack, env_file: EnvFile
) -> None:
    assert stack.postgres is not None
    with psycopg.connect(stack.postgres.dsn(dbname=DATABASE), application_name="aborted") as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("SELECT 1 / 0")
        time.sleep(1.2)
        thresholds = "{DB6: {max_idle_in_transaction_s: 1}}"
        run = run_checks("--diagnosis", "DB6", env=env_file(activity_env(stack, thresholds=thresholds)))
        pid = conn.info.backend_pid
        conn.rollback()
    record = run.assert_outcome("DB6", "booking", "failed", category="database", severity="medium")
    assert record["observed"].startswith("1 session(s) idle in transaction for over 1 s: "), record["observed"]
    assert f"pid {pid} (aborted, user postgres) idle in transaction (aborted) for " in record["observed"]
    assert "idle_in_transaction_session_timeout" in record["message"]


# --- DB7: blocked queries ----------------------------------------------------------------------------------


def test_DB7_fails_naming_the_blocked_and_the_blocking_session(
    run_checks: RunChecks, stack: DemoStack, inject: Callable[[str], None]
) -> None:
    inject("DB7")
    [holder] = fault_pids(stack, "idle in transaction")
    [waiter] = fault_pids(stack, "active")
    run = run_checks("--diagnosis", "DB7")
    record = run.assert_outcome("DB7", "booking", "failed", category="database", severity="high")
    observed = record["observed"]
    assert observed.startswith(f"1 blocked: pid {waiter} (booking-api, user postgres) waits ")
    assert "for ShareLock on transactionid: \"UPDATE appointments SET status = status WHERE id = 'apt-1'\"" in observed
    assert f"blocked by pid {holder} (booking-api, user postgres) idle in transaction (transaction open for " in observed
    assert f"pg_terminate_backend({holder})" in record["message"]
    assert "holds the lock while doing nothing" in record["message"]


# --- DB14: statistics ---------------------------------------------------------------------------------------


def test_DB14_fails_when_a_large_table_was_never_analyzed(
    run_checks: RunChecks, inject: Callable[[str], None]
) -> None:
    inject("DB14")
    run = run_checks("--diagnosis", "DB14")
    record = run.assert_outcome("DB14", "booking", "failed", category="database", severity="low")
    # its statistics were reset, not its planner statistics: the message says so, never "never analyzed"
    assert record["observed"].startswith("appointments: no analyze recorded since the statistics were reset at ")
    assert "planner statistics are present in pg_stats" in record["observed"]
    assert "payments" not in record["observed"]
    assert "ANALYZE appointments;" in record["message"]


def test_DB14_names_a_missing_table_and_stale_statistics(
    run_checks: RunChecks, stack: DemoStack, env_file: EnvFile
) -> None:
    age = float(sql(stack, "SELECT extract(epoch FROM now() - greatest(last_analyze, last_autoanalyze)) "
                           "FROM pg_stat_user_tables WHERE relname = 'payments'"))
    time.sleep(max(0.0, 1.0 - age))
    env = env_file(activity_env(stack, thresholds="{DB14: {max_analyze_age_days: 0.00001}}",  # 0.86 s
                                large_tables="[public.payments, no_such_table]"))
    run = run_checks("--diagnosis", "DB14", env=env)
    record = run.assert_outcome("DB14", "booking", "failed", category="database", severity="low")
    # the age is the demo's analyze's, made when the stack started: "42 s", or "2 min 53 s" later in a long session
    assert re.match(r"public\.payments last analyzed [\d.]+ (?:s|min|h|d)(?: [\d.]+ (?:s|min|h))? ago "
                    r"\(\d+ rows changed since\); "
                    r"no_such_table does not exist$", record["observed"]), record["observed"]
    assert "no_such_table is declared large but does not exist here" in record["message"]


# --- least privilege ------------------------------------------------------------------------------------------


def test_DB2_DB3_DB5_DB6_DB7_DB14_without_pg_monitor_fail_naming_the_grant(
    run_checks: RunChecks, stack: DemoStack, env_file: EnvFile, inject: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert stack.postgres is not None
    role, password = f"hs_plain_{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    stack.postgres.create_role(role, password)
    try:
        sql(stack, f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        monkeypatch.setattr(faults, "FAULT_AGE_S", 0)
        inject("DB6")  # a session idle in transaction that this role cannot see
        env = env_file(activity_env(stack, user=role, password="${PLAIN_PG_PASSWORD}",
                                    thresholds="{DB6: {max_idle_in_transaction_s: 0}}"))
        run = run_checks("--diagnosis", ",".join(ACTIVITY), env=env, environ={"PLAIN_PG_PASSWORD": password})
    finally:
        sql(stack, f"DROP OWNED BY {role}")
        sql(stack, f"DROP ROLE {role}", dbname="postgres")
    connected = run.assert_outcome("DB2", "booking", "passed", category="database", severity="critical")
    assert connected["observed"].startswith(f"connected as {role} ")
    run.assert_outcome("DB14", "booking", "passed", category="database", severity="low")  # needs no pg_monitor
    for diagnosis, severity in (("DB3", "high"), ("DB5", "high"), ("DB6", "medium"), ("DB7", "high")):
        record = run.assert_outcome(diagnosis, "booking", "failed", category="database", severity=severity)
        assert record["observed"].startswith("permission denied: "), record["observed"]
        assert f"role {role} is not a member of pg_monitor" in record["observed"]
        assert f"GRANT pg_monitor TO {role};" in record["observed"]
        assert f"GRANT pg_monitor TO {role};" in record["message"]  # the catalogue's remediation, for the real role
    assert password not in run.output + str(run.report)


# --- the checks' connection cannot write ---------------------------------------------------------------------


def test_writes_on_the_checks_connection_are_refused_even_for_a_superuser(stack: DemoStack) -> None:
    assert stack.postgres is not None
    before = sql(stack, "SELECT id, status FROM appointments ORDER BY id")
    reader = PgReader(stack.postgres.dsn(dbname=DATABASE), 2)
    try:
        for statement in (
            "CREATE TABLE hs_write_probe (id int)",
            "INSERT INTO tenants (id, name) VALUES ('hs-write-probe', 'x')",
            "UPDATE appointments SET status = 'cancelled'",
        ):
            result = reader.query(statement)
            assert result.error is not None, statement
            assert "read-only transaction" in result.error.detail, result.error
        assert reader.connections_opened == 1
    finally:
        reader.close()
    assert sql(stack, "SELECT to_regclass('hs_write_probe') IS NULL") == "t"
    assert sql(stack, "SELECT count(*) FROM tenants WHERE id = 'hs-write-probe'") == "0"
    assert sql(stack, "SELECT id, status FROM appointments ORDER BY id") == before


def test_a_multi_statement_string_cannot_escape_the_read_only_transaction(stack: DemoStack) -> None:
    assert stack.postgres is not None
    reader = PgReader(stack.postgres.dsn(dbname=DATABASE), 2)
    try:
        result = reader.query("BEGIN READ WRITE; INSERT INTO tenants (id, name) VALUES ('hs-escape', 'x'); COMMIT")
        escaped = sql(stack, "SELECT count(*) FROM tenants WHERE id = 'hs-escape'")
    finally:
        reader.close()
        sql(stack, "DELETE FROM tenants WHERE id = 'hs-escape'")
    assert escaped == "0" and result.error is not None


def test_demo_faults_are_declared_for_each_diagnosis() -> None:
    assert set(faults.FAULTS) == set(ACTIVITY)
    assert faults.MONITOR_ROLE == MONITOR_ROLE
    with pytest.raises(ValueError, match="no PostgreSQL activity fault for DB1"):
        faults.inject("DB1", None, DATABASE)  # type: ignore[arg-type]
