"""The end of the run: the probe pool started after collection, then the run's result built once and handed
to every output (healthsuite.outputs.publish), the JUnit rewrite and the terminal summary."""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Generator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from healthsuite import __version__
from healthsuite.checkapi import diagnosis_of
from healthsuite.model.targets import Target
from healthsuite.outputs import heartbeat, junit, nagios, notices, publish, summary, timing
from healthsuite.outputs.files import REPORT_MODE
from healthsuite.outputs.records import MAINTENANCE, CheckRecord, in_window_text
from healthsuite.outputs.result import RunEnvironment
from healthsuite.outputs.result import build as build_result
from healthsuite.plans import Threshold
from healthsuite.plugin import outputs, protocol, streaming, verdicts
from healthsuite.plugin.execution import (
    NO_KEYWORDS,
    NO_PROPERTIES,
    message_of,
    own_plugin,
    provider_hosts_of,
    selection_text,
)
from healthsuite.plugin.fixtures import previous_hints_of, probe_session_of
from healthsuite.plugin.pytest_internals import mangle_test_address, xml_key
from healthsuite.plugin.state import (
    SHARES_KEY,
    STATE,
    RunState,
    is_worker,
    is_xdist_controller,
    junit_mode,
    reports_dir_of,
)
from healthsuite.plugin.workers import aliases_of
from healthsuite.probes import deadline
from healthsuite.runner.clock import process_started
from healthsuite.runner.workunits import share_of, worker_number


def _own_items(session: pytest.Session) -> list[pytest.Item]:
    """The checks this process will run: all of them serially; under `-n`, this worker's share (none
    when the controller does not hand out shares by target, e.g. `--dist loadfile`: checks then probe
    as they run, still once per target and observation in each worker)."""
    config = session.config
    if not is_worker(config):
        return session.items
    workerinput: dict[str, Any] = config.workerinput  # type: ignore[attr-defined]
    number = worker_number(str(workerinput.get("workerid", "")))
    if not workerinput.get(SHARES_KEY) or number is None:
        return []
    nodeids = [item.nodeid for item in session.items]
    indices = share_of(nodeids, int(workerinput["workercount"]), number, aliases_of(config))
    return [session.items[index] for index in indices]


@pytest.hookimpl(trylast=True)  # under xdist, after the worker has sent its collection to the controller
def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the probes this process's checks need, concurrently (see healthsuite.runner.pool)."""
    config = session.config
    state = config.stash[STATE]
    state.selected = sum(1 for item in session.items if diagnosis_of(item))
    if state.env is None or config.option.collectonly or is_xdist_controller(config):
        return
    state.lean_unavailable = protocol.unavailable(config, own_plugin)
    _freeze_collected_objects(config)
    history = streaming.history(config)
    streaming.finish(config)
    if state.prefetcher is not None:  # started during collection (plugin.streaming), which queued every check
        state.prefetcher.collected(history)
        return
    env = state.env
    work = []
    readers: list[tuple[str, Target]] = []
    thresholds: dict[str, Threshold] = {}
    for item in _own_items(session):
        found = streaming.work_of(item, env, thresholds)
        if found is not None:
            work.append(found)
            readers.append((diagnosis_of(item) or "", found.target))
    if not work:
        return
    probes = probe_session_of(config, env)
    if env.model.retries.by_diagnosis:  # an exchange gets the most attempts of any check that reads it
        for diagnosis, target in readers:
            probes.note_reader(target, diagnosis)
    workers = int(config.workerinput["workercount"]) if is_worker(config) else 1  # type: ignore[attr-defined]
    streaming.pool_of(config, workers).start(probes, work, history)


def pytest_sessionstart(session: pytest.Session) -> None:
    """An xdist controller collects nothing: what it has at the start (modules, the environment) lives
    for the run too."""
    config = session.config
    if config.stash[STATE].env is not None and is_xdist_controller(config):
        _freeze_collected_objects(config)


def _freeze_collected_objects(config: pytest.Config) -> None:
    """Leave the objects of start-up and collection (modules, models, the items) out of every later
    garbage collection: they live for the whole run, and on a run of a thousand targets, collecting
    them again and again (and once more when the interpreter exits) cost seconds.

    Unfrozen at the end when the process goes on after the run (pytest.main() from a program, or
    pytester in-process); a command-line run or an xdist worker ends right after, so it stays frozen."""
    gc.freeze()
    if not _process_ends_with_run(config):
        config.add_cleanup(gc.unfreeze)


