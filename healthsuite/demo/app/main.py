"""The target app: a small stand-in for the booking platform of runbooks 000/001.

The demo serves it, and the suite's own tests run every check against it. Its behaviour can be
switched at run time (answer a status, hang, answer garbage, a wrong content type), in-process
through `Faults` or from outside through `POST /__demo/faults` on loopback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from healthsuite.demo.app import auth as app_auth
from healthsuite.demo.app import flows as app_flows
from healthsuite.demo.app import ops as app_ops
from healthsuite.demo.app import queue as app_queue
from healthsuite.demo.app.tenants import TENANTS
from healthsuite.demo.faults.switches import Fault, Faults

VERSION = "2026.11.22-demo"
OLD_VERSION = "2026.11.01-demo"  # what the DEP2 fault serves: the previous build
CORS_ORIGINS = ("https://booking.demo.test",)
CORS_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
CORS_HEADERS = "authorization, content-type, x-tenant-id"
HOME = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>InStyle Hair Boutique - Book an appointment</title></head>
<body><h1>InStyle Hair Boutique</h1><p><a href="/book/instylehairboutique">Book now</a></p></body></html>
"""


def _page(title: str) -> str:
    head = f"<head><meta charset='utf-8'><title>{title}</title></head>"
    return f"<!doctype html><html>{head}<body><h1>{title}</h1></body></html>"


async def home(request: Request) -> Response:
    return HTMLResponse(HOME)


async def booking_page(request: Request) -> Response:
    tenant = request.path_params["tenant"]
    if tenant not in TENANTS:
        return HTMLResponse(_page("Not found"), status_code=404)
    return HTMLResponse(_page(f"Book with {tenant}"))


async def health(request: Request) -> Response:
    started: float = request.app.state.started
    return JSONResponse({"status": "ok", "version": VERSION, "uptime_s": round(time.monotonic() - started, 1)})


async def version(request: Request) -> Response:
    """The deployed build (DEP2): the current one, or the previous one when the fault is on."""
    faults: Faults = request.app.state.faults
    served = OLD_VERSION if faults.mode("version") == "old" else VERSION
    return JSONResponse({"version": served, "commit": "0f3c2a1" if served == VERSION else "9b7e5d4"})


async def pool_status(request: Request) -> Response:
    """The backend's SQLAlchemy-style pool status (runbook 003 RB2: `curl <app>/pool-status`)."""
    faults: Faults = request.app.state.faults
    if faults.mode("pool") == "exhausted":
        return JSONResponse({"pool_size": 20, "checked_out": 20, "overflow": 5, "available": 0})
    return JSONResponse({"pool_size": 20, "checked_out": 3, "overflow": 0, "available": 17})


async def platform_status(request: Request) -> Response:
    """A stand-in for Cloudflare's status API (Statuspage format, /api/v2/status.json)."""
    faults: Faults = request.app.state.faults
    indicator = faults.mode("platform")
    descriptions = {
        "none": "All Systems Operational",
        "minor": "Minor Service Outage",
        "major": "Partial System Outage",
        "critical": "Major System Outage",
    }
    return JSONResponse(
        {
            "page": {"id": "demo", "name": "Demo Cloud Status", "url": "https://status.demo.test"},
            "status": {"indicator": indicator, "description": descriptions[indicator]},
        }
    )


async def appointments(request: Request) -> Response:
    return JSONResponse({"appointments": [{"id": "apt-1", "tenant_id": "instylehairboutique", "status": "confirmed"}]})


async def employees(request: Request) -> Response:
    return JSONResponse({"employees": [{"id": "emp-1", "name": "Thandi"}]})


async def faults_admin(request: Request) -> Response:
    """The demo CLI's switch: GET lists faults, POST {"break": [...]} or {"path":..., ...}, DELETE heals."""
    app_faults: Faults = request.app.state.faults
    on_break: Callable[[list[str]], list[str]] | None = request.app.state.on_break
    if request.method == "DELETE":
        app_faults.clear()
        healed = request.app.state.on_heal() if request.app.state.on_heal else []
        return JSONResponse({"healed": healed})
    if request.method == "POST":
        payload = await request.json()
        if "break" in payload and on_break is not None:
            return JSONResponse({"broken": on_break(list(payload["break"]))})
        path = payload.pop("path")
        app_faults.set(path, Fault(**payload))
    return JSONResponse(app_faults.snapshot())


