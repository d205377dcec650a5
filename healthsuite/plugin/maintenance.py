"""Maintenance windows (the environment file's `maintenance:`): a check that fails inside a window is
recorded as failed during maintenance, not hidden and not failing the run.

Checks run as always. When a check's call fails (or is a --fail-on warning) while a window covers it
(healthsuite.assessments.maintenance, at the run's clock), its report passes, marked with the property
`verdict=maintenance` and the window (`maintenance`: its name, reason and end, as JSON): the terminal
shows it as `MAINTENANCE`, every output records the outcome `maintenance` (outputs.records), and a notice
does not announce it (it is neither a failure nor a recovery: outputs.notices). A check that still fails
after the window is failed again: a failure never announced, so the next run's notice announces it.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import pytest

from ..assessments.maintenance import covering, occurrence
from .state import STATE
from .verdicts import WARNING_VERDICT, is_warning

MAINTENANCE_VERDICT = ("verdict", "maintenance")
WINDOW_PROPERTY = "maintenance"  # the covering window as JSON: {name, reason, until}


def in_maintenance(report: pytest.TestReport) -> bool:
    return MAINTENANCE_VERDICT in report.user_properties


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: after --fail-on made a failure a warning
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    if report.when != "call" or hasattr(report, "wasxfail") or not (report.failed or is_warning(report)):
        return report
    state = item.config.stash.get(STATE, None)
    if state is None or state.env is None or not state.env.model.maintenance:
        return report
    properties = {key: value for key, value in report.user_properties if isinstance(value, str)}
    cover = covering(state.env.model.maintenance, properties.get("diagnosis", ""), properties.get("category", ""),
                     properties.get("target", ""), state.clock())
    if cover is None:
        return report
    window = json.dumps(cover.as_dict(), ensure_ascii=False)
    added: list[tuple[str, object]] = [MAINTENANCE_VERDICT, (WINDOW_PROPERTY, window)]
    report.outcome = "passed"
    report.user_properties = [p for p in report.user_properties if p != WARNING_VERDICT] + added
    # the teardown report's too, which JUnit writes
    item.user_properties[:] = [p for p in item.user_properties if p != WARNING_VERDICT] + added
    return report


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, Any] | None:
    if report.when == "call" and report.passed and in_maintenance(report):
        return "maintenance", "M", ("MAINTENANCE", {"yellow": True})
    return None


def pytest_report_header(config: pytest.Config) -> list[str]:
    """The windows open as the run starts, and a clock that does not start now."""
    state = config.stash.get(STATE, None)
    if state is None or state.env is None:
        return []
    lines = []
    if state.clock.set_by:
        lines.append(f"healthsuite: the run's clock starts at {state.started.isoformat(timespec='seconds')} "
                     f"({state.clock.set_by}), not now")
    for window in state.env.model.maintenance:
        found = occurrence(window, state.started)
        if found is not None:
            lines.append(f"healthsuite: maintenance window {window.name} open until "
                         f"{found[1].isoformat(timespec='seconds')}: {window.reason}")
    return lines
