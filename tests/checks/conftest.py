"""Fixtures shared by the mirrors of several check modules."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from healthsuite.demo.app import ops as app_ops
from healthsuite.demo.faults import pg_schema as pg_faults_schema
from healthsuite.demo.stack import DATABASE, DemoStack
from tests.checks.support import CALENDAR_TOKEN, SENTRY_TOKEN, flows_env


@pytest.fixture
def env_path(stack: DemoStack, env_file: Callable[[str], Path]) -> Callable[..., Path]:
    return lambda **kwargs: env_file(flows_env(stack, **kwargs))


@pytest.fixture
def tokens() -> Iterator[dict[str, str]]:
    """Known token values for the demo's stand-ins (restored afterwards), as the checks' environment."""
    previous = app_ops.configure(calendar_token=CALENDAR_TOKEN, sentry_token=SENTRY_TOKEN)
    yield {app_ops.CALENDAR_TOKEN_VARIABLE: CALENDAR_TOKEN, app_ops.SENTRY_TOKEN_VARIABLE: SENTRY_TOKEN}
    app_ops.configure(
        calendar_token=previous[app_ops.CALENDAR_TOKEN_VARIABLE], sentry_token=previous[app_ops.SENTRY_TOKEN_VARIABLE]
    )


@pytest.fixture
def break_demo(stack: DemoStack) -> Iterator[Callable[..., None]]:
    """Inject schema faults into the demo's booking database; undone after the test whatever happens."""
    undos: list[Callable[[], None]] = []

    def inject(*diagnoses: str) -> None:
        assert stack.postgres is not None
        for diagnosis in diagnoses:
            undos.append(pg_faults_schema.inject(diagnosis, stack.postgres, DATABASE))

    yield inject
    while undos:
        undos.pop()()
