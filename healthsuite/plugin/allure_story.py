"""Allure that tells the story of a run (`--alluredir=DIR`): what was probed, what was seen, and where to read on.

    pytest checks --env production --alluredir=reports/allure
    allure generate reports/allure -o reports/allure-report --clean

On top of the labels the plugin adds at collection (feature, story, severity, tags), each check's
result gets

- one step per probe it reached (`probe page 'home': GET ... -> HTTP 200 OK in 12 ms`, or the
  transport error), with the observation and its timings attached as JSON, and one step per finding
  with the observed text and the facts JSON attached (failed when the finding is);
- its runbook sections: a link each when the environment (or the catalogue) sets `runbook_base_url`,
  and a `runbook` label with the repository path in any case;
- readable parameters: the target's name (`home`), not the model's repr;
- the severity it actually failed with: a finding may carry its own (NET5's expiry windows, PERF3 at
  the rollback trigger), and the `severity` label then says that one;
- the two verdicts Allure's statuses do not have, told as every other output tells them: passed after
  retry is `passed` and flaky, its attempts the message; failed during a maintenance window is
  `skipped` (as allure-pytest tells an expected failure) and a known issue, the window first in its
  message and the failure kept after it (`allure_verdict`).

The results directory also gets `environment.properties` (environment, kind, file, healthsuite
version, host) and `categories.json`, which groups failures by what their `observed:` line says went
wrong: DNS (NXDOMAIN, SERVFAIL, ...), timeout, connection refused, TLS, permission, authentication,
other transport errors, an HTTP answer, or an assertion on a value (healthsuite.outputs.allure).

Trends: `allure generate` continues the previous report's trends when the results hold its
`history/`. `--allure-history DIR` (ini `healthsuite_allure_history`) names that previous report (the
`-o` of the last `allure generate`); at the end of the run its `history/` is copied into the results:

    pytest checks --env production --alluredir=reports/allure --allure-history=reports/allure-report
    allure generate reports/allure -o reports/allure-report --clean

Nothing of this is imported or done unless allure records: without `--alluredir` the plugin's
`pytest_configure` finds no allure listener and registers nothing, and checks get the plain Expect.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

import pluggy
import pytest

from .. import __version__
from ..assessments.failure import Finding
from ..catalogue.diagnoses import Severity, load_catalogue
from ..checkapi import Expect, diagnosis_of
from ..model.environment import Target
from ..outputs.allure import carry_history, categories
from ..outputs.junit import attempt_lines
from ..outputs.records import in_window_text, window_of
from .fixtures import EXPECT_TYPE
from .maintenance import WINDOW_PROPERTY, in_maintenance
from .state import ALLURE_SEVERITY, STATE
from .verdicts import was_retried

ALLURE_LISTENER = "allure_listener"  # allure-pytest registers it only when --alluredir is given
STORY_PLUGIN = "healthsuite_allure_story"
TITLE_LIMIT = 160  # characters of a step's title; the attachment holds the whole text
ALLURE_HOOK = pluggy.HookimplMarker("allure")  # allure_commons.hookimpl, without importing allure

def _property_line(key: str, value: str) -> str:
    """One line of a Java .properties file (backslashes, line breaks and the separators escaped)."""
    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")

    key = escape(key)
    for separator in "=: ":
        key = key.replace(separator, "\\" + separator)
    return f"{key}={escape(value)}"


def environment_properties(config: pytest.Config) -> str:
    env = config.stash[STATE].env
    values = {
        "environment": env.name if env is not None else "",
        "kind": str(env.model.kind) if env is not None else "",
        "file": str(env.path) if env is not None else "",
        "healthsuite": __version__,
        "host": socket.gethostname(),
    }
    return "".join(_property_line(key, value) + "\n" for key, value in values.items())


def readable(value: object) -> object:
    """A parameter as a person reads it: a target's name, a path as text; plain values as they are."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Target):
        return value.name
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else str(value)


def observation_data(observation: object, depth: int = 0) -> Any:
    """What a probe observed, for the attachment: its fields but bodies and headers (nested ones too),
    its error and timings; long lists cut at 20 items."""
    if not is_dataclass(observation) or isinstance(observation, type) or depth > 2:
        if isinstance(observation, (list, tuple)):
            return [observation_data(v, depth + 1) for v in observation[:20]]
        return observation
    data: dict[str, Any] = {"type": type(observation).__name__}
    for item in fields(observation):
        if item.name not in ("body", "headers"):
            data[item.name] = observation_data(getattr(observation, item.name), depth + 1)
    elapsed = getattr(observation, "elapsed_s", None)
    if isinstance(elapsed, (int, float)):
        data["elapsed_ms"] = round(elapsed * 1000, 1)
    return data


