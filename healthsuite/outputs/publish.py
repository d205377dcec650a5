"""The outputs of a run, in their order, each on its own: one failing is said and loses no other.

    history -> notices -> heartbeat's end ping -> JSON report -> Prometheus textfile -> Pushgateway -> HTML page

(JUnit is rewritten after pytest's junitxml has written its file, and Nagios's lines are made from the
result when the run's exit status is decided; both are the plugin's to time, and are functions of the
same `RunResult`.) The notices and the end ping come before the JSON report, which carries what was
sent (the end ping carries the exit status as it stands then: a JSON report that then cannot be
written makes it 4, which the ping does not know); the page
comes last, from the same result. An output that raises is reported as not written with its reason;
it never changes a check's verdict. A reports directory that cannot be written is a usage problem
(`Outcome.usage`): the plugin ends the run with the usage-error status, after every output ran.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..environment.loaded import LoadedEnvironment
from . import heartbeat, history, html, json_report, nagios, notices, prometheus
from .result import RunResult

USAGE_ERROR = 4  # pytest's exit status for a usage error


@dataclass(frozen=True)
class Settings:
    """Which outputs a run asked for (the plugin reads them from options and ini)."""

    prom_textfile: Path | None = None
    pushgateway: str = ""
    prom_instance: str = ""
    notify: bool = False
    html_report: Path | None = None
    heartbeat: heartbeat.Heartbeat | None = None  # the end ping goes here (its start went at the run's start)
    nagios: bool = False  # the exit status is the Nagios plugin state (the end ping carries it)


@dataclass(frozen=True)
class Outcome:
    output: str  # json, history, notices, prometheus, pushgateway, html, junit
    ok: bool
    line: str  # what the terminal says of it
    usage: bool = False  # a place the user named cannot be written: the run ends with a usage error


@dataclass
class Published:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def usage_problems(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.usage]


def unwritable_directory(directory: Path) -> str:
    """Why `directory` cannot take a run's files ("" when it can): it is a file, a dangling link, not
    writable, or on a full file system (said only when a write fails)."""
    if directory.is_symlink() and not directory.exists():
        return f"{directory} is a link to {os.readlink(directory)}, which does not exist"
    if directory.exists() and not directory.is_dir():
        return f"{directory} is not a directory"
    existing = directory
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable by this user (uid {os.getuid()})"
    try:  # what access() cannot tell: a read-only mount, an immutable directory, a full file system
        directory.mkdir(parents=True, exist_ok=True)
        fd, trial = tempfile.mkstemp(dir=directory, prefix=".healthsuite-write-test.")
        try:
            os.write(fd, b"\n")  # a full file system still creates the empty file, but takes no byte
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(trial)
    except OSError as exc:
        return f"{directory} cannot be written: {_oserror(exc)}"
    return ""


def _fix(directory: Path) -> str:
    return (f"make {directory} a writable directory, or name another with --reports-dir DIR "
            "(ini healthsuite_reports_dir)")


def _oserror(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the file system is full"
    return exc.strerror or type(exc).__name__


def publish(result: RunResult, settings: Settings, env: LoadedEnvironment) -> Published:
    """Every output the settings ask for, in order; what became of each."""
    done = Published()
    redact = result.redact
    directory = result.reports_dir
    problem = unwritable_directory(directory)

    def run(name: str, action: Callable[[], str], place: Path | None = None) -> None:
        try:
            line = action()
        except OSError as exc:
            where = place or directory
            why = unwritable_directory(where if place is None else where.parent) or _oserror(exc)
            usage = place is None or place == directory
            fix = f"; fix: {_fix(directory)}" if usage else ""
            done.outcomes.append(Outcome(name, False, redact(f"healthsuite: {name} NOT WRITTEN: {why}{fix}"), usage))
            return
        except Exception as exc:  # noqa: BLE001 - one output never loses another, nor the verdict
            done.outcomes.append(Outcome(name, False, redact(f"healthsuite: {name} NOT WRITTEN: "
                                                             f"{type(exc).__name__}: {exc}")))
            return
        if line:
            done.outcomes.append(Outcome(name, True, redact(line)))

    if problem:
        result.exit_status = USAGE_ERROR  # told the same way by every output written from here
        done.outcomes.append(Outcome(
            "reports", False, redact(f"healthsuite: reports directory unusable: {problem}; the JSON report, the "
                                     f"history and the notice state were NOT WRITTEN; fix: {_fix(directory)}"),
            usage=True))
    else:
        run("history", lambda: history.record(result))
    if settings.notify:
        def send() -> str:
            result.notices = notices.notify(env, result, keep_state=not problem)  # its time: the run's end
            return ""
        run("notices", send)
    if settings.heartbeat is not None:
        beat = settings.heartbeat
        def ping() -> str:
            status = nagios.status(result)[0] if settings.nagios and not problem else result.exit_status
            if settings.nagios and problem:
                status = nagios.UNKNOWN
            beat.end(status, heartbeat.end_text(result, status, heartbeat.status_meaning(status, settings.nagios)))
            result.heartbeat = beat.section()
            return ""
        run("heartbeat", ping)
    if not problem:
        def write_json() -> str:
            result.report_path = json_report.write(result)
            return ""
        run("JSON report", write_json)
    if settings.prom_textfile is not None:
        path = settings.prom_textfile
        run("metrics", lambda: prometheus.write_result(path, result) or f"healthsuite: metrics written to {path}",
            place=path)
    if settings.pushgateway:
        url = settings.pushgateway
        shown = prometheus.masked(url)
        try:
            error = prometheus.push_result(url, result, settings.prom_instance)  # bounded in time
        except Exception as exc:  # noqa: BLE001 - one output never loses another, nor the verdict
            error = f"{type(exc).__name__}: {exc}"
        line = (f"healthsuite: metrics NOT PUSHED to {shown}: {error}" if error
                else f"healthsuite: metrics pushed to {shown}")
        done.outcomes.append(Outcome("metrics push", not error, redact(line)))
    if settings.html_report is not None:
        page = settings.html_report
        def write_page() -> str:
            html.write_result(page, result)
            return f"healthsuite: HTML report written to {page} (open {page.resolve().as_uri()} in a browser)"
        run("HTML report", write_page, place=page)
    return done
