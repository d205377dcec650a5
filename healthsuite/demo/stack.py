"""The demo stack: the target app over HTTPS, its own throwaway PostgreSQL and Redis, and a SQLite
file standing in for the D1 database. It never touches a database the user already runs.

`environments/demo.yaml` points at it through HEALTHSUITE_DEMO_* variables (directory and ports) and
the secrets file the stack writes (`<dir>/secrets.env`, the generated passwords).
"""

from __future__ import annotations

import errno
import secrets
import sqlite3
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from healthsuite.demo.app import auth as app_auth
from healthsuite.demo.app import flows as app_flows
from healthsuite.demo.app import ops as app_ops
from healthsuite.demo.app import queue as app_queue
from healthsuite.demo.app.main import create_app, create_http_app
from healthsuite.demo.faults import config_files as files_config
from healthsuite.demo.faults import logs as files_logs
from healthsuite.demo.faults import registry
from healthsuite.demo.faults import sqlite as files_sqlite
from healthsuite.demo.faults.pg_schema import ALEMBIC_HEAD
from healthsuite.demo.faults.switches import Faults
from healthsuite.testing.asgi_server import ServedApp, TlsFiles, make_tls_files
from healthsuite.testing.dns import DEMO_ZONE, DnsServer
from healthsuite.testing.listeners import SilentListener
from healthsuite.testing.ports import LOOPBACK, port_is_free
from healthsuite.testing.postgres_server import PostgresServer
from healthsuite.testing.redis_server import RedisServer

# Fixed ports, so environments/demo.yaml finds the demo without being told; all below 32768, outside Linux's
# ephemeral range (32768-60999), where a client connection could hold one by chance.
DEFAULT_HTTPS_PORT = 8443
DEFAULT_PG_PORT = 15432
DEFAULT_REDIS_PORT = 16379
DEFAULT_HTTP_PORT = 8080
DEFAULT_BACKEND_PORT = 18000
DEFAULT_DNS_PORT = 8053
MONITOR_ROLE = "healthsuite"
DATABASE = "booking"

# The demo's faults (`--break AV1,DB1`, `--break all`) and switches (`--break slow`) are declared in
# healthsuite/demo/faults/registry.py. The parts of its files (files_sqlite, files_logs, files_config) also
# provide `prepare(stack)`, which writes their healthy files under the stack's directory at start; the app's
# parts (app_flows, app_auth, app_ops, app_queue) serve `routes(faults)` in the demo app (stand-ins for external
# APIs under a prefix such as /__paystack, reached by overriding their base URL in environments/demo.yaml).
FILE_PARTS = (files_sqlite, files_logs, files_config)

