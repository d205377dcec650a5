"""BK1-BK3, PAY1-PAY3 and PAY6 against the demo app (booking API, webhook) and its Paystack stand-in:
each passes when healthy and fails on its own fault with the right category and severity, naming the
observed value; secrets (the key and the signatures minted from it) never reach an output; PAY6 is
refused in production and with a live key; the error-code decoder on its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from healthsuite.assessments.flows import decode_error_codes, error_code_finding_parts
from healthsuite.catalogue.diagnoses import load_catalogue
from healthsuite.demo.app import flows as app_flows
from healthsuite.demo.faults.switches import Fault
from healthsuite.demo.stack import DemoStack
from healthsuite.environment.loader import load_environment
from healthsuite.environment.problems import EnvironmentFileError
from healthsuite.probes.http import HttpObservation
from healthsuite.testing.services import free_port
from tests.conftest import CheckRun, RunChecks

KEY = app_flows.SECRET_KEY_VARIABLE
ALL = "BK1,BK2,BK3,PAY1,PAY2,PAY3,PAY6"
PAYLOAD = '{test: true, tenant_id: instylehairboutique, service_id: svc-1, scheduled_time: "2030-01-07T09:00:00+02:00"}'


def flows_env(stack: DemoStack, *, kind: str = "test", extra: str = "", provider_url: str | None = None) -> str:
    """A file aimed at the demo's app and its Paystack stand-in (the YAML proposed for demo.yaml)."""
    app = f"https://127.0.0.1:{stack.ports.https}"
    mutating = "allow_mutating: true" if kind != "production" else ""
    return f"""
name: flows
kind: {kind}
{mutating}
base_urls:
  app: {app}
http:
  ca_bundle: {stack.directory / "ca.pem"}
timeouts:
  http_s: 3
booking:
  submit:
    path: /api/book
    payload: {PAYLOAD}
  tenants: [instylehairboutique]
payments:
  provider:
    url: {provider_url or app + "/__paystack"}
    secret: ${{{KEY}}}
  webhook:
    path: /api/webhooks/paystack
  initialize: {{email: test@example.com, amount: 1000}}
{extra}"""


def secrets_used() -> list[str]:
    """The demo's key and every signature the webhook received (minted by PAY2, and PAY3's wrong one)."""
    return [app_flows.SECRET_KEY] + [e["signature"] for e in app_flows.WEBHOOK_LOG if e["signature"]]


def assert_no_secret(run: CheckRun) -> None:
    texts = {"terminal": run.output, "report": "".join(p.read_text() for p in run.reports_dir.glob("*.json"))}
    texts["junit"] = "".join(p.read_text() for p in run.reports_dir.parent.glob("junit-*.xml"))
    for secret in secrets_used():
        for where, text in texts.items():
            assert secret not in text, f"a secret ({secret[:10]}...) leaked into the {where}"


@pytest.fixture
def env_path(stack: DemoStack, env_file: Callable[[str], Path]) -> Callable[..., Path]:
    return lambda **kwargs: env_file(flows_env(stack, **kwargs))


def test_every_flow_passes_when_healthy(run_checks: RunChecks, stack: DemoStack, env_path: Callable[..., Path]) -> None:
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


def test_each_flow_fails_on_its_demo_fault(
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


def test_bk3_decodes_a_code_behind_a_400_and_pay6_fails_on_its_own(
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


def test_payments_skip_naming_an_unset_key_but_pay3_needs_none(
    run_checks: RunChecks, env_path: Callable[..., Path]
) -> None:
    run = run_checks("--diagnosis", "PAY1,PAY2,PAY3,PAY6", env=env_path())
    for diagnosis, target in (("PAY1", "paystack"), ("PAY2", "paystack-webhook"), ("PAY6", "paystack-test-transaction")):
        record = run.assert_outcome(diagnosis, target, "skipped", category="payments",
                                    severity=load_catalogue().diagnosis(diagnosis).severity)
        assert record["message"].startswith(f"{KEY} is not set (referenced by payments.provider")
    run.assert_outcome("PAY3", "paystack-webhook", "passed", category="payments", severity="critical")


def test_pay6_is_refused_in_production_and_with_a_live_key(
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


def test_pay1_tells_a_provider_that_is_down_from_one_that_is_unreachable(
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


# --- the application error codes (runbook 000), on their own -----------------------------------------------


def test_decode_error_codes_reads_json_fields_and_text() -> None:
    nested = decode_error_codes(b'{"error": {"code": "DB001", "message": "Database connection failed"}}')
    assert [(c.code, c.where, c.meaning, c.known) for c in nested] == [
        ("DB001", "body.error.code", "Database connection failed", True)
    ]
    flat = decode_error_codes({"errors": [{"error_code": "AUTH002"}], "detail": "see PAY001"})
    assert [(c.code, c.where) for c in flat] == [("AUTH002", "body.errors.0.error_code"), ("PAY001", "body text")]
    html = decode_error_codes("<p>Something went wrong (API001). Request id 4711.</p>")
    assert [(c.code, c.resolution) for c in html] == [("API001", "Check third-party service status")]
    unknown = decode_error_codes('{"code": "DB077"}')
    assert unknown[0].known is False and "a database error" in unknown[0].meaning
    assert decode_error_codes("HTTP 500, no code here; DB0012 and XDB001 are not codes") == []
    assert decode_error_codes(None) == []


def test_error_code_finding_parts_explain_a_coded_answer() -> None:
    catalogue = load_catalogue()
    coded = HttpObservation("POST", "https://x/api/book", status=500, body=b'{"error": {"code": "PAY002"}}')
    meaning, steps = error_code_finding_parts(coded, catalogue)
    assert meaning == ("application error code PAY002 at body.error.code: Webhook verification failed "
                       "(resolution: Check webhook signature)")
    assert steps == ("PAY002: Check webhook signature (runbook 000, Application Error Codes).",)
    assert error_code_finding_parts(HttpObservation("GET", "https://x/", status=500, body=b"oops"), catalogue) == ("", ())
