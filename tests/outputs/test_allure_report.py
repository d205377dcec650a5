"""Allure that tells the story (healthsuite.plugin.allure_story): a real run with --alluredir against a local
page, a metrics endpoint at the rollback trigger and a loopback port nothing listens on, then the real
`allure generate`, and the generated report's data read back. Failures land in the category of what went
wrong (DNS, timeout, HTTP answer...: healthsuite.outputs.allure), and the trend spans runs when the
previous report's history is carried into the results (--allure-history)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from healthsuite import __version__
from healthsuite.assessments.failure import Finding, compose, probe_failure
from healthsuite.catalogue.diagnoses import Service, load_catalogue
from healthsuite.outputs import allure as allure_output
from healthsuite.outputs.allure import categories, category_of
from healthsuite.plugin.allure_story import environment_properties
from healthsuite.probes.errors import KINDS, ProbeError
from healthsuite.testing.dns import DnsServer
from healthsuite.testing.hostile import FlakyListener
from healthsuite.testing.listeners import SilentListener
from healthsuite.testing.ports import free_port
from tests.conftest import CHECKS, PROJECT
from tests.localhttp import Answer, serving

ALLURE = PROJECT / "tools" / "allure" / "node_modules" / ".bin" / "allure"
METRICS = b"""# TYPE http_requests_total counter
http_requests_total{status="200"} 90
http_requests_total{status="500"} 10
"""


def _answer(request: BaseHTTPRequestHandler) -> Answer:
    """/metrics: the Prometheus text with 10 % 5xx; any other path: a small HTML page."""
    return Answer(200, "text/plain; version=0.0.4", METRICS) if request.path == "/metrics" else Answer()


@pytest.fixture
def site() -> Iterator[str]:
    with serving(_answer) as url:
        yield url


def _allure_cli() -> str:
    if shutil.which("java") is None:
        pytest.skip("java is not installed (scripts/install.sh installs default-jre-headless)")
    if not ALLURE.exists():
        pytest.skip(f"the allure command line is not installed: {ALLURE} (scripts/install.sh runs npm ci in tools/allure)")
    return str(ALLURE)


def _cases(report: Path) -> dict[str, dict[str, Any]]:
    cases = [json.loads(p.read_text()) for p in (report / "data" / "test-cases").glob("*.json")]
    return {case["name"]: case for case in cases}


def _leaves(node: dict[str, Any]) -> Iterator[str]:
    """The test names under a node of data/categories.json (category > message > test)."""
    for child in node.get("children", []):
        yield from _leaves(child) if "children" in child else [child["name"]]


def _steps(case: dict[str, Any]) -> list[dict[str, Any]]:
    return list(case["testStage"]["steps"])


def test_generated_report_tells_the_story(tmp_path: Path, site: str) -> None:
    allure = _allure_cli()
    env = tmp_path / "story.yaml"
    env.write_text(f"""
name: story
kind: test
runbook_base_url: https://git.example.com/ops/blob/main
timeouts: {{http_s: 2, connect_s: 1}}
pages:
  - {{name: home, url: "{site}/", content_type: text/html}}
  - {{name: gone, url: "http://127.0.0.1:{free_port()}/", content_type: text/html}}
metrics:
  - {{name: app, url: "{site}/metrics", duration_metric: null, memory_metric: null}}