def _summary(observation: object) -> str:
    """`HTTP 200 OK in 12 ms`, `connection refused: ...`: the observation's own summary, or its response's."""
    for source in (observation, getattr(observation, "response", None)):
        summary = getattr(source, "summary", None)
        if callable(summary):
            return str(summary())
    error = getattr(observation, "error", None)
    return f"{error.kind_name}: {error.detail}" if error is not None else "answered"


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LIMIT else line[: TITLE_LIMIT - 3] + "..."


class StoryExpect(Expect):
    """The checks' `expect` while allure records: every probe reached and every finding becomes a step."""

    def reached(self, observation: Any, expected: str | None = None) -> Any:
        __tracebackhide__ = True
        redact = self.env.redactor.redact
        error = getattr(observation, "error", None)
        title = _short(redact(f"probe {self.target_label()}: {_summary(observation)}"))
        body = redact(json.dumps(observation_data(observation), default=str, indent=2, sort_keys=True))
        _step(title, {"observation": body}, failure=f"{error.kind_name}: {error.detail}" if error is not None else None)
        return super().reached(observation, expected)

    def _record(self, finding: Finding, severity: Severity, *rest: Any, **named: Any) -> None:
        super()._record(finding, severity, *rest, **named)
        redact = self.env.redactor.redact
        observed = redact(finding.observed)
        attachments = {"observed": f"observed: {observed}\nexpected: {redact(finding.expected)}\n"}
        if finding.facts:
            attachments["facts"] = redact(json.dumps(finding.facts, default=str, indent=2, sort_keys=True))
        _step(_short(f"observed: {observed}"), attachments, failure=None if finding.ok else observed)
        if not finding.ok and severity != self.severity:
            _relabel_severity(self.item, severity)


def _allure_hooks() -> Any:
    """allure's own plugin manager (allure_commons), where the results are written."""
    import allure_commons  # noqa: PLC0415

    return allure_commons.plugin_manager


def _allure() -> Any:
    """allure's API (untyped), imported only when allure records."""
    import allure  # noqa: PLC0415

    return allure


def _step(title: str, attachments: dict[str, str], *, failure: str | None) -> None:
    """An allure step with its attachments (text, or JSON when it parses), failed with `failure` if given."""
    allure = _allure()
    step = allure.step(title)
    step.__enter__()
    for name, body in attachments.items():
        kind = allure.attachment_type.JSON if body.startswith(("{", "[")) else allure.attachment_type.TEXT
        allure.attach(body, name=name, attachment_type=kind)
    error = AssertionError(failure) if failure is not None else None
    step.__exit__(type(error) if error is not None else None, error, None)


def _relabel_severity(item: pytest.Item, severity: Severity) -> None:
    """The severity labels say the one the check failed with (allure reads the marks at teardown)."""
    replaced = {"severity", "healthsuite_severity"}
    item.own_markers[:] = [
        m for m in item.own_markers if not (m.name == "allure_label" and m.kwargs.get("label_type") in replaced)
    ]
    item.add_marker(pytest.mark.allure_label(ALLURE_SEVERITY[severity], label_type="severity"))
    item.add_marker(pytest.mark.allure_label(severity, label_type="healthsuite_severity"))


@dataclass(frozen=True, slots=True)
class AllureVerdict:
    """How Allure tells a verdict it has no status for."""

    status: str  # Allure's: passed | skipped
    message: str
    flaky: bool = False
    known: bool = False


def allure_verdict(report: pytest.TestReport) -> AllureVerdict | None:
    """A call report's verdict as Allure tells it, when its pytest outcome alone would say less: passed
    after retry (flaky, the attempts), failed during maintenance (skipped, a known issue, the window)."""
    if report.when != "call" or not report.passed:
        return None
    properties = {key: str(value) for key, value in report.user_properties}
    if in_maintenance(report):
        return AllureVerdict("skipped", in_window_text(window_of(properties.get(WINDOW_PROPERTY, ""))), known=True)
    if was_retried(report):
        _, lines = attempt_lines(properties.get("attempts", ""))
        return AllureVerdict("passed", "\n".join(["passed after retry", *lines]), flaky=True)
    return None


