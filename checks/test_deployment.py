"""Deployment: the post-deploy smoke set (runbook 001 "Post-Deployment Verification", CI/CD stage 4).

`pytest -m smoke --env production` after a deploy: every target declared with `smoke: true`
(home page, health endpoint, database) must answer. Probes are shared with AV1/AV2/DB1, so a full
run does not send them twice.
"""

from healthsuite import assessments
from healthsuite.checkapi import check
from healthsuite.environment import HealthEndpoint, HttpTarget, RedisCache


@check("DEP1", smoke=True)
def test_post_deploy_smoke(smoke_target, probes, expect):
    observation = expect.reached(probes.observe(smoke_target))
    if isinstance(smoke_target, HealthEndpoint):
        finding = assessments.health(smoke_target, observation, expect.catalogue)
    elif isinstance(smoke_target, HttpTarget):
        finding = assessments.page(smoke_target, observation, expect.catalogue)
    elif isinstance(smoke_target, RedisCache):
        finding = assessments.ping(observation)
    else:
        finding = assessments.select_one(observation)
    expect.finding(finding)
