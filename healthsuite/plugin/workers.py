"""Under -n: every check of one target on one worker (healthsuite.plugin.scheduling), each worker's share
and the run's deadline handed over at start."""

from __future__ import annotations

import time
from typing import Any

import pytest

from healthsuite.plugin.parametrize import TARGET_FIXTURES
from healthsuite.plugin.state import DEADLINE_KEY, SHARES_KEY, STATE
from healthsuite.runner.pool import shared_requests
from healthsuite.runner.workunits import join_names


def _schedules_by_target(config: pytest.Config) -> bool:
    """Whether this controller hands out checks by target (healthsuite.plugin.scheduling): `-n` with dist `load`."""
    return config.stash[STATE].env is not None and config.getvalue("dist") == "load"


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`-n` (dist `load`): every check of one target goes to one worker, each worker's share at once."""
    if not _schedules_by_target(config):
        return None
    from healthsuite.plugin.scheduling import TargetScheduling

    return TargetScheduling(config, log, aliases_of(config))


def aliases_of(config: pytest.Config) -> dict[str, str]:
    """Target names that share a request, joined into one unit of work (see healthsuite.runner.workunits)."""
    env = config.stash[STATE].env
    if env is None:
        return {}
    targets = [target for targets_of, _, _ in TARGET_FIXTURES.values() for target in targets_of(env.model)]
    return join_names(shared_requests(env, targets))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Tell each worker that its share is known after collection (so it can start its probes then)."""
    if _schedules_by_target(node.config):
        node.workerinput[SHARES_KEY] = True
    run = node.config.stash[STATE].run_deadline
    if run is not None:  # the controller's deadline, on the wall clock: the workers end with the run
        node.workerinput[DEADLINE_KEY] = (time.time() + run.at - time.monotonic(), run.seconds, run.source)
