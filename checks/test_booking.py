"""Booking flow: runbook 000 §2 "Booking Flow Broken" (Step 1: test the booking API with a POST of a test
payload, 200 or 400, never 500), 001's performance-monitor.sh (each tenant's `/book/<tenant>` answers 200),
and 000 "Application Error Codes" (an error body's code decoded into its meaning and resolution)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthsuite import plans
from healthsuite.assessments import flows as judge
from healthsuite.checkapi import check
from healthsuite.probes import flows

if TYPE_CHECKING:
    from healthsuite.checkapi import Expect
    from healthsuite.model.flows import BookingSubmission, TenantPage
    from healthsuite.probes.session import ProbeSession


@check("BK1", plan=plans.booking_submit)
def test_booking_api_answers_test_booking_without_server_error(
    booking_submission: BookingSubmission, probes: ProbeSession, expect: Expect
) -> None:
    response = expect.reached(flows.submit_booking(probes, booking_submission), expected="HTTP 200 or 400, never 5xx")
    expect.finding(judge.booking_submission(booking_submission, response, expect.catalogue))


@check("BK2", plan=plans.get)
def test_tenant_booking_page_answers(tenant_page: TenantPage, probes: ProbeSession, expect: Expect) -> None:
    response = expect.reached(probes.http(tenant_page), expected="HTTP 200")
    expect.finding(judge.tenant_page(tenant_page, response, expect.catalogue))


@check("BK3", plan=plans.booking_submit)
def test_booking_answer_carries_no_unexpected_error_code(
    booking_submission: BookingSubmission, probes: ProbeSession, expect: Expect
) -> None:
    # the same POST as BK1 (sent once per run), judged for its application error codes
    response = expect.reached(flows.submit_booking(probes, booking_submission), expected="an answer to decode")
    expect.finding(judge.booking_error_codes(booking_submission, response, expect.catalogue))
