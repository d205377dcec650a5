"""The target app: a small stand-in for the booking platform of runbooks 000/001.

The demo serves it, and the suite's own tests run every check against it. Its behaviour can be
switched at run time (answer a status, hang, answer garbage, a wrong content type), in-process
through `Faults` or from outside through `POST /__demo/faults` on loopback.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

VERSION = "2026.11.22-demo"
TENANTS = ("instylehairboutique",)


@dataclass(frozen=True)
class Fault:
    """How one path misbehaves; None fields keep the normal behaviour."""

    status: int | None = None
    delay_s: float = 0.0
    body: str | None = None
    content_type: str | None = None


class Faults:
    """Thread-safe map from path to fault, shared between the server thread and the tests; it also
    counts the requests each path received (`requests["GET /"]`), to show what a run sent."""

    def __init__(self) -> None:
        self._faults: dict[str, Fault] = {}
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()

    def count(self, method: str, path: str) -> None:
        with self._lock:
            self.requests[f"{method} {path}"] += 1

    def set(self, path: str, fault: Fault) -> None:
        with self._lock:
            self._faults[path] = fault

    def clear(self, path: str | None = None) -> None:
        with self._lock:
            if path is None:
                self._faults.clear()
            else:
                self._faults.pop(path, None)

    def get(self, path: str) -> Fault | None:
        with self._lock:
            return self._faults.get(path)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {path: asdict(fault) for path, fault in self._faults.items()}


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


class FaultMiddleware:
    """Applies the fault declared for a path before the route answers."""

    def __init__(self, app: Any, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        fault = None
        if scope["type"] == "http":
            self.faults.count(scope["method"], scope["path"])
            fault = self.faults.get(scope["path"])
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
            Route("/__demo/faults", faults_admin, methods=["GET", "POST", "DELETE"]),
        ]
    )
    app.state.faults = faults
    app.state.started = time.monotonic()
    app.state.on_break = on_break
    app.state.on_heal = on_heal
    return FaultMiddleware(app, faults)
