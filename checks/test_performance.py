"""Performance: response times. Runbook 000 §5 step 1 (`curl -w` timing breakdown) and 004
"Performance Monitoring"."""

from healthsuite.assessments import edge
from healthsuite.checkapi import check


@check("PERF1")
def test_endpoint_answers_within_time_limit(http_endpoint, probes, expect):
    limit = http_endpoint.max_total_ms or expect.threshold("max_total_ms")
    response = expect.reached(probes.http(http_endpoint), expected=f"an answer within {limit:g} ms")
    expect.finding(edge.response_time(response, limit))
