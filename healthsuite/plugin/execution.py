"""Running a check: the lean protocol where it changes nothing but the cost (healthsuite.plugin.protocol),
waiting on the probe pool for its own exchanges, and redacted reports."""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
from collections.abc import Callable, Generator
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest

from healthsuite.checkapi import Expect, closest_mark_name, diagnosis_of, plan_of, target_of
from healthsuite.environment.loaded import LoadedEnvironment
from healthsuite.model.environment import (
    Hostname,
)
from healthsuite.model.templates import MissingVariable
from healthsuite.plugin import protocol, verdicts
from healthsuite.plugin.fixtures import expected_version_of, probe_session_of
from healthsuite.plugin.maintenance import in_maintenance
from healthsuite.plugin.parametrize import TARGET_FIXTURES
from healthsuite.plugin.state import DEADLINE_GRACE_S, STATE, RunState, is_worker
from healthsuite.probes import ProbeSession
from healthsuite.runner import progress
from healthsuite.runner.pool import Prefetcher

SESSION_ARGUMENTS = {"probes", "expect", "healthsuite_env", "pytestconfig", "expected_version"}
LEAN_FIXTURES = frozenset(SESSION_ARGUMENTS | set(TARGET_FIXTURES))
_LEAN_FUNCTIONS: dict[object, bool] = {}  # a check function -> whether its items can run lean


def own_plugin(plugin: object) -> bool:
    """healthsuite's own hook modules (healthsuite.plugin and its modules) and its run reporter, whose hooks
    the lean protocol does itself; allure's story, an object registered while allure records, is not."""
    if isinstance(plugin, ModuleType):
        return plugin.__name__ == "healthsuite.plugin" or plugin.__name__.startswith("healthsuite.plugin.")
    return type(plugin).__name__ == "RunReporter" and type(plugin).__module__ == "healthsuite.plugin.handover"


def runs_lean(item: pytest.Item) -> bool:
    """A check whose fixtures are all the environment's and that carries no mark pytest must act on."""
    if not isinstance(item, pytest.Function) or diagnosis_of(item) is None:
        return False
    function = protocol.function_of(item)
    known = _LEAN_FUNCTIONS.get(function)
    if known is None:
        info = item._fixtureinfo  # `request` is in every closure: the fixtures stood in for depend on it
        known = _LEAN_FUNCTIONS[function] = set(info.names_closure) - {"request"} <= LEAN_FIXTURES
    return known and closest_mark_name(item, protocol.MARKS_THAT_NEED_PYTEST) is None


def _lean_arguments(item: pytest.Function, state: RunState) -> dict[str, Any]:
    env = state.env
    assert env is not None
    probe_session_of(item.config, env)
    state.item = item
    arguments: dict[str, Any] = {}
    for name in item._fixtureinfo.argnames:
        if name in TARGET_FIXTURES:
            arguments[name] = item.callspec.params[name]
        elif name == "probes":
            arguments[name] = state.probes
        elif name == "expect":
            arguments[name] = Expect(item, env, env.model.escalation)
        elif name == "healthsuite_env":
            arguments[name] = env
        elif name == "pytestconfig":
            arguments[name] = item.config
        elif name == "expected_version":
            arguments[name] = expected_version_of(item.config)
    return arguments


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    state = item.config.stash[STATE]
    # decided when the check is about to run: a mark added after collection (a refused mutating
    # check's skip, a conftest's own) sends it to pytest's protocol
    if state.lean_unavailable or state.env is None or not runs_lean(item):
        return None
    assert isinstance(item, pytest.Function)
    protocol.run(item, nextitem, _lean_arguments(item, state))
    return True


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    state = pyfuncitem.config.stash[STATE]
    if state.prefetcher is not None:
        run = state.run_deadline
        wait = None if run is None else max(run.at - time.monotonic(), 0.0) + DEADLINE_GRACE_S
        # its exchanges first, if they have not started; past the run's deadline they are cut
        if not _await_exchanges(pyfuncitem, state, state.prefetcher, wait) and run is not None:
            pytest.fail(f"{diagnosis_of(pyfuncitem) or 'check'}: {run.sentence()}", pytrace=False)
    probes = state.probes
    if probes is not None:
        probes.start_reading()
    try:
        return (yield)
    except MissingVariable as missing:
        pytest.skip(missing.reason())
    finally:
        if probes is not None:
            _record_attempts(pyfuncitem, probes, state)


ATTEMPTS_PROPERTY = "attempts"  # the JSON list of a check's retried exchanges' attempts (outputs.records)


def _record_attempts(item: pytest.Function, probes: ProbeSession, state: RunState) -> None:
    """The attempts of every retried exchange the check read, as a report property: a check that passes
    with one is `retried` (passed after retry), and a failing one keeps them as evidence."""
    read = probes.stop_reading()
    if not read:
        return
    redact = state.env.redactor.redact if state.env is not None else (lambda text: text)
    attempts = [{**attempt.as_dict(), "exchange": redact(what), "error": redact(attempt.error)}
                for what, tried in read for attempt in tried]
    item.user_properties.append((ATTEMPTS_PROPERTY, json.dumps(attempts, ensure_ascii=False)))


