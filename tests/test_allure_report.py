"""Allure that tells the story (healthsuite.plugin.allure_story): a real run with --alluredir against a local
page, a metrics endpoint at the rollback trigger and a loopback port nothing listens on, then the real
`allure generate`, and the generated report's data read back."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from healthsuite import __version__
from healthsuite.demo.services import free_port
from healthsuite.plugin.allure_story import categories, environment_properties

from .conftest import CHECKS, PROJECT
from .localhttp import Answer, serving

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


def test_categories_cover_every_transport_kind_and_assertions() -> None:
    found = {c["name"]: c["messageRegex"] for c in categories()}
    assert list(found) == ["Timeout", "Connection refused", "TLS", "DNS", "Permission", "Authentication",
                           "Other transport errors", "Assertion on a value"]
    assert "connection refused" in found["Connection refused"] and "TLS failure" in found["TLS"]


def test_environment_properties_without_an_environment_still_parse(pytestconfig: pytest.Config) -> None:
    text = environment_properties(pytestconfig)
    assert [line.split("=", 1)[0] for line in text.splitlines()] == ["environment", "kind", "file", "healthsuite", "host"]
