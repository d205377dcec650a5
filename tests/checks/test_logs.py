"""Mirrors checks/test_logs.py. LOG1-LOG4 against real files written in tmp_path: each passes on a
healthy log and fails on its real fault (an error burst, a timeout burst, 5xx and slow requests, FATAL
lines) with the right category and severity, naming the observed value; a 300 MB log shows the bounded
backwards read. Repeated runs against one reports directory judge only the lines written since the
previous run (a burst fails once, new lines fail again, a rotated file is read from its start), and a
real PostgreSQL's clean fast shutdown passes LOG4 while its real FATAL lines fail it."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from healthsuite.demo.faults.logs import app_line, nginx_line, postgres_line
from healthsuite.testing.postgres_server import PostgresServer
from tests.conftest import CheckRun, RunChecks

NOW = datetime.now(UTC)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def write(path: Path, lines: list[str]) -> str:
    path.write_text("".join(lines))
    return str(path)


# --- LOG1, LOG2: application logs (json and regex) ----------------------------------------------------


def test_LOG1_LOG2_judge_errors_and_timeouts_in_the_window(
    run_checks: RunChecks, env_file: Callable[[str], Path], tmp_path: Path
) -> None:
    ordinary = [app_line(ago(1800 - i * 30), "info", f"booking {i} created") for i in range(50)]
    # healthy: 3 errors and 2 timeouts in the window; a burst of 40 errors two hours ago, outside it;
    # and a last line still being written (no newline, cut mid-JSON)
    healthy = write(
        tmp_path / "healthy.log",
        [app_line(ago(7200 + i), "error", "old outage") for i in range(40)]
        + ordinary
        + [app_line(ago(60 + i), "error", f"validation failed for user {i}") for i in range(3)]
        + [app_line(ago(30 + i), "warn", "retrying after timeout") for i in range(2)]
        + ['{"timestamp": "' + NOW.isoformat() + '", "level": "err'],
    )
    errors = write(
        tmp_path / "errors.log",
        ordinary
        + [app_line(ago(20 - i / 2), "error", f"query failed on appointment {4000 + i} (request 9f8e7d6c{i:04x})")
           for i in range(12)]
        + [app_line(ago(5), "fatal", "worker 3 exited") for _ in range(3)],
    )
    timeouts = write(
        tmp_path / "timeouts.log",
        ordinary + [app_line(ago(30 - i), "warn", "calendar API: deadline exceeded") for i in range(4)]
        + [app_line(ago(10 - i), "warn", "connect ETIMEDOUT 10.0.0.5:443") for i in range(4)],
    )
    # regex format without a level group: ERROR in the text; local times of America/Bogota (UTC-5, no DST):
    # read as UTC they would be 5 hours old, outside the window
    regex_lines = [
        f"{NOW - timedelta(hours=5, seconds=300 - i):%d.%m.%Y %H:%M:%S} worker ERROR payment webhook rejected\n"
        for i in range(11)
    ]
    regex_log = write(tmp_path / "regex.log", regex_lines + ["  Traceback (most recent call last):\n"])
    plain = write(tmp_path / "plain.log", ["this is not json\n"] * 20)
    path = env_file(
        f"""
name: app-logs
kind: test
logs:
  - {{name: healthy, path: {healthy}}}
  - {{name: errors, path: {errors}}}
  - {{name: timeouts, path: {timeouts}, window_min: 15}}
  - name: regex
    path: {regex_log}
    format: regex
    regex: '^(?P<ts>\\S+ \\S+) \\S+ (?P<message>.*)$'
    ts_format: '%d.%m.%Y %H:%M:%S'
    timezone: America/Bogota
  - {{name: wrong-format, path: {plain}}}
  - {{name: missing, path: {tmp_path / "nowhere.log"}}}
