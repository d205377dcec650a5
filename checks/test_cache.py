"""Cache: Redis answers. Runbook 004 "Cache Issues", 002 "Slow API Responses"."""

from healthsuite import assessments
from healthsuite.checkapi import check


@check("CACHE1")
def test_redis_answers_ping(cache, probes, expect):
    observation = expect.reached(probes.redis_ping(cache), expected="PING answers PONG within the timeout")
    expect.finding(assessments.ping(observation))