class AllureStory:
    """Registered only while allure records: parameters and runbook links per check, and the results
    directory's environment.properties and categories.json (the controller's)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._runbooks: dict[str, list[tuple[str, str | None, str]]] = {}  # per diagnosis: (name, url, label)
        self._told: AllureVerdict | None = None  # the running check's, until allure writes its result

    def runbooks(self, diagnosis: str) -> list[tuple[str, str | None, str]]:
        known = self._runbooks.get(diagnosis)
        if known is None:
            env = self.config.stash[STATE].env
            catalogue = env.catalogue if env is not None else load_catalogue()  # with the team's own diagnoses
            base = env.model.runbook_base_url if env is not None else None
            known = self._runbooks[diagnosis] = []
            for ref in catalogue.diagnosis(diagnosis).runbooks:
                runbook = catalogue.runbooks[ref.runbook]
                url = catalogue.runbook_url(ref, base)
                where = runbook.file or runbook.url or ""
                known.append((f"runbook {ref.runbook}: {ref.section}", url, f"{ref.runbook} {ref.section} ({where})"))
        return known

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Iterator[None]:
        try:
            return (yield)
        finally:  # after allure's own setup wrapper has recorded the raw parameters
            diagnosis = diagnosis_of(item)
            if diagnosis is not None:
                self._describe(item, diagnosis)

    def _describe(self, item: pytest.Item, diagnosis: str) -> None:
        allure = _allure()
        for name, value in getattr(getattr(item, "callspec", None), "params", {}).items():
            shown = readable(value)
            if shown is not value:
                allure.dynamic.parameter(name, shown)
        for name, url, label in self.runbooks(diagnosis):
            if url is not None:
                allure.dynamic.link(url, name=name)
            allure.dynamic.label("runbook", label)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self._told = None

    @pytest.hookimpl(tryfirst=True)  # marked by now (makereport); read before the run's record takes it over
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        told = allure_verdict(report)
        if told is not None:
            self._told = told

    @ALLURE_HOOK(tryfirst=True)  # before allure's own writer: the result is written as told
    def report_result(self, result: Any) -> None:
        """allure's hook, called as the check's result is written (once its reports are all made)."""
        told, self._told = self._told, None
        if told is None:
            return
        from allure_commons.model2 import StatusDetails  # noqa: PLC0415 (allure records: it is installed)

        before = result.statusDetails
        kept = before.message if before is not None and before.message else ""
        result.status = told.status
        result.statusDetails = StatusDetails(
            message=f"{told.message}\n\n{kept}" if kept else told.message,
            trace=before.trace if before is not None else None,
            flaky=True if told.flaky else None, known=True if told.known else None,
        )

    def pytest_unconfigure(self) -> None:
        _allure_hooks().unregister(self)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        config = self.config
        if hasattr(config, "workerinput") or config.option.collectonly:
            return
        results = Path(config.option.allure_report_dir)
        results.mkdir(parents=True, exist_ok=True)
        (results / "environment.properties").write_text(environment_properties(config), encoding="utf-8")
        (results / "categories.json").write_text(json.dumps(categories(), indent=2) + "\n", encoding="utf-8")
        previous = history_dir(config)
        if previous is not None:
            try:
                carry_history(previous, results)
            except OSError as exc:  # the run's results stand; only the trend starts over
                config.get_terminal_writer().line(
                    f"healthsuite: allure history from {previous} NOT CARRIED OVER: {type(exc).__name__}: {exc}",
                    yellow=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("healthsuite")
    group.addoption(
        "--allure-history", dest="healthsuite_allure_history", default=None, metavar="DIR",
        help="the previous Allure report (the -o of the last `allure generate`): its history/ is copied into "
        "--alluredir at the end of the run, so the next report continues its trends "
        "(ini healthsuite_allure_history; a relative path is from rootdir)",
    )
    parser.addini("healthsuite_allure_history", "see --allure-history", default="")


def history_dir(config: pytest.Config) -> Path | None:
    """The previous report whose history the results carry: --allure-history (relative to the current
    directory), else the ini's (relative to rootdir); None when neither is set."""
    option = str(config.getoption("healthsuite_allure_history") or "").strip()
    if option:
        return Path(option).expanduser()
    ini = str(config.getini("healthsuite_allure_history") or "").strip()
    return config.rootpath / Path(ini).expanduser() if ini else None


@pytest.hookimpl(trylast=True)  # after allure-pytest's pytest_configure has registered its listener
def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(ALLURE_LISTENER) or not getattr(config.option, "allure_report_dir", None):
        return
    config.stash[EXPECT_TYPE] = StoryExpect
    story = AllureStory(config)
    config.pluginmanager.register(story, STORY_PLUGIN)
    _allure_hooks().register(story)
