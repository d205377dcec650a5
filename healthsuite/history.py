"""Run-to-run changes: each check's verdict set against the previous runs of the same environment.

Every failing check is labelled `new` (it passed, or was not there, last time), `persisting` (failing
since the time the streak began, for N runs) or `flapping` (it changed state more than
FLAP_CHANGES times in the last HISTORY_RUNS runs); a check that passes after failing is `recovered`.
A warning (below --fail-on) counts as failing; a skip changes nothing.

The history is one small file per environment in the reports directory (`<env>-history.json`: per
check that failed within the last HISTORY_RUNS runs, its last states and when its failing streak
began; a check with no failure there has no entry, which means the same as passing, so a healthy
platform of thousands of checks keeps an almost empty file), read when the run starts and written
when it ends, so no previous report is decoded. A missing or unreadable history is a first run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

HISTORY_RUNS = 10  # states kept per check
FLAP_CHANGES = 3  # more changes of state than this within HISTORY_RUNS runs: flapping
FAILING, PASSING, SKIPPED = "F", "P", "S"
CHANGE_PROPERTIES = ("change", "failing_since", "failing_runs")


@dataclass(frozen=True)
class Past:
    states: str  # oldest first: F failing, P passing, S skipped
    since: str = ""  # when the current failing streak began (ISO time), "" when not failing


@dataclass(frozen=True)
class Change:
    label: str  # new | persisting | flapping | recovered
    since: str = ""
    runs: int = 0  # runs failing in a row, this one included

    def properties(self) -> list[tuple[str, str]]:
        found = [("change", self.label)]
        if self.since:
            found += [("failing_since", self.since), ("failing_runs", str(self.runs))]
        return found

    def describe(self) -> str:
        if self.label == "persisting":
            return f"persisting since {self.since}, {self.runs} runs"
        if self.label == "flapping":
            return f"flapping: {self.runs} runs failing now, more than {FLAP_CHANGES} changes in {HISTORY_RUNS} runs"
        return self.label


def path_of(directory: Path, env_name: str) -> Path:
    return directory / f"{env_name}-history.json"


def load(directory: Path, env_name: str) -> dict[str, Past]:
    try:
        data = json.loads(path_of(directory, env_name).read_text(encoding="utf-8"))
        checks = data["checks"]
        return {str(k): Past(str(v["states"])[-HISTORY_RUNS:], str(v.get("since", ""))) for k, v in checks.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _changes(states: str) -> int:
    judged = [s for s in states if s != SKIPPED]
    return sum(1 for a, b in zip(judged, judged[1:], strict=False) if a != b)


def _streak(states: str) -> int:
    count = 0
    for state in reversed(states):
        if state == SKIPPED:
            continue
        if state != FAILING:
            break
        count += 1
    return count


def change(past: Past | None, state: str, now: str) -> Change | None:
    """The label of a check's verdict now (`state`), given its past; None when nothing changed worth saying."""
    previous = past.states if past is not None else ""
    last = next((s for s in reversed(previous) if s != SKIPPED), "")
    if state == PASSING:
        return Change("recovered") if last == FAILING else None
    if state != FAILING:
        return None
    states = (previous + FAILING)[-HISTORY_RUNS:]
    runs = _streak(states)
    since = (past.since if past is not None and last == FAILING and past.since else now)
    if _changes(states) > FLAP_CHANGES:
        return Change("flapping", since, runs)
    if last != FAILING:
        return Change("new", now, 1)
    return Change("persisting", since, runs)


def save(directory: Path, env_name: str, past: Mapping[str, Past], now_states: Mapping[str, str], now: str) -> None:
    """Write the history with this run's states (checks not run this time keep theirs)."""
    checks: dict[str, Any] = {k: {"states": v.states, "since": v.since} for k, v in past.items()}
    for check_id, state in now_states.items():
        old = past.get(check_id)
        if state != FAILING and old is None:
            continue  # nothing failed here within HISTORY_RUNS runs: no entry is the same as passing
        states = ((old.states if old else "") + state)[-HISTORY_RUNS:]
        if FAILING not in states:
            checks.pop(check_id, None)  # its failures are older than the window: as if always passing
            continue
        if state == FAILING:
            last = next((s for s in reversed(old.states) if s != SKIPPED), "") if old else ""
            since = old.since if old and last == FAILING and old.since else now
        elif state == SKIPPED and old is not None:
            since = old.since
        else:
            since = ""
        checks[check_id] = {"states": states, "since": since}
    directory.mkdir(parents=True, exist_ok=True)
    target = path_of(directory, env_name)
    temporary = target.with_suffix(".json.tmp")
    temporary.write_text(json.dumps({"environment": env_name, "updated": now, "checks": checks}), encoding="utf-8")
    os.replace(temporary, target)


def _state(report: pytest.TestReport) -> str:
    if report.failed or ("verdict", "warning") in report.user_properties:
        return FAILING
    return SKIPPED if report.skipped else PASSING


class Changes:
    """The run's plugin: labels each check's reports (properties change, failing_since, failing_runs, read
    by the JSON report and JUnit) and writes the history at the end. Runs where the reports are
    collected: serially, or in the xdist controller."""

    def __init__(self, directory: Path, env_name: str) -> None:
        self.directory, self.env_name = directory, env_name
        self.past = load(directory, env_name)
        self.now = datetime.now(UTC).isoformat(timespec="seconds")
        self.states: dict[str, str] = {}
        self.labels: dict[str, Change] = {}

    @pytest.hookimpl(tryfirst=True)  # before JUnit and the JSON report read the report's properties
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not any(key == "diagnosis" for key, _ in report.user_properties):
            return
        nodeid = report.nodeid
        if report.when == "call" or (report.when == "setup" and not report.passed):
            state = _state(report)
            self.states[nodeid] = state
            found = change(self.past.get(nodeid), state, self.now)
            if found is not None:
                self.labels[nodeid] = found
                report.user_properties = [*report.user_properties, *found.properties()]
                _allure_label(found.label)
        elif report.when == "teardown" and nodeid in self.labels:
            report.user_properties = [*report.user_properties, *self.labels[nodeid].properties()]

    def write(self) -> None:
        try:
            save(self.directory, self.env_name, self.past, self.states, self.now)
        except OSError:
            pass  # a read-only reports directory loses the history, never the run


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
