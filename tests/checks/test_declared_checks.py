"""Declared checks of every probe kind against the demo: each passes on the healthy demo and fails on a
real fault with its own diagnosis, category and severity, in the JSON report and JUnit alike; markers of
a new category select them (`-m queues` under --strict-markers); the example of examples/own-runbook/
fails on the demo's queue switch."""

from __future__ import annotations

import re
from pathlib import Path

from healthsuite.demo.stack import DemoStack
from tests.conftest import PROJECT, RunChecks

DIAGNOSES = """\
runbooks:
  ops: {title: Team ops runbook, url: "https://github.com/acme/ops/blob/main/ops.md"}
categories:
  queues: job queues
  edge: our edge services
escalation_areas:
  team: {area: Team, primary: Team on-call, secondary: Team lead, within: 15 minutes}
diagnoses:
  QUEUE-1:
    {title: No job is stuck, category: queues, severity: high, runbooks: [{runbook: ops, section: "§1 Stuck"}],
     verifies: No job runs for more than 10 minutes., escalation: team,
     remediation: ["List them: `psql -h <host> -p <port> -U <user> -d <db>`"]}
  QUEUE-2:
    {title: Workers keep up, category: queues, severity: critical, runbooks: [{runbook: ops, section: "§2 Backlog"}],
     verifies: Workers are alive., escalation: team, remediation: ["Read `curl -s https://<host>:<port>/queue/stats`"]}
  EDGE-1:
    {title: Our edge answers, category: edge, severity: medium, runbooks: [{runbook: ops, section: "§3 Edge"}],
     verifies: The edge answers., escalation: infrastructure}
  OPS-1:
    {title: Our logs and cache are quiet, category: logs, severity: low, runbooks: [{runbook: ops, section: "§4 Ops"}],
     verifies: "Few timeouts; Redis answers.", escalation: team}
"""
ENV = """\
name: own
kind: demo
secrets_file: ${HEALTHSUITE_DEMO_DIR}/secrets.env
diagnoses_file: own-diagnoses.yaml
base_urls: {app: "https://127.0.0.1:${HEALTHSUITE_DEMO_HTTPS_PORT}"}
http: {ca_bundle: "${HEALTHSUITE_DEMO_DIR}/ca.pem"}
dns: {nameservers: ["127.0.0.1:${HEALTHSUITE_DEMO_DNS_PORT}"]}
databases:
  - {name: booking, engine: postgresql,
     dsn: "postgresql://healthsuite:${HEALTHSUITE_DEMO_PG_PASSWORD}@127.0.0.1:${HEALTHSUITE_DEMO_PG_PORT}/booking"}
  - {name: d1, engine: sqlite, path: "${HEALTHSUITE_DEMO_DIR}/d1.sqlite"}
caches:
  - {name: sessions, url: "redis://127.0.0.1:${HEALTHSUITE_DEMO_REDIS_PORT}/0", password: "${HEALTHSUITE_DEMO_REDIS_PASSWORD}"}
logs:
  - {name: app, path: "${HEALTHSUITE_DEMO_DIR}/logs/app.log", format: json}
severity_overrides: {OPS-1: medium}
declared_checks:
  - {name: stuck-jobs, diagnosis: QUEUE-1, expect: value == 0,
     sql: {database: booking, query: "SELECT count(*) FROM jobs WHERE state = 'running' AND started_at < now() - interval '10 minutes'"}}
  - name: queue-stats
    diagnosis: QUEUE-2
    http: {path: /queue/stats}
    expect: [status == 200, json.workers_alive >= 1, json.oldest_pending_s < 5m, "headers['content-type'] contains 'json'"]
  - {name: certificate, diagnosis: EDGE-1, tls: {base: app}, expect: [days_left > 14, verified]}
  - {name: apex, diagnosis: EDGE-1, dns: {name: booking.demo.test}, expect: ['rcode == "NOERROR" and count >= 1']}
  - {name: backend-port, diagnosis: EDGE-1, severity: high, tcp: {address: "127.0.0.1:${HEALTHSUITE_DEMO_BACKEND_PORT}"},
     expect: connected}
  - {name: journal-d1, diagnosis: EDGE-1, sql: {database: d1, query: "SELECT journal_mode AS mode FROM pragma_journal_mode()"},
     expect: "value == 'delete' and rows[0].mode == value and count == 1"}
  - {name: app-timeouts, diagnosis: OPS-1, file: {log: app, pattern: "timed out", window_min: 15},
     expect: [exists, matches < 5, age < 1d]}
  - {name: redis-keys, diagnosis: OPS-1, redis: {command: DBSIZE}, expect: value >= 0}
  - {name: redis-memory, diagnosis: OPS-1, redis: {command: INFO memory}, expect: "info.used_memory < 1GB"}
"""
# name -> (diagnosis, category, effective severity, the demo fault that fails it)
EXPECTED = {
    "stuck-jobs": ("QUEUE-1", "queues", "high", "queue"),
    "queue-stats": ("QUEUE-2", "queues", "critical", "queue"),
    "certificate": ("EDGE-1", "edge", "medium", "NET5"),
    "apex": ("EDGE-1", "edge", "medium", "NET1"),
    "backend-port": ("EDGE-1", "edge", "high", "AV4"),  # the target's own severity
    "journal-d1": ("EDGE-1", "edge", "medium", "DB15"),
    "app-timeouts": ("OPS-1", "logs", "medium", "LOG2"),  # severity_overrides
    "redis-keys": ("OPS-1", "logs", "medium", "CACHE1"),
    "redis-memory": ("OPS-1", "logs", "medium", "CACHE1"),
}