"""
    )
    run = run_checks("--diagnosis", "LOG1,LOG2", env=path)
    for diagnosis in ("LOG1", "LOG2"):
        record = run.assert_outcome(diagnosis, "healthy", "passed", category="logs", severity="medium")
        assert record["facts"]["lines_in_window"] == 55, record["facts"]  # old outage and the partial line left out
        run.assert_outcome(diagnosis, "wrong-format", "failed", category="logs", severity="medium")
        run.assert_outcome(diagnosis, "missing", "failed", category="logs", severity="medium")
    assert "3 error lines" in run.record("LOG1", "healthy")["observed"]
    assert "2 timeout lines" in run.record("LOG2", "healthy")["observed"]

    record = run.assert_outcome("LOG1", "errors", "failed", category="logs", severity="medium")
    assert record["observed"].startswith("15 error lines in the last 60 min"), record["observed"]
    top = record["facts"]["top_errors"]
    assert top[0] == {"message": "query failed on appointment <n> (request <hex>)", "count": 12}, top
    assert top[1] == {"message": "worker <n> exited", "count": 3}, top
    assert "12x query failed on appointment <n>" in record["observed"]
    assert "12x query failed on appointment <n>" in run.output
    run.assert_outcome("LOG2", "errors", "passed", category="logs", severity="medium")

    record = run.assert_outcome("LOG2", "timeouts", "failed", category="logs", severity="medium")
    assert record["observed"].startswith("8 timeout lines in the last 15 min"), record["observed"]
    assert "ETIMEDOUT 10.0.0.5:443" in record["observed"]
    run.assert_outcome("LOG1", "timeouts", "passed", category="logs", severity="medium")

    record = run.assert_outcome("LOG1", "regex", "failed", category="logs", severity="medium")
    assert record["observed"].startswith("11 error lines"), record["observed"]
    assert "none of the 20 lines" in run.record("LOG1", "wrong-format")["observed"]
    assert "nowhere.log: no such file" in run.record("LOG1", "missing")["observed"]


# --- LOG3: the proxy's access log ----------------------------------------------------------------------


def test_LOG3_judges_5xx_share_and_slow_share(
    run_checks: RunChecks, env_file: Callable[[str], Path], tmp_path: Path
) -> None:
    traffic = [nginx_line(ago(900 - i * 5), 200, request_time=0.05) for i in range(100)]
    healthy = write(tmp_path / "ok.log", traffic + [nginx_line(ago(3), 404, request_time=4.5)])  # 1 % slow
    errors = write(tmp_path / "5xx.log", traffic + [nginx_line(ago(9 - i), 502, request_time=0.001) for i in range(3)]
                   + [nginx_line(ago(2), 504, request_time=60.0)])
    slow = write(tmp_path / "slow.log", traffic + [nginx_line(ago(20 - i), 200, "/api/employees", 7.25)
                                                   for i in range(10)])
    old = write(tmp_path / "old.log", [nginx_line(ago(86400 + i), 502) for i in range(100)] + traffic[-10:])
    path = env_file(
        f"""
name: proxy
kind: test
logs:
  - {{name: healthy, path: {healthy}, format: nginx}}
  - {{name: errors, path: {errors}, format: nginx}}
  - {{name: slow, path: {slow}, format: nginx}}
  - {{name: yesterday, path: {old}, format: nginx}}
