"""Mirrors checks/test_availability.py. AV1, AV2, AV3 against the demo's target app: pass when healthy,
fail on each injected fault with the diagnosis, category and severity recorded in both the JSON and the
JUnit report; AV4 (ports) and AV5 (the provider's status page, and the platform-incident marking of
the report) against the demo and small stand-ins on loopback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from healthsuite.demo.app.main import create_app
from healthsuite.demo.faults.switches import Fault
from healthsuite.demo.stack import DemoStack
from healthsuite.testing.asgi_server import ServedApp, make_tls_files
from healthsuite.testing.listeners import GarbageListener, SilentListener
from healthsuite.testing.ports import free_port
from tests.checks.support import edge_env
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


def test_AV1_passes_on_healthy_pages(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "AV1")
    run.result.assert_outcomes(passed=2)
    home = run.assert_outcome("AV1", "home", "passed", category="availability", severity="critical")
    assert home["observed"].startswith("HTTP 200 OK") and "text/html" in home["observed"]
    # a per-target severity in demo.yaml
    run.assert_outcome("AV1", "book-instylehairboutique", "passed", category="availability", severity="high")


def test_AV1_fails_on_404_with_meaning_and_runbook(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.faults.set("/", Fault(status=404))
    run = run_checks("--diagnosis", "AV1")
    record = run.assert_outcome("AV1", "home", "failed", category="availability", severity="critical")
    assert "HTTP 404" in record["observed"] and record["expected"] == "HTTP 200, content-type text/html"
    for part in ("404 Not Found", "runbook:", "000 §1", "escalate:", "DevOps Lead", "what to do:"):
        assert part in record["message"], part
    assert "Traceback" not in run.output


def test_AV1_fails_on_wrong_content_type(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.faults.set("/", Fault(body="{}", content_type="application/json"))
    run = run_checks("--diagnosis", "AV1")
    record = run.assert_outcome("AV1", "home", "failed", category="availability", severity="critical")
    assert "application/json" in record["observed"]
    assert "answers, but as application/json" in record["message"]


def test_AV1_fails_on_hung_page_with_timeout(run_checks: RunChecks, stack: DemoStack, env_file) -> None:
    stack.faults.set("/", Fault(delay_s=5))
    assert stack.app is not None
    run = run_checks("--diagnosis", "AV1", env=env_file(http_env(stack.app.url, ca=stack.directory / "ca.pem", timeout=0.5)))
    record = run.assert_outcome("AV1", "home", "failed", category="availability", severity="critical")
    assert record["observed"].startswith("timed out: no answer from")
    assert record["duration_s"] < 4


def test_AV1_fails_on_refused_connection(run_checks: RunChecks, env_file) -> None:
    run = run_checks("--diagnosis", "AV1", env=env_file(http_env(f"http://127.0.0.1:{free_port()}")))
    record = run.assert_outcome("AV1", "home", "failed", category="availability", severity="critical")
    assert record["observed"].startswith("connection refused: nothing accepted the connection at http://127.0.0.1:")
    assert "Traceback" not in run.output


def test_AV1_fails_on_garbage_answer_as_protocol_error(run_checks: RunChecks, env_file) -> None:
    with GarbageListener() as garbage:
        run = run_checks("--diagnosis", "AV1", env=env_file(http_env(f"http://{garbage.host}:{garbage.port}")))
    record = run.assert_outcome("AV1", "home", "failed", category="availability", severity="critical")
    assert record["observed"].startswith("protocol error:")


def test_AV1_fails_on_untrusted_certificate(run_checks: RunChecks, stack: DemoStack, env_file) -> None:
    assert stack.app is not None
    run = run_checks("--diagnosis", "AV1", env=env_file(http_env(stack.app.url)))  # no ca_bundle: system store only
    record = run.assert_outcome("AV1", "home", "failed", category="availability", severity="critical")
    assert record["observed"].startswith("TLS failure:") and "CERTIFICATE_VERIFY_FAILED" in record["observed"]


def test_AV1_fails_on_certificate_for_another_host(run_checks: RunChecks, env_file, tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path / "tls", "other.example")
    with ServedApp(create_app(), tls=tls) as served:
        run = run_checks("--diagnosis", "AV1", env=env_file(http_env(served.url, ca=tls.ca)))
    record = run.assert_outcome("AV1", "home", "failed", category="availability", severity="critical")
    assert record["observed"].startswith("TLS failure:") and "127.0.0.1" in record["observed"]


# --- AV2 ----------------------------------------------------------------------------------------------


def test_AV2_passes_on_healthy_body(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "AV2")
    record = run.assert_outcome("AV2", "api", "passed", category="availability", severity="critical")
    assert record["expected"] == "HTTP 200, content-type application/json; body.status == 'ok'"


def test_AV2_fails_when_body_reports_unhealthy(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.faults.set("/api/health", Fault(body='{"status": "degraded"}', content_type="application/json"))
    run = run_checks("--diagnosis", "AV2")
    record = run.assert_outcome("AV2", "api", "failed", category="availability", severity="critical")
    assert "body.status = 'degraded'" in record["observed"]
    assert "reports itself unhealthy" in record["message"]


def test_AV2_fails_on_garbage_body(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.faults.set("/api/health", Fault(body="\x00\x01 not json", content_type="application/json"))
    run = run_checks("--diagnosis", "AV2")
    record = run.assert_outcome("AV2", "api", "failed", category="availability", severity="critical")
    assert "the body is not JSON" in record["observed"]


def test_AV2_fails_on_500(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.faults.set("/api/health", Fault(status=500, body="boom", content_type="text/plain"))
    run = run_checks("--diagnosis", "AV2")
    record = run.assert_outcome("AV2", "api", "failed", category="availability", severity="critical")
    assert "HTTP 500" in record["observed"] and "500 Internal Server Error" in record["message"]


def test_AV2_fails_when_health_hangs_past_its_timeout(run_checks: RunChecks, env_file) -> None:
    with SilentListener() as silent:
        run = run_checks("--diagnosis", "AV2", env=env_file(http_env(f"http://{silent.host}:{silent.port}", timeout=0.5)))
    record = run.assert_outcome("AV2", "api", "failed", category="availability", severity="critical")
    assert record["observed"].startswith("timed out")


# --- AV3 ----------------------------------------------------------------------------------------------


def test_AV3_passes_when_no_endpoint_answers_5xx(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "AV3")
    run.result.assert_outcomes(passed=5)
    run.assert_outcome("AV3", "appointments", "passed", category="availability", severity="critical")


def test_AV3_passes_on_4xx(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.faults.set("/api/employees", Fault(status=401))
    run = run_checks("--diagnosis", "AV3")
    run.assert_outcome("AV3", "employees", "passed", category="availability", severity="critical")


def test_AV3_names_502_503_504_with_their_causes(run_checks: RunChecks, stack: DemoStack) -> None:
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


# --- AV4: ports -----------------------------------------------------------------------------------------


def test_AV4_passes_when_every_demo_port_accepts(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "AV4")
    run.result.assert_outcomes(passed=5)
    record = run.assert_outcome("AV4", "postgres", "passed", category="availability", severity="high")
    assert record["observed"].startswith("connected to 127.0.0.1:")


def test_AV4_fails_on_a_closed_port_naming_it(run_checks: RunChecks, env_file: Callable[[str], Path]) -> None:
    closed = free_port()
    with SilentListener() as listening:
        path = env_file(
            f"""
