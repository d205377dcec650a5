"""Every fault the demo can be broken with, declared once: what `--break NAME` takes, what it does, the
diagnoses it should trip and how it is made. `DemoStack.break_` looks the names up here and calls them;
`python -m healthsuite.demo` lists them from here; docs/demo.md lists the same names (a test compares).

Two kinds:
- a fault: one diagnosis's fault, named by its ID (`--break DB9`), part of `--break all` unless it is
  masking (DB1, DB2, CACHE1: they would hide other faults behind one connection error);
- a switch: not one diagnosis's fault, named in lower case (`slow`, `queue`), never part of `all`,
  combinable with any fault (`--break slow,DB1`).

`inject(stack)` makes it real on a running stack and returns its undo, which `heal` calls (newest first),
or None when there is nothing to undo yet (its server is not running) or when heal's own reset undoes it:
heal clears every path fault, mode and the slow delay of the app, starts a stopped PostgreSQL (DB1) or
Redis (CACHE1), reopens the backend's port (AV4), resets the DNS server (NET1-NET4, slow) and puts the
healthy certificate back (NET5). A fault whose undo is pending is not made twice.

The parts of the demo keep their own faults: each module below (pg_schema, pg_data, pg_activity, the app's
flows, auth and ops, the files' sqlite, logs and config_files) has `FAULTS` (ID -> what it does) and
`inject(ID, ...)`, and every ID of theirs is a fault here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from types import ModuleType
from typing import TYPE_CHECKING

from healthsuite.demo.app import auth as app_auth
from healthsuite.demo.app import flows as app_flows
from healthsuite.demo.app import ops as app_ops
from healthsuite.demo.app import queue as app_queue
from healthsuite.demo.faults import config_files as files_config
from healthsuite.demo.faults import logs as files_logs
from healthsuite.demo.faults import pg_activity, pg_data, pg_schema
from healthsuite.demo.faults import sqlite as files_sqlite
from healthsuite.demo.faults.switches import Fault
from healthsuite.testing.dns import ANY_NAME, DEMO_FAULTS, break_demo

if TYPE_CHECKING:
    from healthsuite.demo.stack import DemoStack

Undo = Callable[[], None]
Injector = Callable[["DemoStack"], Undo | None]

SLOW_HTTP_DELAY_S = 2.5
SLOW_DNS_DELAY_S = 1.5


class Stage(IntEnum):
    """When a fault is made among those broken together."""

    DATABASE = 0  # inside PostgreSQL (schema and data changes first, then the sessions that hold locks)
    CONNECTIONS = 1  # DB3: fills max_connections up to 80 % counting the sessions the others hold
    ANY = 2  # the rest, in the order given
    STOPS_DATABASE = 3  # DB1 stops the server the database faults are made in


@dataclass(frozen=True)
class DemoFault:
    name: str  # what `--break` takes: a diagnosis ID, or a switch's lower-case name
    description: str  # one line: what is broken
    trips: tuple[str, ...]  # the diagnoses it should fail
    inject: Injector  # makes it; returns its undo, or None (see the module's docstring)
    on_sqlite: Injector | None = None  # the same fault made on d1.sqlite too (PERF5, PERF6), undone on its own
    stage: Stage = Stage.ANY
    masking: bool = False  # left out of `all`
    switch: bool = False


# --- how the faults of the stack itself are made ----------------------------------------------------------


def _path(path: str, fault: Fault) -> Injector:
    def inject(stack: DemoStack) -> None:
        stack.faults.set(path, fault)

    return inject


def _mode(name: str, value: str) -> Injector:
    def inject(stack: DemoStack) -> None:
        stack.faults.set_mode(name, value)

    return inject


def _stop_postgres(stack: DemoStack) -> None:
    if stack.postgres is not None:
        stack.postgres.stop()


def _stop_redis(stack: DemoStack) -> None:
    if stack.redis is not None:
        stack.redis.stop()


def _close_backend(stack: DemoStack) -> None:
    if stack.backend is not None:
        stack.backend.close()
        stack.backend = None


def _expiring_certificate(stack: DemoStack) -> None:
    if stack.app is not None and stack.tls is not None and stack.tls.authority:
        leaf = stack.tls.authority.issue(
            "127.0.0.1", "localhost", not_after=datetime.now(UTC) + timedelta(days=5, hours=1)
        )
        stack.app.reload_certificate(*leaf.write(stack.tls.chain.parent, "expiring"))
        stack.certificate_swapped = True


def _dns(diagnosis: str) -> Injector:
    def inject(stack: DemoStack) -> None:
        if stack.dns is not None:
            break_demo(stack.dns, diagnosis)

    return inject


def _in_postgres(module: ModuleType, diagnosis: str) -> Injector:
    """A fault made inside the demo's database: only while its PostgreSQL runs (DB1 stops it)."""

    def inject(stack: DemoStack) -> Undo | None:
        if stack.postgres is None or not stack.postgres.is_running():
            return None
        undo: Undo = module.inject(diagnosis, stack.postgres, stack.database)
        return undo

    return inject


