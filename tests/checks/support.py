"""Helpers shared by the mirrors of several check modules (tests/checks/test_<check module>.py): the
environment files they write and the assertions they share."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from healthsuite.catalogue.diagnoses import load_catalogue
from healthsuite.demo.app import flows as app_flows
from healthsuite.demo.app import ops as app_ops
from healthsuite.demo.faults import sqlite as files_sqlite
from healthsuite.demo.faults.pg_data import inject
from healthsuite.demo.stack import DATABASE, MONITOR_ROLE, SCHEMA, SEED, DemoStack, _sqlite_sql
from tests.conftest import CheckRun, RunChecks

EnvFile = Callable[[str], Path]  # the env_file fixture of tests/conftest.py


# --- the demo's HTTPS app: AV4, AV5, NET7, NET8, PERF1, DEP2, DB4 -------------------------------------------


def edge_env(stack: DemoStack, body: str) -> str:
    """A file aimed at the demo's HTTPS app (its CA trusted), with `body` appended."""
    return f"""
name: edge
kind: test
base_urls:
  app: https://127.0.0.1:{stack.ports.https}
http:
  ca_bundle: {stack.directory / "ca.pem"}
timeouts:
  http_s: 3
  connect_s: 1
{body}"""


# --- the booking and payment flows: BK1-BK3, PAY1-PAY3, PAY6 ------------------------------------------------


KEY = app_flows.SECRET_KEY_VARIABLE
PAYLOAD = '{test: true, tenant_id: instylehairboutique, service_id: svc-1, scheduled_time: "2030-01-07T09:00:00+02:00"}'


def flows_env(stack: DemoStack, *, kind: str = "test", extra: str = "", provider_url: str | None = None) -> str:
    """A file aimed at the demo's app and its Paystack stand-in (the YAML proposed for demo.yaml)."""
    app = f"https://127.0.0.1:{stack.ports.https}"
    mutating = "allow_mutating: true" if kind != "production" else ""
    return f"""
name: flows
kind: {kind}
{mutating}
base_urls:
  app: {app}
http:
  ca_bundle: {stack.directory / "ca.pem"}
timeouts:
  http_s: 3
booking:
  submit:
    path: /api/book
    payload: {PAYLOAD}
  tenants: [instylehairboutique]
payments:
  provider:
    url: {provider_url or app + "/__paystack"}
    secret: ${{{KEY}}}
  webhook:
    path: /api/webhooks/paystack
  initialize: {{email: test@example.com, amount: 1000}}
{extra}"""


# --- metrics, latency and integrations: CACHE2, PERF2, PERF3, PERF7, EXT1-EXT3 ------------------------------


CALENDAR_TOKEN = "ya29.known-calendar-token-for-tests"
SENTRY_TOKEN = "sntrys_known-sentry-token-for-tests"


def ops_env(stack: DemoStack, body: str = "", *, integrations: str | None = None) -> str:
    """A file aimed at the demo (its CA trusted, its Redis), with its metrics, latency and integrations."""
    assert stack.redis is not None
    app = f"https://127.0.0.1:{stack.ports.https}"
    if integrations is None:
        integrations = f"""integrations:
  calendar:
    url: {app}{app_ops.CALENDAR_LIST}
    token: ${{{app_ops.CALENDAR_TOKEN_VARIABLE}}}
  error_tracker:
    url: {app}/__sentry
    organization: instyle
    project: booking
    token: ${{{app_ops.SENTRY_TOKEN_VARIABLE}}}
  dependencies:
    - {{name: mailer, path: {app_ops.MAILER_STATUS}, budget_ms: 1000}}
    - {{name: google-calendar, url: "{app}{app_ops.CALENDAR_LIST}", budget_ms: 1000}}
"""
    return f"""
name: ops
kind: test
base_urls:
  app: {app}
http:
  ca_bundle: {stack.directory / "ca.pem"}
  headers: {{x-app-token: "${{APP_HEADER_TOKEN:-app-header-value}}"}}
timeouts:
  http_s: 3
  cache_s: 2
caches:
  - name: sessions
    url: redis://127.0.0.1:{stack.redis.port}/0
    password: ${{HEALTHSUITE_DEMO_REDIS_PASSWORD}}
metrics:
  - name: app
latency:
  - name: availability
    path: {app_ops.AVAILABILITY}
{integrations}{body}"""