name: ports
kind: test
ports:
  - {{name: open, address: "127.0.0.1:{listening.port}"}}
  - {{name: closed, address: "127.0.0.1:{closed}", severity: critical}}
"""
        )
        run = run_checks("--diagnosis", "AV4", env=path)
    run.assert_outcome("AV4", "open", "passed", category="availability", severity="high")
    record = run.assert_outcome("AV4", "closed", "failed", category="availability", severity="critical")
    assert "connection refused" in record["observed"] and f"127.0.0.1:{closed}" in record["observed"]
    assert f"ss -ltnp | grep :{closed}" in record["message"]  # the tcp remediation, on the real port


def test_AV4_demo_fault_closes_the_backend_port(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.break_(["AV4"])
    run = run_checks("--diagnosis", "AV4")
    run.assert_outcome("AV4", "backend", "failed", category="availability", severity="high")
    run.assert_outcome("AV4", "https", "passed", category="availability", severity="high")


def test_AV4_rejects_an_address_without_port(run_checks: RunChecks, env_file: Callable[[str], Path]) -> None:
    path = env_file("name: ports\nkind: test\nports:\n  - {name: db, address: 'db.internal'}\n")
    run = run_checks("--diagnosis", "AV4", env=path)
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "ports[0].address" in run.output and "has no port" in run.output and "host:port" in run.output


# --- AV5: platform status --------------------------------------------------------------------------------


def test_AV5_passes_when_the_provider_reports_no_incident(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "AV5")
    record = run.assert_outcome("AV5", "platform", "passed", category="availability", severity="medium")
    assert "indicator 'none'" in record["observed"]
    assert run.report["platform_incident"] is None


def test_AV5_fails_on_major_and_marks_other_failures_as_platform_incident(
    run_checks: RunChecks, stack: DemoStack
) -> None:
    stack.break_(["AV5", "AV1"])
    run = run_checks("--diagnosis", "AV5,AV1")
    record = run.assert_outcome("AV5", "platform", "failed", category="availability", severity="medium")
    assert "indicator 'major'" in record["observed"] and "Partial System Outage" in record["observed"]
    incident = run.report["platform_incident"]
    assert incident["status_pages"][0]["target"] == "platform"
    home = run.record("AV1", "home")
    assert home["outcome"] == "failed" and home["likely_platform_incident"] is True
    assert home["id"] in incident["affected_checks"]
    assert run.record("AV1", "book-instylehairboutique")["likely_platform_incident"] is False  # it passed
    assert "PLATFORM INCIDENT reported by platform" in run.output
    assert "[likely part of the platform incident]" in run.output


def test_AV5_marks_only_failures_on_the_hosts_the_provider_serves(run_checks: RunChecks, stack: DemoStack) -> None:
    """A page on the provider's host is likely part of its incident; a certificate's dates and a
    database's invariant are not, even while the provider reports one."""
    stack.break_(["AV5", "AV1", "NET5", "DB11"])
    run = run_checks("--diagnosis", "AV5,AV1,NET5,DB11")
    incident = run.report["platform_incident"]
    assert incident["provider_hosts"] == ["127.0.0.1"]  # the default: the hosts of base_urls
    home, certificate = run.record("AV1", "home"), run.record("NET5", "app")
    assert home["outcome"] == certificate["outcome"] == "failed"
    invoice = next(r for r in run.report["checks"] if r["diagnosis"] == "DB11" and r["outcome"] == "failed")
    assert home["likely_platform_incident"] is True and incident["affected_checks"] == [home["id"]]
    assert certificate["likely_platform_incident"] is False and invoice["likely_platform_incident"] is False
    assert "hosts" not in home  # where a check went is read, not written


