"""What a run's failures mean to a scheduler: the exit status by severity, and Nagios/Icinga mode.

- `--fail-on LEVEL` (ini `healthsuite_fail_on`): a failing check whose severity is below LEVEL is a
  *warning*: its report passes (so the run's exit status does not count it), the terminal shows it as
  `WARN`/`warned`, the JSON record's outcome is `warned` (with the failure text as its message), and
  the JUnit testcase passes with the property `verdict=warning` beside its `observed` and `expected`.
  Without the option every failure fails the run, pytest's convention.
- Passed after retry: a check that passed on an exchange that needed a second attempt (a transport
  failure, `retries:`) passes and does not change the exit status; the terminal shows it as
  `PASSED AFTER RETRY`/`retried`, the JSON record's outcome is `retried`, and Nagios says WARNING.
- `--nagios`: one status line with performance data and an exit status by the Monitoring Plugins
  guidelines (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN): a critical or high failure is CRITICAL, a
  lower one WARNING; a run that could not judge (a usage error in the environment file or the
  options, an internal error, nothing selected) is UNKNOWN. pytest's terminal output is off; the
  lines after the first list each cause once with the failures it explains folded under it, then the
  other failures, most severe first (Nagios' long output; outputs.nagios keeps quoted text `|`-free).
  A usage error is one `HEALTHSUITE UNKNOWN - usage error: ...` line and exit 3, also when the options
  themselves cannot be parsed (an unknown option, a bad --fail-on value): see _unknown_on_usage_error.
- Skipped is not green: a run in which nothing failed but a target was not judged (all its checks
  skipped for an unset variable or secret, or input that could not be read: outputs.result.not_judged)
  exits with NOT_JUDGED_STATUS (6), and `--nagios` says UNKNOWN; `--allow-skips` (ini
  `healthsuite_allow_skips`) says such skips are fine: the run is judged by what ran.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import sys
from collections.abc import Generator, Iterable
from typing import Any

import pytest

from ..outputs.nagios import SEVERITY_ORDER, UNKNOWN, unknown
from ..outputs.result import NOT_JUDGED_STATUS

FAIL_ON_LEVELS = SEVERITY_ORDER
WARNING_VERDICT = ("verdict", "warning")
NAGIOS_CODE = pytest.StashKey[int]()
NAGIOS_LINES = pytest.StashKey[list[str]]()


def below(severity: str, fail_on: str | None) -> bool:
    """A failure of `severity` does not fail a run that fails on `fail_on` and above."""
    if not fail_on or severity not in SEVERITY_ORDER:
        return False
    return SEVERITY_ORDER.index(severity) > SEVERITY_ORDER.index(fail_on)


def is_warning(report: pytest.TestReport) -> bool:
    return WARNING_VERDICT in report.user_properties


# --- pytest hooks (this module is a plugin: healthsuite.plugin lists it in pytest_plugins) ---------------


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    config = pluginmanager.get_plugin("pytestconfig")  # the Config registers itself under this name
    if isinstance(config, pytest.Config):
        config.add_cleanup(functools.partial(_unknown_on_usage_error, config))
    group = parser.getgroup("healthsuite")
    group.addoption(
        "--fail-on",
        dest="healthsuite_fail_on",
        choices=FAIL_ON_LEVELS,
        metavar="LEVEL",
        help="only failures of this severity and above fail the run; lower ones are warnings "
        "(critical, high, medium, low; default: ini healthsuite_fail_on, else every failure fails)",
    )
    group.addoption(
        "--nagios",
        dest="healthsuite_nagios",
        action="store_true",
        help="Nagios/Icinga plugin mode: one status line with performance data, exit 0 OK, 1 WARNING, "
        "2 CRITICAL, 3 UNKNOWN",
    )
    group.addoption(
        "--allow-skips",
        dest="healthsuite_allow_skips",
        action="store_true",
        default=None,
        help="a target whose checks were all skipped for an unset variable or unreadable input does not "
        f"change the exit status (default: ini healthsuite_allow_skips, else exit {NOT_JUDGED_STATUS}, "
        "Nagios UNKNOWN)",
    )
    parser.addini("healthsuite_fail_on", "see --fail-on", default="")
    parser.addini("healthsuite_allow_skips", "see --allow-skips", type="bool", default=False)


def allow_skips(config: pytest.Config) -> bool:
    """The user says skipped targets are fine (--allow-skips, else ini healthsuite_allow_skips)."""
    option = config.getoption("healthsuite_allow_skips", None)
    return bool(option) if option is not None else bool(config.getini("healthsuite_allow_skips"))


def fail_on(config: pytest.Config) -> str | None:
    level = config.getoption("healthsuite_fail_on", None) or str(config.getini("healthsuite_fail_on") or "")
    if level and level not in FAIL_ON_LEVELS:
        raise pytest.UsageError(
            f"ini healthsuite_fail_on = {level!r}: not a severity; use one of {', '.join(FAIL_ON_LEVELS)}"
        )
    return level or None


def _nagios(config: pytest.Config) -> bool:
    return bool(config.getoption("healthsuite_nagios", False))


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Generator[None, object, object]:
    """In Nagios mode the run's exit status is the plugin state, and a run that cannot start is UNKNOWN."""
    if not _nagios(config):
        return (yield)
    try:
        result = yield
    except pytest.UsageError as exc:
        _print(unknown(f"usage error: {usage_text(exc)}"))
        return UNKNOWN
    code = config.stash.get(NAGIOS_CODE, None)
    if code is None:  # the run ended before any verdict (interrupted, internal error, nothing selected)
        _print(unknown(f"no verdict: pytest exit status {int(result) if isinstance(result, int) else result}"))
        return UNKNOWN
    lines: list[str] = config.stash.get(NAGIOS_LINES, [])
    _print(lines)
    return code


