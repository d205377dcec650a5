"""Availability: is the site up? Runbook 000 §1 and "HTTP Status Codes", 001 post-deploy step 4,
002 "System Down", 003 RB1, 004 "Application Won't Start"."""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthsuite import assessments, plans
from healthsuite.assessments import edge
from healthsuite.checkapi import check

if TYPE_CHECKING:
    from healthsuite.checkapi import Expect
    from healthsuite.model.environment import HealthEndpoint, HttpTarget, Page, ServicePort, StatusPage
    from healthsuite.probes.session import ProbeSession


@check("AV1", plan=plans.get)
def test_page_answers_with_expected_status_and_type(page: Page, probes: ProbeSession, expect: Expect) -> None:
    response = expect.reached(probes.http(page))
    expect.finding(assessments.page(page, response, expect.catalogue))


@check("AV2", plan=plans.get)
def test_health_endpoint_is_healthy(health_endpoint: HealthEndpoint, probes: ProbeSession, expect: Expect) -> None:
    response = expect.reached(probes.http(health_endpoint))
    expect.finding(assessments.health(health_endpoint, response, expect.catalogue))


@check("AV3", plan=plans.get)
def test_endpoint_answers_without_server_error(http_endpoint: HttpTarget, probes: ProbeSession, expect: Expect) -> None:
    response = expect.reached(probes.http(http_endpoint), expected="an answer below HTTP 500")
    expect.finding(assessments.no_server_error(http_endpoint, response, expect.catalogue))


@check("AV4", plan=plans.tcp)
def test_service_port_accepts_connections(service_port: ServicePort, probes: ProbeSession, expect: Expect) -> None:
    observation = expect.reached(probes.tcp(service_port), expected="the port accepts a TCP connection in time")
    expect.finding(edge.port_open(observation))


@check("AV5", plan=plans.get)
def test_platform_reports_no_incident(status_page: StatusPage, probes: ProbeSession, expect: Expect) -> None:
    response = expect.reached(probes.http(status_page), expected="the status API answers with status.indicator")
    expect.finding(edge.platform_status(response))
