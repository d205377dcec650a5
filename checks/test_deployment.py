"""Deployment: the post-deploy smoke set (runbook 001 "Post-Deployment Verification", CI/CD stage 4).

`pytest -m smoke --env production` after a deploy: every target declared with `smoke: true`
(home page, health endpoint, database) must answer. Probes are shared with AV1/AV2/DB1, so a full
run does not send them twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from healthsuite import assessments, plans
from healthsuite.assessments import config_files as judge
from healthsuite.assessments import edge
from healthsuite.checkapi import check
from healthsuite.model.environment import HealthEndpoint, HttpTarget, RedisCache
from healthsuite.probes import config_files

if TYPE_CHECKING:
    from pathlib import Path

    from healthsuite.checkapi import Expect
    from healthsuite.model.deploy import EnvFilePair, RequiredVariables, WorkerBundle, WranglerConfig
    from healthsuite.model.environment import Target, VersionSource
    from healthsuite.model.templates import Template
    from healthsuite.plugin.fixtures import ExpectedVersion
    from healthsuite.probes.session import ProbeSession


@check("DEP1", smoke=True, plan=plans.observe)
def test_post_deploy_smoke(smoke_target: Target, probes: ProbeSession, expect: Expect) -> None:
    # the target's basic observation (as plans.observe plans it), read by its own probe so that it keeps its type
    if isinstance(smoke_target, HttpTarget):
        response = expect.reached(probes.http(smoke_target))
        if isinstance(smoke_target, HealthEndpoint):
            finding = assessments.health(smoke_target, response, expect.catalogue)
        else:
            finding = assessments.page(smoke_target, response, expect.catalogue)
    elif isinstance(smoke_target, RedisCache):
        finding = assessments.ping(expect.reached(probes.redis_ping(smoke_target)))
    else:
        finding = assessments.select_one(expect.reached(probes.database(smoke_target)))
    expect.finding(finding)


@check("DEP2", plan=plans.get)
def test_deployed_version_is_expected(
    version_source: VersionSource, probes: ProbeSession, expect: Expect, expected_version: ExpectedVersion | None
) -> None:
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


# --- configuration files: runbook 003 RB3, 004 "Environment Variables Missing" / "Environment Configuration",
# 000 §1 solution C. Files are only read (bounded); only names (never values) reach an output.


def _path(expect: Expect, template: Template, key: str) -> Path:
    return expect.env.resolve_path(template, f"deployment.{key} in {expect.env.path.name}")


@check("DEP3")
def test_required_variables_are_set(required_variables: RequiredVariables, expect: Expect) -> None:
    names = required_variables.names
    if required_variables.file is not None:
        observation = config_files.variables_in_file(names, _path(expect, required_variables.file, "variables.file"))
    else:
        secrets = expect.env.model.secrets_file
        source = "the process environment" + (f" and secrets_file {secrets.raw}" if secrets is not None else "")
        observation = config_files.variables(names, expect.env.variables, source)
    expect.finding(judge.required_variables(names, observation))


@check("DEP4")
def test_deployed_env_file_has_every_example_key(env_file_pair: EnvFilePair, expect: Expect) -> None:
    key = f"env_files[{env_file_pair.name}]"
    example = config_files.dotenv_entries(_path(expect, env_file_pair.example, f"{key}.example"))
    deployed = config_files.dotenv_entries(_path(expect, env_file_pair.deployed, f"{key}.deployed"))
    expect.finding(judge.env_file_keys(example, deployed))


@check("DEP5")
def test_wrangler_config_declares_routes_vars_bindings(wrangler_config: WranglerConfig, expect: Expect) -> None:
    observation = config_files.wrangler_toml(_path(expect, wrangler_config.path, "wrangler.path"))
    expect.finding(judge.wrangler(wrangler_config, observation))


@check("DEP6")
def test_worker_bundle_under_size_limit(worker_bundle: WorkerBundle, expect: Expect) -> None:
    observation = config_files.bundle_size(_path(expect, worker_bundle.path, "bundle.path"))
    expect.finding(judge.bundle(observation, bundle_limit_kb(worker_bundle, expect), worker_bundle.measure))


def bundle_limit_kb(bundle: WorkerBundle, expect: Expect) -> float:
    """`max_kb` of the bundle, else thresholds.DEP6.max_kb (Cloudflare's 3 MB, gzip)."""
    return bundle.max_kb if bundle.max_kb is not None else expect.threshold("max_kb")
