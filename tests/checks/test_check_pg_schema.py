"""DB9-DB13 and PERF4-PERF6 against real PostgreSQL: the demo's `booking` database passes when
healthy and fails on each real fault of `healthsuite.demo.faults.pg_schema` (and passes again once
undone); the least-privilege cases (no SELECT, no pg_read_all_stats) fail naming the grant; a missing
or unloaded pg_stat_statements skips PERF4 with the fix; invalid declarations fail without a traceback."""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from healthsuite.assessments.pg_schema import full_scans, statement_deltas
from healthsuite.assessments.pg_schema import slow_statements as judge_statements
from healthsuite.demo.faults import pg_schema as pg_faults_schema
from healthsuite.demo.stack import ALEMBIC_HEAD, DATABASE, MONITOR_ROLE, DemoStack
from healthsuite.model.schema import HotQuery
from healthsuite.probes.pg_schema import (
    STATEMENTS_HINT,
    PlanObservation,
    StatementCounters,
    StatementsObservation,
    parse_snapshot,
    query_excerpt,
    scan_nodes,
)
from healthsuite.probes.postgres import MARK
from healthsuite.testing.services import PostgresServer
from tests.conftest import CheckRun, RunChecks

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
    # the demo declares every table with a foreign key (schema and data): all 11 are judged, none left out
    assert records["PERF6"]["observed"] == (
        "2 declared indexes exist and are valid; all 11 foreign keys of the 11 declared tables are indexed"
    )
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


# --- PERF6: whose foreign keys are judged -------------------------------------------------------------------


@pytest.fixture
def unindexed_tables(stack: DemoStack) -> Iterator[None]:
    """Two tables the demo's file does not declare, each with an unindexed foreign key to tenants:
    hs_notes, which the monitoring role may read, and hs_secrets, which it may not."""
    assert stack.postgres is not None
    stack.postgres.psql(
        "CREATE TABLE hs_notes (id int PRIMARY KEY, tenant_id text REFERENCES tenants(id));"
        f"GRANT SELECT ON hs_notes TO {MONITOR_ROLE};"
        "CREATE TABLE hs_secrets (id int PRIMARY KEY, tenant_id text REFERENCES tenants(id));",
        dbname=DATABASE,
    )
    yield
    stack.postgres.psql("DROP TABLE IF EXISTS hs_notes, hs_secrets", dbname=DATABASE)


@pytest.mark.usefixtures("unindexed_tables")
def test_perf6_judges_the_declared_tables_by_default_the_whole_schema_on_request_and_never_excluded_ones(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[..., Path]
) -> None:
    assert stack.postgres is not None
    dsn = f"postgresql://{MONITOR_ROLE}:${{HEALTHSUITE_DEMO_PG_PASSWORD}}@127.0.0.1:{stack.postgres.port}/{DATABASE}"

    def db(name: str, schema: str) -> str:
        return f"  - name: {name}\n    engine: postgresql\n    dsn: {dsn}\n    schema: {schema}\n"

    path = env_file(
        f"name: scoped\nkind: test\nsecrets_file: {stack.directory / 'secrets.env'}\ndatabases:\n"
        + db("declared", "{tables: [tenants, appointments]}")
        + db("declares-secrets", "{tables: [hs_secrets]}")
        + db("whole", "{foreign_key_indexes: {scope: all}}")
        + db("whole-but-notes", "{foreign_key_indexes: {scope: all, exclude: [hs_notes]}}")
        + db("declared-but-column", "{tables: [hs_notes], foreign_key_indexes: {exclude: [public.hs_notes.tenant_id]}}")
    )
    run = run_checks("--diagnosis", "PERF6", env=path)
    declared = outcome(run, "PERF6", "declared", "passed")
    assert re.fullmatch(
        r"all 3 foreign keys of the 2 declared tables are indexed \(not judged: 10 foreign keys of tables the file "
        r"does not declare \(schema\.foreign_key_indexes\.scope: all judges them\)\)", declared["observed"]
    ), declared["observed"]  # 8 of the demo's other tables and hs_notes (hs_secrets too, yet unread either way)
    secrets_only = outcome(run, "PERF6", "declares-secrets", "passed")
    assert secrets_only["observed"].endswith(
        f"1 foreign key of tables {MONITOR_ROLE} cannot read (public.hs_secrets: it has no SELECT on them))"
    ), secrets_only["observed"]
    whole = outcome(run, "PERF6", "whole", "failed")
    assert whole["observed"] == (
        "foreign key hs_notes.tenant_id (hs_notes_tenant_id_fkey -> tenants) has no index led by tenant_id "
        f"(not judged: 1 foreign key of tables {MONITOR_ROLE} cannot read (public.hs_secrets: it has no SELECT on "
        "them))"
    ), whole["observed"]
    assert "CREATE INDEX CONCURRENTLY idx_hs_notes_tenant_id ON public.hs_notes (tenant_id);" in whole["message"]
    assert whole["expected"].startswith("the declared indexes") is False
    assert "every foreign key in schema public has an index" in whole["expected"]
    excluded = outcome(run, "PERF6", "whole-but-notes", "passed")
    assert "1 foreign key excluded by schema.foreign_key_indexes.exclude" in excluded["observed"]
    column = outcome(run, "PERF6", "declared-but-column", "passed")
    assert column["observed"].startswith(
        "no foreign key of the 1 declared table to judge (not judged: "
    ), column["observed"]
    assert "1 foreign key excluded by schema.foreign_key_indexes.exclude" in column["observed"]


