"""Logs: runbook 000 "Log Analysis Patterns", 002 "Log Analysis", 004 "Log Analysis Commands" and
"Slow API Response Times". Each log is read from its end, at most `max_bytes`, and only the lines
written since the previous run of the environment read it (within `window_min`; `judge: window`: the
whole window every run); files are only read."""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthsuite.assessments import logs as judge
from healthsuite.checkapi import check
from healthsuite.probes import logs

if TYPE_CHECKING:
    from healthsuite.checkapi import Expect
    from healthsuite.model.logs import LogSource
    from healthsuite.probes.session import ProbeSession


def _lines(log: LogSource, probes: ProbeSession, expect: Expect, slow_request_s: float = 3.0) -> logs.LogObservation:
    path = expect.env.resolve_path(log.path, expect.env.where(log, "path"))
    observation = logs.read_new(probes, log, path, expect.entry.id, slow_request_s=slow_request_s)
    if observation.error is not None:
        expect.finding(judge.unreadable(observation, "the log"))
    return observation


@check("LOG1")
def test_error_lines_under_threshold(app_log: LogSource, probes: ProbeSession, expect: Expect) -> None:
    expect.finding(judge.errors(_lines(app_log, probes, expect), expect.threshold("max_error_lines")))


@check("LOG2")
def test_timeout_lines_under_threshold(app_log: LogSource, probes: ProbeSession, expect: Expect) -> None:
    expect.finding(judge.timeouts(_lines(app_log, probes, expect), expect.threshold("max_timeout_lines")))


@check("LOG3")
def test_proxy_log_few_5xx_and_slow_requests(nginx_log: LogSource, probes: ProbeSession, expect: Expect) -> None:
    slow_s = expect.threshold("slow_request_s")
    observation = _lines(nginx_log, probes, expect, slow_request_s=slow_s)
    expect.finding(
        judge.access(observation, expect.threshold("max_5xx_rate_pct"), slow_s, expect.threshold("max_slow_share_pct"))
    )


@check("LOG4")
def test_database_log_has_no_fatal_and_few_errors(
    postgres_log: LogSource, probes: ProbeSession, expect: Expect
) -> None:
    observation = _lines(postgres_log, probes, expect)
    expect.finding(
        judge.database_log(observation, expect.threshold("max_error_lines"), expect.threshold("max_fatal_lines"))
    )
