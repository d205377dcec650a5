"""Database: the application's connection pool, as its pool-status endpoint reports it.
Runbook 003 RB2 "2. Check Connection Pool" (`curl <app>/pool-status`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthsuite import plans
from healthsuite.assessments import edge
from healthsuite.checkapi import check

if TYPE_CHECKING:
    from healthsuite.checkapi import Expect
    from healthsuite.model.environment import PoolStatus
    from healthsuite.probes.session import ProbeSession


@check("DB4", plan=plans.get)
def test_application_pool_has_headroom(pool_status: PoolStatus, probes: ProbeSession, expect: Expect) -> None:
    response = expect.reached(probes.http(pool_status), expected="the pool-status endpoint answers JSON")
    expect.finding(
        edge.pool_usage(
            pool_status, response, expect.threshold("max_checked_out_pct"), expect.threshold("max_overflow")
        )
    )
