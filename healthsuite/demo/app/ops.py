"""The demo's part for /metrics (PERF3), latency (PERF2), Redis health faults (CACHE2, PERF7) and the
calendar and Sentry stand-ins (EXT1-EXT3).

A demo part: see `healthsuite.demo.stack` (DEMO PARTS) for what it provides and how it is wired.

The target app's side:
- `GET /metrics`: Prometheus text, as a backend instrumented with prometheus_client exports it:
  `http_requests_total{method,path,status}`, the histogram `http_request_duration_seconds`,
  `process_resident_memory_bytes` (this process's real one) and `process_start_time_seconds`;
  switches: `metrics_errors=high` (8 % of requests 5xx), `metrics_latency=slow` (p95 about 2.1 s),
  `metrics_memory=high` (3.2 GiB resident);
- `GET /api/availability`: the booking page's free slots (PERF2 samples it; its fault: 2.5 s per answer).

The providers' side:
- `/__calendar/calendar/v3/users/me/calendarList` (Google Calendar's shape): 200 to the demo's access
  token, 401 otherwise; switch `calendar`: revoked (401 to every token), no_scope (403
  insufficientPermissions), down (503);
- `/__sentry/api/0/projects/{org}/{project}/issues/` (Sentry's shape, organization `instyle`, project
  `booking`): 200 with the issues (honouring `firstSeen:-<N>h` in `query`) to the demo's token, 401
  otherwise; switch `sentry=spike`: 25 new issues in the last hours;
- `/__mailer/v3/status`: the e-mail provider's status, a dependency whose fault answers in 1.5 s.

The demo's tokens are made per process (`SECRETS`, variable -> value, for the demo's secrets.env);
`configure()` replaces them (the stack may set its own).

Redis faults are made in the demo's own throwaway Redis: CACHE2 fills 1.6 MB of keys and sets
maxmemory just above the memory used (used_memory at 97 % of it); PERF7 reads 500 keys that do not
exist. Their undo restores maxmemory and deletes the keys, and resets the statistics (CONFIG RESETSTAT).
"""

from __future__ import annotations

import re
import resource
import secrets
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from healthsuite.demo.faults.switches import MODES, Fault, Faults, register_modes

if TYPE_CHECKING:
    from healthsuite.testing.redis_server import RedisServer

CALENDAR_TOKEN_VARIABLE = "HEALTHSUITE_DEMO_CALENDAR_TOKEN"
SENTRY_TOKEN_VARIABLE = "HEALTHSUITE_DEMO_SENTRY_TOKEN"
SECRETS: dict[str, str] = {
    CALENDAR_TOKEN_VARIABLE: "ya29.demo-" + secrets.token_urlsafe(24),
    SENTRY_TOKEN_VARIABLE: "sntrys_demo_" + secrets.token_hex(20),
}
SENTRY_ORGANIZATION = "instyle"
SENTRY_PROJECT = "booking"
AVAILABILITY = "/api/availability"
MAILER_STATUS = "/__mailer/v3/status"
CALENDAR_LIST = "/__calendar/calendar/v3/users/me/calendarList"
SLOW_API_S = 2.5  # PERF2: over demo.yaml's 2 s p95 (the runbook's 500 ms in production files)
SLOW_DEPENDENCY_S = 1.5  # EXT3: over the demo's 1000 ms budget
CACHE2_PREFIX = "healthsuite-demo:cache2:"
CACHE2_KEYS, CACHE2_VALUE_BYTES = 400, 4096
CACHE2_USED_PCT = 97.0  # used_memory as a share of the maxmemory the fault sets (margin: client buffers come and go)
PERF7_PREFIX = "healthsuite-demo:perf7:absent:"
PERF7_MISSES = 500
# the header names each request to a stand-in carried: a third party must never get http.headers
THIRD_PARTY_HEADERS: deque[frozenset[str]] = deque(maxlen=100)

register_modes(
    {
        "metrics_errors": ("low", "high"),  # PERF3: 0.2 % or 8 % of requests answered 5xx
        "metrics_latency": ("fast", "slow"),  # PERF3: request-duration p95 about 130 ms or 2.1 s
        "metrics_memory": ("normal", "high"),  # PERF3: the real resident memory, or 3.2 GiB
        "calendar": ("valid", "revoked", "no_scope", "down"),  # EXT1: the calendar provider's answer
        "sentry": ("quiet", "spike"),  # EXT2: 2 new issues today, or 27
    }
)

