"""Database: connectivity and server activity. Runbook 000 §2 step 2 and §6 step 1, 001 post-deploy,
002 "Connection Refused" and "Slow Queries", 003 RB2, 004 "Database Issues". Every session is read-only."""

from healthsuite import assessments
from healthsuite.assessments import pg_activity as activity
from healthsuite.checkapi import check
from healthsuite.probes import pg_activity


@check("DB1")
def test_database_answers_select_1(database, probes, expect):
    observation = expect.reached(probes.database(database), expected="SELECT 1 answers within the timeout")
    expect.finding(assessments.select_one(observation))


# --- server activity: runbooks 002 "Database Issues", 003 RB2, 004 "Database Issues" ----------------
# Each reads the catalog views on the run's one read-only connection (probes.postgres); the monitoring
# role needs pg_monitor for DB3/DB5/DB6/DB7, and fails naming that grant without it.


@check("DB2")
def test_database_connection_succeeds(postgres, probes, expect):
    observation = pg_activity.connection(probes.postgres(postgres))
    expect.finding(activity.connected(observation, expect.catalogue, "a connection as the monitoring role"))


@check("DB3")
def test_connections_under_limit(postgres, probes, expect):
    observation = expect.reached(pg_activity.connection_count(probes.postgres(postgres)))
    expect.finding(activity.connection_usage(observation, expect.threshold("max_connections_pct")))


@check("DB5")
def test_no_long_running_query(postgres, probes, expect):
    limit, leak = expect.threshold("max_active_query_s"), expect.threshold("leak_query_s")
    observation = expect.reached(pg_activity.long_queries(probes.postgres(postgres), limit, leak))
    expect.finding(activity.long_running_queries(observation, limit, leak))


@check("DB6")
def test_no_session_idle_too_long(postgres, probes, expect):
    in_transaction, idle = expect.threshold("max_idle_in_transaction_s"), expect.threshold("max_idle_s")
    observation = expect.reached(pg_activity.idle_sessions(probes.postgres(postgres), in_transaction, idle))
    expect.finding(activity.idle_sessions(observation, in_transaction, idle))


@check("DB7")
def test_no_blocked_query(postgres, probes, expect):
    observation = expect.reached(pg_activity.blocked_queries(probes.postgres(postgres)))
    expect.finding(activity.blocked_queries(observation))


@check("DB14", needs="schema.large_tables")
def test_large_tables_analyzed_recently(postgres, probes, expect):
    observation = expect.reached(pg_activity.analyze_ages(probes.postgres(postgres), postgres.schema_.large_tables))
    expect.finding(activity.analyze_recency(observation, expect.threshold("max_analyze_age_days")))