def _print(lines: Iterable[str]) -> None:
    """Write `lines` to stdout; a character its encoding cannot write (an ASCII locale) becomes `?`."""
    text = "".join(f"{line}\n" for line in lines)
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    sys.stdout.write(text.encode(encoding, "replace").decode(encoding))
    sys.stdout.flush()


def usage_text(error: pytest.UsageError) -> str:
    """What a usage error says, without argparse's usage synopsis and pytest's rootdir/inifile lines:
    `unrecognized arguments: --bogus` of `usage: pytest [options] ...\npytest: error: unrecognized ...`."""
    text = "\n".join(str(arg) for arg in error.args)
    said = re.search(r": error: (.*)$", text, re.MULTILINE)
    return said.group(1) if said else text


def _nagios_requested(config: pytest.Config) -> bool:
    """`--nagios` is among the arguments, PYTEST_ADDOPTS or the ini addopts (read raw: the options
    could not be parsed)."""
    args = [*config.invocation_params.args]
    try:  # in pytest's order: the ini's addopts, then PYTEST_ADDOPTS, then the command line
        args[:0] = shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
        args[:0] = [str(arg) for arg in config.getini("addopts") or ()]
    except (ValueError, KeyError):  # an unreadable PYTEST_ADDOPTS, or an ini not read yet
        pass
    return "--nagios" in args[: args.index("--")] if "--" in args else "--nagios" in args


def _unknown_on_usage_error(config: pytest.Config) -> None:
    """A config cleanup: when the options cannot be parsed (an unknown option, a bad value to --fail-on)
    no hook of this plugin wraps the parse (pytest_cmdline_parse runs before entry points load), and
    pytest.main prints argparse's text and returns 4; on the way it unconfigures the config while
    handling the UsageError, and this cleanup runs there. In Nagios mode that is UNKNOWN: one status
    line on stdout and exit 3. (A usage error after parsing, e.g. in the environment file, reaches
    pytest_cmdline_main below.) A bad value to one of pytest's own options (`--tb=bogus`) fails before
    any plugin loads: pytest's exit 4 stays."""
    error = sys.exc_info()[1]
    if isinstance(error, pytest.UsageError) and _nagios_requested(config):
        _print(unknown(f"usage error: {usage_text(error)}"))
        raise SystemExit(UNKNOWN)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    fail_on(config)  # an unknown ini value is a usage error before anything runs
    if _nagios(config):
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None:
            config.pluginmanager.unregister(terminal)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """A failing call below the --fail-on bar becomes a warning: its report passes, marked as one."""
    report: pytest.TestReport = yield
    if report.when == "call" and report.failed and not hasattr(report, "wasxfail"):
        severity = next((v for k, v in report.user_properties if k == "severity"), "")
        if below(str(severity), fail_on(item.config)):
            report.outcome = "passed"
            report.user_properties.append(WARNING_VERDICT)
            item.user_properties.append(WARNING_VERDICT)  # the teardown report's, which JUnit writes
    return report


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, Any] | None:
    if report.when == "call" and report.passed and is_warning(report):
        return "warned", "W", ("WARN", {"yellow": True})
    if report.when == "call" and report.passed and was_retried(report):
        return "retried", "R", ("PASSED AFTER RETRY", {"yellow": True})
    return None


def was_retried(report: pytest.TestReport) -> bool:
    """A passing check that read an exchange only a retry got an answer from (probes.retry)."""
    return any(key == "attempts" for key, _ in report.user_properties)
