"""AV4, AV5, NET7, NET8, PERF1, DEP2 against the demo and small stand-ins on loopback: each passes
when healthy and fails on its own fault with the right category and severity, naming the observed
value; plus the platform-incident marking of the report."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from healthsuite.assessments.edge import versions_match
from healthsuite.demo.app.main import OLD_VERSION, VERSION
from healthsuite.demo.faults.switches import Fault
from healthsuite.demo.stack import DemoStack
from healthsuite.testing.services import SilentListener, free_port
from tests.conftest import RunChecks


def edge_env(stack: DemoStack, body: str) -> str:
    """A file aimed at the demo's HTTPS app (its CA trusted), with `body` appended."""
    return f"""
name: edge
kind: test
base_urls:
  app: https://127.0.0.1:{stack.ports.https}
http:
  ca_bundle: {stack.directory / "ca.pem"}
timeouts:
  http_s: 3
  connect_s: 1
{body}"""


# --- AV4: ports -----------------------------------------------------------------------------------------


def test_av4_passes_when_every_demo_port_accepts(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "AV4")
    run.result.assert_outcomes(passed=5)
    record = run.assert_outcome("AV4", "postgres", "passed", category="availability", severity="high")
    assert record["observed"].startswith("connected to 127.0.0.1:")


def test_av4_fails_on_a_closed_port_naming_it(run_checks: RunChecks, env_file: Callable[[str], Path]) -> None:
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


