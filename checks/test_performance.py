"""Performance: response times. Runbook 000 §5 step 1 (`curl -w` timing breakdown) and 004
"Performance Monitoring"."""

import pytest

from healthsuite.assessments import edge
from healthsuite.assessments import pg_schema as pg_judge
from healthsuite.checkapi import check
from healthsuite.probes import pg_schema


@check("PERF1")
def test_endpoint_answers_within_time_limit(http_endpoint, probes, expect):
    limit = http_endpoint.max_total_ms or expect.threshold("max_total_ms")
    response = expect.reached(probes.http(http_endpoint), expected=f"an answer within {limit:g} ms")
    expect.finding(edge.response_time(response, limit))


# --- PostgreSQL: slow statements, plans and indexes (runbooks 000 §5, 002 "Slow Queries", 004) -------------


@check("PERF4")
def test_no_slow_statements(postgres, probes, expect):
    limit = expect.threshold("max_mean_ms")
    observation = expect.reached(pg_schema.slow_statements(probes.postgres(postgres), limit))
    if observation.unavailable:
        pytest.skip(observation.unavailable)
    expect.finding(pg_judge.slow_statements(observation, limit))


@check("PERF5", needs="schema.hot_queries")
def test_hot_queries_use_indexes(postgres, probes, expect):
    observation = expect.reached(pg_schema.hot_query_plans(probes.postgres(postgres), postgres.schema_.hot_queries))
    expect.finding(pg_judge.hot_query_plans(observation, postgres.schema_.large_tables))


@check("PERF6")
def test_indexes_exist_and_foreign_keys_are_indexed(postgres, probes, expect):
    declared = postgres.schema_
    tables = pg_schema.declared_tables(declared)
    observation = expect.reached(pg_schema.indexes(probes.postgres(postgres), declared.indexes, tables))
    expect.finding(pg_judge.indexes(observation))
