"""healthsuite.assessments.flows on its own: the application error codes (runbook 000) decoded from
an answer and explained in a finding."""

from __future__ import annotations

from healthsuite.assessments.flows import decode_error_codes, error_code_finding_parts
from healthsuite.catalogue.diagnoses import load_catalogue
from healthsuite.probes.http import HttpObservation

# --- the application error codes (runbook 000), on their own -----------------------------------------------


def test_decode_error_codes_reads_json_fields_and_text() -> None:
    nested = decode_error_codes(b'{"error": {"code": "DB001", "message": "Database connection failed"}}')
    assert [(c.code, c.where, c.meaning, c.known) for c in nested] == [
        ("DB001", "body.error.code", "Database connection failed", True)
    ]
    flat = decode_error_codes({"errors": [{"error_code": "AUTH002"}], "detail": "see PAY001"})
    assert [(c.code, c.where) for c in flat] == [("AUTH002", "body.errors.0.error_code"), ("PAY001", "body text")]
    html = decode_error_codes("<p>Something went wrong (API001). Request id 4711.</p>")
    assert [(c.code, c.resolution) for c in html] == [("API001", "Check third-party service status")]
    unknown = decode_error_codes('{"code": "DB077"}')
    assert unknown[0].known is False and "a database error" in unknown[0].meaning
    assert decode_error_codes("HTTP 500, no code here; DB0012 and XDB001 are not codes") == []
    assert decode_error_codes(None) == []


def test_error_code_finding_parts_explain_a_coded_answer() -> None:
    catalogue = load_catalogue()
    coded = HttpObservation("POST", "https://x/api/book", status=500, body=b'{"error": {"code": "PAY002"}}')
    meaning, steps = error_code_finding_parts(coded, catalogue)
    assert meaning == ("application error code PAY002 at body.error.code: Webhook verification failed "
                       "(resolution: Check webhook signature)")
    assert steps == ("PAY002: Check webhook signature (runbook 000, Application Error Codes).",)
    assert error_code_finding_parts(HttpObservation("GET", "https://x/", status=500, body=b"oops"), catalogue) == ("", ())
