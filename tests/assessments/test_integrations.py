"""healthsuite.assessments.integrations on its own: the calendar's answers told apart (EXT1) and the new
issues of the error tracker's window, their titles masked (EXT2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from healthsuite.assessments import integrations
from healthsuite.catalogue.diagnoses import load_catalogue
from healthsuite.probes.http import HttpObservation
from healthsuite.probes.integrations import Issue, IssueList, issues_url


def test_EXT1_calendar_answers_are_told_apart() -> None:
    catalogue = load_catalogue()

    def answer(status: int, reason: str = "") -> HttpObservation:
        body = f'{{"error": {{"code": {status}, "message": "m", "errors": [{{"reason": "{reason}"}}]}}}}'
        return HttpObservation("GET", "https://www.googleapis.com/x", status=status, body=body.encode())

    assert "throttles" in integrations.calendar(answer(403, "rateLimitExceeded"), catalogue).meaning
    assert "throttles" in integrations.calendar(answer(429, "rateLimitExceeded"), catalogue).meaning
    assert "not enabled" in integrations.calendar(answer(403, "accessNotConfigured"), catalogue).meaning
    assert "provider has an incident" in integrations.calendar(answer(503, "backendError"), catalogue).meaning


def test_EXT2_new_issues_counts_only_the_window_and_masks_titles() -> None:
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    recent = (now - timedelta(hours=2)).isoformat()
    old = (now - timedelta(days=3)).isoformat()
    response = HttpObservation("GET", "https://sentry.example/api", status=200, body=b"[]")
    issues = (
        Issue("KeyError: 'email' for jane.doe+x@example.com in " + "x" * 80, count=3, first_seen=recent),
        Issue("old", count=90, first_seen=old),
    )
    finding = integrations.new_issues(IssueList("u", response, issues, more=True), 1, 24, 5, load_catalogue(), now=now)
    assert not finding.ok and finding.observed.startswith("at least 1 new issues in the last 24 h")
    assert "jane.doe" not in finding.observed and "KeyError: 'email' for <email> in xxx" in finding.observed
    assert "old" not in finding.observed
    url = issues_url("https://sentry.io/", "my org", "web", "is:unresolved", 24)
    assert url.startswith("https://sentry.io/api/0/projects/my%20org/web/issues/?statsPeriod=24h&query=is%3Aunresolved")
    assert "firstSeen%3A-24h" in url
