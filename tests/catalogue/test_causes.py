"""Failures grouped by cause, with real faults: the demo's PostgreSQL stopped, its Redis stopped, a
name that does not resolve, one page that refuses, a certificate for another host, a proxy whose
upstream port is closed; each consequence points at its cause in the JSON report and the terminal
prints the cause once with its consequences under it. The precise diagnosis is the cause, the general
symptom (AV1, AV2, AV3, DEP1, PERF1) its consequence."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from healthsuite.catalogue.causes import group, rules
from healthsuite.demo.stack import DemoStack
from healthsuite.outputs.records import CheckRecord
from healthsuite.testing.ports import free_port
from tests.conftest import CheckRun, RunChecks
from tests.localhttp import Answer, serving


def _cause(run: CheckRun, diagnosis: str) -> dict:
    return next(c for c in run.report["causes"] if c["diagnosis"] == diagnosis)


def _explained(run: CheckRun, cause: dict) -> set[str]:
    return {r["diagnosis"] for r in run.report["checks"] if r.get("explained_by") == cause["cause"]}


def test_a_stopped_database_explains_its_other_database_and_data_checks(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.break_(["DB1"])
    run = run_checks("--diagnosis", "DB1,DB3,DB9,SEC1,PAY4,AV4")
    cause = _cause(run, "DB1")
    assert cause["target"] == "booking" and "the database server does not accept" in cause["why"]
    assert {"DB3", "DB9", "SEC1", "PAY4", "AV4"} <= _explained(run, cause)
    assert len(run.report["causes"]) == 1  # one cause, printed once
    assert run.output.count("explains ") == 1 and "DB1    booking: connection refused" in run.output
    db1 = run.record("DB1", "booking")
    assert "explained_by" not in db1  # the cause is nobody's consequence


def test_a_stopped_redis_explains_its_cache_checks(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.break_(["CACHE1"])
    run = run_checks("--diagnosis", "CACHE1,CACHE2,PERF7,AUTH7")
    assert _explained(run, _cause(run, "CACHE1")) == {"CACHE2", "PERF7", "AUTH7"}


def test_one_transport_error_shared_by_a_targets_checks_is_one_cause(
    run_checks: RunChecks, env_file: Callable[[str], Path]
) -> None:
    closed = free_port()
    path = env_file(f"""
name: shared
kind: test
timeouts: {{http_s: 2, connect_s: 1}}
pages:
  - {{name: home, url: "http://127.0.0.1:{closed}/", content_type: text/html}}
""")
    run = run_checks("--diagnosis", "AV1,AV3,PERF1", env=path)
    [cause] = run.report["causes"]
    assert cause["diagnosis"] == "AV1" and cause["why"].startswith("one refused error at http://127.0.0.1:")
    assert _explained(run, cause) == {"AV3", "PERF1"}


def test_a_name_that_does_not_resolve_explains_the_failures_of_that_host(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    name = "gone.healthsuite.invalid"  # never resolves, through any resolver
    path = env_file(f"""
name: names
kind: test
timeouts: {{http_s: 2, connect_s: 1, dns_s: 2}}
dns:
  nameservers: ["127.0.0.1:{stack.ports.dns}"]
hostnames:
  - {{name: gone, host: {name}, records: [A]}}
pages:
  - {{name: home, url: "http://{name}:{free_port()}/", content_type: text/html}}
""")
    run = run_checks("--diagnosis", "NET1,AV1,AV3", env=path)
    cause = _cause(run, "NET1")
    assert cause["why"] == "the host name does not resolve" and _explained(run, cause) == {"AV1", "AV3"}


def test_the_cause_graph_is_data_beside_the_catalogue() -> None:
    diagnoses = {rule.diagnosis for rule in rules()}
    assert {"DB1", "DB2", "CACHE1", "NET1", "AV4", "NET5", "NET8"} <= diagnoses


def test_one_answer_read_by_several_checks_is_one_cause(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.break_(["AV1"])  # the home page answers 404: AV1 and the smoke set's DEP1 read that one GET
    run = run_checks("--diagnosis", "AV1,DEP1")
    cause = next(c for c in run.report["causes"] if c["target"] == "home")
    assert cause["why"] == "one answer (HTTP 404 Not Found) of home"
    assert _explained(run, cause) == {"AV1", "DEP1"} - {cause["diagnosis"]}


def test_a_certificate_for_another_host_is_the_cause_of_the_tls_failures_there(
    run_checks: RunChecks, stack: DemoStack
) -> None:
    assert stack.app is not None and stack.tls is not None and stack.tls.authority is not None
    leaf = stack.tls.authority.issue("other.demo.test")  # the demo's own CA, for a name the demo is not
    stack.app.reload_certificate(*leaf.write(stack.tls.chain.parent, "wrong-host"))
    try:
        run = run_checks("--diagnosis", "NET5,AV1,AV2,AV3,DEP1,PERF1")
    finally:
        stack.app.reload_certificate(stack.tls.chain, stack.tls.key)
    [cause] = run.report["causes"]
    assert cause["diagnosis"] == "NET5" and cause["why"] == "the certificate does not verify"
    assert "host name mismatch" in cause["observed"]
    assert _explained(run, cause) == {"AV1", "AV2", "AV3", "DEP1", "PERF1"}
    assert all(r.get("explained_by") == cause["cause"] for r in run.report["checks"]
               if r["outcome"] == "failed" and r["diagnosis"] != "NET5")


def test_the_proxys_504_is_the_cause_of_the_health_endpoints_failure(run_checks: RunChecks, stack: DemoStack) -> None:
    # the demo's proxied /api/health answers 504 (no upstream declared); /api/appointments 502, a fault of its own
    stack.break_(["NET8", "AV3"])
    run = run_checks("--diagnosis", "NET8,AV2,AV3,DEP1")
    cause = _cause(run, "NET8")
    assert cause["why"] == "the reverse proxy does not reach its upstream"
    assert {(c["diagnosis"], c["target"]) for c in cause["consequences"]} == {("AV2", "api"), ("AV3", "api"),
                                                                              ("DEP1", "api")}
    assert "explained_by" not in run.record("AV3", "appointments")  # another answer (502): not the proxy's 504


@contextmanager
def _proxy(upstream_port: int) -> Iterator[str]:
    """A reverse proxy on loopback forwarding every GET to 127.0.0.1:`upstream_port`, as nginx does: a
    refused upstream is 502 Bad Gateway, a silent one 504 Gateway Timeout."""

    def forward(request: BaseHTTPRequestHandler) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=1)
        try:
            connection.request("GET", request.path)
            reply = connection.getresponse()
            return Answer(reply.status, reply.getheader("content-type", "text/plain"), reply.read())
        except ConnectionRefusedError:
            return Answer(502, "text/html", b"<html><body>502 Bad Gateway</body></html>")
        except TimeoutError:
            return Answer(504, "text/html", b"<html><body>504 Gateway Time-out</body></html>")
        finally:
            connection.close()

    with serving(forward) as url:
        yield url


def test_a_closed_upstream_port_is_the_cause_of_the_proxys_502_and_of_what_it_serves(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    backend = stack.ports.backend
    stack.break_(["AV4"])  # the demo's backend port stops accepting connections
    with _proxy(backend) as proxy:
        path = env_file(f"""
