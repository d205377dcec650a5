"""Cache: Redis answers (CACHE1); its memory is under its limit, with no rejected connection (CACHE2).
Runbook 004 "Cache Issues", 002 "Slow API Responses"."""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthsuite import assessments, plans
from healthsuite.assessments import redis
from healthsuite.checkapi import check
from healthsuite.probes import redis_stats

if TYPE_CHECKING:
    from healthsuite.checkapi import Expect
    from healthsuite.model.environment import RedisCache
    from healthsuite.probes.session import ProbeSession


@check("CACHE1", plan=plans.redis_ping)
def test_redis_answers_ping(cache: RedisCache, probes: ProbeSession, expect: Expect) -> None:
    observation = expect.reached(probes.redis_ping(cache), expected="PING answers PONG within the timeout")
    expect.finding(assessments.ping(observation))


@check("CACHE2", plan=plans.redis_info)
def test_redis_memory_under_limit_without_rejections(cache: RedisCache, probes: ProbeSession, expect: Expect) -> None:
    info = expect.reached(redis_stats.observe(probes, cache), expected="INFO answers within the timeout")
    expect.finding(
        redis.redis_memory(info, expect.threshold("max_memory_pct"), expect.threshold("max_rejected_connections"))
    )
