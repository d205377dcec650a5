"""DB9-DB13 and PERF4-PERF6 against real PostgreSQL: the demo's `booking` database passes when
healthy and fails on each real fault of `healthsuite.demo.pg_faults_schema` (and passes again once
undone); the least-privilege cases (no SELECT, no pg_read_all_stats) fail naming the grant; a missing
or unloaded pg_stat_statements skips PERF4 with the fix; invalid declarations fail without a traceback."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from healthsuite.assessments.pg_schema import full_scans
from healthsuite.demo import pg_faults_schema
from healthsuite.demo.services import PostgresServer
from healthsuite.demo.stack import ALEMBIC_HEAD, DATABASE, MONITOR_ROLE, DemoStack
from healthsuite.model.schema import HotQuery
from healthsuite.probes.pg_schema import PlanObservation, query_excerpt, scan_nodes
from healthsuite.probes.postgres import MARK

from .conftest import RunChecks

ALL = ("DB9", "DB10", "DB11", "DB12", "DB13", "PERF4", "PERF5", "PERF6")
KIND = {d: ("database", "critical" if d == "DB9" else "medium" if d == "DB12" else "high") for d in ALL[:5]}
KIND.update({d: ("performance", "medium") for d in ALL[5:]})


def outcome(run, diagnosis: str, target: str, expected: str) -> dict:
    category, severity = KIND[diagnosis]
    return run.assert_outcome(diagnosis, target, expected, category=category, severity=severity)


def reset_statements(stack: DemoStack) -> None:
    assert stack.postgres is not None
    stack.postgres.psql("SELECT pg_stat_statements_reset()", dbname=DATABASE)


@pytest.fixture
def break_demo(stack: DemoStack) -> Iterator[Callable[..., None]]:
    """Inject schema faults into the demo's booking database; undone after the test whatever happens."""
    undos: list[Callable[[], None]] = []

    def inject(*diagnoses: str) -> None:
        assert stack.postgres is not None
        for diagnosis in diagnoses:
            undos.append(pg_faults_schema.inject(diagnosis, stack.postgres, DATABASE))

    yield inject
    while undos:
        undos.pop()()


def test_healthy_demo_passes_every_schema_check(run_checks: RunChecks, stack: DemoStack) -> None:
    reset_statements(stack)
    run = run_checks("--diagnosis", ",".join(ALL))
    records = {d: outcome(run, d, "booking", "passed") for d in ALL}
    assert "all 7 declared tables exist and healthsuite may read them" in records["DB9"]["observed"]
    assert records["DB10"]["observed"].startswith("no orphaned rows in 4 relations")
    assert records["DB12"]["observed"].startswith("4 FOREIGN KEY constraints present: appointments.tenant_id")
    assert records["DB13"]["observed"] == f"alembic_version.version_num = {ALEMBIC_HEAD}"
    assert "Index Scan on public.appointments using idx_appointments_tenant_created" in records["PERF5"]["observed"]
    assert records["PERF6"]["observed"].startswith("2 declared indexes exist and are valid; all 11 foreign keys")
    assert "Traceback" not in run.output