name: proxied
kind: test
timeouts: {{http_s: 3, connect_s: 1}}
base_urls: {{edge: "{proxy}"}}
health:
  - {{name: api, path: /api/health, content_type: application/json, body: [{{path: status, equals: ok}}]}}
endpoints:
  - {{name: appointments, path: /api/appointments}}
proxies:
  - {{name: api, path: /api/health, upstream: "127.0.0.1:{backend}"}}
ports:
  - {{name: backend, address: "127.0.0.1:{backend}"}}
""")
        run = run_checks("--diagnosis", "AV4,NET8,AV2,AV3", env=path)
    [cause] = run.report["causes"]
    assert cause["diagnosis"] == "AV4" and cause["target"] == "backend"
    assert cause["why"] == "the proxy's upstream does not accept connections"
    assert _explained(run, cause) == {"NET8", "AV2", "AV3"}
    net8 = run.record("NET8", "api")
    assert net8["facts"]["upstream"] == f"127.0.0.1:{backend}" and net8["facts"]["status"] == 502
    steps = "\n".join(net8["remediation"])
    assert f"`curl -sv http://127.0.0.1:{backend}/`" in steps and f"`nc -zv 127.0.0.1 {backend}`" in steps
    assert "backend:8000" not in net8["message"]


def test_a_proxys_upstream_health_url_is_what_its_advice_calls(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    backend = stack.ports.backend
    stack.break_(["AV4"])
    with _proxy(backend) as proxy:
        path = env_file(f"""
name: proxied
kind: test
timeouts: {{http_s: 3, connect_s: 1}}
proxies:
  - name: api
    url: "{proxy}/api/health"
    upstream: {{address: "127.0.0.1:{backend}", health: "http://127.0.0.1:{backend}/health"}}
ports:
  - {{name: backend, address: "127.0.0.1:{backend}"}}
""")
        run = run_checks("--diagnosis", "AV4,NET8", env=path)
    [cause] = run.report["causes"]
    assert cause["diagnosis"] == "AV4" and _explained(run, cause) == {"NET8"}
    net8 = run.record("NET8", "api")
    assert f"`curl -sv http://127.0.0.1:{backend}/health`" in net8["message"]


def test_a_precise_diagnosis_heads_one_transport_error_shared_with_general_symptoms(
    run_checks: RunChecks, env_file: Callable[[str], Path]
) -> None:
    closed = free_port()
    path = env_file(f"""
name: shared
kind: test
timeouts: {{http_s: 2, connect_s: 1}}
pages:
  - {{name: home, url: "http://127.0.0.1:{closed}/", content_type: text/html}}
proxies:
  - {{name: api, url: "http://127.0.0.1:{closed}/api/health"}}
""")
    run = run_checks("--diagnosis", "AV1,AV3,PERF1,NET8", env=path)
    [cause] = run.report["causes"]
    assert cause["diagnosis"] == "NET8" and cause["why"].startswith("one refused error at http://127.0.0.1:")
    assert _explained(run, cause) == {"AV1", "AV3", "PERF1"}  # the critical AV1 no longer stands for NET8


def _record(diagnosis: str, severity: str, observed: str, facts: dict) -> CheckRecord:
    return CheckRecord(id=f"checks/x.py::{diagnosis}[api]", diagnosis=diagnosis, category="", severity=severity,
                       target="api", outcome="failed", observed=observed, facts_json=json.dumps(facts))


def test_a_precise_diagnosis_heads_one_answer_read_by_several_checks() -> None:
    # records as a run writes them when the plan named no host (the proxy rule compares hosts): one 504
    answer = "HTTP 504 Gateway Timeout in 12 ms"
    records = [_record("AV2", "critical", f"{answer}; the body is not JSON", {"status": 504}),
               _record("NET8", "high", answer, {"status": 504}),
               _record("AV3", "critical", answer, {"status": 504})]
    [cause] = group(records)
    assert cause["diagnosis"] == "NET8" and cause["why"] == "one answer (HTTP 504 Gateway Timeout) of api"
    assert {c["diagnosis"] for c in cause["consequences"]} == {"AV2", "AV3"}
    assert records[1].explained_by == "" and records[0].explained_by == records[1].id