class CorsMiddleware:
    """CORS as the booking API does it (allow-list of origins), or broken on purpose (MODES["cors"])."""

    def __init__(self, app: Any, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    def _headers(self, origin: str) -> list[tuple[bytes, bytes]]:
        mode = self.faults.mode("cors")
        if mode == "none" or (mode == "correct" and origin not in CORS_ORIGINS):
            return []
        allowed = "*" if mode == "wildcard" else origin
        return [
            (b"access-control-allow-origin", allowed.encode("latin-1")),
            (b"access-control-allow-credentials", b"true"),
            (b"vary", b"Origin"),
        ]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = dict(scope["headers"])
        origin = request_headers.get(b"origin", b"").decode("latin-1")
        if not origin:
            await self.app(scope, receive, send)
            return
        extra = self._headers(origin)
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in request_headers:
            if extra:
                extra += [
                    (b"access-control-allow-methods", CORS_METHODS.encode()),
                    (b"access-control-allow-headers", CORS_HEADERS.encode()),
                    (b"access-control-max-age", b"600"),
                ]
            await send({"type": "http.response.start", "status": 204 if extra else 400, "headers": extra})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_cors)


# The demo's own switch answers at once, even with the `slow` switch on: breaking and healing a running
# demo is not part of the platform being checked.
ADMIN_PATH = "/__demo/faults"


async def _slow_switch(faults: Faults, path: str) -> None:
    """The `slow` switch (Faults.set_slow): every answer waits, the admin switch's excepted."""
    delay = faults.slow_s()
    if delay and path != ADMIN_PATH:
        await asyncio.sleep(delay)


class FaultMiddleware:
    """Applies the fault declared for a path (and the `slow` switch) before the route answers."""

    def __init__(self, app: Any, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        fault = None
        if scope["type"] == "http":
            self.faults.count(scope["method"], scope["path"])
            fault = self.faults.get(scope["path"])
            await _slow_switch(self.faults, scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.status is None and fault.body is None and fault.content_type is None:
            await self.app(scope, receive, send)
            return
        response = Response(
            content=fault.body if fault.body is not None else _page(f"Error {fault.status}"),
            status_code=fault.status or 200,
            media_type=fault.content_type or "text/html",
        )
        await response(scope, receive, send)


def create_app(
    faults: Faults | None = None,
    on_break: Callable[[list[str]], list[str]] | None = None,
    on_heal: Callable[[], list[str]] | None = None,
) -> Any:
    faults = faults or Faults()
    app = Starlette(
        routes=[
            Route("/", home),
            Route("/book/{tenant}", booking_page),
            Route("/api/health", health),
            Route("/health", health),
            Route("/api/appointments", appointments),
            Route("/api/employees", employees),
            Route("/api/version", version),
            Route("/api/pool-status", pool_status),
            Route("/__demo/status.json", platform_status),
            Route(ADMIN_PATH, faults_admin, methods=["GET", "POST", "DELETE"]),
            *app_flows.routes(faults),
            *app_auth.routes(faults),
            *app_ops.routes(faults),
            *app_queue.routes(faults),
        ]
    )
    app.state.faults = faults
    app.state.started = time.monotonic()
    app.state.on_break = on_break
    app.state.on_heal = on_heal
    return FaultMiddleware(CorsMiddleware(app, faults), faults)


def create_http_app(faults: Faults, https_port: Callable[[], int]) -> Any:
    """The plain-HTTP side (port 80's stand-in): redirects to HTTPS, or serves the site (NET6 fault)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await _slow_switch(faults, scope["path"])
        if faults.mode("http") == "serve":
            await HTMLResponse(HOME)(scope, receive, send)
            return
        query = f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else ""
        location = f"https://127.0.0.1:{https_port()}{scope['path']}{query}"
        await Response(status_code=301, headers={"location": location})(scope, receive, send)

    return app
