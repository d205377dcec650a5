"""Each check's verdict labelled against the previous runs as its reports arrive (outputs.history
judges; this plugin hands it the reports, so JUnit and Allure carry the label too). A failing check's
identity (what failed: its recorded facts' `identity`) goes with it, so a check failing on another
subject than last time is new."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from ..outputs.history import FAILING, Change, change, identity_of, load_noting, state_of
from ..outputs.records import MAINTENANCE
from .verdicts import is_warning


def _state(report: pytest.TestReport) -> str:
    if ("verdict", MAINTENANCE) in report.user_properties:  # failed inside a window (plugin.maintenance)
        return state_of(MAINTENANCE)
    return state_of("warned" if is_warning(report) else report.outcome)


def _identity(report: pytest.TestReport) -> str:
    """The identity of what a failing report's finding names (its recorded facts), "" when none."""
    text = next((value for key, value in report.user_properties if key == "facts"), None)
    if not isinstance(text, str):
        return ""
    try:
        facts = json.loads(text)
    except ValueError:
        return ""
    return identity_of(facts) if isinstance(facts, dict) else ""


class Changes:
    """The run's plugin: labels each check's reports (properties change, failing_since, failing_runs, read
    by the JSON report and JUnit); outputs.history writes the history at the end. Runs where the reports are
    collected: serially, or in the xdist controller."""

    def __init__(self, directory: Path, env_name: str, started: datetime) -> None:
        self.directory, self.env_name = directory, env_name
        self.past, self.note = load_noting(directory, env_name)
        # the run's start, as outputs.history.record writes it: one time for the label and the history
        self.now = started.isoformat(timespec="seconds")
        self.labels: dict[str, Change] = {}

    @pytest.hookimpl(tryfirst=True)  # before JUnit and the JSON report read the report's properties
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        nodeid = report.nodeid
        if (report.when == "setup" and report.passed) or (report.when == "teardown" and nodeid not in self.labels):
            return  # nothing to label (a check's passing setup, the teardown of one not labelled)
        if not any(key == "diagnosis" for key, _ in report.user_properties):
            return
        if report.when == "call" or (report.when == "setup" and not report.passed):
            state = _state(report)
            identity = _identity(report) if state == FAILING else ""
            found = change(self.past.get(nodeid), state, self.now, identity)
            if found is not None:
                self.labels[nodeid] = found
                report.user_properties = [*report.user_properties, *found.properties()]
                _allure_label(found.label)
        elif report.when == "teardown" and nodeid in self.labels:
            report.user_properties = [*report.user_properties, *self.labels[nodeid].properties()]


def _allure_label(label: str) -> None:
    """The change as an Allure label and tag, when allure-pytest records this run's results."""
    try:
        import allure  # noqa: PLC0415 - only when installed, and only for a labelled check
    except ImportError:
        return
    try:
        allure.dynamic.label("change", label)  # type: ignore[no-untyped-call]
        allure.dynamic.tag(label)  # type: ignore[no-untyped-call]
    except Exception:  # noqa: BLE001 - no test result open (allure not recording): nothing to label
        pass