def _environment(tmp_path: Path) -> Path:
    (tmp_path / "own-diagnoses.yaml").write_text(DIAGNOSES)
    path = tmp_path / "own.yaml"
    path.write_text(ENV)
    return path


def _assert_each(run, outcome: str) -> None:
    for name, (diagnosis, category, severity, _) in EXPECTED.items():
        run.assert_outcome(diagnosis, name, outcome, category=category, severity=severity)


def test_every_probe_kind_passes_healthy_and_fails_on_its_fault(
    run_checks: RunChecks, stack: DemoStack, tmp_path: Path
) -> None:
    env = _environment(tmp_path)
    healthy = run_checks("-m", "queues or edge or logs", "--strict-markers", env=env)
    assert "Traceback" not in healthy.output
    _assert_each(healthy, "passed")
    declared = [r for r in healthy.report["checks"] if "test_declared.py" in r["id"]]
    assert len(declared) == len(EXPECTED) and all(r["outcome"] == "passed" for r in declared), healthy.output

    stack.break_(sorted({fault for *_, fault in EXPECTED.values()}))
    broken = run_checks("-m", "queues or edge or logs", env=env)
    _assert_each(broken, "failed")
    queue = broken.record("QUEUE-2", "queue-stats")
    assert "json.workers_alive (0) >= 1" in queue["observed"] and "json.oldest_pending_s (20 m) < 5m" in queue["observed"]
    assert "status" not in queue["observed"]  # only the conditions that failed
    assert queue["remediation"] == [f"Read `curl -s https://127.0.0.1:{stack.ports.https}/queue/stats`"]
    assert "call Team on-call, then Team lead" in queue["escalation"]
    assert queue["runbook"] == ["ops §2 Backlog (https://github.com/acme/ops/blob/main/ops.md#2-backlog)"]
    stuck = broken.record("QUEUE-1", "stuck-jobs")
    assert stuck["observed"] == "value (3) == 0"
    assert f"-p {stack.ports.postgres} -U healthsuite -d booking" in stuck["remediation"][0]
    assert "days_left (5." in broken.record("EDGE-1", "certificate")["observed"]
    port = broken.record("EDGE-1", "backend-port")
    assert port["observed"].startswith("connected (false)") and "refused" in port["message"]
    assert "NXDOMAIN" in broken.record("EDGE-1", "apex")["observed"]
    assert re.fullmatch(r"matches \((\d+)\) < 5", broken.record("OPS-1", "app-timeouts")["observed"])
    assert "connection refused" in broken.record("OPS-1", "redis-keys")["observed"]
    assert "Traceback" not in broken.output


