"""Mirrors checks/test_database_schema.py. DB9-DB13 against real PostgreSQL: the demo's `booking`
database passes when healthy and fails on each real fault of `healthsuite.demo.faults.pg_schema` (and
passes again once undone); the least-privilege cases fail naming the grant; invalid declarations fail
without a traceback. The same runs judge PERF4-PERF6, whose own tests are in test_performance.py."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from healthsuite.demo.faults import pg_schema as pg_faults_schema
from healthsuite.demo.stack import ALEMBIC_HEAD, DATABASE, DemoStack
from tests.checks.support import SCHEMA_CHECKS, outcome, reset_statements
from tests.conftest import RunChecks


def test_DB9_DB10_DB11_DB12_DB13_PERF4_PERF5_PERF6_healthy_demo_passes_every_schema_check(
    run_checks: RunChecks, stack: DemoStack
) -> None:
    reset_statements(stack)
    run = run_checks("--diagnosis", ",".join(SCHEMA_CHECKS))
    records = {d: outcome(run, d, "booking", "passed") for d in SCHEMA_CHECKS}
    assert "all 7 declared tables exist and healthsuite may read them" in records["DB9"]["observed"]
    assert records["DB10"]["observed"].startswith("no orphaned rows in 4 relations")
    assert records["DB12"]["observed"].startswith("4 FOREIGN KEY constraints present: appointments.tenant_id")
    assert records["DB13"]["observed"] == f"alembic_version.version_num = {ALEMBIC_HEAD}"
    assert "Index Scan on public.appointments using idx_appointments_tenant_created" in records["PERF5"]["observed"]
    # the demo declares every table with a foreign key (schema and data): all 11 are judged, none left out
    assert records["PERF6"]["observed"] == (
        "2 declared indexes exist and are valid; all 11 foreign keys of the 11 declared tables are indexed"
    )
    assert "Traceback" not in run.output


def test_DB9_DB13_PERF4_PERF6_table_migration_statement_and_index_faults_fail(
    run_checks: RunChecks, stack: DemoStack, break_demo: Callable[..., None]
) -> None:
    reset_statements(stack)
    break_demo("DB9", "DB13", "PERF4", "PERF6")
    run = run_checks("--diagnosis", "DB9,DB13,PERF4,PERF6")
    db9 = outcome(run, "DB9", "booking", "failed")
    assert db9["observed"] == "invoices does not exist (similar names: public.invoices_old)"
    assert "ALTER TABLE public.invoices_old RENAME TO invoices;" in db9["message"]
    db13 = outcome(run, "DB13", "booking", "failed")
    assert db13["observed"] == f"alembic_version.version_num = {pg_faults_schema.OLD_REVISION}"
    assert db13["expected"] == f"alembic_version.version_num records head {ALEMBIC_HEAD}"
    perf4 = outcome(run, "PERF4", "booking", "failed")
    # runbook 003's 100 ms; a first run (no previous counters in this reports folder) judges all-time means
    assert perf4["observed"].startswith("1 statement with a mean over 100 ms all-time, since the statistics were "
                                        "last reset (no previous run kept the counters): 12"), perf4["observed"]
    assert "x1 `SELECT pg_sleep($1)` (role postgres)" in perf4["observed"]
    assert "`pg_stat_statements_reset()` needs a superuser or a granted EXECUTE" in perf4["message"]
    perf6 = outcome(run, "PERF6", "booking", "failed")
    # DB9's fault renamed invoices: invoices_old is not declared, so its foreign key is left out, and said
    assert perf6["observed"] == (
        "foreign key payments.appointment_id (payments_appointment_id_fkey -> appointments) has no index led by "
        "appointment_id (not judged: 1 foreign key of tables the file does not declare "
        "(schema.foreign_key_indexes.scope: all judges them))"
    )
    assert "CREATE INDEX CONCURRENTLY idx_payments_appointment_id ON public.payments (appointment_id);" in (
        perf6["message"]
    )


def test_DB10_DB11_DB12_orphan_invariant_and_constraint_faults_fail(
    run_checks: RunChecks, break_demo: Callable[..., None]
) -> None:
    # the same faults as PERF5/PERF6's test in test_performance.py, which judges the plan and the index
    break_demo("DB10", "DB11", "DB12", "PERF5")
    run = run_checks("--diagnosis", "DB10,DB11,DB12")
    db10 = outcome(run, "DB10", "booking", "failed")
    assert db10["observed"] == (
        "appointments.tenant_id -> tenants.id: 1 orphaned row "
        f"(e.g. id={pg_faults_schema.ORPHAN_APPOINTMENT}, tenant_id='{pg_faults_schema.GHOST_TENANT}')"
    )
    db11 = outcome(run, "DB11", "booking", "failed")
    assert db11["observed"] == (
        "invoice-total-not-negative (invoices: total_amount >= 0): 1 violating row "
        f"(e.g. id={pg_faults_schema.NEGATIVE_INVOICE})"
    )
    db12 = outcome(run, "DB12", "booking", "failed")
    assert db12["observed"] == "appointments.tenant_id -> tenants.id: no FOREIGN KEY constraint"
    assert "ADD CONSTRAINT appointments_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id)" in (
        db12["message"]
    )


def test_DB9_DB10_DB11_DB12_DB13_PERF4_PERF5_PERF6_each_fault_is_undone_completely(
    run_checks: RunChecks, stack: DemoStack
) -> None:
    assert stack.postgres is not None
    undos = [pg_faults_schema.inject(d, stack.postgres, DATABASE) for d in pg_faults_schema.FAULTS]
    for undo in undos:  # in injection order, the worst case for dependent undos
        undo()
    run = run_checks("--diagnosis", ",".join(SCHEMA_CHECKS))
    for diagnosis in SCHEMA_CHECKS:
        outcome(run, diagnosis, "booking", "passed")


@pytest.fixture
def plain_role(stack: DemoStack) -> Iterator[tuple[str, str]]:
    """A login role with neither pg_monitor nor SELECT on the tables (dropped afterwards)."""
    assert stack.postgres is not None
    name, password = f"hs_plain_{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    stack.postgres.create_role(name, password)
    stack.postgres.psql("SELECT count(*) FROM tenants", dbname=DATABASE)  # someone else's statement
    yield name, password
    stack.postgres.psql(f"DROP ROLE {name}")


def test_DB9_DB10_DB11_DB12_DB13_PERF4_PERF5_PERF6_least_privilege_failures_name_the_grant(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[..., Path], plain_role: tuple[str, str]
) -> None:
    assert stack.postgres is not None
    role, password = plain_role
    path = env_file(
        f"""