"""
    )
    run = run_checks("--diagnosis", "LOG3", env=path)
    run.assert_outcome("LOG3", "healthy", "passed", category="logs", severity="medium")
    record = run.assert_outcome("LOG3", "yesterday", "passed", category="logs", severity="medium")
    assert record["facts"]["requests"] == 10, record["facts"]
    record = run.assert_outcome("LOG3", "errors", "failed", category="logs", severity="medium")
    assert record["observed"].startswith("3.8 % 5xx (4 of 104 requests: 502 x3, 504 x1)"), record["observed"]
    record = run.assert_outcome("LOG3", "slow", "failed", category="logs", severity="medium")
    assert "9.1 % slower than 3 s (10 of 110)" in record["observed"], record["observed"]
    assert "7.25 s GET /api/employees" in record["observed"]


# --- LOG4: the PostgreSQL log --------------------------------------------------------------------------


def test_LOG4_fails_on_fatal_lines_naming_them(
    run_checks: RunChecks, env_file: Callable[[str], Path], tmp_path: Path
) -> None:
    ordinary = [postgres_line(ago(1200 - i * 60), "LOG", "checkpoint complete: wrote 3 buffers") for i in range(20)]
    statement_error = [
        postgres_line(ago(100), "ERROR", 'duplicate key value violates unique constraint "users_email_key"'),
        postgres_line(ago(100), "DETAIL", "Key (email)=(a@example.com) already exists."),
        postgres_line(ago(100), "STATEMENT", "INSERT INTO users (email)\n\tVALUES ('a@example.com')"),
    ]
    healthy = write(tmp_path / "pg-ok.log", ordinary + statement_error * 2)
    fatal = write(
        tmp_path / "pg-fatal.log",
        ordinary + [postgres_line(ago(30), "FATAL", 'password authentication failed for user "booking"', pid=77)],
    )
    errors = write(tmp_path / "pg-errors.log", ordinary + statement_error * 11)
    path = env_file(
        f"""
name: pg-logs
kind: test
logs:
  - {{name: healthy, path: {healthy}, format: postgres}}
  - {{name: fatal, path: {fatal}, format: postgres}}
  - {{name: errors, path: {errors}, format: postgres}}
"""
    )
    run = run_checks("--diagnosis", "LOG4", env=path)
    record = run.assert_outcome("LOG4", "healthy", "passed", category="logs", severity="medium")
    assert record["observed"].startswith("0 PANIC/FATAL lines and 2 ERROR lines"), record["observed"]
    assert record["facts"]["unparsed_lines"] == 0  # the statement's continuation line is not counted
    record = run.assert_outcome("LOG4", "fatal", "failed", category="logs", severity="medium")
    assert record["observed"].startswith("1 PANIC/FATAL lines (FATAL x1)"), record["observed"]
    assert 'FATAL:  password authentication failed for user "booking"' in record["observed"]
    record = run.assert_outcome("LOG4", "errors", "failed", category="logs", severity="medium")
    assert "11 ERROR lines" in record["observed"]


# --- repeated runs: the lines since the previous run ------------------------------------------------------


def in_reports(run_checks: RunChecks, reports: Path) -> Callable[..., CheckRun]:
    """run_checks with one reports directory for every run (the previous run's report, and so its read
    marks, are read at the start of the next)."""

    def run(*args: str, env: Path) -> CheckRun:
        done = run_checks(*args, "--reports-dir", str(reports), env=env)
        return CheckRun(done.result, json.loads((reports / "latest.json").read_text()), reports, done.junit)

    return run


def append(path: Path, lines: list[str]) -> None:
    with open(path, "a") as handle:
        handle.write("".join(lines))


def test_LOG3_judges_the_lines_since_the_previous_run(
    run_checks: RunChecks, env_file: Callable[[str], Path], tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    write(log, [nginx_line(ago(900 - i * 5), 200) for i in range(100)]
          + [nginx_line(ago(120 - i), 502, request_time=0.002) for i in range(10)])
    path = env_file(
        f"""
name: proxy-runs
kind: test
logs:
  - {{name: proxy, path: {log}, format: nginx}}
  - {{name: fixed, path: {log}, format: nginx, judge: window}}