def test_selected_by_diagnosis_and_name_and_the_example_fails_on_the_queue_switch(
    run_checks: RunChecks, stack: DemoStack, tmp_path: Path
) -> None:
    env = _environment(tmp_path)
    chosen = run_checks("--diagnosis", "queue-2", "-k", "queue", env=env)
    assert [(r["diagnosis"], r["target"]) for r in chosen.report["checks"]] == [("QUEUE-2", "queue-stats")]
    unknown = run_checks("-m", "queuez", "--strict-markers", env=env)
    assert unknown.result.ret == 4 and "did you mean 'queues'?" in unknown.output
    example = PROJECT / "examples" / "own-runbook" / "queue.yaml"
    assert run_checks("-m", "queues", env=example).report["summary"]["passed"] == 2
    stack.break_(["queue"])
    run = run_checks("-m", "queues", env=example)
    run.assert_outcome("QUEUE-1", "stuck-jobs", "failed", category="queues", severity="high")
    run.assert_outcome("QUEUE-2", "queue-stats", "failed", category="queues", severity="critical")
    assert "QUEUE-2 The queue's workers keep up with its backlog [critical, queues]" in run.output


def test_a_declared_failure_reaches_every_output_its_consumers_read(
    run_checks: RunChecks, stack: DemoStack, tmp_path: Path
) -> None:
    """The example's QUEUE-2 failure in the JUnit file (strict junit-10.xsd), the Prometheus textfile
    (promtool check metrics), the HTML page and the Allure results, as a shipped failure is."""
    import json
    import subprocess

    from lxml import etree

    stack.break_(["queue"])
    example = PROJECT / "examples" / "own-runbook" / "queue.yaml"
    prom, html, allure = tmp_path / "own.prom", tmp_path / "own.html", tmp_path / "allure"
    run_checks("-m", "queues", f"--prom-textfile={prom}", f"--html-report={html}", f"--alluredir={allure}",
               env=example)
    schema = etree.XMLSchema(etree.parse(str(PROJECT / "tests" / "schemas" / "junit-10.xsd")))
    junit_file = next(tmp_path.glob("junit-*.xml"))
    assert schema.validate(etree.parse(str(junit_file))), schema.error_log
    text = junit_file.read_text()
    assert "diagnosis: QUEUE-2" in text and "json.workers_alive (0) &gt;= 1" in text

    lint = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=prom.read_text(), capture_output=True,
                          text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert re.search(r'healthsuite_check_success\{[^}]*diagnosis="QUEUE-2"[^}]*severity="critical"'
                     r'[^}]*target="queue-stats"[^}]*\} 0', prom.read_text()), prom.read_text()

    page = html.read_text()
    assert "QUEUE-2" in page and "queue-stats" in page and "workers_alive (0)" in page
    secrets = [line.split("=", 1)[1] for line in (stack.directory / "secrets.env").read_text().splitlines()
               if "=" in line and not line.startswith("#")]
    assert secrets and not [secret for secret in secrets if len(secret) > 5 and secret in page]

    results = [json.loads(p.read_text()) for p in allure.glob("*-result.json")]
    queue = next(r for r in results if "queue-stats" in r["name"])
    labels = {label["name"]: label["value"] for label in queue["labels"]}
    assert queue["status"] == "failed", queue
    assert "QUEUE-2" in json.dumps(queue["labels"]) and "critical" in json.dumps(queue["labels"]), labels