# --- PERF4: the calls since the previous run ----------------------------------------------------------------


def carry_hints(run: CheckRun) -> None:
    """The next run_checks starts from what this run kept (its report's probe_hints), as the next
    scheduled run of an environment reads the newest report in its reports folder."""
    number = int(run.reports_dir.name.rsplit("-", 1)[1])
    following = run.reports_dir.with_name(f"reports-{number + 1}")
    following.mkdir()
    shutil.copy(run.reports_dir / "latest.json", following / "latest.json")


@pytest.fixture
def statements_db(stack: DemoStack) -> Iterator[str]:
    """A database of its own on the demo's server (pg_stat_statements preloaded), so only the
    statements a test makes there are judged; dropped afterwards."""
    assert stack.postgres is not None
    name = f"hs_statements_{secrets.token_hex(3)}"
    stack.postgres.create_database(name)
    stack.postgres.psql("CREATE EXTENSION pg_stat_statements", dbname=name)
    yield name
    stack.postgres.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_perf4_judges_the_calls_since_the_previous_run(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[..., Path], statements_db: str
) -> None:
    """Run 1 judges the all-time mean (no previous counters): a 650 ms statement fails at runbook 003's
    100 ms. Run 2 sees no new call: it passes although the all-time mean is unchanged. A new slow call
    fails run 3; after a reset of the statistics, run 4 judges from the reset."""
    assert stack.postgres is not None
    server = stack.postgres
    dsn = f"postgresql://{MONITOR_ROLE}:${{HEALTHSUITE_DEMO_PG_PASSWORD}}@127.0.0.1:{server.port}/{statements_db}"
    path = env_file(
        f"name: statements\nkind: test\nsecrets_file: {stack.directory / 'secrets.env'}\n"
        f"databases:\n  - {{name: app, engine: postgresql, dsn: '{dsn}'}}\n"
    )

    def slow_call() -> None:
        server.psql("SELECT pg_sleep(0.65)", dbname=statements_db)

    slow_call()
    first = run_checks("--diagnosis", "PERF4", env=path)
    perf4 = outcome(first, "PERF4", "app", "failed")
    assert re.match(
        r"1 statement with a mean over 100 ms all-time, since the statistics were last reset \(no previous run "
        r"kept the counters\): 6\d\d ms x1 `SELECT pg_sleep\(\$1\)` \(role postgres\)$", perf4["observed"]
    ), perf4["observed"]
    assert STATEMENTS_HINT in first.report["probe_hints"]["databases/app"], first.report["probe_hints"]

    carry_hints(first)
    second = run_checks("--diagnosis", "PERF4", env=path)
    perf4 = outcome(second, "PERF4", "app", "passed")
    assert perf4["observed"].startswith("no statement with a mean over 100 ms since the previous run: "), perf4

    slow_call()
    carry_hints(second)
    third = run_checks("--diagnosis", "PERF4", env=path)
    perf4 = outcome(third, "PERF4", "app", "failed")
    assert re.match(
        r"1 statement with a mean over 100 ms since the previous run: 6\d\d ms x1 `SELECT pg_sleep\(\$1\)` "
        r"\(role postgres\)$", perf4["observed"]
    ), perf4["observed"]

    server.psql("SELECT pg_stat_statements_reset()", dbname=statements_db)
    slow_call()
    carry_hints(third)
    fourth = run_checks("--diagnosis", "PERF4", env=path)
    perf4 = outcome(fourth, "PERF4", "app", "failed")
    assert "x1 `SELECT pg_sleep($1)` (role postgres; its counters were reset since the previous run: judged " \
        "from the reset)" in perf4["observed"], perf4["observed"]


def test_perf4_deltas_from_the_previous_counters() -> None:
    """Pure: calls and total time minus the previous run's; counters that went back (a reset of one
    statement) are judged from the reset; a statement the previous run did not keep, from its first call."""

    def counters(key: str, calls: int, total_ms: float) -> StatementCounters:
        return StatementCounters(key, f"SELECT {key}", "app", calls, total_ms)

    before = StatementsObservation(
        "monitor", statements=3, counters=(counters("1:1", 100, 5000.0), counters("1:2", 10, 100.0)),
        stats_reset="2024-01-01",
    )
    now = StatementsObservation(
        "monitor", statements=3,
        counters=(counters("1:1", 110, 5050.0), counters("1:2", 2, 900.0), counters("1:3", 1, 50.0)),
        stats_reset="2024-01-01",
    )
    snapshot = parse_snapshot(before.snapshot())
    assert snapshot is not None and snapshot.counters == {"1:1": (100, 5000.0), "1:2": (10, 100.0)}
    deltas = {d.counters.key: (d.calls, d.total_ms, d.basis) for d in statement_deltas(now, snapshot)}
    assert deltas == {"1:1": (10, 50.0, "previous run"), "1:2": (2, 900.0, "reset"), "1:3": (1, 50.0, "new")}
    # 1:1's all-time mean (45.9 ms) and its new calls' (5 ms) pass; 1:2's 450 ms since its reset fails
    finding = judge_statements(now, 100, before.snapshot())
    assert not finding.ok and finding.observed.startswith(
        "1 statement with a mean over 100 ms since the previous run: 450 ms x2 `SELECT 1:2`"
    ), finding.observed
    unchanged = judge_statements(before, 100, before.snapshot())
    assert unchanged.ok and "0 statements called since" in unchanged.observed
    assert parse_snapshot("not json") is None and parse_snapshot(None) is None


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
