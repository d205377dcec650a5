"""Performance: response times. Runbook 000 §5 step 1 (`curl -w` timing breakdown) and 004
"Performance Monitoring"."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from healthsuite import plans
from healthsuite.assessments import edge, latency, metrics
from healthsuite.assessments import logs as host_judge
from healthsuite.assessments import pg_schema as pg_judge
from healthsuite.assessments import redis as redis_judge
from healthsuite.checkapi import check
from healthsuite.probes import host as host_probe
from healthsuite.probes import metrics as metrics_probe
from healthsuite.probes import pg_schema, redis_stats

if TYPE_CHECKING:
    from healthsuite.checkapi import Expect
    from healthsuite.model.environment import HttpTarget, PostgresDatabase, RedisCache
    from healthsuite.model.latency import LatencyTarget
    from healthsuite.model.logs import HostResources
    from healthsuite.model.metrics import MetricsEndpoint
    from healthsuite.probes.pgreader import PgReader
    from healthsuite.probes.session import ProbeSession


@check("PERF1", plan=plans.get)
def test_endpoint_answers_within_time_limit(http_endpoint: HttpTarget, probes: ProbeSession, expect: Expect) -> None:
    limit = http_endpoint.max_total_ms or expect.threshold("max_total_ms")
    response = expect.reached(probes.http(http_endpoint), expected=f"an answer within {limit:g} ms")
    expect.finding(edge.response_time(response, limit))


# --- PostgreSQL: slow statements, plans and indexes (runbooks 000 §5, 002 "Slow Queries", 004) -------------


# What each check reads (the plan runs it on the probe pool first: healthsuite.plans.on_database).


def slow_statements(
    db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold
) -> pg_schema.StatementsObservation:
    return pg_schema.slow_statements(db, threshold("max_mean_ms"))


def hot_query_plans(db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold) -> pg_schema.PlansObservation:
    return pg_schema.hot_query_plans(db, postgres.schema_.hot_queries)


def indexes(db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold) -> pg_schema.IndexesObservation:
    schema = postgres.schema_
    tables = pg_schema.declared_tables(schema, postgres.data)
    return pg_schema.indexes(db, schema.indexes, tables, schema.foreign_key_indexes)


@check("PERF4", plan=plans.on_database(slow_statements))
def test_no_slow_statements(postgres: PostgresDatabase, probes: ProbeSession, expect: Expect) -> None:
    observation = expect.reached(slow_statements(probes.postgres(postgres), postgres, expect.threshold))
    if observation.unavailable:
        pytest.skip(observation.unavailable)
    # judged against the counters the previous run kept, then kept for the next run
    previous = probes.hint(postgres, pg_schema.STATEMENTS_HINT)
    probes.learn(postgres, pg_schema.STATEMENTS_HINT, observation.snapshot())
    expect.finding(pg_judge.slow_statements(observation, expect.threshold("max_mean_ms"), previous))


@check("PERF5", needs="schema.hot_queries", plan=plans.on_database(hot_query_plans))
def test_hot_queries_use_indexes(postgres: PostgresDatabase, probes: ProbeSession, expect: Expect) -> None:
    observation = expect.reached(hot_query_plans(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(pg_judge.hot_query_plans(observation, postgres.schema_.large_tables))


@check("PERF6", plan=plans.on_database(indexes))
def test_indexes_exist_and_foreign_keys_are_indexed(
    postgres: PostgresDatabase, probes: ProbeSession, expect: Expect
) -> None:
    observation = expect.reached(indexes(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(pg_judge.indexes(observation))


# --- sampled latency, application metrics, cache hit rate (runbooks 001 performance-monitor.sh, 002, 004) -----


@check("PERF2", plan=plans.latency_samples)
def test_sampled_latency_within_slo(latency_target: LatencyTarget, probes: ProbeSession, expect: Expect) -> None:
    # the samples are taken by the probe pool, and stop once the verdict can no longer change
    observation = plans.sampler(probes, latency_target, expect.threshold).observation()
    limits = plans.latency_limits(latency_target, expect.threshold)
    expect.finding(
        latency.latency(
            observation,
            limits.expected_statuses,
            p95_ms=limits.p95_ms,
            mean_ms=limits.mean_ms,
            min_success_pct=limits.min_success_pct,
        )
    )


@check("PERF3", plan=plans.get)
def test_metrics_show_errors_latency_and_memory_in_limits(
    metrics_endpoint: MetricsEndpoint, probes: ProbeSession, expect: Expect
) -> None:
    target = metrics_endpoint
    scrape = expect.reached(metrics_probe.scrape(probes, target), expected="the metrics endpoint answers")
    expect.finding(
        metrics.metrics(
            target,
            scrape,
            max_5xx_pct=expect.threshold("max_5xx_rate_pct"),
            rollback_5xx_pct=expect.threshold("rollback_5xx_rate_pct"),
            p95_ms=target.max_p95_ms or expect.threshold("p95_ms"),
            max_memory_mb=target.max_resident_memory_mb or expect.threshold("max_resident_memory_mb"),
        )
    )


@check("PERF7", plan=plans.redis_info)
def test_cache_hit_rate(cache: RedisCache, probes: ProbeSession, expect: Expect) -> None:
    info = expect.reached(redis_stats.observe(probes, cache), expected="INFO answers within the timeout")
    expect.finding(redis_judge.hit_rate(info, expect.threshold("min_hit_rate_pct")))


# --- the host: runbook 004 "Emergency Commands" (`df -h`, `free -h`) and "Memory Issues" ----------------


@check("PERF8")
def test_host_has_free_disk_and_memory(host: HostResources, expect: Expect) -> None:
    observation = host_probe.resources(expect.env.resolve_path(host.path, expect.env.where(host, "path")))
    if observation.error is not None:
        expect.finding(host_judge.unreadable(observation, "the path"))
    expect.finding(
        host_judge.host_resources(
            observation,
            host.min_free_disk_pct if host.min_free_disk_pct is not None else expect.threshold("min_free_disk_pct"),
            host.min_available_memory_pct
            if host.min_available_memory_pct is not None
            else expect.threshold("min_available_memory_pct"),
        )
    )