def test_AV5_marks_nothing_on_hosts_the_provider_does_not_serve_or_when_its_status_is_unread(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    stack.break_(["AV5", "AV1"])
    pages = "pages:\n  - {name: home, path: /}\n"
    elsewhere = env_file(edge_env(stack, pages + "status_pages:\n  - {name: platform, path: /__demo/status.json, "
                                         "hosts: ['*.provider.example']}\n"))
    run = run_checks("--diagnosis", "AV5,AV1", env=elsewhere)
    assert run.report["platform_incident"]["affected_checks"] == []
    assert run.record("AV1", "home")["likely_platform_incident"] is False
    unread = env_file(edge_env(stack, pages + "status_pages:\n  - {name: wrong, path: /}\n"))
    run = run_checks("--diagnosis", "AV5,AV1", env=unread)
    assert run.record("AV5", "wrong")["outcome"] == "failed"
    assert run.report["platform_incident"] is None  # a status not read is not an incident
    assert run.record("AV1", "home")["likely_platform_incident"] is False


def test_AV5_fails_on_an_answer_that_is_not_a_status_document(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    path = env_file(edge_env(stack, "status_pages:\n  - {name: wrong, path: /}\n"))
    run = run_checks("--diagnosis", "AV5", env=path)
    record = run.assert_outcome("AV5", "wrong", "failed", category="availability", severity="medium")
    assert "not a Statuspage status document" in record["observed"]
