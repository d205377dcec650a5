"""The environment's own checks (`declared_checks:`): one item per declared check, each with the markers
of its diagnosis (a team's own from `diagnoses_file`, or a shipped one), its category and its severity.

Each reads through its probe block (http, sql, redis, dns, tls, tcp, file: the suite's own probes,
planned on the probe pool) and passes when every condition of its `expect:` holds; a failure shows each
failing condition with the observed values inlined (`json.stuck (3) == 0`) and the diagnosis's advice."""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthsuite import plans
from healthsuite.assessments.declared import judge
from healthsuite.checkapi import declared_checks
from healthsuite.probes import declared

if TYPE_CHECKING:
    from healthsuite.checkapi import Expect
    from healthsuite.model.declared import DeclaredCheck
    from healthsuite.probes.session import ProbeSession


@declared_checks(plan=plans.declared_check)
def test_declared_check(declared_check: DeclaredCheck, probes: ProbeSession, expect: Expect) -> None:
    observation = expect.reached(declared.observe(probes, declared_check), "; ".join(declared_check.expressions))
    expect.finding(judge(declared_check, observation))