FAULTS: dict[str, str] = {
    "CACHE2": "the demo's Redis is filled to 97 % of a maxmemory set just above its use",
    "PERF7": "500 reads of absent keys bring the demo's Redis hit rate near 0 %",
    "PERF3": "/metrics shows 8 % of requests answered 5xx (a rollback trigger)",
    "PERF2": f"{AVAILABILITY} takes {SLOW_API_S * 1000:.0f} ms to answer (the demo's p95 limit: 2000 ms)",
    "EXT1": "the calendar provider revoked the demo's access token (401)",
    "EXT2": "the Sentry stand-in reports 27 new issues in the last 24 h",
    "EXT3": f"the e-mail provider's status ({MAILER_STATUS}) answers in {SLOW_DEPENDENCY_S:g} s (budget 1000 ms)",
}


def configure(calendar_token: str | None = None, sentry_token: str | None = None) -> dict[str, str]:
    """Replace the tokens the stand-ins accept; returns the previous SECRETS (to restore them)."""
    previous = dict(SECRETS)
    if calendar_token is not None:
        SECRETS[CALENDAR_TOKEN_VARIABLE] = calendar_token
    if sentry_token is not None:
        SECRETS[SENTRY_TOKEN_VARIABLE] = sentry_token
    return previous


def _bearer_ok(request: Request, variable: str) -> bool:
    THIRD_PARTY_HEADERS.append(frozenset(request.headers.keys()))
    sent = request.headers.get("authorization", "")
    return secrets.compare_digest(sent.encode(), f"Bearer {SECRETS[variable]}".encode())


# --- the target app: /metrics and the availability API ------------------------------------------------------


def _resident_bytes() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 150 * 1024 * 1024
    return float(pages * resource.getpagesize())


# request counts by (path, status) and durations (seconds, count): what the demo reports it served
_REQUESTS = {
    "low": {("/api/book", "200"): 1200, ("/", "200"): 3000, ("/api/appointments", "200"): 760,
            ("/api/book", "400"): 30, ("/api/book", "500"): 10},
    "high": {("/api/book", "200"): 1000, ("/", "200"): 2800, ("/api/appointments", "200"): 770,
             ("/api/book", "400"): 30, ("/api/book", "500"): 300, ("/api/appointments", "503"): 100},
}
_DURATIONS = {
    "fast": ((0.03, 4000), (0.08, 700), (0.2, 250), (0.6, 50)),  # p95 about 130 ms
    "slow": ((0.3, 2000), (0.9, 2000), (2.0, 1000)),  # p95 about 2.1 s
}


async def metrics(request: Request) -> Response:
    faults: Faults = request.app.state.faults
    registry = CollectorRegistry()
    requests = Counter(
        "http_requests", "HTTP requests served", ["method", "path", "status"], registry=registry
    )
    for (path, status), count in _REQUESTS[faults.mode("metrics_errors")].items():
        requests.labels("GET" if path == "/" else "POST", path, status).inc(count)
    durations = Histogram("http_request_duration_seconds", "Request duration", ["method"], registry=registry)
    for seconds, count in _DURATIONS[faults.mode("metrics_latency")]:
        observe = durations.labels("GET").observe
        for _ in range(count):
            observe(seconds)
    resident = 3.2 * 1024**3 if faults.mode("metrics_memory") == "high" else _resident_bytes()
    Gauge("process_resident_memory_bytes", "Resident memory size in bytes", registry=registry).set(resident)
    started = time.time() - (time.monotonic() - request.app.state.started)
    Gauge("process_start_time_seconds", "Start time of the process", registry=registry).set(started)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


async def availability(request: Request) -> Response:
    """Free slots of the booking page (the per-path fault makes it slow)."""
    day = datetime.now(UTC).date() + timedelta(days=1)
    slots = [f"{day.isoformat()}T{hour:02d}:00:00+02:00" for hour in (9, 10, 11, 14, 15, 16)]
    return JSONResponse({"tenant": "instylehairboutique", "service": "svc-1", "slots": slots})


# --- the providers' side ------------------------------------------------------------------------------------


def _google_error(code: int, message: str, reason: str, status: str) -> JSONResponse:
    body = {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": status,
        }
    }
    return JSONResponse(body, status_code=code)


