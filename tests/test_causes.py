"""Failures grouped by cause, with real faults: the demo's PostgreSQL stopped, its Redis stopped, a
name that does not resolve, one page that refuses; each consequence points at its cause in the JSON
report and the terminal prints the cause once with its consequences under it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from healthsuite.causes import rules
from healthsuite.demo.services import free_port
from healthsuite.demo.stack import DemoStack

from .conftest import CheckRun, RunChecks


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
    assert {"DB1", "DB2", "CACHE1", "NET1", "AV4"} <= diagnoses


def test_one_answer_read_by_several_checks_is_one_cause(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.break_(["AV1"])  # the home page answers 404: AV1 and the smoke set's DEP1 read that one GET
    run = run_checks("--diagnosis", "AV1,DEP1")
    cause = next(c for c in run.report["causes"] if c["target"] == "home")
    assert cause["why"] == "one answer (HTTP 404 Not Found) of home"
    assert _explained(run, cause) == {"AV1", "DEP1"} - {cause["diagnosis"]}