""")
    results, report = tmp_path / "allure-results", tmp_path / "allure-report"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), f"--env={env}", f"--reports-dir={tmp_path / 'reports'}",
         "-p", "no:cacheprovider", "--diagnosis", "AV1,PERF3", f"--alluredir={results}", "-n", "2"],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    generated = subprocess.run([allure, "generate", str(results), "-o", str(report), "--clean"],
                               capture_output=True, text=True, timeout=180)
    assert generated.returncode == 0, generated.stdout + generated.stderr

    environment = {e["name"]: e["values"] for e in json.loads((report / "widgets" / "environment.json").read_text())}
    assert environment["environment"] == ["story"] and environment["kind"] == ["test"]
    assert environment["file"] == [str(env)] and environment["healthsuite"] == [__version__]
    assert environment["host"] and environment["host"][0]

    cases = _cases(report)
    refused = cases["test_page_answers_with_expected_status_and_type[gone]"]
    assert refused["status"] == "failed"
    tree = json.loads((report / "data" / "categories.json").read_text())
    by_category = {c["name"]: set(_leaves(c)) for c in tree["children"]}
    assert "test_page_answers_with_expected_status_and_type[gone]" in by_category["Connection refused"], by_category
    assert "test_metrics_show_errors_latency_and_memory_in_limits[app]" in by_category["Assertion on a value"]

    steps = _steps(refused)
    assert steps[0]["name"].startswith("probe page 'gone': GET http://127.0.0.1:") and steps[0]["status"] == "failed"
    observation = next(a for a in steps[0]["attachments"] if a["name"] == "observation")
    attached = json.loads((report / "data" / "attachments" / observation["source"]).read_text())
    assert attached["error"]["kind"] == "refused" and "elapsed_ms" in attached
    assert {a["name"] for a in steps[1]["attachments"]} == {"observed", "facts"}
    passed = _steps(cases["test_page_answers_with_expected_status_and_type[home]"])
    assert [s["status"] for s in passed] == ["passed", "passed"] and " in " in passed[0]["name"]

    links = {link["name"]: link["url"] for link in refused["links"]}
    assert links["runbook 000: §1 Application Not Loading > Step 2: Test Basic Connectivity"] == (
        "https://git.example.com/ops/blob/main/docs/runbooks/000-booking-troubleshooting.md"
        "#step-2-test-basic-connectivity"
    )

    for case in cases.values():
        shown = json.dumps(case["parameters"])
        assert "PosixPath(" not in shown and "Page(name=" not in shown and "MetricsEndpoint(" not in shown, shown
    assert {(p["name"], p["value"]) for p in refused["parameters"]} == {("page", "'gone'")}

    # PERF3 is high; at the rollback trigger (10 % 5xx >= 5 %) it failed as critical, and says so
    metrics = cases["test_metrics_show_errors_latency_and_memory_in_limits[app]"]
    assert metrics["extra"]["severity"] == "blocker"
    labels = {(label["name"], label["value"]) for label in metrics["labels"]}
    assert ("healthsuite_severity", "critical") in labels and ("healthsuite_severity", "high") not in labels
    assert cases["test_page_answers_with_expected_status_and_type[home]"]["extra"]["severity"] == "blocker"


def _run(results: Path, env: Path, reports: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), f"--env={env}", f"--reports-dir={reports}", "-p", "no:cacheprovider",
         "-p", "no:randomly", f"--alluredir={results}", *args],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )


def _generate(allure: str, results: Path, report: Path) -> None:
    done = subprocess.run([allure, "generate", str(results), "-o", str(report), "--clean"],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr


def test_failures_land_in_their_category_and_the_trend_spans_runs(tmp_path: Path) -> None:
    """A name that answers NXDOMAIN and one that answers SERVFAIL (a DNS server on loopback), an endpoint
    answering 502 and a page that never answers: each under its own category of the generated report.
    Then a second run carries the first report's history (--allure-history): its report's trend holds both."""
    allure = _allure_cli()
    dns = DnsServer({"shop.demo.test": [("A", "127.0.0.1")], "api.demo.test": [("A", "127.0.0.1")]}).start()
    dns.set_fault("shop.demo.test", "nxdomain")
    dns.set_fault("api.demo.test", "servfail")
    try:
        with serving(lambda request: Answer(502)) as site, SilentListener() as silent:
            env = tmp_path / "kinds.yaml"
            env.write_text(f"""
name: kinds
kind: test
dns: {{nameservers: ["{dns.address}"]}}
timeouts: {{http_s: 1, connect_s: 1, dns_s: 1}}
hostnames:
  - {{name: shop, host: shop.demo.test}}
  - {{name: api, host: api.demo.test}}
pages:
  - {{name: hung, url: "http://127.0.0.1:{silent.port}/", content_type: text/html}}
endpoints:
  - {{name: orders, url: "{site}/api/orders"}}
