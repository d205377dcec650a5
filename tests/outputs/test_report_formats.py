"""The reports strict consumers read: the JUnit file against the Jenkins xunit plugin's junit-10.xsd
(tests/schemas), the JSON report against its JSON Schema (docs/report.schema.json), and the advice a
failing record carries as data, the words of its message."""

from __future__ import annotations

import json
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from lxml import etree

from healthsuite.demo.stack import DemoStack
from healthsuite.outputs import junit
from tests.conftest import PROJECT, RunChecks
from tests.localhttp import Answer, serving

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


def _message_block(message: str, heading: str) -> list[str]:
    lines = message.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == heading) + 1
    block = []
    for line in lines[start:]:
        if not line.startswith("    "):
            break
        block.append(line.strip())
    return block


def test_failing_records_carry_their_advice_as_data(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.break_(["DB1"])
    run = run_checks("--diagnosis", "DB1,AV1")
    record = run.record("DB1", "booking")
    assert record["outcome"] == "failed"
    message = record["message"]
    assert [f"- {c}" for c in record["causes"]] == _message_block(message, "likely causes:")
    steps = [f"{n}. {s}" for n, s in enumerate(record["remediation"], start=1)]
    assert steps == _message_block(message, "what to do:")
    assert f"  escalate:    {record['escalation']}" in message.splitlines()
    assert str(stack.ports.postgres) in "\n".join(record["remediation"])  # tailored, as the message is
    passing = [r for r in run.report["checks"] if r["outcome"] == "passed"]
    assert passing and not any({"causes", "remediation", "escalation"} & set(r) for r in passing)


def test_the_report_matches_its_schema_and_is_group_readable(run_checks: RunChecks, stack: DemoStack) -> None:
    schema = json.loads((PROJECT / "docs" / "report.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    stack.break_(["DB1", "CACHE1"])
    run = run_checks()
    assert run.report["summary"]["failed"] and run.report["causes"]
    jsonschema.Draft202012Validator(schema).validate(run.report)
    for path in run.reports_dir.iterdir():
        if path.suffix == ".json" and not path.name.endswith("history.json"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o640, path


def _junit_errors(path: Path) -> list[str]:
    schema = etree.XMLSchema(etree.parse(str(SCHEMAS / "junit-10.xsd")))
    ok = schema.validate(etree.parse(str(path)))
    return [] if ok else [f"line {e.line}: {e.message}" for e in schema.error_log]


def test_junit_validates_against_junit_10_xsd_and_carries_the_failure(
    run_checks: RunChecks, stack: DemoStack, tmp_path: Path
) -> None:
    stack.break_(["DB1"])
    run = run_checks("--diagnosis", "DB1,DB2,AV1")
    junit_file = next(tmp_path.glob("junit-*.xml"))
    assert _junit_errors(junit_file) == []
    root = ET.parse(junit_file).getroot()
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "healthsuite demo"
    assert {p.get("name"): p.get("value") for p in suite.iter("property")}["environment"] == "demo"
    assert not any(case.find("properties") is not None for case in root.iter("testcase"))
    db1 = run.junit_case("DB1", "booking")  # read back from the testcase's system-out
    record = run.record("DB1", "booking")
    assert (db1["outcome"], db1["diagnosis"], db1["severity"], db1["change"]) == ("failed", "DB1", "critical", "new")
    assert db1["remediation"].splitlines()[0] == f"1. {record['remediation'][0]}"
    assert db1["escalation"] == record["escalation"] and "advice" not in db1
    explained = [r for r in run.report["checks"] if r.get("explained_by")]
    assert explained, "DB1 refused explains the other database checks"
    for other in explained:
        assert run.junit_case(other["diagnosis"], other["target"])["explained_by"] == other["explained_by"]
    passing = run.junit_case("AV1", run.records("AV1")[0]["target"])
    assert passing["outcome"] == "passed" and "remediation" not in passing


def test_junit_case_names_carry_diagnosis_target_and_severity(
    run_checks: RunChecks, stack: DemoStack, tmp_path: Path
) -> None:
    """Jenkins and GitLab list a testcase by its name alone: it says what was checked, on what, how
    severe, and keeps pytest's name at its end."""
    stack.break_(["DB1"])
    run = run_checks("--diagnosis", "DB1,DB9,AV1")
    assert _junit_errors(next(tmp_path.glob("junit-*.xml"))) == []
    names = {(case["diagnosis"], case["target"]): case["name"] for case in run.junit}
    assert names[("DB1", "booking")] == "DB1 database booking [critical]: test_database_answers_select_1[booking]"
    assert names[("AV1", "home")] == "AV1 page home [critical]: test_page_answers_with_expected_status_and_type[home]"
    for record in run.report["checks"]:
        name = names[(record["diagnosis"], record["target"])]
        assert name.startswith(f"{record['diagnosis']} ") and f"[{record['severity']}]: " in name
        assert name.endswith(record["id"].rsplit("::", 1)[-1]), name
    assert len(set(names.values())) == len(run.junit)


def test_a_page_and_an_endpoint_named_alike_get_distinct_junit_names(
    run_checks: RunChecks, tmp_path: Path
) -> None:
    """PERF1 times pages and endpoints alike: a page `shop` and an endpoint `shop` are two testcases,
    named apart by their kind."""
    def answer(request: object) -> Answer:
        return Answer(502) if getattr(request, "path", "") == "/api" else Answer()

    with serving(answer) as site:
        env = tmp_path / "alike.yaml"
        env.write_text(f"""
name: alike
kind: test
timeouts: {{http_s: 2}}
pages:
  - {{name: shop, url: "{site}/", content_type: text/html}}
endpoints:
  - {{name: shop, url: "{site}/api"}}
""")
        run = run_checks("--diagnosis", "AV1,AV3,PERF1", env=env)
    junit_file = next(tmp_path.glob("junit-*.xml"))
    assert _junit_errors(junit_file) == []
    names = [case.get("name", "") for case in ET.parse(junit_file).getroot().iter("testcase")]
    assert len(names) == len(set(names)) == len(run.report["checks"]), names
    severity = {r["diagnosis"]: r["severity"] for r in run.report["checks"]}
    assert sorted(n for n in names if n.startswith("PERF1 ")) == [
        f"PERF1 endpoint shop [{severity['PERF1']}]: test_endpoint_answers_within_time_limit[endpoint-shop]",
        f"PERF1 page shop [{severity['PERF1']}]: test_endpoint_answers_within_time_limit[page-shop]",
    ]
    assert f"AV1 page shop [{severity['AV1']}]: test_page_answers_with_expected_status_and_type[shop]" in names
    failing = [case["name"] for case in run.junit if case["outcome"] == "failed"]
    assert failing == ["AV3 endpoint shop [critical]: test_endpoint_answers_without_server_error[endpoint-shop]"]


def test_junit_testcase_properties_on_request_and_the_schema_rejects_them(
    run_checks: RunChecks, stack: DemoStack, tmp_path: Path
) -> None:
    stack.break_(["DB1"])
    run = run_checks("--diagnosis", "DB1", "-o", "healthsuite_junit_properties=testcase")
    junit_file = next(tmp_path.glob("junit-*.xml"))
    case = next(ET.parse(junit_file).getroot().iter("testcase"))
    names = [p.get("name") for p in case.iter("property")]
    assert {"diagnosis", "remediation", "escalation", "change"} <= set(names) and "advice" not in names
    assert run.junit_case("DB1", "booking")["outcome"] == "failed"
    assert any("properties" in error for error in _junit_errors(junit_file))  # the strict schema has teeth


def test_a_bad_junit_properties_setting_is_a_usage_error(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "AV1", "-o", "healthsuite_junit_properties=inline")
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "healthsuite_junit_properties = 'inline': expected one of auto, testcase, system-out" in run.output


def test_system_out_lines_round_trip() -> None:
    items = [("observed", "HTTP 502"), ("remediation", "1. look\n2. fix: now")]
    text = f"captured\n{junit.HEADER}\n{junit.as_lines(items)}\n"
    assert junit.parse_lines(text) == items
    assert junit.mode_for("auto", "xunit1") == "testcase" and junit.mode_for("", "xunit2") == "system-out"


def test_display_names_of_every_kind_of_target() -> None:
    properties = {"diagnosis": "NET5", "severity": "high", "target": "app", "target_kind": "tls"}
    assert junit.display_name("test_x[app]", properties) == "NET5 tls app [high]: test_x[app]"
    assert junit.display_name("NET5 tls app [high]: test_x[app]", properties) == "NET5 tls app [high]: test_x[app]"
    assert junit.display_name("test_y", {"diagnosis": "AV5", "severity": "high"}) == "AV5 [high]: test_y"
    assert junit.display_name("test_plain", {}) == "test_plain"
    words = {key: junit.kind_word(key) for key in ("proxies", "status_pages", "auth.refresh_tokens", "metrics")}
    assert words == {"proxies": "proxy", "status_pages": "status page", "auth.refresh_tokens": "refresh token",
                     "metrics": "metrics"}
