"""Mirrors checks/test_booking.py. BK1-BK3 against the demo app (booking API) and, in the same runs,
PAY1-PAY3 and PAY6 (webhook, Paystack stand-in): each passes when healthy and fails on its own fault
with the right category and severity, naming the observed value; secrets never reach an output."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from healthsuite.demo.app import flows as app_flows
from healthsuite.demo.faults.switches import Fault
from healthsuite.demo.stack import DemoStack
from tests.checks.support import KEY
from tests.conftest import CheckRun, RunChecks

ALL = "BK1,BK2,BK3,PAY1,PAY2,PAY3,PAY6"


def secrets_used() -> list[str]:
    """The demo's key and every signature the webhook received (minted by PAY2, and PAY3's wrong one)."""
    return [app_flows.SECRET_KEY] + [e["signature"] for e in app_flows.WEBHOOK_LOG if e["signature"]]


def assert_no_secret(run: CheckRun) -> None:
    texts = {"terminal": run.output, "report": "".join(p.read_text() for p in run.reports_dir.glob("*.json"))}
    texts["junit"] = "".join(p.read_text() for p in run.reports_dir.parent.glob("junit-*.xml"))
    for secret in secrets_used():
        for where, text in texts.items():
            assert secret not in text, f"a secret ({secret[:10]}...) leaked into the {where}"


def test_BK1_BK2_BK3_PAY1_PAY2_PAY3_PAY6_every_flow_passes_when_healthy(
    run_checks: RunChecks, stack: DemoStack, env_path: Callable[..., Path]
) -> None:
    app_flows.WEBHOOK_LOG.clear()
    run = run_checks("--diagnosis", ALL, env=env_path(), environ={KEY: app_flows.SECRET_KEY})
    bk1 = run.assert_outcome("BK1", "book", "passed", category="booking", severity="critical")
    assert bk1["observed"].startswith(f"POST https://127.0.0.1:{stack.ports.https}/api/book -> HTTP 200 OK in ")
    bk3 = run.assert_outcome("BK3", "book", "passed", category="booking", severity="low")
    assert bk3["observed"] == "HTTP 200, no application error code in the body"
    assert stack.faults.requests["POST /api/book"] == 1  # BK1 and BK3 judge one POST
    run.assert_outcome("BK2", "instylehairboutique", "passed", category="booking", severity="high")
    pay1 = run.assert_outcome("PAY1", "paystack", "passed", category="payments", severity="critical")
    assert pay1["observed"].startswith(f"GET https://127.0.0.1:{stack.ports.https}/__paystack/ -> HTTP 200 OK in ")
    assert pay1["observed"].endswith(", key mode test")
    pay2 = run.assert_outcome("PAY2", "paystack-webhook", "passed", category="payments", severity="critical")
    assert pay2["observed"].startswith("correctly signed test event (healthsuite.test, reference healthsuite-probe-")
    pay3 = run.assert_outcome("PAY3", "paystack-webhook", "passed", category="payments", severity="critical")
    assert "unsigned test event" in pay3["observed"] and "HTTP 401 Unauthorized" in pay3["observed"]
    pay6 = run.assert_outcome("PAY6", "paystack-test-transaction", "passed", category="payments", severity="medium")
    assert "authorization_url present" in pay6["observed"]
    # the webhook saw one correctly signed event and the two forged ones, all inert test events
    assert sorted((e["signed"], e["status"]) for e in app_flows.WEBHOOK_LOG) == [(False, 401), (True, 200), (True, 401)]
    assert all(e.get("event") in (None, "healthsuite.test") for e in app_flows.WEBHOOK_LOG)
    assert_no_secret(run)


def test_BK1_BK2_BK3_PAY1_PAY2_PAY3_PAY6_each_flow_fails_on_its_demo_fault(
    run_checks: RunChecks, stack: DemoStack, env_path: Callable[..., Path]
) -> None:
    app_flows.WEBHOOK_LOG.clear()
    stack.break_(["BK1", "BK2", "PAY1", "PAY2", "PAY3"])
    # an environment that rates PAY3 lower still sees an accepted forgery as critical
    path = env_path(extra="severity_overrides: {PAY3: medium}")
    run = run_checks("--diagnosis", ALL, env=path, environ={KEY: app_flows.SECRET_KEY})

    bk1 = run.assert_outcome("BK1", "book", "failed", category="booking", severity="critical")
    assert "-> HTTP 500 Internal Server Error" in bk1["observed"] and "error code DB001" in bk1["observed"]
    assert "application error code DB001 at body.error.code: Database connection failed" in bk1["message"]
    assert "DB001: Check D1 connectivity (runbook 000, Application Error Codes)." in bk1["message"]
    bk3 = run.assert_outcome("BK3", "book", "failed", category="booking", severity="low")
    assert bk3["observed"].startswith("HTTP 500 carrying DB001 (Database connection failed) at body.error.code")
    bk2 = run.assert_outcome("BK2", "instylehairboutique", "failed", category="booking", severity="high")
    assert bk2["observed"].startswith("HTTP 404 Not Found")
    assert "tenant 'instylehairboutique' has no booking page" in bk2["message"]

    pay1 = run.assert_outcome("PAY1", "paystack", "failed", category="payments", severity="critical")
    assert "HTTP 401 Unauthorized" in pay1["observed"] and "provider says 'Invalid key'" in pay1["observed"]
    assert "rejected the configured secret key, which is a test-mode key (sk_test_...)" in pay1["message"]
    pay2 = run.assert_outcome("PAY2", "paystack-webhook", "failed", category="payments", severity="critical")
    assert "-> HTTP 401 Unauthorized" in pay2["observed"] and "'Invalid signature'" in pay2["observed"]
    assert "verifies against another key" in pay2["message"]
    pay3 = run.assert_outcome("PAY3", "paystack-webhook", "failed", category="payments", severity="critical")
    assert "unsigned test event" in pay3["observed"] and "-> HTTP 200 OK" in pay3["observed"]
    assert "the webhook ACCEPTED an event with a missing signature" in pay3["message"]
    assert "[critical, payments]" in pay3["message"] and "security incident" in pay3["message"]  # catalogue's step
    # PAY1's rotated key makes the initialize fail too (401), decoded as a key problem
    pay6 = run.assert_outcome("PAY6", "paystack-test-transaction", "failed", category="payments", severity="medium")
    assert "HTTP 401" in pay6["observed"]
    assert "Traceback" not in run.output
    assert_no_secret(run)


def test_BK3_BK2_decodes_a_code_behind_a_400_and_PAY6_fails_on_its_own(
    run_checks: RunChecks, stack: DemoStack, env_path: Callable[..., Path]
) -> None:
    stack.break_(["BK3", "PAY6"])
    # a tenant page failing with a coded error body: BK2's message decodes it too
    stack.faults.set(
        app_flows.TENANT_PAGE,
        Fault(status=500, body='{"error": {"code": "API001", "message": "calendar timeout"}}',
              content_type="application/json"),
    )
    run = run_checks("--diagnosis", ALL, env=env_path(), environ={KEY: app_flows.SECRET_KEY})
    run.assert_outcome("BK1", "book", "passed", category="booking", severity="critical")  # 400 is accepted
    bk3 = run.assert_outcome("BK3", "book", "failed", category="booking", severity="low")
    assert bk3["observed"].startswith("HTTP 400 carrying DB002 (Query constraint violation) at body.error.code")
    assert "the failure is hidden behind an ordinary status" in bk3["message"]
    assert "DB002: Check data integrity" in bk3["message"]
    bk2 = run.assert_outcome("BK2", "instylehairboutique", "failed", category="booking", severity="high")
    assert "API001 at body.error.code: External API timeout" in bk2["message"]
    run.assert_outcome("PAY1", "paystack", "passed", category="payments", severity="critical")
    pay6 = run.assert_outcome("PAY6", "paystack-test-transaction", "failed", category="payments", severity="medium")
    assert "-> HTTP 400 Bad Request" in pay6["observed"] and "no active payment channel" in pay6["observed"]
    assert "reference healthsuite-probe-" in pay6["observed"]