def test_av4_demo_fault_closes_the_backend_port(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.break_(["AV4"])
    run = run_checks("--diagnosis", "AV4")
    run.assert_outcome("AV4", "backend", "failed", category="availability", severity="high")
    run.assert_outcome("AV4", "https", "passed", category="availability", severity="high")


def test_av4_rejects_an_address_without_port(run_checks: RunChecks, env_file: Callable[[str], Path]) -> None:
    path = env_file("name: ports\nkind: test\nports:\n  - {name: db, address: 'db.internal'}\n")
    run = run_checks("--diagnosis", "AV4", env=path)
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "ports[0].address" in run.output and "has no port" in run.output and "host:port" in run.output


# --- AV5: platform status --------------------------------------------------------------------------------


def test_av5_passes_when_the_provider_reports_no_incident(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "AV5")
    record = run.assert_outcome("AV5", "platform", "passed", category="availability", severity="medium")
    assert "indicator 'none'" in record["observed"]
    assert run.report["platform_incident"] is None


def test_av5_fails_on_major_and_marks_other_failures_as_platform_incident(
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


def test_av5_marks_only_failures_on_the_hosts_the_provider_serves(run_checks: RunChecks, stack: DemoStack) -> None:
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


def test_av5_marks_nothing_on_hosts_the_provider_does_not_serve_or_when_its_status_is_unread(
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


def test_av5_fails_on_an_answer_that_is_not_a_status_document(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    path = env_file(edge_env(stack, "status_pages:\n  - {name: wrong, path: /}\n"))
    run = run_checks("--diagnosis", "AV5", env=path)
    record = run.assert_outcome("AV5", "wrong", "failed", category="availability", severity="medium")
    assert "not a Statuspage status document" in record["observed"]


# --- NET7: CORS ------------------------------------------------------------------------------------------


def test_net7_passes_on_the_demo_allow_list(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "NET7")
    record = run.assert_outcome("NET7", "api", "passed", category="network", severity="high")
    assert "https://booking.demo.test -> 204, allow-origin https://booking.demo.test" in record["observed"]
    assert "foreign https://foreign-origin.healthsuite.invalid -> allow-origin none" in record["observed"]
    assert record["facts"]["preflights"]["https://booking.demo.test"]["access-control-allow-credentials"] == "true"


def test_net7_fails_when_any_origin_is_reflected(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.faults.set_mode("cors", "reflect")
    run = run_checks("--diagnosis", "NET7")
    record = run.assert_outcome("NET7", "api", "failed", category="network", severity="high")
    assert "foreign origin https://foreign-origin.healthsuite.invalid is echoed back" in record["observed"]
    assert "any website can call this API" in record["message"]


def test_net7_fails_when_cors_is_missing(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.faults.set_mode("cors", "none")
    run = run_checks("--diagnosis", "NET7")
    record = run.assert_outcome("NET7", "api", "failed", category="network", severity="high")
    assert "the preflight answered HTTP 400, without CORS headers" in record["observed"]
    assert "browsers block the site's own calls" in record["message"]


def test_net7_never_accepts_a_wildcard_with_credentials(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    stack.faults.set_mode("cors", "wildcard")  # `*` and Allow-Credentials: true
    run = run_checks("--diagnosis", "NET7")
    record = run.assert_outcome("NET7", "api", "failed", category="network", severity="high")
    assert "Access-Control-Allow-Origin is `*`, which browsers refuse on credentialed requests" in record["observed"]
    assert "the foreign origin gets `*` with credentials allowed" in record["observed"]
    public = env_file(
        edge_env(
            stack,
            """cors:
  - {name: public, path: /api/employees, origins: [https://any.example], allow_any_origin: true}
""",
        )
    )
    run = run_checks("--diagnosis", "NET7", env=public)  # a public API may answer `*`, not with credentials
    record = run.assert_outcome("NET7", "public", "failed", category="network", severity="high")
    assert record["observed"] == "the foreign origin gets `*` with credentials allowed"


def test_net7_fails_on_an_origin_the_server_does_not_allow(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    path = env_file(
        edge_env(
            stack,
            """cors:
  - name: api
    path: /api/appointments
    origins: [https://booking.demo.test, https://admin.demo.test]
    request_method: DELETE
""",
        )
    )
    run = run_checks("--diagnosis", "NET7", env=path)
    record = run.assert_outcome("NET7", "api", "failed", category="network", severity="high")
    assert record["observed"].startswith("https://admin.demo.test: the preflight answered HTTP 400, without CORS headers")
    assert "https://booking.demo.test:" not in record["observed"]  # the allowed one is fine, DELETE included


# --- NET8: reverse proxy ---------------------------------------------------------------------------------


def test_net8_passes_when_the_proxy_reaches_upstream(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "NET8")
    run.assert_outcome("NET8", "api", "passed", category="network", severity="high")


@pytest.mark.parametrize("status", [502, 504])
def test_net8_fails_on_bad_gateway_and_gateway_timeout(run_checks: RunChecks, stack: DemoStack, status: int) -> None:
    stack.faults.set("/api/health", Fault(status=status))
    run = run_checks("--diagnosis", "NET8")
    record = run.assert_outcome("NET8", "api", "failed", category="network", severity="high")
    assert f"HTTP {status}" in record["observed"]
    assert ("Bad Gateway" if status == 502 else "Gateway Timeout") in record["message"]


def test_net8_is_not_about_other_server_errors(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.faults.set("/api/health", Fault(status=503))  # the upstream answered: AV2/AV3's business
    run = run_checks("--diagnosis", "NET8")
    run.assert_outcome("NET8", "api", "passed", category="network", severity="high")


# --- PERF1: response time with the curl -w breakdown ------------------------------------------------------


def test_perf1_passes_and_reports_the_phase_breakdown(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "PERF1")
    run.result.assert_outcomes(passed=5)
    record = run.assert_outcome("PERF1", "home", "passed", category="performance", severity="high")
    timings = record["facts"]["timings"]
    assert set(timings["phases_ms"]) == {"dns", "connect", "tls", "server", "transfer"}
    assert timings["phases_ms"]["dns"] is None  # an IP address: nothing to resolve
    cumulative = timings["cumulative_ms"]
    assert 0 < cumulative["time_connect"] <= cumulative["time_appconnect"] <= cumulative["time_starttransfer"]
    assert cumulative["time_starttransfer"] <= cumulative["time_total"]


def test_perf1_fails_on_a_slow_endpoint_naming_the_slow_phase(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.break_(["PERF1"])  # /api/employees waits 2.5 s before answering
    run = run_checks("--diagnosis", "PERF1")
    record = run.assert_outcome("PERF1", "employees", "failed", category="performance", severity="high")
    # the 2.5 s delay is a floor, not a speed: a loaded machine only adds to it
    total, server = (re.search(rf"{phase} ([0-9.]+)", record["observed"]) for phase in ("total", "server"))
    assert total and server, record["observed"]
    assert float(total[1]) >= 2500 and float(server[1]) >= 2500, record["observed"]
    assert record["expected"] == "total under 2000 ms"
    assert "waiting for the first byte" in record["message"]
    run.assert_outcome("PERF1", "home", "passed", category="performance", severity="high")


def test_perf1_measures_dns_for_a_host_name_and_honours_per_target_limits(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    stack.faults.set("/api/employees", Fault(delay_s=0.3))
    path = env_file(
        f"""
name: timing
kind: test
base_urls:
  app: http://localhost:{stack.ports.http}
endpoints:
  - {{name: redirect, path: /, expect_status: 301}}
  - {{name: slow, url: "https://127.0.0.1:{stack.ports.https}/api/employees", max_total_ms: 100}}
http:
  ca_bundle: {stack.directory / "ca.pem"}
"""
    )
    run = run_checks("--diagnosis", "PERF1", env=path)
    record = run.assert_outcome("PERF1", "redirect", "passed", category="performance", severity="high")
    phases = record["facts"]["timings"]["phases_ms"]
    assert phases["dns"] is not None and phases["tls"] is None  # a name was resolved; plain HTTP
    slow = run.assert_outcome("PERF1", "slow", "failed", category="performance", severity="high")
    assert slow["expected"] == "total under 100 ms"


# --- DEP2: deployed version -------------------------------------------------------------------------------


def test_dep2_passes_with_the_expected_version_of_the_file(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "DEP2")
    record = run.assert_outcome("DEP2", "app", "passed", category="deployment", severity="high")
    assert record["observed"] == f"body.version = {VERSION!r}"


def test_dep2_fails_when_the_old_build_is_served(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.break_(["DEP2"])
    run = run_checks("--diagnosis", "DEP2")
    record = run.assert_outcome("DEP2", "app", "failed", category="deployment", severity="high")
    assert OLD_VERSION in record["observed"] and VERSION in record["expected"]
    assert "another build is serving" in record["message"]


def test_dep2_command_line_wins_over_variable_and_file(run_checks: RunChecks) -> None:
    run = run_checks(
        "--diagnosis", "DEP2", "--expected-version", "v9.9.9", environ={"HEALTHSUITE_EXPECTED_VERSION": VERSION}
    )
    record = run.assert_outcome("DEP2", "app", "failed", category="deployment", severity="high")
    assert record["expected"] == "'v9.9.9' (from --expected-version)"
    run = run_checks("--diagnosis", "DEP2", environ={"HEALTHSUITE_EXPECTED_VERSION": "v9.9.9"})
    assert run.record("DEP2", "app")["expected"] == "'v9.9.9' (from $HEALTHSUITE_EXPECTED_VERSION)"


def test_dep2_reads_a_header_and_skips_without_an_expected_version(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    path = env_file(
        edge_env(
            stack,
            """versions:
  - {name: header, path: /api/health, header: content-type}
  - {name: unset, path: /api/version, json_path: commit}
""",
        )
    )
    run = run_checks("--diagnosis", "DEP2", env=path)
    unset = run.assert_outcome("DEP2", "unset", "skipped", category="deployment", severity="high")
    assert "no expected version: pass --expected-version" in unset["message"]
    run = run_checks("--diagnosis", "DEP2", "--expected-version", "application/json", env=path)
    run.assert_outcome("DEP2", "header", "passed", category="deployment", severity="high")
    record = run.assert_outcome("DEP2", "unset", "failed", category="deployment", severity="high")
    assert record["observed"] == "body.commit = '0f3c2a1'"


def test_dep2_accepts_abbreviated_git_commits_only() -> None:
    assert versions_match("0f3c2a1", "0f3c2a1e9d8b7c6a5f4e3d2c1b0a9f8e7d6c5b4a")
    assert versions_match("0F3C2A1E9D", "0f3c2a1")
    assert not versions_match("0f3c2a", "0f3c2a1")  # under 7 digits is not a commit id
    assert not versions_match("v1.2", "v1.2.3")


# --- the demo shows each new fault -----------------------------------------------------------------------


def test_facts_and_timings_reach_junit_properties(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "PERF1")
    case = run.junit_case("PERF1", "home")
    assert json.loads(case["facts"])["timings"]["phases_ms"]["server"] is not None


# --- DB4: the application's connection pool -----------------------------------------------------------------


def test_db4_passes_with_headroom_and_fails_when_the_pool_is_exhausted(run_checks: RunChecks, stack: DemoStack) -> None:
    run = run_checks("--diagnosis", "DB4")
    record = run.assert_outcome("DB4", "backend", "passed", category="database", severity="high")
    assert record["observed"] == "3 of 20 connections checked out (15 %), overflow 0"
    stack.break_(["DB4"])
    run = run_checks("--diagnosis", "DB4")
    record = run.assert_outcome("DB4", "backend", "failed", category="database", severity="high")
    assert record["observed"] == "20 of 20 connections checked out (100 %), overflow 5"
    assert "about to wait for database connections" in record["message"]


def test_db4_names_the_missing_field_of_another_shape(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    path = env_file(edge_env(stack, "pools:\n  - {name: other, path: /api/pool-status, size_path: pool.size}\n"))
    run = run_checks("--diagnosis", "DB4", env=path)
    record = run.assert_outcome("DB4", "other", "failed", category="database", severity="high")
    assert record["observed"].startswith("no number at body.pool.size")
