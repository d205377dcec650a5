"""Real schema faults on the demo's PostgreSQL (DB9-DB13, PERF4-PERF6), made as superuser.

`inject(diagnosis, server, dbname)` breaks the database for real and returns the function that
undoes it completely. Undo functions are idempotent and tolerate the other faults of this module
being active (`--break all`): dropped objects are re-created from the definition read before the
drop (`pg_get_indexdef`, `pg_get_constraintdef`), inserted rows are deleted by their ids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from healthsuite.testing.postgres_server import PostgresServer

FAULTS: dict[str, str] = {
    "DB9": "the invoices table is renamed to invoices_old",
    "DB10": "appointments_tenant_id_fkey is dropped and an appointment of a tenant that does not exist is inserted",
    "DB11": "an invoice with a negative total (-5000) is inserted",
    "DB12": "the foreign key appointments_tenant_id_fkey is dropped",
    "DB13": "alembic_version is set back to an older revision (1b7e4a20c9d3)",
    "PERF4": "a 1.2 s statement (SELECT pg_sleep(1.2)) is recorded in pg_stat_statements",
    "PERF5": "idx_appointments_tenant_created is dropped: the hot appointments query can only scan the table",
    "PERF6": "idx_payments_appointment is dropped: the foreign key payments.appointment_id is unindexed",
}

ALEMBIC_HEAD = "3f2a9c1d7b64"  # the head revision the demo's schema is at
OLD_REVISION = "1b7e4a20c9d3"
ORPHAN_APPOINTMENT = "apt-orphan-demo"
GHOST_TENANT = "ghost-tenant-demo"
NEGATIVE_INVOICE = "inv-negative-demo"
TENANT_FK = ("appointments", "appointments_tenant_id_fkey", "FOREIGN KEY (tenant_id) REFERENCES tenants(id)")
# the demo SCHEMA's definitions, used when the index is already gone when a fault is injected
INDEXES = {
    "idx_appointments_tenant_created": "CREATE INDEX idx_appointments_tenant_created "
    "ON public.appointments USING btree (tenant_id, created_at DESC)",
    "idx_payments_appointment": "CREATE INDEX idx_payments_appointment ON public.payments USING btree (appointment_id)",
}
SLOW_STATEMENT = "SELECT pg_sleep(1.2)"


def _run(server: PostgresServer, dbname: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """One statement as superuser, autocommit, never waiting long for a lock."""
    with psycopg.connect(server.dsn(dbname=dbname), autocommit=True, connect_timeout=5) as conn:
        conn.execute("SET lock_timeout = '5s'")
        cursor = conn.execute(sql, params or None)
        return list(cursor.fetchall()) if cursor.description else []


def _exists(server: PostgresServer, dbname: str, name: str) -> bool:
    return bool(_run(server, dbname, "SELECT to_regclass(%s) IS NOT NULL", (name,))[0][0])


def _drop_index(server: PostgresServer, dbname: str, name: str) -> Callable[[], None]:
    rows = _run(server, dbname, "SELECT pg_get_indexdef(to_regclass(%s))", (name,))
    definition = rows[0][0] or INDEXES[name]
    _run(server, dbname, f"DROP INDEX IF EXISTS {name}")

    def undo() -> None:
        if not _exists(server, dbname, name):
            _run(server, dbname, definition)

    return undo


def _drop_tenant_fk(server: PostgresServer, dbname: str) -> Callable[[], None]:
    table, name, default = TENANT_FK
    rows = _run(
        server,
        dbname,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass(%s) AND conname = %s",
        (table, name),
    )
    definition = rows[0][0] if rows else default
    _run(server, dbname, f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")

    def undo() -> None:
        # the orphan (DB10) must go first, or the constraint cannot be added back
        _run(server, dbname, "DELETE FROM appointments WHERE id = %s", (ORPHAN_APPOINTMENT,))
        present = _run(
            server, dbname, "SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass(%s) AND conname = %s",
            (table, name),
        )
        if not present:
            _run(server, dbname, f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")

    return undo


def _rename_invoices(server: PostgresServer, dbname: str) -> Callable[[], None]:
    _run(server, dbname, "ALTER TABLE IF EXISTS invoices RENAME TO invoices_old")

    def undo() -> None:
        if _exists(server, dbname, "invoices_old") and not _exists(server, dbname, "invoices"):
            _run(server, dbname, "ALTER TABLE invoices_old RENAME TO invoices")

    return undo


def _negative_invoice(server: PostgresServer, dbname: str) -> Callable[[], None]:
    table = "invoices" if _exists(server, dbname, "invoices") else "invoices_old"  # DB9 may have renamed it
    _run(
        server,
        dbname,
        f"INSERT INTO {table} (id, tenant_id, subtotal, tax_amount, total_amount) "
        "VALUES (%s, 'instylehairboutique', -5000, 0, -5000) ON CONFLICT (id) DO NOTHING",
        (NEGATIVE_INVOICE,),
    )

    def undo() -> None:
        for name in ("invoices", "invoices_old"):
            if _exists(server, dbname, name):
                _run(server, dbname, f"DELETE FROM {name} WHERE id = %s", (NEGATIVE_INVOICE,))

    return undo


def _old_head(server: PostgresServer, dbname: str) -> Callable[[], None]:
    _run(server, dbname, "UPDATE alembic_version SET version_num = %s", (OLD_REVISION,))

    def undo() -> None:

        _run(server, dbname, "DELETE FROM alembic_version")
        _run(server, dbname, "INSERT INTO alembic_version (version_num) VALUES (%s)", (ALEMBIC_HEAD,))

    return undo


def _slow_statement(server: PostgresServer, dbname: str) -> Callable[[], None]:
    _run(server, dbname, SLOW_STATEMENT)
    return _reset_statements(server, dbname)


def slow_statement_as(server: PostgresServer, dbname: str, user: str, password: str) -> Callable[[], None]:
    """PERF4's fault made by another role, e.g. the monitoring role itself (an application that shares
    the role the checks connect as); returns its undo."""
    with psycopg.connect(server.dsn(user, password, dbname), autocommit=True, connect_timeout=5) as conn:
        conn.execute(SLOW_STATEMENT)
    return _reset_statements(server, dbname)


def _reset_statements(server: PostgresServer, dbname: str) -> Callable[[], None]:

    def undo() -> None:
        _run(server, dbname, "SELECT pg_stat_statements_reset()")

    return undo


def inject(diagnosis: str, server: PostgresServer, dbname: str) -> Callable[[], None]:
    """Make the fault of `diagnosis` real in database `dbname`; returns its undo."""
    if diagnosis in ("DB10", "DB12"):
        undo = _drop_tenant_fk(server, dbname)
        if diagnosis == "DB10":
            _run(
                server,
                dbname,
                "INSERT INTO appointments (id, tenant_id, scheduled_time, status) "
                "VALUES (%s, %s, now() + interval '2 days', 'confirmed') ON CONFLICT (id) DO NOTHING",
                (ORPHAN_APPOINTMENT, GHOST_TENANT),
            )
        return undo
    if diagnosis == "DB9":
        return _rename_invoices(server, dbname)
    if diagnosis == "DB11":
        return _negative_invoice(server, dbname)
    if diagnosis == "DB13":
        return _old_head(server, dbname)
    if diagnosis == "PERF4":
        return _slow_statement(server, dbname)
    if diagnosis == "PERF5":
        return _drop_index(server, dbname, "idx_appointments_tenant_created")
    if diagnosis == "PERF6":
        return _drop_index(server, dbname, "idx_payments_appointment")
    raise ValueError(f"no schema fault for {diagnosis}; faults: {', '.join(FAULTS)}")