# The booking platform's schema (runbooks 000/001), as the demo and the suite's tests serve it: the
# tables the data diagnoses read by default (healthsuite/model/data.py), with every foreign-key column
# indexed and an Alembic head.
SCHEMA = """
CREATE TABLE tenants (id text PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE users (
    id text PRIMARY KEY, tenant_id text NOT NULL REFERENCES tenants(id), email text NOT NULL UNIQUE,
    name text, role text, status text NOT NULL DEFAULT 'active',
    created_at timestamptz NOT NULL DEFAULT now(), last_login timestamptz);
CREATE INDEX idx_users_tenant ON users (tenant_id);
CREATE TABLE services (
    id text PRIMARY KEY, tenant_id text NOT NULL REFERENCES tenants(id), name text NOT NULL,
    price_cents integer NOT NULL, duration_min integer NOT NULL);
CREATE INDEX idx_services_tenant ON services (tenant_id);
CREATE TABLE appointments (
    id text PRIMARY KEY, tenant_id text NOT NULL REFERENCES tenants(id), user_id text REFERENCES users(id),
    service_id text REFERENCES services(id), scheduled_time timestamptz NOT NULL, status text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX idx_appointments_tenant_created ON appointments (tenant_id, created_at DESC);
CREATE INDEX idx_appointments_user ON appointments (user_id);
CREATE INDEX idx_appointments_service ON appointments (service_id);
CREATE TABLE payments (
    id text PRIMARY KEY, appointment_id text REFERENCES appointments(id), reference text NOT NULL UNIQUE,
    amount integer NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz);
CREATE INDEX idx_payments_appointment ON payments (appointment_id);
CREATE INDEX idx_payments_status_created ON payments (status, created_at);
CREATE TABLE user_sessions (
    id text PRIMARY KEY, user_id text NOT NULL REFERENCES users(id), created_at timestamptz NOT NULL DEFAULT now(),
    last_activity timestamptz NOT NULL DEFAULT now());
CREATE INDEX idx_user_sessions_user ON user_sessions (user_id);
CREATE TABLE invoices (
    id text PRIMARY KEY, tenant_id text NOT NULL REFERENCES tenants(id), subtotal integer NOT NULL,
    tax_amount integer NOT NULL, total_amount integer NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX idx_invoices_tenant ON invoices (tenant_id);
CREATE TABLE auth_attempts (
    id text PRIMARY KEY, email text, ip_address text NOT NULL, success boolean NOT NULL,
    timestamp timestamptz NOT NULL DEFAULT now());
CREATE INDEX idx_auth_attempts_ip_time ON auth_attempts (ip_address, timestamp);
CREATE TABLE audit_logs (
    id text PRIMARY KEY, user_id text REFERENCES users(id), action text NOT NULL, resource_type text,
    ip_address text, user_agent text, timestamp timestamptz NOT NULL DEFAULT now());
CREATE INDEX idx_audit_logs_user ON audit_logs (user_id);
CREATE TABLE api_keys (
    id text PRIMARY KEY, user_id text NOT NULL REFERENCES users(id), name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(), last_used timestamptz, expires_at timestamptz,
    revoked boolean NOT NULL DEFAULT false);
CREATE INDEX idx_api_keys_user ON api_keys (user_id);
CREATE TABLE api_usage_logs (
    id text PRIMARY KEY, user_id text REFERENCES users(id), ip_address text,
    timestamp timestamptz NOT NULL DEFAULT now(), response_time_ms integer);
CREATE INDEX idx_api_usage_logs_user_time ON api_usage_logs (user_id, timestamp);
CREATE TABLE alembic_version (version_num text PRIMARY KEY);
"""

# pg_stat_statements for PERF4; room for the faults that hold sessions (DB3)
# (and every connection logged, so a test can count what a run opened)
POSTGRES_SETTINGS = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "all",
    "log_connections": "on",
}

SEED = f"""
INSERT INTO tenants (id, name) VALUES ('instylehairboutique', 'InStyle Hair Boutique');
INSERT INTO users (id, tenant_id, email, name, role, last_login) VALUES
    ('usr-1', 'instylehairboutique', 'owner@instylehairboutique.example', 'Owner', 'admin', now()),
    ('usr-2', 'instylehairboutique', 'client@gmail.example', 'Client', 'user', now());
INSERT INTO services (id, tenant_id, name, price_cents, duration_min) VALUES
    ('svc-1', 'instylehairboutique', 'Cut and style', 35000, 60);
INSERT INTO appointments (id, tenant_id, user_id, service_id, scheduled_time, status) VALUES
    ('apt-1', 'instylehairboutique', 'usr-2', 'svc-1', now() + interval '1 day', 'confirmed');
INSERT INTO payments (id, appointment_id, reference, amount, status, processed_at) VALUES
    ('pay-1', 'apt-1', 'demo-ref-1', 35000, 'success', now());
INSERT INTO user_sessions (id, user_id) VALUES ('ses-1', 'usr-2');
INSERT INTO invoices (id, tenant_id, subtotal, tax_amount, total_amount) VALUES
    ('inv-1', 'instylehairboutique', 30435, 4565, 35000);
INSERT INTO auth_attempts (id, email, ip_address, success) VALUES
    ('att-1', 'client@gmail.example', '198.51.100.7', true);
INSERT INTO audit_logs (id, user_id, action, resource_type, ip_address) VALUES
    ('aud-1', 'usr-2', 'appointment.create', 'appointment', '198.51.100.7');
INSERT INTO api_keys (id, user_id, name, last_used, expires_at, revoked) VALUES
    ('key-1', 'usr-1', 'booking widget', now(), now() + interval '180 days', false);
INSERT INTO api_usage_logs (id, user_id, ip_address, response_time_ms) VALUES
    ('req-1', 'usr-2', '198.51.100.7', 42);
INSERT INTO alembic_version (version_num) VALUES ('{ALEMBIC_HEAD}');
"""


def _sqlite_sql(sql: str) -> str:
    """The PostgreSQL schema in SQLite's dialect (D1 is SQLite)."""
    return (
        sql.replace("timestamptz", "text")
        .replace("DEFAULT now()", "DEFAULT CURRENT_TIMESTAMP")
        .replace("now() + interval '1 day'", "datetime('now', '+1 day')")
        .replace("now() + interval '180 days'", "datetime('now', '+180 days')")
        .replace("now()", "datetime('now')")
    )


