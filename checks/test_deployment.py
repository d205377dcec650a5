"""Deployment: the post-deploy smoke set (runbook 001 "Post-Deployment Verification", CI/CD stage 4).

`pytest -m smoke --env production` after a deploy: every target declared with `smoke: true`
(home page, health endpoint, database) must answer. Probes are shared with AV1/AV2/DB1, so a full
run does not send them twice.
"""

import pytest

from healthsuite import assessments
from healthsuite.assessments import edge
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


@check("DEP2")
def test_deployed_version_is_expected(version_source, probes, expect, expected_version):
    env = expect.env
    if expected_version is not None:
        expected, source = expected_version.value, expected_version.source
    elif version_source.expected is not None:
        expected = env.resolve(version_source.expected, env.where(version_source, "expected"))
        source = f"`expected` of {version_source.name!r} in {env.path.name}"
    else:
        pytest.skip(
            "no expected version: pass --expected-version VERSION, set $HEALTHSUITE_EXPECTED_VERSION, "
            f"or give version source {version_source.name!r} an `expected:` in {env.path.name}"
        )
    response = expect.reached(probes.http(version_source), expected=f"version {expected}")
    expect.finding(edge.deployed_version(version_source, response, expected, source))