""")
            results, first, second = tmp_path / "allure-results", tmp_path / "report-1", tmp_path / "report-2"
            done = _run(results, env, tmp_path / "reports", "--diagnosis", "NET1,AV1,AV3")
            assert done.returncode == 1, done.stdout + done.stderr
            _generate(allure, results, first)
            tree = json.loads((first / "data" / "categories.json").read_text())
            by_category = {c["name"]: set(_leaves(c)) for c in tree["children"]}
            assert by_category == {
                "DNS": {"test_hostname_resolves[shop]", "test_hostname_resolves[api]"},
                "Timeout": {"test_page_answers_with_expected_status_and_type[hung]",
                            "test_endpoint_answers_without_server_error[page-hung]"},
                "HTTP answer": {"test_endpoint_answers_without_server_error[endpoint-orders]"},
            }, by_category
            trend = json.loads((first / "history" / "history-trend.json").read_text())
            assert len(trend) == 1

            done = _run(results, env, tmp_path / "reports", "--diagnosis", "NET1,AV1,AV3", "--clean-alluredir",
                        f"--allure-history={first}")
            assert done.returncode == 1, done.stdout + done.stderr
            assert (results / "history" / "history-trend.json").is_file()
            _generate(allure, results, second)
    finally:
        dns.stop()
    trend = json.loads((second / "history" / "history-trend.json").read_text())
    assert len(trend) == 2 and all(entry["data"]["failed"] == 5 for entry in trend), trend
    assert len(json.loads((second / "widgets" / "history-trend.json").read_text())) == 2
    shop = _cases(second)["test_hostname_resolves[shop]"]
    assert [item["status"] for item in shop["extra"]["history"]["items"]] == ["failed"]  # the first run's


def _message(kind: str, service: Service = "http") -> str:
    """The status message allure-pytest records for a check failing on a probe error of `kind`."""
    catalogue = load_catalogue()
    finding = probe_failure(ProbeError(kind, service, "127.0.0.1:1", "the driver's words"), catalogue, "an answer")
    return "Failed: " + compose(catalogue.diagnosis("AV1"), finding, severity="critical", target="page 'home'",
                                catalogue=catalogue, contacts={})


def _with_observed(observed: str) -> str:
    catalogue = load_catalogue()
    finding = Finding(ok=False, observed=observed, expected="what the check wants")
    return "Failed: " + compose(catalogue.diagnosis("AV1"), finding, severity="critical", target="page 'home'",
                                catalogue=catalogue, contacts={})


def test_each_failure_lands_in_one_category_by_what_it_observed() -> None:
    found = [c["name"] for c in categories()]
    assert found == ["DNS", "Timeout", "Connection refused", "TLS", "Permission", "Authentication",
                     "Other transport errors", "HTTP answer", "Assertion on a value"]
    expected = {"dns": "DNS", "timeout": "Timeout", "refused": "Connection refused", "tls": "TLS",
                "permission_denied": "Permission", "auth_failed": "Authentication"}
    for kind in KINDS:
        assert category_of(_message(kind)) == [expected.get(kind, "Other transport errors")], kind
        assert category_of(_message(kind), "broken") == [expected.get(kind, "Other transport errors")], kind
    observed = {
        "booking.demo.test: NXDOMAIN (A, AAAA) [resolver 127.0.0.1:53]": "DNS",
        "edge.demo.test: SERVFAIL (A) [resolver 127.0.0.1:53]": "DNS",
        "demo.test: timeout (A, AAAA): no answer within 0.4 s [resolver 127.0.0.1:53]": "DNS",
        "www.demo.test has A 127.0.0.1 instead of a CNAME to demo.test [system resolver (10.0.0.2:53)]": "DNS",
        "HTTP 502 Bad Gateway in 93 ms, content-type text/html": "HTTP answer",
        "HTTP 504 Gateway Timeout in 91 ms": "HTTP answer",
        "HTTP 502 in 3 ms; body 'connect() failed (111: Connection refused) while connecting'": "HTTP answer",
        "https://x.test/.well-known/openid-configuration: timed out (read timeout)": "Timeout",
        "POST https://x.test/hook -> connection refused ([Errno 111])": "Connection refused",
        "connection refused after 2 ms ([Errno 111] Connection refused)": "Connection refused",
        "no TLS handshake: TLS failure: certificate verify failed": "TLS",
        "leaf certificate (subject CN=x) expires in 5.0 days (not after 2026-12-12)": "TLS",
        "12 timeout lines in the last 60 min; e.g. {\"message\": \"request timed out after 10000 ms\"}": "Assertion on a value",
        "3 of 21 payments failed in the last 24 h (14.3 %)": "Assertion on a value",
    }
    for text, category in observed.items():
        assert category_of(_with_observed(text)) == [category], text
    assert category_of("Failed: an assertion without a failure block") == []  # Allure's own "Product defects"
    assert category_of(_with_observed("HTTP 404 Not Found"), "broken") == ["HTTP answer"]


def test_the_history_of_the_previous_report_is_carried_into_the_results(tmp_path: Path) -> None:
    report, results = tmp_path / "report", tmp_path / "results"
    assert allure_output.carry_history(report, results) == []  # a first run: nothing yet
    assert not (results / "history").exists()
    (report / "history").mkdir(parents=True)
    for name in ("history.json", "history-trend.json", "duration-trend.json"):
        (report / "history" / name).write_text("[]")
    copied = allure_output.carry_history(report, results)
    assert sorted(p.name for p in copied) == ["duration-trend.json", "history-trend.json", "history.json"]
    assert allure_output.carry_history(report / "history", tmp_path / "other")  # the history folder itself
    assert allure_output.carry_history(results, results)  # already in place: nothing to copy


def test_environment_properties_without_an_environment_still_parse(pytestconfig: pytest.Config) -> None:
    text = environment_properties(pytestconfig)
    assert [line.split("=", 1)[0] for line in text.splitlines()] == ["environment", "kind", "file", "healthsuite", "host"]


IN_WINDOW = "2026-12-24T22:10:00+01:00"  # inside the window below


def _verdicts_env(tmp_path: Path, flaky_port: int) -> Path:
    """A page that answers on the second attempt (retries: 2), and one nothing listens on during a window."""
    env = tmp_path / "verdicts.yaml"
    env.write_text(f"""