@dataclass(frozen=True)
class DemoPorts:
    https: int = DEFAULT_HTTPS_PORT
    postgres: int = DEFAULT_PG_PORT
    redis: int = DEFAULT_REDIS_PORT
    http: int = DEFAULT_HTTP_PORT
    backend: int = DEFAULT_BACKEND_PORT
    dns: int = DEFAULT_DNS_PORT


# DemoPorts field -> the variable environments/demo.yaml reads it from
PORT_VARIABLES = {
    "https": "HEALTHSUITE_DEMO_HTTPS_PORT",
    "postgres": "HEALTHSUITE_DEMO_PG_PORT",
    "redis": "HEALTHSUITE_DEMO_REDIS_PORT",
    "http": "HEALTHSUITE_DEMO_HTTP_PORT",
    "backend": "HEALTHSUITE_DEMO_BACKEND_PORT",
    "dns": "HEALTHSUITE_DEMO_DNS_PORT",
}


# DemoPorts field -> what listens there, as a port-in-use error names it
PORT_SERVICES = {
    "https": "HTTPS app",
    "postgres": "PostgreSQL",
    "redis": "Redis",
    "http": "plain-HTTP",
    "backend": "backend",
    "dns": "DNS server",
}


class PortInUse(ValueError):
    """A port the demo listens on is taken by another process: a usage error, which names the service, the
    port and the variable that moves it."""


def taken_ports(ports: DemoPorts) -> list[str]:
    """What already holds one of the demo's ports, one sentence each (the DNS server needs UDP and TCP)."""
    taken = []
    for field, variable in PORT_VARIABLES.items():
        port = getattr(ports, field)
        free = port_is_free(LOOPBACK, port) and (field != "dns" or port_is_free(LOOPBACK, port, udp=True))
        if port and not free:
            taken.append(f"the demo's {PORT_SERVICES[field]} port {LOOPBACK}:{port} is already in use "
                         f"(set {variable} to a free port)")
    return taken


def _check_ports(ports: DemoPorts) -> None:
    taken = taken_ports(ports)
    if taken:
        raise PortInUse("; ".join(taken) + ", or stop what listens there")