def _in_part(module: ModuleType, diagnosis: str) -> Injector:
    """A fault of a part of the app or of its files: `module.inject(diagnosis, stack)`."""

    def inject(stack: DemoStack) -> Undo:
        undo: Undo = module.inject(diagnosis, stack)
        return undo

    return inject


def _slow(stack: DemoStack) -> None:
    stack.faults.set_slow(SLOW_HTTP_DELAY_S)
    if stack.dns is not None:
        stack.dns.set_fault(ANY_NAME, "slow", delay_s=SLOW_DNS_DELAY_S)


def _queue(stack: DemoStack) -> Undo:
    return app_queue.jam(stack.faults, stack.postgres, stack.database)


def _fault(name: str, description: str, inject: Injector, *, on_sqlite: Injector | None = None,
           stage: Stage = Stage.ANY, masking: bool = False) -> DemoFault:
    """One diagnosis's fault: it trips the diagnosis it is named by."""
    return DemoFault(name, description, (name,), inject, on_sqlite, stage, masking)


def _of_module(module: ModuleType, make: Callable[[ModuleType, str], Injector], stage: Stage = Stage.ANY, *,
               stages: Mapping[str, Stage] | None = None, masking: Collection[str] = ()) -> list[DemoFault]:
    """The faults a part of the demo declares (its `FAULTS`), each made by `make(module, ID)`."""
    faults: Mapping[str, str] = module.FAULTS
    return [
        _fault(name, description, make(module, name),
               on_sqlite=_in_part(files_sqlite, name) if name in files_sqlite.SHARED_FAULTS else None,
               stage=(stages or {}).get(name, stage), masking=name in masking)
        for name, description in faults.items()
    ]


