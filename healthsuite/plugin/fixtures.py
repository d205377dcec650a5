"""The fixtures a check takes: the environment, the probe session, `expect`, the expected version."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from healthsuite.checkapi import Expect
from healthsuite.environment.loaded import LoadedEnvironment
from healthsuite.outputs.json_report import previous_probe_hints
from healthsuite.plugin.state import EXPECTED_VERSION_VARIABLE, STATE, reports_dir_of
from healthsuite.probes import ProbeSession


@pytest.fixture(scope="session")
def healthsuite_env(pytestconfig: pytest.Config) -> LoadedEnvironment:
    """The loaded environment file of this run."""
    env = pytestconfig.stash[STATE].env
    if env is None:
        pytest.skip("no environment selected")
    return env


@pytest.fixture(scope="session")
def probes(pytestconfig: pytest.Config, healthsuite_env: LoadedEnvironment) -> ProbeSession:
    """The run's probes: each (observation, target) probed once, shared by every check."""
    # no check planned a prefetch: made here, the previous run's hints all the same (LOG1-LOG4)
    return probe_session_of(pytestconfig, healthsuite_env)


def probe_session_of(config: pytest.Config, env: LoadedEnvironment) -> ProbeSession:
    """The run's probes, made on first use, with what the previous run of the environment learned (its
    report's probe_hints)."""
    state = config.stash[STATE]
    if state.probes is None:
        state.probes = ProbeSession(env, previous_hints_of(config, env))
    return state.probes


def previous_hints_of(config: pytest.Config, env: LoadedEnvironment) -> dict[str, dict[str, str]]:
    """The previous run's probe_hints, read once per run: the probes plan by them, and what this run does
    not renew is carried into its own report (RunReporter._carry_hints_forward)."""
    state = config.stash[STATE]
    if state.previous_hints is None:
        state.previous_hints = previous_probe_hints(reports_dir_of(config), env.name)
    return state.previous_hints


@dataclass(frozen=True)
class ExpectedVersion:
    value: str
    source: str  # where it came from, for the message


@pytest.fixture(scope="session")
def expected_version(pytestconfig: pytest.Config) -> ExpectedVersion | None:
    """DEP2's expected version from --expected-version or $HEALTHSUITE_EXPECTED_VERSION (None: neither)."""
    return expected_version_of(pytestconfig)


def expected_version_of(config: pytest.Config) -> ExpectedVersion | None:
    option = config.option.healthsuite_expected_version
    if option:
        return ExpectedVersion(option.strip(), "--expected-version")
    variable = os.environ.get(EXPECTED_VERSION_VARIABLE, "").strip()
    if variable:
        return ExpectedVersion(variable, f"${EXPECTED_VERSION_VARIABLE}")
    return None


EXPECT_TYPE = pytest.StashKey[type[Expect]]()  # while allure records: healthsuite.plugin.allure_story's


@pytest.fixture
def expect(pytestconfig: pytest.Config, healthsuite_env: LoadedEnvironment) -> Expect:
    """Assertions that fail with the catalogue's message (see healthsuite.checkapi).

    Bound to the check being set up (pytest_runtest_setup below) rather than through `request`: pytest
    builds a fixture definition for `request` anew for every test that asks, a measurable cost per check
    at a thousand targets."""
    item = pytestconfig.stash[STATE].item
    assert item is not None
    return pytestconfig.stash.get(EXPECT_TYPE, Expect)(item, healthsuite_env, healthsuite_env.model.escalation)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.config.stash[STATE].item = item