def environ(stack: DemoStack, tokens: dict[str, str] | None = None) -> dict[str, str]:
    assert stack.redis is not None and stack.redis.password
    return {"HEALTHSUITE_DEMO_REDIS_PASSWORD": stack.redis.password, **(tokens or {})}


def outputs(run_texts: str, tmp_path: Path, reports: Path) -> dict[str, str]:
    texts = {"terminal": run_texts}
    for path in [*reports.rglob("*"), *tmp_path.glob("junit-*.xml")]:
        if path.is_file():
            texts[str(path)] = path.read_text(errors="replace")
    return texts


def assert_no_token_leaks(run_output: str, tmp_path: Path, reports: Path) -> None:
    texts = outputs(run_output, tmp_path, reports)
    for secret in (CALENDAR_TOKEN, SENTRY_TOKEN):
        leaks = [where for where, text in texts.items() if secret in text]
        assert not leaks, f"a token appears in {leaks}"


# --- the data checks: PAY4, PAY5, AUTH5, AUTH6, SEC1-SEC5, BIZ1 ---------------------------------------------


@contextmanager
def broken(stack: DemoStack, *diagnoses: str) -> Iterator[None]:
    assert stack.postgres is not None
    undos = []
    try:
        for diagnosis in diagnoses:
            undos.append(inject(diagnosis, stack.postgres, DATABASE))
        yield
    finally:
        for undo in reversed(undos):
            undo()


def database(name: str, port: int, data: dict[str, Any], dbname: str = DATABASE, user: str = MONITOR_ROLE,
             password: str = "HEALTHSUITE_DEMO_PG_PASSWORD") -> str:
    return (
        f"  - name: {name}\n    engine: postgresql\n"
        f"    dsn: postgresql://{user}:${{{password}}}@127.0.0.1:{port}/{dbname}\n"
        f"    data: {json.dumps(data)}\n"
    )


def data_env(stack: DemoStack, *databases: str, thresholds: dict[str, dict[str, float]] | None = None) -> str:
    return (
        f"name: data\nkind: test\nsecrets_file: {stack.directory / 'secrets.env'}\n"
        f"thresholds: {json.dumps(thresholds or {})}\ndatabases:\n{''.join(databases)}"
    )


def port(stack: DemoStack) -> int:
    assert stack.postgres is not None
    return stack.postgres.port


# --- the schema checks: DB9-DB13, PERF4-PERF6 ---------------------------------------------------------------


SCHEMA_CHECKS = ("DB9", "DB10", "DB11", "DB12", "DB13", "PERF4", "PERF5", "PERF6")
KIND = {d: ("database", "critical" if d == "DB9" else "medium" if d == "DB12" else "high") for d in SCHEMA_CHECKS[:5]}
KIND.update({d: ("performance", "medium") for d in SCHEMA_CHECKS[5:]})


def outcome(run, diagnosis: str, target: str, expected: str) -> dict:
    category, severity = KIND[diagnosis]
    return run.assert_outcome(diagnosis, target, expected, category=category, severity=severity)


def reset_statements(stack: DemoStack) -> None:
    assert stack.postgres is not None
    stack.postgres.psql("SELECT pg_stat_statements_reset()", dbname=DATABASE)


# --- SQLite files and their backups: DB8, DB15, PERF5, PERF6, BAK1-BAK4 -------------------------------------


def booking_db(path: Path, *extra_sql: str) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(_sqlite_sql(SCHEMA + SEED) + "".join(extra_sql))
    conn.close()
    return path


# --- certificates: NET5, NET6 -------------------------------------------------------------------------------


NAME = "app.demo.test"
LOOPBACK = "127.0.0.1"
DAY = timedelta(days=1)


def now() -> datetime:
    return datetime.now(UTC)


# --- each data diagnosis's own demo fault -------------------------------------------------------------------


DATA = ("PAY4", "PAY5", "AUTH5", "AUTH6", "SEC1", "SEC2", "SEC3", "SEC4", "SEC5", "BIZ1")
SELECT = ("--diagnosis", ",".join(DATA))


def entry(diagnosis: str) -> dict[str, str]:
    found = load_catalogue().diagnosis(diagnosis)
    return {"category": found.category, "severity": found.severity}


