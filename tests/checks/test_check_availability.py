"""AV1, AV2, AV3 against the demo's target app: pass when healthy, fail on each injected fault with
the diagnosis, category and severity recorded in both the JSON and the JUnit report."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthsuite.demo.app.main import create_app
from healthsuite.demo.faults.switches import Fault
from healthsuite.demo.stack import DemoStack
from healthsuite.testing.asgi_server import ServedApp, make_tls_files
from healthsuite.testing.services import GarbageListener, SilentListener, free_port
from tests.conftest import RunChecks


def http_env(base_url: str, *, ca: Path | None = None, timeout: float = 2, extra: str = "") -> str:
    ca_line = f"http:\n  ca_bundle: {ca}\n" if ca else ""
    return f"""
name: probe
kind: test
base_urls:
  app: {base_url}
{ca_line}timeouts:
  http_s: {timeout}
pages:
  - name: home
    path: /
    content_type: text/html
health:
  - name: api
    path: /api/health
    body:
      - {{path: status, equals: ok}}
{extra}"""


# --- AV1 ----------------------------------------------------------------------------------------------


def test_av1_passes_on_healthy_pages(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "AV1")
    run.result.assert_outcomes(passed=2)
    home = run.assert_outcome("AV1", "home", "passed", category="availability", severity="critical")
    assert home["observed"].startswith("HTTP 200 OK") and "text/html" in home["observed"]
    # a per-target severity in demo.yaml
    run.assert_outcome("AV1", "book-instylehairboutique", "passed", category="availability", severity="high")


def test_av1_fails_on_404_with_meaning_and_runbook(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.faults.set("/", Fault(status=404))
    run = run_checks("--diagnosis", "AV1")
    record = run.assert_outcome("AV1", "home", "failed", category="availability", severity="critical")
    assert "HTTP 404" in record["observed"] and record["expected"] == "HTTP 200, content-type text/html"
    for part in ("404 Not Found", "runbook:", "000 §1", "escalate:", "DevOps Lead", "what to do:"):
        assert part in record["message"], part
    assert "Traceback" not in run.output


def test_av1_fails_on_wrong_content_type(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.faults.set("/", Fault(body="{}", content_type="application/json"))
    run = run_checks("--diagnosis", "AV1")
    record = run.assert_outcome("AV1", "home", "failed", category="availability", severity="critical")
    assert "application/json" in record["observed"]
    assert "answers, but as application/json" in record["message"]


def test_av1_fails_on_hung_page_with_timeout(run_checks: RunChecks, stack: DemoStack, env_file) -> None:
    stack.faults.set("/", Fault(delay_s=5))
    assert stack.app is not None
    run = run_checks("--diagnosis", "AV1", env=env_file(http_env(stack.app.url, ca=stack.directory / "ca.pem", timeout=0.5)))
    record = run.assert_outcome("AV1", "home", "failed", category="availability", severity="critical")
    assert record["observed"].startswith("timed out: no answer from")
    assert record["duration_s"] < 4


def test_av1_fails_on_refused_connection(run_checks: RunChecks, env_file) -> None:
    run = run_checks("--diagnosis", "AV1", env=env_file(http_env(f"http://127.0.0.1:{free_port()}")))
    record = run.assert_outcome("AV1", "home", "failed", category="availability", severity="critical")
    assert record["observed"].startswith("connection refused: nothing accepted the connection at http://127.0.0.1:")
    assert "Traceback" not in run.output


def test_av1_fails_on_garbage_answer_as_protocol_error(run_checks: RunChecks, env_file) -> None:
    with GarbageListener() as garbage:
        run = run_checks("--diagnosis", "AV1", env=env_file(http_env(f"http://{garbage.host}:{garbage.port}")))
    record = run.assert_outcome("AV1", "home", "failed", category="availability", severity="critical")
    assert record["observed"].startswith("protocol error:")


def test_av1_fails_on_untrusted_certificate(run_checks: RunChecks, stack: DemoStack, env_file) -> None:
    assert stack.app is not None
    run = run_checks("--diagnosis", "AV1", env=env_file(http_env(stack.app.url)))  # no ca_bundle: system store only
    record = run.assert_outcome("AV1", "home", "failed", category="availability", severity="critical")
    assert record["observed"].startswith("TLS failure:") and "CERTIFICATE_VERIFY_FAILED" in record["observed"]


def test_av1_fails_on_certificate_for_another_host(run_checks: RunChecks, env_file, tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path / "tls", "other.example")
    with ServedApp(create_app(), tls=tls) as served:
        run = run_checks("--diagnosis", "AV1", env=env_file(http_env(served.url, ca=tls.ca)))
    record = run.assert_outcome("AV1", "home", "failed", category="availability", severity="critical")
    assert record["observed"].startswith("TLS failure:") and "127.0.0.1" in record["observed"]


# --- AV2 ----------------------------------------------------------------------------------------------


def test_av2_passes_on_healthy_body(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "AV2")
    record = run.assert_outcome("AV2", "api", "passed", category="availability", severity="critical")
    assert record["expected"] == "HTTP 200, content-type application/json; body.status == 'ok'"


def test_av2_fails_when_body_reports_unhealthy(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.faults.set("/api/health", Fault(body='{"status": "degraded"}', content_type="application/json"))
    run = run_checks("--diagnosis", "AV2")
    record = run.assert_outcome("AV2", "api", "failed", category="availability", severity="critical")
    assert "body.status = 'degraded'" in record["observed"]
    assert "reports itself unhealthy" in record["message"]


def test_av2_fails_on_garbage_body(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.faults.set("/api/health", Fault(body="\x00\x01 not json", content_type="application/json"))
    run = run_checks("--diagnosis", "AV2")
    record = run.assert_outcome("AV2", "api", "failed", category="availability", severity="critical")
    assert "the body is not JSON" in record["observed"]


def test_av2_fails_on_500(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.faults.set("/api/health", Fault(status=500, body="boom", content_type="text/plain"))
    run = run_checks("--diagnosis", "AV2")
    record = run.assert_outcome("AV2", "api", "failed", category="availability", severity="critical")
    assert "HTTP 500" in record["observed"] and "500 Internal Server Error" in record["message"]


def test_av2_fails_when_health_hangs_past_its_timeout(run_checks: RunChecks, env_file) -> None:
    with SilentListener() as silent:
        run = run_checks("--diagnosis", "AV2", env=env_file(http_env(f"http://{silent.host}:{silent.port}", timeout=0.5)))
    record = run.assert_outcome("AV2", "api", "failed", category="availability", severity="critical")
    assert record["observed"].startswith("timed out")


# --- AV3 ----------------------------------------------------------------------------------------------


def test_av3_passes_when_no_endpoint_answers_5xx(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "AV3")
    run.result.assert_outcomes(passed=5)
    run.assert_outcome("AV3", "appointments", "passed", category="availability", severity="critical")


def test_av3_passes_on_4xx(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.faults.set("/api/employees", Fault(status=401))
    run = run_checks("--diagnosis", "AV3")
    run.assert_outcome("AV3", "employees", "passed", category="availability", severity="critical")


def test_av3_names_502_503_504_with_their_causes(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.faults.set("/api/appointments", Fault(status=502))
    stack.faults.set("/api/employees", Fault(status=504))
    stack.faults.set("/api/health", Fault(status=503))
    run = run_checks("--diagnosis", "AV3")
    bad_gateway = run.assert_outcome("AV3", "appointments", "failed", category="availability", severity="critical")
    assert "502 Bad Gateway" in bad_gateway["message"] and "External API failure" in bad_gateway["message"]
    timeout = run.assert_outcome("AV3", "employees", "failed", category="availability", severity="critical")
    assert "504 Gateway Timeout" in timeout["message"]
    overload = run.assert_outcome("AV3", "api", "failed", category="availability", severity="critical")
    assert "503 Service Unavailable" in overload["message"]
    run.assert_outcome("AV3", "home", "passed", category="availability", severity="critical")


# --- DEP1 ---------------------------------------------------------------------------------------------


def test_dep1_smoke_set_passes_and_is_selected_by_marker(run_checks: RunChecks) -> None:
    run = run_checks("-m", "smoke")
    run.result.assert_outcomes(passed=3)
    assert {r["diagnosis"] for r in run.report["checks"]} == {"DEP1"}
    for target in ("home", "api", "booking"):
        run.assert_outcome("DEP1", target, "passed", category="deployment", severity="critical")


def test_dep1_fails_when_health_answers_503(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.break_(["DEP1"])
    run = run_checks("-m", "smoke")
    record = run.assert_outcome("DEP1", "api", "failed", category="deployment", severity="critical")
    assert "HTTP 503" in record["observed"] and "roll back" in record["message"]
    run.assert_outcome("DEP1", "home", "passed", category="deployment", severity="critical")


def test_dep1_fails_when_the_database_is_down(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.break_(["DB1"])
    run = run_checks("-m", "smoke")
    record = run.assert_outcome("DEP1", "booking", "failed", category="deployment", severity="critical")
    assert record["observed"].startswith("connection refused")


# --- probe once, assert many --------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [[], ["-n", "2", "--keep-workers"]], ids=["serial", "xdist"])
def test_each_url_is_requested_once_per_run(run_checks: RunChecks, stack: DemoStack, workers: list[str]) -> None:
    """Also under -n: every check of one target runs on one worker, and targets that share a URL
    (the health endpoint and its proxied path) are one unit of work."""
    run = run_checks(*workers)
    assert set(run.result.parseoutcomes()) == {"passed"}, run.output  # every check of demo.yaml, all passing
    # One request per URL, whatever number of checks judge it: AV1, AV3, PERF1 and DEP1 share the GET
    # of the home page, AV2, AV3, PERF1, NET8, DEP1 that of the health endpoint. The exceptions are
    # different requests: a CORS preflight per origin plus a foreign one (NET7), the unsigned and the
    # wrongly signed event besides the signed one (PAY3, PAY2), AUTH3's five bad tokens, the calendar
    # with its token (EXT1) and without it (EXT3), and PERF2's deliberate samples.
    latency_samples = 10  # thresholds.PERF2.samples
    several = {
        "OPTIONS /api/appointments": 2,
        "POST /api/webhooks/paystack": 3,
        "GET /api/auth/me": 5,
        "GET /__calendar/calendar/v3/users/me/calendarList": 2,
        "GET /api/availability": latency_samples,
    }
    requests = dict(stack.faults.requests)
    assert {path: n for path, n in requests.items() if path in several} == several
    assert {path: n for path, n in requests.items() if path not in several and n != 1} == {}
    for path in ("GET /", "GET /api/health", "POST /api/book", "GET /metrics", "GET /__oidc/.well-known/openid-configuration"):
        assert requests.get(path) == 1, path


def test_a_selection_probes_only_what_its_checks_need(run_checks: RunChecks, stack: DemoStack) -> None:
    """Probes start ahead of the checks, but only for the selected checks' targets."""
    run = run_checks("--diagnosis", "AV1")
    assert run.result.parseoutcomes()["passed"] == 2 and "failed" not in run.result.parseoutcomes()
    assert dict(stack.faults.requests) == {"GET /": 1, "GET /book/instylehairboutique": 1}


def test_a_category_selection_probes_only_its_targets(run_checks: RunChecks, stack: DemoStack) -> None:
    """`-m payments` sends requests to the payment provider and the webhook, nothing else."""
    run = run_checks("-m", "payments")
    assert "failed" not in run.result.parseoutcomes(), run.output
    requests = dict(stack.faults.requests)
    assert requests and all("paystack" in path for path in requests), requests