def _run_origin(config: pytest.Config, state: RunState) -> float:
    """When the run began (monotonic): its process's start when the process is the run's own (imports,
    loading and collection count as start-up), else when the plugin was configured; the splay's wait
    (plugin.heartbeat) is not the run's, and is left out."""
    return (process_started() if _process_ends_with_run(config) else state.configured_at) + state.splay_s


def _process_ends_with_run(config: pytest.Config) -> bool:
    """An xdist worker, or `pytest ...` / `python -m pytest ...` on the command line."""
    if is_worker(config):
        return True
    program = Path(sys.argv[0])
    as_pytest = program.name in ("pytest", "py.test") or program.parts[-2:] == ("pytest", "__main__.py")
    return as_pytest and tuple(config.invocation_params.args) == tuple(sys.argv[1:])


@pytest.hookimpl(wrapper=True)  # around every plugin's: pytest's junitxml writes its file in its own
def pytest_sessionfinish(session: pytest.Session) -> Generator[None, None, None]:
    result = yield
    _rewrite_junit(session.config)
    return result


def _rewrite_junit(config: pytest.Config) -> None:
    """The JUnit file pytest wrote, made valid under junit-10.xsd and completed from the run's result
    (outputs.junit)."""
    xml, state = config.stash.get(xml_key, None), config.stash.get(STATE, None)
    if xml is None or state is None or state.result is None or not os.path.isfile(xml.logfile):
        return
    run = state.result
    extra: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for record in run.failing():
        names = mangle_test_address(record.id)
        classname = ".".join([xml.prefix, *names[:-1]] if xml.prefix else names[:-1])
        steps = "\n".join(f"{number}. {step}" for number, step in enumerate(record.remediation, start=1))
        extra[(classname, names[-1])] = [("remediation", steps), ("escalation", record.escalation),
                                         ("change", record.change), ("explained_by", record.explained_by)]
    for record in (e for e in run.entries if isinstance(e, CheckRecord) and e.outcome == MAINTENANCE):
        names = mangle_test_address(record.id)  # it passes: the window and the failure it saw, as text
        classname = ".".join([xml.prefix, *names[:-1]] if xml.prefix else names[:-1])
        extra[(classname, names[-1])] = [("maintenance", in_window_text(record.maintenance)),
                                         ("failure", run.redact(record.message))]
    env = run.environment
    suite_properties = [("environment", env.name), ("environment_kind", env.kind), ("healthsuite", __version__)]
    if run.report_path is not None:
        suite_properties.append(("report", str(run.report_path)))
    suite_name = f"healthsuite {env.name}" if config.getini("junit_suite_name") == "pytest" else ""
    try:
        junit.rewrite(Path(xml.logfile), mode=junit_mode(config), suite_name=suite_name,
                      suite_properties=suite_properties, extra=extra)
        os.chmod(xml.logfile, REPORT_MODE)  # as every report file: it names hosts and failures
    except (OSError, ValueError) as exc:  # pytest wrote it; only the completion is lost
        if state.published is not None:
            state.published.outcomes.append(publish.Outcome("junit", False, run.redact(
                f"healthsuite: JUnit file {xml.logfile} NOT COMPLETED: {type(exc).__name__}: {exc}")))


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or state.published is None:  # no result was published: nothing was judged
        for line in outputs.metrics_of_nothing_judged(config, _env_label(state),
                                                      state.exit_status if state is not None else None):
            sys.stderr.write(line + "\n")
    if state is not None and state.prefetcher is not None:
        state.prefetcher.close()
    if state is not None and state.probes is not None:
        state.probes.close()
    if state is not None and state.run_deadline is not None:
        deadline.set_run_deadline(None)
    if state is not None:
        state.book.close()


def _env_label(state: RunState | None) -> str:
    """The environment's name for a run that may not have loaded it: the file's `name`, else the name or
    file stem it was chosen by."""
    if state is not None and state.env is not None:
        return state.env.name
    if state is not None and state.choice is not None:
        return Path(state.choice.value).stem or state.choice.value
    return "unknown"