"""
    )
    run = in_reports(run_checks, tmp_path / "reports")

    first = run("--diagnosis", "LOG3", env=path)
    record = first.assert_outcome("LOG3", "proxy", "failed", category="logs", severity="medium")
    assert record["observed"].startswith("9.1 % 5xx (10 of 110 requests: 502 x10)"), record["observed"]
    assert "in the last 60 min (first run: no previous read of this file to start from)" in record["observed"]
    assert record["facts"]["judged"] == "first_run" and record["facts"]["identity"] == ["5xx"]
    first.assert_outcome("LOG3", "fixed", "failed", category="logs", severity="medium")

    # nothing written since: the burst was judged by the run before, the fault has ended
    second = run("--diagnosis", "LOG3", env=path)
    record = second.assert_outcome("LOG3", "proxy", "passed", category="logs", severity="medium")
    assert record["observed"].startswith("no requests since the previous run at "), record["observed"]
    assert record["facts"]["judged"] == "since_previous_run" and record["facts"]["start_offset"] == log.stat().st_size
    assert "among the lines written since the previous run (at most 60 min back)" in record["expected"]
    # judge: window still sees the burst within its hour
    second.assert_outcome("LOG3", "fixed", "failed", category="logs", severity="medium")

    # new 5xx: failing again, on the new lines only; a line still being written waits for the next run
    being_written = nginx_line(ago(1), 502)
    append(log, [nginx_line(ago(5 - i / 10), 200) for i in range(20)]
           + [nginx_line(ago(2), 504, request_time=60.0) for _ in range(5)] + [being_written[:30]])
    third = run("--diagnosis", "LOG3", env=path)
    record = third.assert_outcome("LOG3", "proxy", "failed", category="logs", severity="medium")
    assert record["observed"].startswith("20.0 % 5xx (5 of 25 requests: 504 x5)"), record["observed"]
    assert " since the previous run at " in record["observed"]
    assert record["facts"]["judged"] == "since_previous_run"
    append(log, [being_written[30:]] + [nginx_line(ago(0.5), 200) for _ in range(99)])
    record = run("--diagnosis", "LOG3", env=path).record("LOG3", "proxy")
    assert record["observed"].startswith("1.0 % 5xx (1 of 100 requests: 502 x1)"), record["observed"]  # judged whole

    # rotated: the old file renamed, a new one (longer than the old mark) read from its start
    os.rename(log, tmp_path / "access.log.1")
    write(log, [nginx_line(ago(30 - i / 20), 200) for i in range(398)] + [nginx_line(ago(1), 500) for _ in range(2)])
    assert log.stat().st_size > (tmp_path / "access.log.1").stat().st_size  # only its identity tells it apart
    fourth = run("--diagnosis", "LOG3", env=path)
    record = fourth.assert_outcome("LOG3", "proxy", "passed", category="logs", severity="medium")
    assert record["observed"].startswith("0.5 % 5xx (2 of 400 requests: 500 x2)"), record["observed"]
    assert "(the file was rotated or truncated since: read from its start)" in record["observed"]
    assert record["facts"]["judged"] == "rotated" and record["facts"]["start_offset"] == 0

    # truncated in place (copytruncate: the same inode), then written past the old mark: its first bytes
    # tell it apart, and it is read from its start again
    inode, mark = log.stat().st_ino, record["facts"]["file_size"]
    write(log, [nginx_line(ago(1), 502, "/api/truncated") for _ in range(450)])
    assert log.stat().st_ino == inode and log.stat().st_size > mark
    fifth = run("--diagnosis", "LOG3", env=path)
    record = fifth.assert_outcome("LOG3", "proxy", "failed", category="logs", severity="medium")
    assert record["observed"].startswith("100.0 % 5xx (450 of 450 requests: 502 x450)"), record["observed"]
    assert record["facts"]["judged"] == "rotated"


def test_LOG1_LOG2_keep_their_own_marks_on_one_log(
    run_checks: RunChecks, env_file: Callable[[str], Path], tmp_path: Path
) -> None:
    log = tmp_path / "app.log"
    write(log, [app_line(ago(300 - i), "error", f"payment {i} declined") for i in range(12)]
          + [app_line(ago(100 - i), "warn", "calendar API timed out") for i in range(6)])
    path = env_file(f"name: app-runs\nkind: test\nlogs:\n  - {{name: app, path: {log}}}\n")
    run = in_reports(run_checks, tmp_path / "reports")
    first = run("--diagnosis", "LOG1", env=path)
    first.assert_outcome("LOG1", "app", "failed", category="logs", severity="medium")
    # LOG2 did not read the log in that run: its first run reads the window, whatever LOG1 read
    second = run("--diagnosis", "LOG1,LOG2", env=path)
    record = second.assert_outcome("LOG2", "app", "failed", category="logs", severity="medium")
    assert record["facts"]["judged"] == "first_run", record["facts"]
    assert record["facts"]["identity"] == ["timeout lines", "calendar API timed out"]
    second.assert_outcome("LOG1", "app", "passed", category="logs", severity="medium")
    append(log, [app_line(ago(1), "error", "disk quota exceeded") for _ in range(11)])
    third = run("--diagnosis", "LOG1,LOG2", env=path)
    record = third.assert_outcome("LOG1", "app", "failed", category="logs", severity="medium")
    assert record["observed"].startswith("11 error lines since the previous run at "), record["observed"]
    assert record["facts"]["identity"] == ["error lines", "disk quota exceeded"]
    third.assert_outcome("LOG2", "app", "passed", category="logs", severity="medium")


# --- LOG4 on a real PostgreSQL's own log: a clean fast shutdown is not a failure; real FATAL lines are ---


def test_LOG4_passes_a_clean_fast_shutdown_and_fails_real_fatal_lines(
    run_checks: RunChecks, env_file: Callable[[str], Path], tmp_path: Path
) -> None:
    server = PostgresServer(tmp_path, superuser_password="s3cret-pw", settings={"log_timezone": "UTC"})
    try:
        server.start()
        sessions = [psycopg.connect(server.dsn(), autocommit=True) for _ in range(3)]
        server.stop()  # pg_ctl stop -m fast: one FATAL line for each open session
        for session in sessions:
            session.close()
        server.start()
        path = env_file(f"name: pg-runs\nkind: test\nlogs:\n  - {{name: pg, path: {server.logfile}, format: postgres}}\n")
        text = server.logfile.read_text()
        assert "received fast shutdown request" in text, text
        assert text.count("FATAL:  terminating connection due to administrator command") == 3, text
        run = in_reports(run_checks, tmp_path / "reports")

        first = run("--diagnosis", "LOG4", env=path)
        record = first.assert_outcome("LOG4", "pg", "passed", category="logs", severity="medium")
        assert record["observed"].startswith("0 PANIC/FATAL lines and 0 ERROR lines in the last 60 min"), record
        assert "3 FATAL lines of a clean shutdown not counted (e.g. " in record["observed"]
        assert record["facts"]["shutdown_fatal_lines"] == 3

        # the same message without a shutdown: an administrator ended a session (pg_terminate_backend)
        victim = psycopg.connect(server.dsn(), autocommit=True, application_name="victim")
        server.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'victim'")
        victim.close()
        second = run("--diagnosis", "LOG4", env=path)
        record = second.assert_outcome("LOG4", "pg", "failed", category="logs", severity="medium")
        assert record["observed"].startswith("1 PANIC/FATAL lines (FATAL x1) and 0 ERROR lines since the previous"), \
            record["observed"]
        assert "FATAL:  terminating connection due to administrator command" in record["observed"]
        assert record["change"] == "new"

        # a failed authentication: a different failure of the same check, so new again
        try:
            psycopg.connect(server.dsn(password="wrong"), connect_timeout=5).close()
        except psycopg.OperationalError:
            pass
        third = run("--diagnosis", "LOG4", env=path)
        record = third.assert_outcome("LOG4", "pg", "failed", category="logs", severity="medium")
        assert 'FATAL:  password authentication failed for user "postgres"' in record["observed"], record
        assert record["facts"]["identity"] == ['FATAL: password authentication failed for user "postgres"']
        assert record["change"] == "new" and record["failing_runs"] == 1, record

        # another clean fast shutdown (sessions open) and restart since: passes, and the failure recovered
        sessions = [psycopg.connect(server.dsn(), autocommit=True) for _ in range(2)]
        server.stop()
        for session in sessions:
            session.close()
        server.start()
        fourth = run("--diagnosis", "LOG4", env=path)
        record = fourth.assert_outcome("LOG4", "pg", "passed", category="logs", severity="medium")
        assert "2 FATAL lines of a clean shutdown not counted" in record["observed"], record["observed"]
        assert record["change"] == "recovered"
    finally:
        server.remove()


# --- the bounded read ------------------------------------------------------------------------------------


def test_LOG1_a_300_mb_log_is_read_from_its_end_and_bounded(
    run_checks: RunChecks, env_file: Callable[[str], Path], tmp_path: Path
) -> None:
    big = tmp_path / "big.log"
    try:
        old_block = "".join(app_line(ago(3 * 86400), "error", "old failure") for _ in range(20_000)).encode()
        recent = "".join(app_line(ago(600 - i / 10), "info", "booking created") for i in range(5_000))
        recent += "".join(app_line(ago(5), "error", "disk quota exceeded") for _ in range(2))
        with open(big, "wb") as handle:
            while handle.tell() < 300 * 1024 * 1024:
                handle.write(old_block)
            handle.write(recent.encode())
        size = big.stat().st_size
        path = env_file(
            f"""