def test_table_migration_statement_and_index_faults_fail(
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
    assert perf4["observed"].startswith("1 statement with a mean over 1000 ms: 12")
    assert "x1 `SELECT pg_sleep($1)` (role postgres)" in perf4["observed"]
    perf6 = outcome(run, "PERF6", "booking", "failed")
    assert perf6["observed"] == (
        "foreign key payments.appointment_id (payments_appointment_id_fkey -> appointments) has no index led by "
        "appointment_id"
    )
    assert "CREATE INDEX CONCURRENTLY idx_payments_appointment_id ON public.payments (appointment_id);" in (
        perf6["message"]
    )


def test_perf4_sees_a_slow_statement_of_the_role_the_checks_connect_as(
    run_checks: RunChecks, stack: DemoStack
) -> None:
    """The application may share the monitoring role: only the suite's own statements (marked
    /* healthsuite */) are left out, so its slow statement still fails PERF4."""
    assert stack.postgres is not None
    reset_statements(stack)
    undo = pg_faults_schema.slow_statement_as(stack.postgres, DATABASE, MONITOR_ROLE, stack.pg_password)
    try:
        run = run_checks("--diagnosis", "PERF4,DB1,DB9,DB11")
        perf4 = outcome(run, "PERF4", "booking", "failed")
        assert f"x1 `SELECT pg_sleep($1)` (role {MONITOR_ROLE})" in perf4["observed"], perf4["observed"]
        # every statement the run sent is marked, so none of them can be flagged
        texts = stack.postgres.psql(
            "SELECT regexp_replace(s.query, '\\s+', ' ', 'g') FROM pg_stat_statements s "
            f"JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = '{MONITOR_ROLE}' "
            "AND s.query NOT IN ('BEGIN READ ONLY', 'COMMIT', 'ROLLBACK') AND s.query <> 'SELECT pg_sleep($1)'",
            dbname=DATABASE,
        ).splitlines()
        assert texts and all(text.startswith(MARK + " ") for text in texts), texts
    finally:
        undo()


def test_orphan_invariant_constraint_and_plan_faults_fail(
    run_checks: RunChecks, break_demo: Callable[..., None]
) -> None:
    break_demo("DB10", "DB11", "DB12", "PERF5")
    run = run_checks("--diagnosis", "DB10,DB11,DB12,PERF5,PERF6")
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
    perf5 = outcome(run, "PERF5", "booking", "failed")
    assert perf5["observed"].startswith("appointments-by-tenant: Seq Scan on public.appointments (Filter: ")
    assert "reads the whole of public.appointments" in perf5["message"]
    # the dropped index is declared; the foreign key it served is dropped too here (DB10/DB12 faults)
    perf6 = outcome(run, "PERF6", "booking", "failed")
    assert perf6["observed"] == "index idx_appointments_tenant_created does not exist"


def test_each_fault_is_undone_completely(run_checks: RunChecks, stack: DemoStack) -> None:
    assert stack.postgres is not None
    undos = [pg_faults_schema.inject(d, stack.postgres, DATABASE) for d in pg_faults_schema.FAULTS]
    for undo in undos:  # in injection order, the worst case for dependent undos
        undo()
    run = run_checks("--diagnosis", ",".join(ALL))
    for diagnosis in ALL:
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


def test_least_privilege_failures_name_the_grant(
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
    run = run_checks("--diagnosis", ",".join(ALL), env=path, environ={"PLAIN_PG_PASSWORD": password})
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
    outcome(run, "PERF6", "booking", "passed")
    perf4 = outcome(run, "PERF4", "booking", "failed")
    assert "of other roles hidden from" in perf4["observed"] and "`<insufficient privilege>`" in perf4["observed"]
    assert f"GRANT pg_read_all_stats TO {role};" in perf4["message"]
    assert password not in run.output


@pytest.fixture(scope="module")
def unloaded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A PostgreSQL without pg_stat_statements in shared_preload_libraries: `noext` lacks the
    extension, `notloaded` has it created but its library is not loaded."""
    with PostgresServer(tmp_path_factory.mktemp("unloaded")) as server:
        server.create_database("noext")
        server.create_database("notloaded")
        server.psql("CREATE EXTENSION pg_stat_statements", dbname="notloaded")
        yield server


def test_perf4_skips_with_the_fix_when_pg_stat_statements_is_missing(
    run_checks: RunChecks, env_file: Callable[..., Path], unloaded_server: PostgresServer
) -> None:
    databases = "".join(
        f"  - {{name: {db}, engine: postgresql, dsn: '{unloaded_server.dsn(dbname=db)}'}}\n"
        for db in ("noext", "notloaded")
    )
    run = run_checks("--diagnosis", "PERF4", env=env_file(f"name: bare\nkind: test\ndatabases:\n{databases}"))
    noext = outcome(run, "PERF4", "noext", "skipped")
    assert "pg_stat_statements is not installed in database noext" in noext["message"]
    assert "shared_preload_libraries = 'pg_stat_statements'" in noext["message"]
    assert "CREATE EXTENSION pg_stat_statements;" in noext["message"]
    notloaded = outcome(run, "PERF4", "notloaded", "skipped")
    assert "installed in database notloaded but its library is not loaded" in notloaded["message"]


def test_invalid_declarations_fail_or_skip_without_traceback(
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


# --- pure functions ------------------------------------------------------------------------------------


def _plan(*scans: dict) -> PlanObservation:
    return PlanObservation(HotQuery(name="q", sql="SELECT 1"), tuple(s for node in scans for s in scan_nodes(node)))


def test_full_scans_flag_seq_scans_and_whole_index_reads_of_large_tables_only() -> None:
    seq = {"Node Type": "Seq Scan", "Relation Name": "appointments", "Schema": "public", "Filter": "(x = 1)"}
    small = {"Node Type": "Seq Scan", "Relation Name": "tenants", "Schema": "public"}
    filtered_index = {"Node Type": "Index Scan", "Relation Name": "payments", "Schema": "public",
                      "Index Name": "payments_pkey", "Filter": "(status = 'x')"}
    top_n = {"Node Type": "Limit", "Plans": [{"Node Type": "Index Scan", "Relation Name": "payments",
                                               "Schema": "public", "Index Name": "idx_created"}]}
    sorted_all = {"Node Type": "Limit", "Plans": [{"Node Type": "Sort", "Plans": [
        {"Node Type": "Index Only Scan", "Relation Name": "payments", "Schema": "public", "Index Name": "pk"}]}]}
    selective = {"Node Type": "Index Scan", "Relation Name": "appointments", "Schema": "public",
                 "Index Name": "idx", "Index Cond": "(tenant_id = 'a')"}
    large = ["appointments", "public.payments"]
    found = full_scans(_plan(seq, small, filtered_index, top_n, sorted_all, selective), large)
    assert [n.describe() for n in found] == [
        "Seq Scan on public.appointments (Filter: (x = 1))",
        "Index Scan on public.payments using payments_pkey (Filter: (status = 'x'))",
        "Index Only Scan on public.payments using pk",
    ]
    assert [n.relation for n in full_scans(_plan(small), [])] == ["public.tenants"]  # none declared: all count
    assert full_scans(_plan(seq), ["billing.appointments"]) == []


def test_query_excerpts_are_one_short_line_without_passwords() -> None:
    assert query_excerpt("ALTER ROLE app\n  PASSWORD 'it''s secret'") == "ALTER ROLE app PASSWORD '***'"
    assert len(query_excerpt("SELECT " + "x, " * 200)) == 200