async def calendar_list(request: Request) -> Response:
    """Google Calendar's `users/me/calendarList`."""
    mode: str = request.app.state.faults.mode("calendar")
    authorized = _bearer_ok(request, CALENDAR_TOKEN_VARIABLE)
    if mode == "down":
        return _google_error(503, "The service is currently unavailable.", "backendError", "UNAVAILABLE")
    if mode == "revoked" or not authorized:
        return _google_error(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
            "other valid authentication credential.",
            "authError",
            "UNAUTHENTICATED",
        )
    if mode == "no_scope":
        return _google_error(
            403, "Request had insufficient authentication scopes.", "insufficientPermissions", "PERMISSION_DENIED"
        )
    return JSONResponse(
        {
            "kind": "calendar#calendarList",
            "items": [
                {"kind": "calendar#calendarListEntry", "id": "primary", "summary": "InStyle Hair Boutique"},
                {"kind": "calendar#calendarListEntry", "id": "stylists", "summary": "Stylists"},
            ],
        }
    )


Row = tuple[str, str, int, float]  # (title, culprit, events, hours since first seen)
_QUIET_ISSUES: tuple[Row, ...] = (
    ("TypeError: Cannot read properties of undefined (reading 'slots')", "app/book/[tenant]", 14, 3),
    ("PaystackError: Transaction reference demo-ref-77 not found", "api/webhooks/paystack", 2, 9),
    ("D1_ERROR: database is locked", "api/appointments", 41, 24 * 6),
    ("Error: Google token refresh failed for owner@instylehairboutique.example", "lib/calendar", 5, 24 * 12),
)


def _spike_issues() -> list[Row]:
    issues: list[Row] = []
    for n in range(25):
        issues.append(
            (
                f"Error: booking {1000 + n} failed validation for client{n}@gmail.example: service_id must be "
                "a string, got null (payload from widget v2.3.1)",
                "api/book",
                400 - n * 7,
                1 + n * 0.5,
            )
        )
    return issues


