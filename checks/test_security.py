"""Security data: failed logins per IP (SEC1), unapproved privilege escalation (SEC2), dormant
accounts (SEC3), API keys (SEC4) and API request rates (SEC5), read from the declared `data.*`
tables. Runbook 001 "Security Monitoring" (security-audit.sh, 1 and 2) and "Access Control
Management" (User Role Management 4; API Key Management 1 and 3)."""

from healthsuite.assessments import pg_data as judge
from healthsuite.checkapi import check
from healthsuite.probes import pg_data


@check("SEC1", needs="data.auth_attempts")
def test_no_ip_has_too_many_failed_logins(postgres, probes, expect):
    observation = expect.reached(
        pg_data.failed_logins(
            probes.postgres(postgres),
            postgres.data.auth_attempts,
            window_h=expect.threshold("window_h"),
            max_failed_logins=expect.threshold("max_failed_logins"),
        )
    )
    expect.finding(judge.failed_logins(observation))


@check("SEC2", needs="data.audit_log")
def test_no_unapproved_privilege_escalation(postgres, probes, expect):
    db, audit_log = probes.postgres(postgres), postgres.data.audit_log
    observation = expect.reached(pg_data.escalations(db, audit_log, window_days=expect.threshold("window_days")))
    expect.finding(judge.escalations(observation))


@check("SEC3", needs="data.users")
def test_dormant_accounts_are_under_threshold(postgres, probes, expect):
    db, users = probes.postgres(postgres), postgres.data.users
    observation = expect.reached(pg_data.dormant_users(db, users, dormant_days=expect.threshold("dormant_days")))
    expect.finding(judge.dormant_users(observation, max_dormant_share_pct=expect.threshold("max_dormant_share_pct")))


@check("SEC4", needs="data.api_keys")
def test_no_expired_api_key_is_active(postgres, probes, expect):
    db, keys = probes.postgres(postgres), postgres.data.api_keys
    observation = expect.reached(pg_data.api_key_review(db, keys, unused_days=expect.threshold("unused_days")))
    # expired keys fail at the check's severity; keys unused for long fail one level below it
    expect.finding(judge.api_keys(observation, severity=expect.severity))


@check("SEC5", needs="data.api_usage")
def test_no_user_and_ip_exceeds_the_request_rate(postgres, probes, expect):
    db, usage = probes.postgres(postgres), postgres.data.api_usage
    window_h, per_hour = expect.threshold("window_h"), expect.threshold("max_requests_per_h")
    observation = expect.reached(pg_data.heavy_api_use(db, usage, window_h=window_h, limit=per_hour * window_h))
    expect.finding(judge.heavy_api_use(observation, max_requests_per_h=per_hour))