name: plain
kind: test
databases:
  - name: booking
    engine: postgresql
    dsn: postgresql://{role}:${{PLAIN_PG_PASSWORD}}@127.0.0.1:{stack.postgres.port}/{DATABASE}
    schema:
      tables: [tenants, appointments]
      relations: [{{child: appointments.tenant_id, parent: tenants.id}}]
      invariants: [{{name: positive, table: invoices, holds: "total_amount >= 0"}}]
      migrations: {{expected: "{ALEMBIC_HEAD}"}}
      hot_queries: [{{name: tenant, sql: "SELECT * FROM tenants WHERE id = 'a'"}}]
"""
    )
    run = run_checks("--diagnosis", ",".join(SCHEMA_CHECKS), env=path, environ={"PLAIN_PG_PASSWORD": password})
    db9 = outcome(run, "DB9", "booking", "failed")
    assert db9["observed"] == (
        f"tenants exists but {role} has no SELECT privilege on it; appointments exists but {role} has no SELECT "
        "privilege on it"
    )
    assert f"GRANT SELECT ON tenants, appointments TO {role};" in db9["message"]
    db10 = outcome(run, "DB10", "booking", "failed")
    assert "could not be checked: permission denied (permission denied for table appointments)" in db10["observed"]
    assert f"GRANT SELECT ON appointments, tenants TO {role};" in db10["message"]
    db11 = outcome(run, "DB11", "booking", "failed")
    assert db11["observed"].endswith("could not be evaluated: permission denied (permission denied for table invoices)")
    assert f"GRANT SELECT ON invoices TO {role};" in db11["message"]
    outcome(run, "DB12", "booking", "passed")  # the catalogs are readable by every role
    db13 = outcome(run, "DB13", "booking", "failed")
    assert db13["observed"].startswith("alembic_version could not be read: permission denied")
    perf5 = outcome(run, "PERF5", "booking", "failed")
    assert perf5["observed"] == "tenant: EXPLAIN failed: permission denied (permission denied for table tenants)"
    # tenants, appointments and invoices (an invariant's) are declared; their keys cannot be read: left out, said
    perf6 = outcome(run, "PERF6", "booking", "passed")
    assert perf6["observed"] == (
        "no foreign key of the 3 declared tables to judge (not judged: 7 foreign keys of tables the file does not "
        f"declare (schema.foreign_key_indexes.scope: all judges them); 4 foreign keys of tables {role} cannot read "
        "(public.appointments, public.invoices: it has no SELECT on them))"
    ), perf6["observed"]
    perf4 = outcome(run, "PERF4", "booking", "failed")
    assert "of other roles hidden from" in perf4["observed"] and "`<insufficient privilege>`" in perf4["observed"]
    assert f"GRANT pg_read_all_stats TO {role};" in perf4["message"]
    assert password not in run.output


def test_DB11_DB13_PERF5_invalid_declarations_fail_or_skip_without_traceback(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[..., Path]
) -> None:
    assert stack.postgres is not None
    stack.postgres.psql("INSERT INTO alembic_version VALUES ('ffffeeee0000')", dbname=DATABASE)
    try:
        dsn = f"postgresql://healthsuite:${{HEALTHSUITE_DEMO_PG_PASSWORD}}@127.0.0.1:{stack.postgres.port}/{DATABASE}"

        def db(name: str, schema: str) -> str:
            return f"  - name: {name}\n    engine: postgresql\n    dsn: {dsn}\n    schema: {schema}\n"

        path = env_file(
            f"name: odd\nkind: test\nsecrets_file: {stack.directory / 'secrets.env'}\ndatabases:\n"
            + db("bad-invariant", "{invariants: [{name: typo, table: invoices, holds: 'totl_amount >= 0'}]}")
            + db("bad-hot-query", "{hot_queries: [{name: gone, sql: 'SELECT * FROM no_such_table'}]}")
            + db("no-migrations", "{migrations: {table: schema_migrations, expected: '42'}}")
            + db("unset-head", "{migrations: {expected: '${UNSET_ALEMBIC_HEAD}'}}")
            + db("branches", f"{{migrations: {{expected: '{ALEMBIC_HEAD}'}}}}")
            + db("ordered", "{migrations: {table: payments, column: reference, order_by: created_at, "
                 "expected: demo-ref-1}}")
        )
        run = run_checks("--diagnosis", "DB11,DB13,PERF5", env=path)
    finally:
        stack.postgres.psql("DELETE FROM alembic_version WHERE version_num = 'ffffeeee0000'", dbname=DATABASE)
    typo = outcome(run, "DB11", "bad-invariant", "failed")
    assert typo["observed"] == (
        'typo (invoices: totl_amount >= 0): could not be evaluated: column "totl_amount" does not exist'
    )
    gone = outcome(run, "PERF5", "bad-hot-query", "failed")
    assert gone["observed"] == 'gone: EXPLAIN failed: relation "no_such_table" does not exist'
    missing = outcome(run, "DB13", "no-migrations", "failed")
    assert missing["observed"] == "no migrations table: schema_migrations does not exist"
    unset = outcome(run, "DB13", "unset-head", "skipped")
    assert "UNSET_ALEMBIC_HEAD is not set" in unset["message"]
    branches = outcome(run, "DB13", "branches", "failed")
    assert branches["observed"] == f"2 heads in alembic_version.version_num: {ALEMBIC_HEAD}, ffffeeee0000"
    outcome(run, "DB13", "ordered", "passed")
    assert "Traceback" not in run.output