async def sentry_issues(request: Request) -> Response:
    """Sentry's `GET /api/0/projects/{org}/{project}/issues/`."""
    if not _bearer_ok(request, SENTRY_TOKEN_VARIABLE):
        return JSONResponse({"detail": "Invalid token"}, status_code=401)
    if (request.path_params["org"], request.path_params["project"]) != (SENTRY_ORGANIZATION, SENTRY_PROJECT):
        return JSONResponse({"detail": "The requested resource does not exist"}, status_code=404)
    rows: list[Row] = list(_QUIET_ISSUES)
    if request.app.state.faults.mode("sentry") == "spike":
        rows += _spike_issues()
    window = re.search(r"firstSeen:-(\d+(?:\.\d+)?)h", request.query_params.get("query", ""))
    if window:
        rows = [row for row in rows if row[3] <= float(window.group(1))]
    now = datetime.now(UTC)
    issues = [
        {
            "id": str(4000 + number),
            "shortId": f"BOOKING-{number + 1:X}",
            "title": title,
            "culprit": culprit,
            "level": "error",
            "status": "unresolved",
            "count": str(events),
            "userCount": max(1, events // 3),
            "firstSeen": (now - timedelta(hours=hours)).isoformat().replace("+00:00", "Z"),
            "lastSeen": now.isoformat().replace("+00:00", "Z"),
        }
        for number, (title, culprit, events, hours) in enumerate(rows)
    ]
    link = (
        f'<{request.url}&cursor=0:0:1>; rel="previous"; results="false"; cursor="0:0:1", '
        f'<{request.url}&cursor=0:100:0>; rel="next"; results="false"; cursor="0:100:0"'
    )
    return JSONResponse(issues, headers={"link": link})


async def mailer_status(request: Request) -> Response:
    """The e-mail provider's status endpoint (an external dependency of the booking flow)."""
    THIRD_PARTY_HEADERS.append(frozenset(request.headers.keys()))
    return JSONResponse({"status": "operational", "provider": "demo-mailer"})


def routes(faults: Faults) -> list[BaseRoute]:
    return [
        Route("/metrics", metrics),
        Route(AVAILABILITY, availability),
        Route(CALENDAR_LIST, calendar_list),
        Route("/__sentry/api/0/projects/{org}/{project}/issues/", sentry_issues),
        Route(MAILER_STATUS, mailer_status),
    ]


# --- faults --------------------------------------------------------------------------------------------------


def _reply(redis: RedisServer, *args: str | int) -> bytes:
    reply = redis.command(*args)
    if reply.startswith(b"-"):
        raise RuntimeError(f"redis {args[0]}: {reply.decode(errors='replace').strip()}")
    return reply


def _info_number(redis: RedisServer, section: str, name: str) -> int:
    found = re.search(rb"\r\n" + name.encode() + rb":(\d+)", b"\r\n" + _reply(redis, "INFO", section))
    if found is None:
        raise RuntimeError(f"INFO {section} has no {name}")
    return int(found.group(1))


def _running_redis(stack: Any) -> RedisServer | None:
    redis: RedisServer | None = stack.redis
    return redis if redis is not None and redis.is_running() else None


_FILL = "for i = 1, tonumber(ARGV[2]) do redis.call('SET', ARGV[1] .. i, string.rep('x', tonumber(ARGV[3]))) end"
_DELETE = "for i = 1, tonumber(ARGV[2]) do redis.call('DEL', ARGV[1] .. i) end"
_READ = "for i = 1, tonumber(ARGV[2]) do redis.call('GET', ARGV[1] .. i) end"


def _fill_redis(stack: Any) -> Callable[[], None]:
    """CACHE2: keys without TTL fill the cache, and maxmemory sits just above what is used."""
    redis = _running_redis(stack)
    if redis is None:  # stopped by CACHE1: nothing to fill (heal starts it afresh)
        return lambda: None
    config = _reply(redis, "CONFIG", "GET", "maxmemory")
    found = re.search(rb"maxmemory\r\n\$\d+\r\n(\d+)", config)
    original = found.group(1).decode() if found else "0"
    _reply(redis, "EVAL", _FILL, 0, CACHE2_PREFIX, CACHE2_KEYS, CACHE2_VALUE_BYTES)
    used = _info_number(redis, "memory", "used_memory")
    _reply(redis, "CONFIG", "SET", "maxmemory", int(used * 100 / CACHE2_USED_PCT))

    def undo() -> None:
        redis = _running_redis(stack)
        if redis is not None:
            _reply(redis, "CONFIG", "SET", "maxmemory", original)
            _reply(redis, "EVAL", _DELETE, 0, CACHE2_PREFIX, CACHE2_KEYS)
            _reply(redis, "CONFIG", "RESETSTAT")

    return undo


def _miss_redis(stack: Any) -> Callable[[], None]:
    """PERF7: reads of keys that do not exist (keyspace_misses), as a cache that is never filled sees."""
    redis = _running_redis(stack)
    if redis is None:
        return lambda: None
    _reply(redis, "CONFIG", "RESETSTAT")  # from a clean count: only this fault's misses (and later reads)
    _reply(redis, "EVAL", _READ, 0, PERF7_PREFIX, PERF7_MISSES)

    def undo() -> None:
        redis = _running_redis(stack)
        if redis is not None:
            _reply(redis, "CONFIG", "RESETSTAT")

    return undo


def _switch(faults: Faults, mode: str, value: str) -> Callable[[], None]:
    faults.set_mode(mode, value)
    return lambda: faults.set_mode(mode, MODES[mode][0])


def _slow(faults: Faults, path: str, seconds: float) -> Callable[[], None]:
    faults.set(path, Fault(delay_s=seconds))
    return lambda: faults.clear(path)


def inject(diagnosis: str, stack: Any) -> Callable[[], None]:
    faults: Faults = stack.faults
    if diagnosis == "CACHE2":
        return _fill_redis(stack)
    if diagnosis == "PERF7":
        return _miss_redis(stack)
    if diagnosis == "PERF3":
        return _switch(faults, "metrics_errors", "high")
    if diagnosis == "PERF2":
        return _slow(faults, AVAILABILITY, SLOW_API_S)
    if diagnosis == "EXT1":
        return _switch(faults, "calendar", "revoked")
    if diagnosis == "EXT2":
        return _switch(faults, "sentry", "spike")
    if diagnosis == "EXT3":
        return _slow(faults, MAILER_STATUS, SLOW_DEPENDENCY_S)
    raise ValueError(f"no demo fault for {diagnosis} here")
