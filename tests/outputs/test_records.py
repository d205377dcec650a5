"""A check's report line (healthsuite.outputs.records.record_line) as the generic redaction of JSON-like data
writes it, with every field redacted, and a record's attempts."""

from __future__ import annotations

import json

from healthsuite.environment.redaction import Redactor
from healthsuite.outputs.records import RECORD_FIELDS, CheckRecord, record_line, redact_data

SECRET = "hunter2-secret"


def test_a_report_line_is_the_generic_redaction_of_its_fields() -> None:
    redactor = Redactor()
    redactor.add(SECRET)
    redactor.add("target_kind")  # a secret that happens to be a field's name is masked there too, as always
    record = CheckRecord(
        id=f"checks/test_x.py::test_y[{SECRET}]", diagnosis="AV1", category="availability", severity="high",
        target=f"t-{SECRET}", target_kind="pages", outcome="passed", observed=f"saw {SECRET}",
        expected="https://user:pw@host/ answers", duration_s=0.25, message=SECRET,
        runbook=(f"000 {SECRET}", "001 plain"), facts_json='{"a": 1}',
    )
    line = record_line(record, redactor.redact)
    fields = redact_data({name: getattr(record, name) for name in RECORD_FIELDS}, redactor.redact)
    assert line.startswith(json.dumps(fields, ensure_ascii=False)[:-1] + ", ")
    assert SECRET not in line and "pw@" not in line and '"***": "pages"' in line
    assert json.loads(line)["runbook"] == ["000 ***", "001 plain"]


def test_attempts_are_the_most_any_exchange_took() -> None:
    assert CheckRecord(id="a", diagnosis="AV1", category="c", severity="high").attempts == 1
    retried = json.dumps([{"attempt": 1, "outcome": "error"}, {"attempt": 3, "outcome": "ok"}])
    assert CheckRecord(id="a", diagnosis="AV1", category="c", severity="high", attempts_json=retried).attempts == 3
    assert CheckRecord(id="a", diagnosis="AV1", category="c", severity="high", attempts_json="not json").attempts == 1
