"""Mirrors checks/test_payments.py. PAY1-PAY3 and PAY6 against the demo's Paystack stand-in and
webhook (their healthy and faulty demo runs are in test_booking.py, shared with BK1-BK3): an unset key
skips, PAY6 is refused in production and with a live key; PAY4 and PAY5 against the demo's PostgreSQL;
the flow declarations are validated."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from healthsuite.catalogue.diagnoses import load_catalogue
from healthsuite.demo.app import flows as app_flows
from healthsuite.demo.stack import DemoStack
from healthsuite.environment.loader import load_environment
from healthsuite.environment.problems import EnvironmentFileError
from healthsuite.testing.ports import free_port
from tests.checks.support import KEY, assert_only_its_own_demo_fault_fails, data_env, database, port
from tests.conftest import RunChecks


def test_PAY1_PAY2_PAY3_PAY6_skip_naming_an_unset_key_but_PAY3_needs_none(
    run_checks: RunChecks, env_path: Callable[..., Path]
) -> None:
    run = run_checks("--diagnosis", "PAY1,PAY2,PAY3,PAY6", env=env_path())
    for diagnosis, target in (("PAY1", "paystack"), ("PAY2", "paystack-webhook"), ("PAY6", "paystack-test-transaction")):
        record = run.assert_outcome(diagnosis, target, "skipped", category="payments",
                                    severity=load_catalogue().diagnosis(diagnosis).severity)
        assert record["message"].startswith(f"{KEY} is not set (referenced by payments.provider")
    run.assert_outcome("PAY3", "paystack-webhook", "passed", category="payments", severity="critical")


def test_PAY6_is_refused_in_production_and_with_a_live_key(
    run_checks: RunChecks, stack: DemoStack, env_path: Callable[..., Path]
) -> None:
    production = run_checks("--diagnosis", "PAY6", env=env_path(kind="production"), environ={KEY: app_flows.SECRET_KEY})
    record = production.assert_outcome("PAY6", "paystack-test-transaction", "skipped", category="payments",
                                       severity="medium")
    assert record["message"].startswith("mutating check refused:") and "kind production" in record["message"]
    live = "sk_live_" + "0123456789abcdef" * 2
    run = run_checks("--diagnosis", "PAY6,PAY1", env=env_path(), environ={KEY: live})
    record = run.assert_outcome("PAY6", "paystack-test-transaction", "skipped", category="payments", severity="medium")
    assert "is a live-mode key (sk_live_...)" in record["message"] and "test-mode secret key" in record["message"]
    assert stack.faults.requests["POST /__paystack/transaction/initialize"] == 0  # nothing was sent
    pay1 = run.assert_outcome("PAY1", "paystack", "failed", category="payments", severity="critical")
    assert "which is a live-mode key (sk_live_...)" in pay1["message"]
    assert live not in run.output and live not in str(run.report)


def test_PAY1_tells_a_provider_that_is_down_from_one_that_is_unreachable(
    run_checks: RunChecks, stack: DemoStack, env_path: Callable[..., Path]
) -> None:
    stack.faults.set_mode("paystack", "down")
    run = run_checks("--diagnosis", "PAY1", env=env_path(), environ={KEY: app_flows.SECRET_KEY})
    record = run.assert_outcome("PAY1", "paystack", "failed", category="payments", severity="critical")
    assert "HTTP 503 Service Unavailable" in record["observed"] and "degraded" in record["message"]
    closed = f"https://127.0.0.1:{free_port()}"
    run = run_checks("--diagnosis", "PAY1", env=env_path(provider_url=closed), environ={KEY: app_flows.SECRET_KEY})
    record = run.assert_outcome("PAY1", "paystack", "failed", category="payments", severity="critical")
    assert record["observed"].startswith(f"{closed}/: connection refused")
    assert "the payment provider's API cannot be reached" in record["message"]


@pytest.mark.parametrize(
    ("yaml", "problem"),
    [
        ("payments:\n  provider: {secret: sk_test_literal}\n", "a secret is written literally"),
        ("payments:\n  webhook: {path: /api/webhooks/paystack}\n", "has no key to sign test events with"),
        ("payments:\n  provider: {secret: '${K}'}\n  webhook: {path: /w, reject_status: [200]}\n", "not a 4xx status"),
        ("payments:\n  initialize: {amount: 100}\n", "payments.initialize needs payments.provider"),
        ("booking:\n  tenants: [a]\n  tenant_page: /book\n", "must be a path containing {tenant}"),
    ],
)
def test_flow_declarations_are_validated(env_file: Callable[[str], Path], yaml: str, problem: str) -> None:
    path = env_file(f"name: bad\nkind: test\nbase_urls: {{app: https://127.0.0.1:1}}\n{yaml}")
    with pytest.raises(EnvironmentFileError, match="fix:") as raised:
        load_environment(path, environ={})
    assert problem in str(raised.value)


def test_PAY4_a_role_without_select_fails_naming_the_grant(
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


@pytest.mark.parametrize("diagnosis", ["PAY4", "PAY5"])
def test_PAY4_PAY5_demo_fault_fails_only_its_own_diagnosis(
    run_checks: RunChecks, stack: DemoStack, diagnosis: str
) -> None:
    assert_only_its_own_demo_fault_fails(run_checks, stack, diagnosis)
