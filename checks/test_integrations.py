"""Integrations: the calendar API accepts its token (runbook 000 "Google Calendar Integration"), the error
tracker reports few new issues (001 daily-report.sh), and every external dependency answers within its
budget (003 RB5 prevention). Requests to these third parties carry their own token, never http.headers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthsuite import plans
from healthsuite.assessments import integrations
from healthsuite.checkapi import check
from healthsuite.probes import integrations as integration_probes

if TYPE_CHECKING:
    from healthsuite.checkapi import Expect
    from healthsuite.model.integrations import CalendarApi, ErrorTracker, ExternalDependency
    from healthsuite.probes.session import ProbeSession


@check("EXT1", plan=plans.calendar)
def test_calendar_api_accepts_token(calendar_api: CalendarApi, probes: ProbeSession, expect: Expect) -> None:
    request = integration_probes.external_request(expect.env, calendar_api, calendar_api.token)
    expect.finding(integrations.calendar(integration_probes.fetch_once(probes, request), expect.catalogue))


@check("EXT2", plan=plans.error_tracker)
def test_error_tracker_reports_few_new_issues(
    error_tracker: ErrorTracker, probes: ProbeSession, expect: Expect
) -> None:
    window_h = expect.threshold("window_h")
    issues = expect.reached(
        integration_probes.new_issues(probes, error_tracker, window_h), expected="the tracker's issue list answers"
    )
    expect.finding(
        integrations.new_issues(
            issues, expect.threshold("max_new_issues"), window_h, error_tracker.top, expect.catalogue
        )
    )


@check("EXT3", plan=plans.dependency)
def test_dependency_answers_within_budget(dependency: ExternalDependency, probes: ProbeSession, expect: Expect) -> None:
    budget_ms = plans.dependency_budget_ms(dependency, expect.threshold)
    request = integration_probes.dependency_request(expect.env, dependency, budget_ms)
    observation = integration_probes.fetch_once(probes, request)
    expect.finding(integrations.dependency(dependency, observation, budget_ms, expect.catalogue))