name: big
kind: test
logs:
  - {{name: window, path: {big}}}
  - {{name: bounded, path: {big}, max_bytes: 65536}}
"""
        )
        started = time.monotonic()
        run = run_checks("--diagnosis", "LOG1", env=path)
        elapsed = time.monotonic() - started
    finally:
        big.unlink(missing_ok=True)
    assert elapsed < 10, elapsed
    # stops at the first lines older than the window: the 300 MB of old errors are never read
    facts = run.assert_outcome("LOG1", "window", "passed", category="logs", severity="medium")["facts"]
    assert facts["file_size"] == size > 300 * 1024 * 1024
    assert facts["lines_in_window"] == 5_002 and not facts["bounded"], facts
    assert facts["bytes_read"] <= 2 * 1024 * 1024, facts
    # stops at max_bytes before the window's start, and says so
    record = run.assert_outcome("LOG1", "bounded", "passed", category="logs", severity="medium")
    assert record["facts"]["bytes_read"] <= 65536 and record["facts"]["bounded"], record["facts"]
    assert "read stopped at max_bytes" in record["observed"] and "lower bound" in record["observed"]


def test_LOG3_a_run_that_reads_no_log_keeps_where_the_log_checks_stopped(
    run_checks: RunChecks, env_file: Callable[[str], Path], tmp_path: Path
) -> None:
    """A run of other checks between two LOG3 runs learns nothing about the log: the position the earlier
    run kept is carried forward, so the burst it judged is not judged again."""
    log = tmp_path / "access.log"
    write(log, [nginx_line(ago(120 - i), 502, request_time=0.002) for i in range(10)])
    path = env_file(
        f"""
name: proxy-carry
kind: test
logs:
  - {{name: proxy, path: {log}, format: nginx}}
  - {{name: app, path: {log}, format: nginx}}
"""
    )
    run = in_reports(run_checks, tmp_path / "reports")
    run("--diagnosis", "LOG3", "-k", "proxy", env=path).assert_outcome("LOG3", "proxy", "failed", category="logs",
                                                                       severity="medium")
    run("--diagnosis", "LOG3", "-k", "app", env=path)  # another target's run: nothing about `proxy`
    record = run("--diagnosis", "LOG3", "-k", "proxy", env=path).assert_outcome(
        "LOG3", "proxy", "passed", category="logs", severity="medium")
    assert record["facts"]["judged"] == "since_previous_run", record["observed"]
