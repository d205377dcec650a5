"""Database: connectivity and server activity. Runbook 000 §2 step 2 and §6 step 1, 001 post-deploy,
002 "Connection Refused" and "Slow Queries", 003 RB2, 004 "Database Issues". Every session is read-only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthsuite import assessments, plans
from healthsuite.assessments import pg_activity as activity
from healthsuite.checkapi import check
from healthsuite.probes import pg_activity

if TYPE_CHECKING:
    from healthsuite.checkapi import Expect
    from healthsuite.model.environment import PostgresDatabase, SqliteDatabase
    from healthsuite.probes.pgreader import PgReader
    from healthsuite.probes.session import ProbeSession


@check("DB1", plan=plans.database)
def test_database_answers_select_1(
    database: PostgresDatabase | SqliteDatabase, probes: ProbeSession, expect: Expect
) -> None:
    observation = expect.reached(probes.database(database), expected="SELECT 1 answers within the timeout")
    expect.finding(assessments.select_one(observation))


# --- server activity: runbooks 002 "Database Issues", 003 RB2, 004 "Database Issues" ----------------
# Each reads the catalog views on the run's one read-only connection (probes.postgres); the monitoring
# role needs pg_monitor for DB3/DB5/DB6/DB7, and fails naming that grant without it.


# What each check reads, as a function of the session, the database and the thresholds: the plan runs
# it on the probe pool before the check does (healthsuite.plans.on_database), and the check's call then
# finds its statements in the session's cache.


def connection(db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold) -> pg_activity.ConnectionInfo:
    return pg_activity.connection(db)


def connection_count(
    db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold
) -> pg_activity.ConnectionCount:
    return pg_activity.connection_count(db)


def long_queries(db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold) -> pg_activity.LongQueries:
    return pg_activity.long_queries(db, threshold("max_active_query_s"), threshold("leak_query_s"))


def idle_sessions(db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold) -> pg_activity.IdleSessions:
    return pg_activity.idle_sessions(db, threshold("max_idle_in_transaction_s"), threshold("max_idle_s"))


def blocked_queries(db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold) -> pg_activity.BlockedQueries:
    return pg_activity.blocked_queries(db)


def analyze_ages(db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold) -> pg_activity.AnalyzeAges:
    return pg_activity.analyze_ages(db, postgres.schema_.large_tables)


@check("DB2", plan=plans.on_database(connection))
def test_database_connection_succeeds(postgres: PostgresDatabase, probes: ProbeSession, expect: Expect) -> None:
    observation = connection(probes.postgres(postgres), postgres, expect.threshold)
    expect.finding(activity.connected(observation, expect.catalogue, "a connection as the monitoring role"))


@check("DB3", plan=plans.on_database(connection_count))
def test_connections_under_limit(postgres: PostgresDatabase, probes: ProbeSession, expect: Expect) -> None:
    observation = expect.reached(connection_count(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(activity.connection_usage(observation, expect.threshold("max_connections_pct")))


@check("DB5", plan=plans.on_database(long_queries))
def test_no_long_running_query(postgres: PostgresDatabase, probes: ProbeSession, expect: Expect) -> None:
    limit, leak = expect.threshold("max_active_query_s"), expect.threshold("leak_query_s")
    observation = expect.reached(long_queries(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(activity.long_running_queries(observation, limit, leak))


@check("DB6", plan=plans.on_database(idle_sessions))
def test_no_session_idle_too_long(postgres: PostgresDatabase, probes: ProbeSession, expect: Expect) -> None:
    in_transaction, idle = expect.threshold("max_idle_in_transaction_s"), expect.threshold("max_idle_s")
    observation = expect.reached(idle_sessions(probes.postgres(postgres), postgres, expect.threshold))
    include_idle = postgres.idle_sessions == "include"  # plain idle (a pool's) only where the file asks
    expect.finding(activity.idle_sessions(observation, in_transaction, idle, include_idle=include_idle))


@check("DB7", plan=plans.on_database(blocked_queries))
def test_no_blocked_query(postgres: PostgresDatabase, probes: ProbeSession, expect: Expect) -> None:
    observation = expect.reached(blocked_queries(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(activity.blocked_queries(observation))


@check("DB14", needs="schema.large_tables", plan=plans.on_database(analyze_ages))
def test_large_tables_analyzed_recently(postgres: PostgresDatabase, probes: ProbeSession, expect: Expect) -> None:
    observation = expect.reached(analyze_ages(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(activity.analyze_recency(observation, expect.threshold("max_analyze_age_days")))