BROKEN = {
    "PAY4": "3 of 20 payments failed in the last 24 h (15 %): fault-pay4-ref-1, fault-pay4-ref-2, fault-pay4-ref-3",
    "PAY5": "1 payment pending for more than 1 h (oldest 2.0 h): fault-pay5-ref-1 (2.0 h)",
    "AUTH5": "2 users without a role (NULL or empty): fault-auth5-empty (''), fault-auth5-null (NULL)",
    "AUTH6": "1 user with more than 20 sessions active in the last 24 h: usr-2 (26)",
    "SEC1": "1 IP with more than 5 failed logins in the last 24 h: 203.0.113.66 (6)",
    "SEC2": "1 privilege-escalation action in the last 7 days not on the allow list: admin.role.grant by usr-2 "
    "from 203.0.113.66 at ",
    "SEC3": "2 of 4 users dormant (50 %; no login in 30 days, or never): fault-sec3-never (never logged in), "
    "fault-sec3-gone (last login ",
    "SEC4": "1 expired API key still active: fault-sec4-expired (user usr-1, expired 24.0 h ago)",
    "SEC5": "1 user+IP pair with more than 100 API requests in the last 1 h: usr-2 from 203.0.113.66 (101)",
    "BIZ1": "0 bookings created in the open business hours of the last 4 h: ",
}


def assert_only_its_own_demo_fault_fails(run_checks: RunChecks, stack: DemoStack, diagnosis: str) -> None:
    """One data diagnosis's demo fault (healthsuite.demo.faults.pg_data) fails it, naming the observed
    values, while the nine other data checks of the same run pass."""
    with broken(stack, diagnosis):
        run = run_checks(*SELECT)
    record = run.assert_outcome(diagnosis, "booking", "failed", **entry(diagnosis))
    assert BROKEN[diagnosis] in record["observed"], record["observed"]
    assert record["observed"] in record["message"]
    others = [run.record(other, "booking")["outcome"] for other in DATA if other != diagnosis]
    assert others == ["passed"] * (len(DATA) - 1), run.output


# --- the demo's SQLite files and their faults ---------------------------------------------------------------


DEMO_YAML = """name: demo-files
kind: demo
databases:
  - name: d1
    engine: sqlite
    path: {dir}/d1.sqlite
    settings: {{journal_mode: delete, foreign_keys: true, busy_timeout_ms: 5000, max_size_mb: 500}}
    schema:
      large_tables: [appointments, payments]
      indexes: [idx_appointments_tenant_created, idx_payments_appointment]
      hot_queries:
        - name: appointments-by-tenant
          sql: "SELECT * FROM appointments WHERE tenant_id = 'instylehairboutique' ORDER BY created_at DESC LIMIT 100"
backups:
  - name: d1-daily
    directory: {dir}/backups
    pattern: "daily-*.sqlite"
    retention_days: 7
    critical_tables: [users, appointments, services]
    pre_migration_pattern: "pre-migration-*.sqlite"
    migrations: {dir}/migrations/*.sql
"""


def outcomes(run: CheckRun, diagnosis: str) -> list[str]:
    """The outcomes of the demo file's targets (PERF5/PERF6's PostgreSQL checks skip: none declared here)."""
    return [r["outcome"] for r in run.records(diagnosis) if r["target"] in ("d1", "d1-daily")]


def assert_demo_file_fault_fails_and_heals(
    run_checks: RunChecks, env_file: EnvFile, stack: DemoStack, diagnosis: str
) -> None:
    """The demo's files (healthsuite/demo/faults/sqlite.py) pass `diagnosis`, its fault fails it, and
    undoing the fault heals it."""
    path = env_file(DEMO_YAML.format(dir=stack.directory))
    healthy = run_checks("--diagnosis", diagnosis, env=path)
    assert outcomes(healthy, diagnosis) == ["passed"], healthy.output
    if diagnosis in files_sqlite.FAULTS:
        stack.break_([diagnosis])
        undo = stack.heal
    else:  # PERF5/PERF6 name the PostgreSQL faults in the stack: made here directly
        undo = files_sqlite.inject(diagnosis, stack)
    try:
        broken = run_checks("--diagnosis", diagnosis, env=path)
    finally:
        undo()
    assert outcomes(broken, diagnosis) == ["failed"], broken.output
    assert "Traceback" not in broken.output
    healed = run_checks("--diagnosis", diagnosis, env=path)
    assert outcomes(healed, diagnosis) == ["passed"], healed.output
