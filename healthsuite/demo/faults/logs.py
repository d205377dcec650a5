"""The demo's log files (LOG1-LOG4): `<dir>/logs/app.log` (JSON lines), `<dir>/logs/nginx-access.log`
(combined + $request_time) and `<dir>/logs/postgresql.log` (log_line_prefix '%m [%p] ').

`prepare` writes healthy recent lines (timestamps of the last minutes, so they sit in the checks'
window); each fault appends real lines to a file (an error burst, a timeout burst, 5xx and slow
requests, a FATAL line), and its undo truncates the file back to its size before the fault.

PERF8 has no demo fault: it reads the real machine's disk and memory, and there is no honest way to
make them low from the demo (filling the disk or memory would harm the machine; a loop device or
tmpfs needs root; raising a threshold is not a fault)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

FAULTS: dict[str, str] = {
    "LOG1": "appends a burst of 30 error lines (database timeouts and a failed booking) to logs/app.log",
    "LOG2": "appends a burst of 12 'timed out' lines (calendar API, database) to logs/app.log",
    "LOG3": "appends 502/504 answers and 8-second requests to logs/nginx-access.log",
    "LOG4": "appends FATAL lines (authentication failed, too many clients) to logs/postgresql.log",
}

APP, NGINX, POSTGRES = "app.log", "nginx-access.log", "postgresql.log"


def _logs(stack: Any) -> Path:
    return Path(stack.directory) / "logs"


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _nginx_ts(ts: datetime) -> str:
    """nginx's $time_local, with English month names whatever the locale."""
    return f"{ts.day:02d}/{_MONTHS[ts.month - 1]}/{ts.year}:{ts:%H:%M:%S} +0000"


def _pg_ts(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S.") + f"{ts.microsecond // 1000:03d} UTC"


def app_line(ts: datetime, level: str, message: str, **extra: Any) -> str:
    return json.dumps({"timestamp": _iso(ts), "level": level, "message": message, **extra}) + "\n"


def nginx_line(ts: datetime, status: int, path: str = "/api/appointments", request_time: float = 0.042) -> str:
    return (
        f'127.0.0.1 - - [{_nginx_ts(ts)}] "GET {path} HTTP/1.1" {status} 512 "-" "healthsuite-demo/1.0" '
        f"{request_time:.3f}\n"
    )


def postgres_line(ts: datetime, level: str, message: str, pid: int = 4242) -> str:
    return f"{_pg_ts(ts)} [{pid}] {level}:  {message}\n"


def prepare(stack: Any) -> None:
    """Healthy logs: the last 10 minutes of ordinary traffic."""
    directory = _logs(stack)
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    app, nginx, postgres = [], [], []
    for i in range(60):
        ts = now - timedelta(seconds=600 - i * 10)
        app.append(app_line(ts, "info", "booking created", tenant="instylehairboutique", appointment=1000 + i))
        nginx.append(nginx_line(ts, 200 if i % 7 else 201, request_time=0.03 + (i % 5) / 100))
        if i % 10 == 0:
            postgres.append(postgres_line(ts, "LOG", "checkpoint complete: wrote 12 buffers (0.1%)"))
    app.append(app_line(now - timedelta(seconds=5), "error", "validation failed for field email (VAL001)"))
    (directory / APP).write_text("".join(app))
    (directory / NGINX).write_text("".join(nginx))
    (directory / POSTGRES).write_text("".join(postgres))


def _burst(diagnosis: str, now: datetime) -> tuple[str, str]:
    if diagnosis == "LOG1":
        lines = [
            app_line(now - timedelta(seconds=30 - i), "error", f"database query failed after {1500 + i} ms: "
                     f"connection {i} reset", request_id=f"{0xA0F3C000 + i:x}")
            for i in range(24)
        ] + [app_line(now - timedelta(seconds=3), "error", f"booking {9000 + i} failed: payment provider 502")
             for i in range(6)]
        return APP, "".join(lines)
    if diagnosis == "LOG2":
        lines = [
            app_line(now - timedelta(seconds=20 - i), "warn", f"calendar API request timed out after 10000 ms "
                     f"(attempt {i % 3 + 1})")
            for i in range(8)
        ] + [app_line(now - timedelta(seconds=4), "error", "ETIMEDOUT connecting to 127.0.0.1:5432") for _ in range(4)]
        return APP, "".join(lines)
    if diagnosis == "LOG3":
        lines = [nginx_line(now - timedelta(seconds=20 - i), 502 if i % 2 else 504, request_time=0.001 if i % 2
                            else 60.0) for i in range(6)]
        lines += [nginx_line(now - timedelta(seconds=10 - i), 200, "/api/employees", request_time=8.4)
                  for i in range(6)]
        return NGINX, "".join(lines)
    if diagnosis == "LOG4":
        lines = [
            postgres_line(now - timedelta(seconds=9), "FATAL", 'password authentication failed for user "booking"'),
            postgres_line(now - timedelta(seconds=5), "FATAL", "sorry, too many clients already", pid=4243),
        ]
        return POSTGRES, "".join(lines)
    raise ValueError(f"no demo fault for {diagnosis} here")


def inject(diagnosis: str, stack: Any) -> Callable[[], None]:
    name, text = _burst(diagnosis, datetime.now(UTC))
    path = _logs(stack) / name
    size = path.stat().st_size
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)

    def undo() -> None:
        os.truncate(path, size)

    return undo
