"""A scheduled run's start and end: the splay before its first exchange, and its heartbeat pings.

- `--splay SECONDS` (ini `healthsuite_splay`), `--splay-key KEY` (ini `healthsuite_splay_key`): the
  controller waits `healthsuite.runner.splay.splay_seconds(environment, host, key, SECONDS)` before
  the session starts (before any worker starts and any exchange is made), and says so on one line.
  The wait does not count against the run's deadline: the deadline starts when the wait ends (a
  scheduler's own deadline must cover both: activeDeadlineSeconds, TimeoutStartSec).
- `--heartbeat URL` (a `${VARIABLE}` in it is read from the process's environment), else the
  environment file's `heartbeat: {url: ...}`: `/start` is pinged once the splay is over, the end ping
  (`/<exit status>`) goes with the outputs (healthsuite.outputs.publish). A run that judges nothing
  (a usage error, exit 4, an interruption before any check) still sends its end ping here, when it
  ends, if the URL is known: from the command line, or from the environment file when it loaded.
- Only the controller waits and pings: never an xdist worker, never `--collect-only`.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import replace
from urllib.parse import urlsplit

import pytest

from healthsuite.environment.loaded import LoadedEnvironment
from healthsuite.model.addresses import http_url_problem
from healthsuite.model.heartbeat import HEARTBEAT_EXAMPLE
from healthsuite.model.templates import MissingVariable
from healthsuite.model.types import SecretTemplate
from healthsuite.outputs import heartbeat
from healthsuite.outputs.delivery import tls_verify
from healthsuite.plugin.state import STATE, RunState, is_worker
from healthsuite.probes import deadline
from healthsuite.runner.splay import SPLAY_MAX_S, parse_window, splay_seconds

NOT_JUDGED = (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR,
              pytest.ExitCode.NO_TESTS_COLLECTED)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("healthsuite")
    group.addoption(
        "--splay",
        dest="healthsuite_splay",
        metavar="SECONDS",
        help="wait a delay fixed by the environment, the host and --splay-key, between 0 and SECONDS, before "
        "the first exchange, so that runs fired at once start spread out; not counted in --run-deadline "
        f"(at most {SPLAY_MAX_S:g}; default: ini healthsuite_splay, else no wait)",
    )
    group.addoption(
        "--splay-key",
        dest="healthsuite_splay_key",
        metavar="KEY",
        help="a further input of the splay's delay, e.g. the region (default: ini healthsuite_splay_key)",
    )
    group.addoption(
        "--heartbeat",
        dest="healthsuite_heartbeat",
        metavar="URL",
        help="ping URL/start when the checks start and URL/<exit status> with a summary when the run ends "
        "(Healthchecks.io's convention); the URL is a secret: pass '${VARIABLE}' to read it from the "
        f"environment; each ping ends after {heartbeat.HEARTBEAT_TIMEOUT_S:g} s and never fails the run "
        "(default: the environment file's heartbeat.url)",
    )
    parser.addini("healthsuite_splay", "see --splay", default="")
    parser.addini("healthsuite_splay_key", "see --splay-key", default="")


def splay_window(config: pytest.Config) -> tuple[float, str]:
    """The splay window in seconds and where it was set (0 and "": no splay); a bad value is a usage error."""
    option = str(config.getoption("healthsuite_splay", None) or "").strip()
    ini = str(config.getini("healthsuite_splay") or "").strip()
    value, source = (option, "--splay") if option else (ini, "ini healthsuite_splay")
    if not value:
        return 0.0, ""
    try:
        return parse_window(value), source
    except ValueError as exc:
        example = "--splay 60" if source == "--splay" else "healthsuite_splay = 60"
        raise pytest.UsageError(f"{source}: {exc}; write a number of seconds from 0 to {SPLAY_MAX_S:g}, "
                                f"e.g. {example}") from None


def splay_key(config: pytest.Config) -> str:
    return str(config.getoption("healthsuite_splay_key", None) or config.getini("healthsuite_splay_key") or "").strip()


def _cli_url(config: pytest.Config) -> str:
    return str(config.getoption("healthsuite_heartbeat", None) or "").strip()


def _taking_part(config: pytest.Config) -> bool:
    """Only the process that runs the session waits and pings: not a worker, not --collect-only."""
    return not is_worker(config) and not config.option.collectonly


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    splay_window(config)  # a bad value is a usage error before anything runs
    raw = _cli_url(config)
    if raw:
        try:
            template = SecretTemplate(raw)
        except ValueError as exc:
            raise pytest.UsageError(f"--heartbeat: {exc}") from None
        problem = http_url_problem(template, example=HEARTBEAT_EXAMPLE)
        if problem is not None:
            raise pytest.UsageError(f"--heartbeat {heartbeat.shown(raw)}: {problem[0]}; {problem[1]}")


def heartbeat_of(config: pytest.Config, env: LoadedEnvironment | None) -> heartbeat.Heartbeat | None:
    """The run's heartbeat, its URL resolved (and made a secret of): `--heartbeat`, else the environment
    file's; None when neither is given. A URL that cannot be resolved (an unset variable) is kept as a
    heartbeat whose pings fail, saying why: the run goes on."""
    raw, source = _cli_url(config), "--heartbeat"
    if not raw and env is not None and env.model.heartbeat is not None:
        raw, source = env.model.heartbeat.url.raw, f"heartbeat.url in {env.path.name}"
    if not raw:
        return None
    variables = env.variables if env is not None else os.environ
    redact = env.redactor.redact if env is not None else str
    beat = heartbeat.Heartbeat(url="", source=source, redact=redact)
    try:
        template = SecretTemplate(raw)
        beat.url = template.resolve(variables, source)
    except MissingVariable as exc:
        beat.problem = exc.reason()
    except ValueError as exc:
        beat.problem = f"{source}: {exc}"
    else:
        parts = urlsplit(beat.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            beat.problem = f"{source} is not an http(s) URL once resolved; e.g. {HEARTBEAT_EXAMPLE}"
    if env is not None:
        env.redactor.add(beat.url)
        if not beat.problem:
            for name in template.variables:
                env.redactor.add(variables.get(name, ""))
        try:
            beat.verify = tls_verify(env)
        except (OSError, ValueError, MissingVariable) as exc:
            beat.problem = beat.problem or f"http.ca_bundle cannot be read: {exc}"
    if env is None:  # no redactor: the URL is masked wherever a line could name it
        url = beat.url
        beat.redact = lambda text: text.replace(url, heartbeat.shown(url)) if url else text
    return beat


@pytest.hookimpl(tryfirst=True)  # before the session's header and before xdist starts its workers
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    state = config.stash[STATE]
    if state.env is None or not _taking_part(config):
        return
    state.heartbeat = heartbeat_of(config, state.env)
    _splay(config, state)
    if state.heartbeat is not None:
        state.heartbeat.start(f"healthsuite {state.env.name} ({state.env.model.kind}) on {socket.gethostname()}: "
                              f"checks start (pid {os.getpid()}, run {state.heartbeat.run_id})\n")


def _splay(config: pytest.Config, state: RunState) -> None:
    """Wait the run's splay; the run's deadline starts after it."""
    window, source = splay_window(config)
    if not window or state.env is None:
        return
    host, key = socket.gethostname(), splay_key(config)
    delay = splay_seconds(state.env.name, host, key, window)
    by = f"environment {state.env.name}, host {host}" + (f", key {key}" if key else "")
    _say(config, f"healthsuite: splay: waiting {delay:.1f} s (of {window:g}, {source}; by {by}) "
                 "before the first exchange ...")
    started = time.monotonic()
    time.sleep(delay)
    state.splay_s = time.monotonic() - started
    if state.run_deadline is not None:  # the wait is not the run's: its deadline starts now
        state.run_deadline = replace(state.run_deadline, at=state.run_deadline.at + state.splay_s)
        deadline.set_run_deadline(state.run_deadline)


def _say(config: pytest.Config, line: str) -> None:
    """One line on the terminal (stderr in Nagios mode, whose stdout is its status line only)."""
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    if terminal is not None and not config.getoption("healthsuite_nagios", False):
        terminal.write_line(line)
    else:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash.get(STATE, None)
    if state is None or state.env is None or not _taking_part(config):
        return []
    lines = []
    window, source = splay_window(config)
    if window:
        lines.append(f"healthsuite: splay: waited {state.splay_s:.1f} s of a {window:g} s window ({source}); "
                     "the run's deadline starts after it")
    beat = state.heartbeat
    if beat is not None:
        where = heartbeat.shown(beat.url) if beat.url else "(unresolved)"
        lines.append(f"healthsuite: heartbeat: pings {where} at the start and the end ({beat.source})")
    return lines


def exit_status_of_unjudged(config: pytest.Config, status: int | None) -> int:
    """The process's exit status of a run that judged nothing: pytest's (a usage error while configuring
    when the session never began), or UNKNOWN (3) in Nagios mode."""
    if config.getoption("healthsuite_nagios", False):
        return 3
    return int(pytest.ExitCode.USAGE_ERROR) if status is None else int(status)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The end ping of a run whose outputs were not published (a usage error, an interruption, nothing
    selected): its exit status, and "no check judged"."""
    if not _taking_part(config):
        return
    state = config.stash.get(STATE, None)
    if state is not None and state.published is not None:
        return  # the end ping went with the outputs
    if state is not None and state.choice is None and state.exit_status is not None:
        return  # a session ran with no environment selected (a bare `pytest`): not a check run
    try:
        beat = state.heartbeat if state is not None and state.heartbeat is not None else heartbeat_of(
            config, state.env if state is not None else None)
    except Exception:  # noqa: BLE001 - the options themselves are what was wrong: no URL to ping
        return
    if beat is None or beat.ended is not None:
        return
    status = exit_status_of_unjudged(config, state.exit_status if state is not None else None)
    nagios = bool(config.getoption("healthsuite_nagios", False))
    name = state.env.name if state is not None and state.env is not None else _label(state)
    beat.end(status, heartbeat.unjudged_text(name, status, heartbeat.status_meaning(status, nagios)))
    for line, _ in heartbeat.summary_lines(beat.section()):
        if line.startswith("healthsuite: heartbeat end"):
            sys.stderr.write(line + "\n")


def _label(state: RunState | None) -> str:
    if state is not None and state.choice is not None:
        return os.path.splitext(os.path.basename(state.choice.value))[0] or state.choice.value
    return "unknown"