PROGRESS_WAKE_S = 1.0  # a waiting check wakes this often to see whether a progress line is due


def _await_exchanges(item: pytest.Function, state: RunState, prefetcher: Prefetcher, wait_s: float | None) -> bool:
    """`prefetcher.expedite` for the check, waking every second of a long wait to say what the run
    waits on when a line is due (healthsuite.runner.progress); False when `wait_s` passed first."""
    since = time.monotonic()
    end = None if wait_s is None else since + wait_s
    while True:
        step = PROGRESS_WAKE_S if end is None else min(PROGRESS_WAKE_S, max(end - time.monotonic(), 0.0))
        if prefetcher.expedite(item.nodeid, step):
            return True
        now = time.monotonic()
        if end is not None and now >= end:
            return False
        if state.progress.due(since, now):
            _say_waiting(item.config, progress.waiting_line(prefetcher.running(), now))


def _say_waiting(config: pytest.Config, line: str | None) -> None:
    """The progress line in pytest's terminal, from the main thread only, past the output capture;
    never under --nagios (one line of output), -q -q or in an xdist worker (its output is not shown)."""
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    if line is None or terminal is None or threading.current_thread() is not threading.main_thread():
        return
    if config.getoption("healthsuite_nagios", False) or config.get_verbosity() <= -2 or is_worker(config):
        return
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        terminal.write_line(line)
        terminal.flush()


def _redact_report(report: pytest.TestReport, redact: Callable[[str], str]) -> None:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        report.longrepr = (longrepr[0], longrepr[1], redact(longrepr[2]))
    elif longrepr is not None:
        text = str(longrepr)
        cleaned = redact(text)
        if cleaned != text:
            report.longrepr = cleaned
    if report.sections:
        report.sections = [(title, redact(content)) for title, content in report.sections]
    if any(key not in REDACTED_PROPERTIES for key, _ in report.user_properties):
        # a property healthsuite did not record itself (record_property in a team's own check)
        report.user_properties = [(k, redact(v) if isinstance(v, str) else v) for k, v in report.user_properties]


NO_KEYWORDS: dict[str, Any] = {}
NO_PROPERTIES: tuple[tuple[str, object], ...] = ()
# the report properties healthsuite records: the catalogue's words and the target's name, and what
# Expect records (observed, expected, facts), which it redacts as it records them
REDACTED_PROPERTIES = frozenset({"diagnosis", "category", "severity", "target", "target_kind", "runbook", "observed",
                                 "expected", "facts", "advice", "hosts", "verdict",
                                 "maintenance", ATTEMPTS_PROPERTY})


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    state = item.config.stash[STATE]
    env = state.env
    if env is not None:
        if report.failed:  # where the failing check's exchanges went: a platform incident reads it
            hosts = _hosts_of(item, state)
            if hosts:
                report.user_properties.append(("hosts", " ".join(hosts)))
        _redact_report(report, env.redactor.redact)
    return report


def _hosts_of(item: pytest.Item, state: RunState) -> list[str]:
    """The network hosts a check's plan goes to (none for a check that reads local files, or
    whose plan cannot be resolved); a DNS check's is the name it resolves."""
    diagnosis, target, plan = diagnosis_of(item), target_of(item), plan_of(item)
    if state.env is None or target is None or plan is None or not diagnosis:
        return []
    try:
        if isinstance(target, Hostname):
            return [state.env.resolve(target.host, target.name).lower().rstrip(".")]
        probes = state.probes or ProbeSession(state.env)
        planned = plan(probes, target, functools.partial(state.env.model.threshold, diagnosis))
    except Exception:  # noqa: BLE001 - an unresolvable target: no host to name
        return []
    return sorted({p.host for p in planned if p.host and ":" not in p.host and p.host != "dns"})


def provider_hosts_of(env: LoadedEnvironment) -> dict[str, list[str]]:
    """Each status page's provider hosts: its `hosts`, else the hosts of the environment's base URLs."""
    base_hosts: list[str] = []
    for name, url in env.model.base_urls.items():
        try:
            host = urlsplit(env.resolve(url, f"base_urls.{name}")).hostname
        except Exception:  # noqa: BLE001 - an unset variable: that base names no host
            continue
        if host:
            base_hosts.append(host.lower())
    return {page.name: list(page.hosts) or base_hosts for page in env.model.status_pages}


def message_of(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    if report.failed or verdicts.is_warning(report) or in_maintenance(report):
        return report.longreprtext
    return ""


def selection_text(config: pytest.Config) -> str:
    parts = []
    if config.option.markexpr:
        parts.append(f"-m {config.option.markexpr!r}")
    if config.option.keyword:
        parts.append(f"-k {config.option.keyword!r}")
    if config.option.healthsuite_diagnosis:
        parts.append(f"--diagnosis {','.join(config.option.healthsuite_diagnosis)}")
    return " and ".join(parts) or "the selection"
