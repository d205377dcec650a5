"""Security data: failed logins per IP (SEC1), unapproved privilege escalation (SEC2), dormant
accounts (SEC3), API keys (SEC4) and API request rates (SEC5), read from the declared `data.*`
tables. Runbook 001 "Security Monitoring" (security-audit.sh, 1 and 2) and "Access Control
Management" (User Role Management 4; API Key Management 1 and 3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthsuite import plans
from healthsuite.assessments import pg_data as judge
from healthsuite.checkapi import check
from healthsuite.probes import pg_data

if TYPE_CHECKING:
    from healthsuite.checkapi import Expect
    from healthsuite.model.environment import PostgresDatabase
    from healthsuite.probes.pgreader import PgReader
    from healthsuite.probes.session import ProbeSession

# What each check reads (the plan runs it on the probe pool first: healthsuite.plans.on_database).


def failed_logins(db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold) -> pg_data.FailedLogins:
    auth_attempts = postgres.data.auth_attempts
    assert auth_attempts is not None  # needs="data.auth_attempts": only databases that declare it are checked
    return pg_data.failed_logins(
        db,
        auth_attempts,
        window_h=threshold("window_h"),
        max_failed_logins=threshold("max_failed_logins"),
    )


def escalations(db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold) -> pg_data.Escalations:
    audit_log = postgres.data.audit_log
    assert audit_log is not None  # needs="data.audit_log": only databases that declare it are checked
    return pg_data.escalations(db, audit_log, window_days=threshold("window_days"))


def dormant_users(db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold) -> pg_data.DormantUsers:
    users = postgres.data.users
    assert users is not None  # needs="data.users": only databases that declare it are checked
    return pg_data.dormant_users(db, users, dormant_days=threshold("dormant_days"))


def api_key_review(db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold) -> pg_data.ApiKeyReview:
    api_keys = postgres.data.api_keys
    assert api_keys is not None  # needs="data.api_keys": only databases that declare it are checked
    return pg_data.api_key_review(db, api_keys, unused_days=threshold("unused_days"))


def heavy_api_use(db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold) -> pg_data.HeavyApiUse:
    api_usage = postgres.data.api_usage
    assert api_usage is not None  # needs="data.api_usage": only databases that declare it are checked
    window_h = threshold("window_h")
    limit = threshold("max_requests_per_h") * window_h
    return pg_data.heavy_api_use(db, api_usage, window_h=window_h, limit=limit)


@check("SEC1", needs="data.auth_attempts", plan=plans.on_database(failed_logins))
def test_no_ip_has_too_many_failed_logins(postgres: PostgresDatabase, probes: ProbeSession, expect: Expect) -> None:
    observation = expect.reached(failed_logins(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(judge.failed_logins(observation))


@check("SEC2", needs="data.audit_log", plan=plans.on_database(escalations))
def test_no_unapproved_privilege_escalation(postgres: PostgresDatabase, probes: ProbeSession, expect: Expect) -> None:
    observation = expect.reached(escalations(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(judge.escalations(observation))


@check("SEC3", needs="data.users", plan=plans.on_database(dormant_users))
def test_dormant_accounts_are_under_threshold(postgres: PostgresDatabase, probes: ProbeSession, expect: Expect) -> None:
    observation = expect.reached(dormant_users(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(judge.dormant_users(observation, max_dormant_share_pct=expect.threshold("max_dormant_share_pct")))


@check("SEC4", needs="data.api_keys", plan=plans.on_database(api_key_review))
def test_no_expired_api_key_is_active(postgres: PostgresDatabase, probes: ProbeSession, expect: Expect) -> None:
    observation = expect.reached(api_key_review(probes.postgres(postgres), postgres, expect.threshold))
    # expired keys fail at the check's severity; keys unused for long fail one level below it
    expect.finding(judge.api_keys(observation, severity=expect.severity))


@check("SEC5", needs="data.api_usage", plan=plans.on_database(heavy_api_use))
def test_no_user_and_ip_exceeds_the_request_rate(
    postgres: PostgresDatabase, probes: ProbeSession, expect: Expect
) -> None:
    observation = expect.reached(heavy_api_use(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(judge.heavy_api_use(observation, max_requests_per_h=expect.threshold("max_requests_per_h")))