class DemoStack:
    """Start with `start()`, stop with `stop()`; `environ()` is what points demo.yaml here."""

    database = DATABASE  # the booking database, in its PostgreSQL

    def __init__(self, directory: Path, ports: DemoPorts = DemoPorts()) -> None:
        self.directory = directory.resolve()
        self.ports = ports
        self.faults = Faults()
        self.postgres: PostgresServer | None = None
        self.redis: RedisServer | None = None
        self.app: ServedApp | None = None
        self.http: ServedApp | None = None
        self.backend: SilentListener | None = None
        self.dns: DnsServer | None = None
        self.tls: TlsFiles | None = None
        self.pg_password = ""
        self._undo: dict[str, Callable[[], None]] = {}
        self.certificate_swapped = False  # NET5: heal puts the healthy certificate back
        self.broken: set[str] = set()

    def environ(self) -> dict[str, str]:
        ports = {variable: str(getattr(self.ports, field)) for field, variable in PORT_VARIABLES.items()}
        return {"HEALTHSUITE_DEMO_DIR": str(self.directory), **ports}

    def start(self, faults: Iterable[str] = ()) -> DemoStack:
        """Start every server on its port (PortInUse, before anything starts, if one is taken), then break
        `faults`."""
        _check_ports(self.ports)
        self.directory.mkdir(parents=True, exist_ok=True)
        pg_password = secrets.token_urlsafe(18)
        redis_password = secrets.token_urlsafe(18)
        try:
            self.postgres = PostgresServer(
                self.directory / "postgres",
                port=self.ports.postgres,
                superuser_password=secrets.token_urlsafe(18),
                settings=POSTGRES_SETTINGS,
            ).start()
            self.pg_password = pg_password
            self.postgres.create_role(MONITOR_ROLE, pg_password, extra="IN ROLE pg_monitor")
            self.postgres.create_database(DATABASE)
            self.postgres.psql(SCHEMA + SEED, dbname=DATABASE)
            self.postgres.psql(
                "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; ANALYZE;\n"
                f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {MONITOR_ROLE}",
                dbname=DATABASE,
            )
            app_queue.prepare(self.postgres, DATABASE, MONITOR_ROLE)  # the made-up queue service's jobs
            self.redis = RedisServer(self.directory / "redis", port=self.ports.redis, password=redis_password).start()
            self._write_sqlite(self.directory / "d1.sqlite")
            for part in FILE_PARTS:
                part.prepare(self)
            tls = self.tls = make_tls_files(self.directory / "tls")
            (self.directory / "ca.pem").write_bytes(tls.ca.read_bytes())
            app = create_app(self.faults, self.break_, self.heal)
            self.app = ServedApp(app, tls=tls, port=self.ports.https).start()
            self.http = ServedApp(create_http_app(self.faults, lambda: self.ports.https), port=self.ports.http).start()
            self.backend = SilentListener(port=self.ports.backend)
            self.dns = DnsServer(DEMO_ZONE, port=self.ports.dns).start()
            self._write_secrets(pg_password, redis_password)
        except BaseException as exc:
            self.stop()
            if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:  # taken since the check
                raise PortInUse("; ".join(taken_ports(self.ports)) or str(exc)) from exc
            raise
        self.break_(faults)
        return self

    def _write_secrets(self, pg_password: str, redis_password: str) -> None:
        path = self.directory / "secrets.env"
        path.touch(mode=0o600)
        path.write_text(
            "# written by the healthsuite demo: the passwords of its throwaway servers\n"
            f"HEALTHSUITE_DEMO_PG_PASSWORD={pg_password}\nHEALTHSUITE_DEMO_REDIS_PASSWORD={redis_password}\n"
            + "".join(f"{name}={value}\n" for name, value in app_flows.SECRETS.items())
            + f"HEALTHSUITE_DEMO_JWT_SECRET={app_auth.jwt_secret(self.faults)}\n"
            + "".join(f"{name}={value}\n" for name, value in app_ops.SECRETS.items()),
            encoding="utf-8",
        )

    @staticmethod
    def _write_sqlite(path: Path) -> None:
        path.unlink(missing_ok=True)
        with sqlite3.connect(path) as conn:
            conn.executescript(_sqlite_sql(SCHEMA + SEED))
        conn.close()

    def break_(self, names: Iterable[str]) -> list[str]:
        """Inject the named faults (diagnosis IDs, or `all`) and switches (`slow`, `queue`), declared in
        healthsuite/demo/faults/registry.py; returns what is broken."""
        for fault in registry.select(names):
            self._inject(fault.name, fault.inject)
            if fault.on_sqlite is not None:
                self._inject(f"{fault.name}/sqlite", fault.on_sqlite)  # the same fault on d1.sqlite
            self.broken.add(fault.name)
        return sorted(self.broken)

    def _inject(self, key: str, inject: registry.Injector) -> None:
        if key not in self._undo:  # made already: its undo is pending
            undo = inject(self)
            if undo is not None:
                self._undo[key] = undo

    def heal(self) -> list[str]:
        self.faults.clear()
        self.faults.requests.clear()
        if self.postgres is not None and not self.postgres.is_running():
            self.postgres.start()
        for name, undo in reversed(list(self._undo.items())):
            try:
                undo()
            except Exception as exc:  # noqa: BLE001 - heal the rest; say what could not be undone
                print(f"demo: could not undo {name}: {exc}", file=sys.stderr)
        self._undo.clear()
        if self.postgres is not None:
            # a slow statement left by a fault (a lock waiter) must not fail PERF4 on a healed demo
            self.postgres.psql("SELECT pg_stat_statements_reset()", dbname=DATABASE)
        if self.redis is not None and not self.redis.is_running():
            self.redis.start()
        if self.backend is None and self.app is not None:
            self.backend = SilentListener(port=self.ports.backend)
        if self.dns is not None:
            self.dns.reset()
        if self.certificate_swapped and self.app is not None and self.tls is not None:
            self.app.reload_certificate(self.tls.chain, self.tls.key)
            self.certificate_swapped = False
        healed, self.broken = sorted(self.broken), set()
        return healed

    def stop(self) -> None:
        for served in (self.app, self.http):
            if served is not None:
                served.stop()
        self.app = self.http = None
        if self.backend is not None:
            self.backend.close()
            self.backend = None
        if self.dns is not None:
            self.dns.stop()
            self.dns = None
        for server in (self.redis, self.postgres):
            if server is not None:
                server.remove()
        self.redis = self.postgres = None

    def __enter__(self) -> DemoStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