def _add_counts(total: dict[str, Any], counts: dict[str, Any]) -> None:
    """Exchange counts (probes.deadline.exchange_counts) of one process added into the run's."""
    for key in ("in_pool", "outside_pool"):
        total[key] = int(total.get(key, 0)) + int(counts.get(key, 0))
    examples = [*total.get("outside_examples", []), *counts.get("outside_examples", [])]
    total["outside_examples"] = examples[: deadline.OUTSIDE_KEPT]


class RunReporter:
    """Per-run hooks that need the config: records, the no-check error, the JSON report, the summary.

    Registered in pytest_configure (like pytest's own junitxml), so nested pytester runs keep their
    own state. Under xdist the controller receives every worker's reports here, and workers send
    their collection counts through `workeroutput`.
    """

    def __init__(self, config: pytest.Config, state: RunState) -> None:
        self.config = config
        self.state = state
        self.no_checks_message = ""

    @pytest.hookimpl(trylast=True)  # after the terminal reporter has counted it
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        properties = {k: v for k, v in report.user_properties if isinstance(v, str)}
        passed = report.passed
        if "diagnosis" in properties:
            # a passing report has a message only as a warning or inside a window, both a verdict property
            message = message_of(report) if not passed or "verdict" in properties else ""
            self.state.book.add_phase(report.nodeid, report.when, report.outcome, report.duration, properties, message)
        if passed:
            self._forget(report)

    def _forget(self, report: pytest.TestReport) -> None:
        """Every plugin has had a passing report by now. pytest's terminal reporter keeps each one it is
        given, to count them at the end: those of setup and teardown under the key "", which it never
        reads again (it skips "" when it counts), and those of calls with the item's keyword set. At
        thousands of checks these were most of the run's memory: drop the first, trim the second."""
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        stats = getattr(terminal, "stats", None)
        if not isinstance(stats, dict):
            return
        if report.when != "call":
            stats.pop("", None)
        else:
            report.keywords = NO_KEYWORDS
            report.user_properties = NO_PROPERTIES  # type: ignore[assignment]

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", {}).get("healthsuite")
        if output:
            self.state.worker_counts.append((int(output["collected"]), int(output["selected"])))
            for key, seconds in output.get("probe_latency_s", {}).items():
                self.state.probe_latency_s[key] = max(float(seconds), self.state.probe_latency_s.get(key, 0.0))
            _add_counts(self.state.exchanges, output.get("exchanges", {}))
            self.state.pool_timings.extend(output.get("pool_timings", []))
            if output.get("lean_unavailable") and not self.state.worker_protocol:
                self.state.worker_protocol = str(output["lean_unavailable"])
            self.state.lean_unavailable = ""  # the controller ran no check: the workers' word counts
            for key, learned in output.get("probe_hints", {}).items():
                self.state.probe_hints.setdefault(key, {}).update(learned)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        config, state = self.config, self.state
        if state.prefetcher is not None:
            state.probe_latency_s.update(state.prefetcher.latencies())
        if state.probes is not None:
            for key, learned in state.probes.learned.items():
                state.probe_hints.setdefault(key, {}).update(learned)
        if state.prefetcher is not None:
            state.pool_timings.append(state.prefetcher.timing(_run_origin(config, state)))
        if is_worker(config):
            config.workeroutput["healthsuite"] = {  # type: ignore[attr-defined]
                "pool_timings": state.pool_timings,
                "collected": state.collected,
                "selected": state.selected,
                "probe_latency_s": state.probe_latency_s,
                "probe_hints": state.probe_hints,
                "exchanges": deadline.exchange_counts(),
                "lean_unavailable": state.lean_unavailable,
            }
            return
        state.exit_status = int(session.exitstatus)
        if not state.worker_counts:
            _add_counts(state.exchanges, deadline.exchange_counts())
        collected, selected = state.collected, state.selected
        if state.worker_counts:  # under xdist every worker collects the same list
            collected = max(c for c, _ in state.worker_counts)
            selected = max(s for _, s in state.worker_counts)
        if config.option.collectonly or state.env is None or not collected:
            return
        if selected == 0:
            session.exitstatus = state.exit_status = pytest.ExitCode.USAGE_ERROR
            self.no_checks_message = (
                f"healthsuite: no check selected: {collected} checks were collected for {state.env.name}, "
                f"and {selection_text(config)} deselected all of them. Check the expression (`pytest --markers` "
                "lists markers, `pytest --collect-only -q` lists checks)."
            )
            return
        self._carry_hints_forward()
        self._publish(session)

    def _carry_hints_forward(self) -> None:
        """What earlier runs learned and this one did not renew stays for the next (a run of `-m database`
        keeps where the log checks stopped reading, and PERF4's counters)."""
        state = self.state
        assert state.env is not None
        for key, values in previous_hints_of(self.config, state.env).items():
            state.probe_hints[key] = {**values, **state.probe_hints.get(key, {})}

    def _publish(self, session: pytest.Session) -> None:
        """The run's result built once, handed to every output in order (outputs.publish); a reports
        directory that cannot be written ends the run with the usage-error status, after all of them."""
        config, state = self.config, self.state
        env = state.env
        assert env is not None
        finished = state.clock()
        state.result = build_result(
            environment=RunEnvironment(env.name, env.model.kind, str(env.path),
                                       state.choice.source if state.choice else "", env.model.allow_mutating),
            book=state.book, started=state.started, finished=finished, exit_status=int(session.exitstatus),
            reports_dir=reports_dir_of(config), redact=env.redactor.redact, probe_latency_s=state.probe_latency_s,
            probe_hints=state.probe_hints, run=self._run_facts(finished), provider_hosts=provider_hosts_of(env),
            allow_skips=verdicts.allow_skips(config),
        )
        session.exitstatus = state.result.exit_status  # a target not judged: NOT_JUDGED_STATUS (outputs.result)
        state.published = publish.publish(state.result, outputs.settings(config), env)
        if state.published.usage_problems:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
        if config.getoption("healthsuite_nagios", False):
            code, lines = nagios.status(state.result)
            if state.published.usage_problems:
                code = nagios.UNKNOWN
                perfdata = lines[0].split(" | ", 1)[1] if " | " in lines[0] else ""  # the run's counts stay
                status = nagios.unknown(state.published.usage_problems[0].line)[0]
                lines = [status + (f" | {perfdata}" if perfdata else ""), *lines[1:]]
            config.stash[verdicts.NAGIOS_CODE], config.stash[verdicts.NAGIOS_LINES] = code, lines

    def _run_facts(self, finished: datetime) -> dict[str, Any]:
        run = self.state.run_deadline
        facts: dict[str, Any] = {"exchanges": self.state.exchanges}
        # where the time went: start-up, the exchanges, the slowest one, what the limits held back
        facts["time"] = timing.merge(self.state.pool_timings, time.monotonic() - _run_origin(self.config, self.state))
        # how the checks ran: healthsuite's lean protocol, or pytest's and why (healthsuite.plugin.protocol)
        lean = self.state.lean_unavailable or self.state.worker_protocol
        facts["protocol"] = "lean" if not lean else f"pytest's ({lean})"
        if self.state.splay_s:  # waited before the first exchange (--splay), outside the deadline and the time
            facts["splay_s"] = round(self.state.splay_s, 3)
        if run is not None:
            facts["deadline_s"] = run.seconds
            facts["deadline_source"] = run.source
            facts["deadline_reached"] = time.monotonic() >= run.at
        return facts

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> Generator[None, None, None]:
        """healthsuite's summary comes last, after pytest's own (its short summary included), so that
        nothing buries it: the table by category and severity, the failures by cause, the report."""
        yield
        self._summary(terminalreporter)

    def _summary(self, terminalreporter: Any) -> None:
        state = self.state
        if self.no_checks_message:
            terminalreporter.write_line(self.no_checks_message, red=True, bold=True)
            return
        if state.result is None:
            return
        for text, markup in summary.lines(state.result):
            if markup.get("section"):
                terminalreporter.section(text, sep="=")
            elif markup.get("subsection"):
                terminalreporter.section(text, sep="-")
            else:
                terminalreporter.write_line(text, **markup)
        if state.result.notices is not None:
            for text, bad in notices.summary_lines(state.result.notices):
                terminalreporter.write_line(text, red=bad)
        if state.result.heartbeat is not None:
            for text, bad in heartbeat.summary_lines(state.result.heartbeat):
                terminalreporter.write_line(text, red=bad)
        for outcome in state.published.outcomes if state.published is not None else ():
            terminalreporter.write_line(outcome.line, red=not outcome.ok, bold=outcome.usage)