name: verdicts
kind: test
timeouts: {{http_s: 2, connect_s: 1}}
retries: {{attempts: 2, backoff_s: 0.05}}
pages:
  - {{name: flaky, url: "http://127.0.0.1:{flaky_port}/", content_type: text/html}}
  - {{name: down, url: "http://127.0.0.1:{free_port()}/", content_type: text/html}}
maintenance:
  - name: db-upgrade
    reason: "CHG-1234 | upgrade; <b>PostgreSQL</b> 17"
    targets: [down]
    from: 2026-12-24T22:00:00+01:00
    to: 2026-12-24T23:00:00+01:00
""")
    return env


def _verdicts_run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path, dict[str, str]]:
    results = tmp_path / "allure-results"
    with FlakyListener(failures=1, fault="reset") as flaky:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", str(CHECKS), f"--env={_verdicts_env(tmp_path, flaky.port)}",
             f"--reports-dir={tmp_path / 'reports'}", "-p", "no:cacheprovider", f"--alluredir={results}",
             "--diagnosis", "AV1,AV3", *args],
            cwd=PROJECT, capture_output=True, text=True, timeout=120,
            env={**os.environ, "HEALTHSUITE_NOW": IN_WINDOW},
        )
    report = json.loads((tmp_path / "reports" / "latest.json").read_text())
    outcomes = {f"{r['diagnosis']} {r['target']}": r["outcome"] for r in report["checks"]}
    return done, results, outcomes


WINDOW_SAID = ("failed during maintenance db-upgrade (until 2026-12-24T22:00:00+00:00): "
               "CHG-1234 | upgrade; <b>PostgreSQL</b> 17")


def test_passed_after_retry_and_failed_in_maintenance_are_told_as_every_output_tells_them(tmp_path: Path) -> None:
    """Allure has no status for either: passed after retry is `passed` and flaky, with its attempts;
    failed during maintenance is `skipped` (as an expected failure) and a known issue, the window first and
    the failure kept. The generated report says so, and the JSON report's outcomes are the same verdicts."""
    allure = _allure_cli()
    done, results, outcomes = _verdicts_run(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr  # neither fails the run
    assert outcomes == {"AV1 flaky": "retried", "AV3 flaky": "retried",
                        "AV1 down": "maintenance", "AV3 down": "maintenance"}, outcomes
    report = tmp_path / "allure-report"
    _generate(allure, results, report)
    cases = _cases(report)
    for name in ("test_page_answers_with_expected_status_and_type[flaky]",
                 "test_endpoint_answers_without_server_error[page-flaky]"):
        case = cases[name]
        assert (case["status"], case["flaky"]) == ("passed", True), case
        lines = case["statusMessage"].splitlines()
        assert lines[0] == "passed after retry" and lines[1].startswith("attempt 1 of GET http://127.0.0.1:")
        assert ": reset (connection reset" in lines[1] and lines[2].startswith("attempt 2 of GET")
    for name in ("test_page_answers_with_expected_status_and_type[down]",
                 "test_endpoint_answers_without_server_error[page-down]"):
        case = cases[name]
        assert case["status"] == "skipped", case
        message = case["statusMessage"]
        assert message.startswith(WINDOW_SAID + "\n\nFailed: "), message
        assert "connection refused" in message  # the failure is never hidden
    summary = json.loads((report / "widgets" / "summary.json").read_text())["statistic"]
    assert (summary["passed"], summary["skipped"], summary["failed"], summary["broken"]) == (2, 2, 0, 0), summary


def test_workers_tell_allure_the_same_verdicts(tmp_path: Path) -> None:
    """Under -n 2 --keep-workers each worker writes its checks' results, told the same way."""
    done, results, outcomes = _verdicts_run(tmp_path, "-n", "2", "--keep-workers")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(outcomes.values()) == ["maintenance", "maintenance", "retried", "retried"], outcomes
    told = {}
    for path in results.glob("*-result.json"):
        result = json.loads(path.read_text())
        details = result.get("statusDetails", {})
        told[result["name"]] = (result["status"], details.get("flaky", False), details.get("known", False),
                                details.get("message", "").split("\n", 1)[0])
    assert told == {
        "test_page_answers_with_expected_status_and_type[flaky]": ("passed", True, False, "passed after retry"),
        "test_endpoint_answers_without_server_error[page-flaky]": ("passed", True, False, "passed after retry"),
        "test_page_answers_with_expected_status_and_type[down]": ("skipped", False, True, WINDOW_SAID),
        "test_endpoint_answers_without_server_error[page-down]": ("skipped", False, True, WINDOW_SAID),
    }, told