_DECLARED: list[DemoFault] = [
    # the front door: the app's own pages and its servers
    _fault("AV1", "the home page answers 404 Not Found", _path("/", Fault(status=404))),
    _fault("AV2", 'the health endpoint reports {"status": "degraded"}',
           _path("/api/health", Fault(body='{"status": "degraded"}', content_type="application/json"))),
    _fault("AV3", "/api/appointments answers 502 Bad Gateway", _path("/api/appointments", Fault(status=502))),
    _fault("DB1", "the demo's PostgreSQL is stopped", _stop_postgres, stage=Stage.STOPS_DATABASE, masking=True),
    _fault("CACHE1", "the demo's Redis is stopped", _stop_redis, masking=True),
    _fault("DEP1", "the health endpoint answers 503 Service Unavailable (the smoke set fails)",
           _path("/api/health", Fault(status=503))),
    _fault("AV4", "the backend's port stops accepting connections", _close_backend),
    _fault("AV5", "the platform status API reports indicator `major`", _mode("platform", "major")),
    _fault("NET6", "plain HTTP serves the site instead of redirecting to HTTPS", _mode("http", "serve")),
    _fault("NET7", "the API reflects any origin in Access-Control-Allow-Origin, with credentials",
           _mode("cors", "reflect")),
    _fault("NET8", "the reverse proxy answers 504 Gateway Timeout on /api/health (its upstream is gone)",
           _path("/api/health", Fault(status=504, body="<html><body>504 Gateway Time-out</body></html>"))),
    _fault("PERF1", "/api/employees takes 2.5 s to answer (limit 2 s)", _path("/api/employees", Fault(delay_s=2.5))),
    _fault("DEP2", "the previous build (2026.11.01-demo) is served instead of the expected one",
           _mode("version", "old")),
    _fault("NET5", "the server certificate is replaced by one that expires in 5 days", _expiring_certificate),
    _fault("DB4", "the backend's pool status shows 20 of 20 connections checked out and 5 in overflow",
           _mode("pool", "exhausted")),
    # the edge: its DNS server
    *(_fault(name, description, _dns(name)) for name, description in DEMO_FAULTS.items()),
    # inside its PostgreSQL, in the order they are made: schema and data first, then the sessions that hold
    # locks (DB5-DB7) and would block them; DB2 (masking) refuses the monitoring role: every check's login
    *_of_module(pg_schema, _in_postgres, Stage.DATABASE),
    *_of_module(pg_data, _in_postgres, Stage.DATABASE),
    *_of_module(pg_activity, _in_postgres, Stage.DATABASE, stages={"DB3": Stage.CONNECTIONS}, masking={"DB2"}),
    # the app's flows and its stand-ins for external APIs
    *_of_module(app_flows, _in_part),
    *_of_module(app_auth, _in_part),
    *_of_module(app_ops, _in_part),
    # its files
    *_of_module(files_sqlite, _in_part),
    *_of_module(files_logs, _in_part),
    *_of_module(files_config, _in_part),
    # switches
    DemoFault(
        "slow",
        f"a degraded platform: every HTTP answer of the app (its stand-ins for Paystack, the OIDC provider, "
        f"the calendar, Sentry, the status API and the mailer included) and of its plain-HTTP port is "
        f"{SLOW_HTTP_DELAY_S:g} s late, every DNS answer {SLOW_DNS_DELAY_S:g} s (not a diagnosis: many "
        f"checks fail, e.g. PERF1 and PERF2 over their limits; not part of all)",
        ("PERF1", "PERF2"), _slow, switch=True,
    ),
    DemoFault("queue", app_queue.SWITCH, ("QUEUE-1", "QUEUE-2"), _queue, switch=True),
]

REGISTRY: dict[str, DemoFault] = {fault.name: fault for fault in _DECLARED}
if len(REGISTRY) != len(_DECLARED):  # pragma: no cover - a declaration error
    raise RuntimeError("a demo fault is declared twice")
_POSITION = {name: index for index, name in enumerate(REGISTRY)}

# views of the registry: ID -> description
FAULTS: dict[str, str] = {f.name: f.description for f in REGISTRY.values() if not f.switch}
SWITCHES: dict[str, str] = {f.name: f.description for f in REGISTRY.values() if f.switch}
MASKING_FAULTS: tuple[str, ...] = tuple(f.name for f in REGISTRY.values() if f.masking)


def select(names: Iterable[str]) -> list[DemoFault]:
    """The faults and switches named (diagnosis IDs in any case, `all`, switch names), in the order they are
    made: the switches first, then the faults by stage; ValueError names the unknown ones."""
    given = [n.strip() for n in names if n.strip()]
    switches = [n.lower() for n in given if n.lower() in SWITCHES]
    wanted = [n.upper() for n in given if n.lower() not in SWITCHES]
    if "ALL" in wanted:
        wanted = [name for name in FAULTS if name not in MASKING_FAULTS]
    unknown = [n for n in wanted if n not in FAULTS]
    if unknown:
        raise ValueError(
            f"no demo fault for {', '.join(unknown)}; faults: {', '.join(FAULTS)} or all; "
            f"switches: {', '.join(SWITCHES)}"
        )
    faults = sorted((REGISTRY[n] for n in wanted), key=_order)
    return [REGISTRY[n] for n in switches] + faults


def _order(fault: DemoFault) -> tuple[int, int]:
    return fault.stage, _POSITION[fault.name] if fault.stage == Stage.DATABASE else 0
