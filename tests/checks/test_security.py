"""Mirrors checks/test_security.py. SEC1-SEC5 against the demo's PostgreSQL: each demo fault fails its
own diagnosis only; the allow list and time filter of SEC2, unused API keys one level lower (SEC4)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from healthsuite.demo.stack import DATABASE, DemoStack
from tests.checks.support import assert_only_its_own_demo_fault_fails, broken, data_env, database, port
from tests.conftest import RunChecks


def test_SEC2_honours_the_allow_list_case_and_the_time_window(
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


def test_SEC4_unused_key_fails_one_level_below(run_checks: RunChecks, stack: DemoStack) -> None:
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


def test_SEC4_reads_flag_and_time_expressions(
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


@pytest.mark.parametrize("diagnosis", ["SEC1", "SEC2", "SEC3", "SEC4", "SEC5"])
def test_SEC1_SEC2_SEC3_SEC4_SEC5_demo_fault_fails_only_its_own_diagnosis(
    run_checks: RunChecks, stack: DemoStack, diagnosis: str
) -> None:
    assert_only_its_own_demo_fault_fails(run_checks, stack, diagnosis)
