"""A check that passed after retry, told the same way in every output of one real run: a loopback server
resets the first connection and answers the second (testing.hostile.FlakyListener), the environment
allows two attempts, and AV1 and AV3 read the one exchange. The JSON report against its schema, the
JUnit file against junit-10.xsd, the Prometheus textfile through promtool, the HTML page and the
Nagios line by the plugin grammar; under -n 2 as under one process."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from healthsuite.outputs import junit
from healthsuite.testing.hostile import FlakyListener
from tests.conftest import CHECKS, PROJECT
from tests.outputs.test_metrics import PROMTOOL, _needs, _series
from tests.outputs.test_nagios import assert_meant_perfdata, parse_plugin_output
from tests.outputs.test_report_formats import _junit_errors

PAGE_CHECK = "test_page_answers_with_expected_status_and_type"


@pytest.fixture
def flaky() -> Iterator[FlakyListener]:
    with FlakyListener(failures=1, fault="reset") as server:
        yield server


def _env(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "env.yaml"
    path.write_text(f"""
name: retrying
kind: test
timeouts: {{http_s: 2, connect_s: 1}}
retries: {{attempts: 2, backoff_s: 0.05}}
pages:
  - {{name: home, url: "http://127.0.0.1:{port}/", content_type: text/html}}
""")
    return path


def _run(tmp_path: Path, env: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), f"--env={env}", f"--reports-dir={tmp_path / 'reports'}",
         "-p", "no:cacheprovider", "--diagnosis", "AV1,AV3", *args],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )


@_needs(PROMTOOL)
@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_reset_retried_and_passed_has_both_attempts_in_every_output(
    tmp_path: Path, flaky: FlakyListener, workers: str
) -> None:
    junit_file, prom, page = tmp_path / "junit.xml", tmp_path / "healthsuite.prom", tmp_path / "report.html"
    done = _run(tmp_path, _env(tmp_path, flaky.port), "-n", workers, f"--junitxml={junit_file}",
                f"--prom-textfile={prom}", f"--html-report={page}")
    said = done.stdout + done.stderr
    assert done.returncode == 0, said  # passed after retry does not fail the run
    assert (flaky.connections, flaky.requests) == (2, 1)  # one exchange for both checks: two attempts
    assert "2 retried" in said and "passed after retry" in said

    # JSON: the outcome, the counts apart, every attempt; valid against the schema
    report = json.loads((tmp_path / "reports" / "latest.json").read_text())
    jsonschema.Draft202012Validator(json.loads((PROJECT / "docs" / "report.schema.json").read_text())).validate(report)
    assert report["summary"]["retried"] == 2 and report["summary"]["passed"] == 0
    url = f"GET http://127.0.0.1:{flaky.port}/"
    for record in report["checks"]:
        assert record["outcome"] == "retried", record
        assert [(a["attempt"], a["outcome"], a["exchange"]) for a in record["attempts"]] == [
            (1, "reset", url), (2, "answered", url)]
        assert "connection reset" in record["attempts"][0]["error"] and record["attempts"][1]["waited_s"] == 0.05

    # JUnit: strict schema, a passing case with attempts=2 and each attempt in its system-out
    assert _junit_errors(junit_file) == []
    cases = list(ET.parse(junit_file).getroot().iter("testcase"))
    assert len(cases) == 2
    for case in cases:
        assert not any(case.find(tag) is not None for tag in ("failure", "error", "skipped"))
        out = "".join(o.text or "" for o in case.iter("system-out"))
        properties = dict(junit.parse_lines(out))
        assert properties["attempts"] == "2" and properties["verdict"] == "passed after retry"
        assert f"attempt 1 of {url}: reset (connection reset" in out
        assert f"attempt 2 of {url}: answered in" in out

    # Prometheus: promtool accepts it; the attempts per check and the outcome label retried
    text = prom.read_text()
    lint = subprocess.run([str(PROMTOOL), "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    series = _series(text)
    labels = ('category="availability",check="{}",diagnosis="{}",environment="retrying",severity="critical",'
              'target="home",target_kind="pages"')
    assert series[f"healthsuite_check_attempts{{{labels.format(PAGE_CHECK, 'AV1')}}}"] == 2
    assert series[f"healthsuite_check_success{{{labels.format(PAGE_CHECK, 'AV1')}}}"] == 1
    assert series['healthsuite_checks{environment="retrying",outcome="retried"}'] == 2
    assert series['healthsuite_run_exit_status{environment="retrying"}'] == 0

    # HTML: a warning, the checks said to have passed after retry, with their attempts
    html = page.read_text()
    assert 'data-status="warning"' in html and "<b>2</b> passed after retry" in html
    assert html.count('<td class="o-retried">passed after retry</td>') == 2
    assert html.count("<li>attempt 1 of") == 2 and html.count("<b>reset</b>") == 2


def test_nagios_says_warning_for_a_check_passed_after_retry(tmp_path: Path, flaky: FlakyListener) -> None:
    done = _run(tmp_path, _env(tmp_path, flaky.port), "--nagios")
    assert done.returncode == 1, done.stdout + done.stderr  # WARNING
    output = parse_plugin_output(done.stdout)
    assert output.state == "WARNING"
    assert output.text == "retrying: 2 checks passed, 2 of them only after retry (AV1 home, AV3 home)"
    assert any(line.startswith("PASSED AFTER RETRY critical AV1 home") for line in output.long_output)
    assert_meant_perfdata(output, json.loads((tmp_path / "reports" / "latest.json").read_text()))


def test_a_check_that_failed_on_every_attempt_keeps_them_all(tmp_path: Path) -> None:
    with FlakyListener(failures=10, fault="reset") as server:
        junit_file = tmp_path / "junit.xml"
        done = _run(tmp_path, _env(tmp_path, server.port), f"--junitxml={junit_file}")
        assert done.returncode == 1, done.stdout + done.stderr
        assert server.connections == 2  # two attempts, shared by AV1 and AV3
    report = json.loads((tmp_path / "reports" / "latest.json").read_text())
    assert report["summary"]["failed"] == 2 and report["summary"]["retried"] == 0
    for record in report["checks"]:
        assert record["outcome"] == "failed"
        assert [(a["attempt"], a["outcome"]) for a in record["attempts"]] == [(1, "reset"), (2, "reset")]
    assert _junit_errors(junit_file) == []
    for case in ET.parse(junit_file).getroot().iter("testcase"):
        assert case.find("failure") is not None
        properties = dict(junit.parse_lines("".join(o.text or "" for o in case.iter("system-out"))))
        assert properties["attempts"] == "2" and "verdict" not in properties


@pytest.mark.parametrize("mode", ["testcase", "system-out"])
def test_junit_tells_the_attempts_in_either_property_mode(tmp_path: Path, mode: str) -> None:
    attempts = json.dumps([
        {"attempt": 1, "outcome": "timeout", "error": "timed out: 2 s", "duration_s": 2.0, "waited_s": 0,
         "exchange": "GET https://shop.example/"},
        {"attempt": 2, "outcome": "answered", "error": "", "duration_s": 0.1, "waited_s": 0.5,
         "exchange": "GET https://shop.example/"}])
    path = tmp_path / "junit.xml"
    case = ET.Element("testcase", classname="checks.test_availability", name="test_x[shop]")
    properties = ET.SubElement(case, "properties")
    for name, value in (("diagnosis", "AV1"), ("target", "shop"), ("attempts", attempts)):
        ET.SubElement(properties, "property", name=name, value=value)
    suite = ET.Element("testsuite", name="pytest")
    suite.append(case)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.ElementTree(root).write(path)
    for _ in range(2):  # a file rewritten again says the same
        junit.rewrite(path, mode=mode, suite_name="", suite_properties=[], extra={})
    case = next(ET.parse(path).getroot().iter("testcase"))
    out = "".join(o.text or "" for o in case.iter("system-out"))
    told = ({p.get("name"): p.get("value") for p in case.iter("property")} if mode == "testcase"
            else dict(junit.parse_lines(out)))
    assert (told["attempts"], told["verdict"]) == ("2", "passed after retry")
    assert [p.get("name") for p in case.iter("property")].count("verdict") == (1 if mode == "testcase" else 0)
    assert out.count("attempt 1 of GET https://shop.example/: timeout (timed out: 2 s) in 2 s") == 1
    assert "attempt 2 of GET https://shop.example/: answered in 0.1 s, after waiting 0.5 s" in out
