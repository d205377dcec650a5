"""Hostile SQL in every place an environment file puts SQL (a declared `sql:` check, a DB11 invariant, a
data-mapping expression, a PERF5 hot query that is EXPLAINed), on a least-privilege role and on a superuser,
in a database with `standard_conforming_strings=off`, leaves the server as it found it: no advisory lock, no
notification, no transaction id, no statistic reset, no file, no backend, no sequence step, no large
object, no WAL; and what the server would run without the SQL naming it (casts, type input functions,
domain checks, row-level-security policies, the rules of an allowed view) is vetted before it is sent.
Each value of a result is bounded on the server."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from healthsuite.model.schema import HotQuery, Invariant
from healthsuite.model.sqlsafety import expression_problem, hot_query_problem
from healthsuite.probes.declared import bounded_sql
from healthsuite.probes.errors import ProbeError
from healthsuite.probes.pg_schema import hot_query_plans, invariants
from healthsuite.probes.pgreader import MAX_VALUE_BYTES, PgReader
from healthsuite.testing.postgres_server import PostgresServer, find_pg_bindir

READER = "hs_effects_reader"
PASSWORD = "effects-pw"
CHANNEL = "healthsuite_probe"
TOKEN = secrets.token_hex(4)  # in the names of the files the corpus tries to write
FILES = [Path(f"/tmp/hs_probe_{TOKEN}_{n}") for n in range(6)]

# everything the cases may act on, made by the superuser before the run
SETUP = f"""
CREATE TABLE invoices (id serial PRIMARY KEY, total_amount numeric);
INSERT INTO invoices (total_amount) SELECT g FROM generate_series(1, 20) g;
CREATE FUNCTION hs_noisy(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS
  $$BEGIN PERFORM pg_advisory_lock(7001); PERFORM pg_notify('{CHANNEL}', 'noisy'); RAISE LOG 'hs_noisy ran';
    RETURN $1; END$$;
CREATE FUNCTION hs_calm(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1';
CREATE PROCEDURE hs_proc() LANGUAGE plpgsql AS $$BEGIN PERFORM pg_advisory_lock(7002); END$$;
CREATE TYPE hs_box AS (v int);
CREATE FUNCTION hs_box_of(int) RETURNS hs_box LANGUAGE plpgsql IMMUTABLE AS
  $$BEGIN PERFORM pg_advisory_lock(7003); RETURN ROW($1)::hs_box; END$$;
CREATE CAST (int AS hs_box) WITH FUNCTION hs_box_of(int);
CREATE FUNCTION hs_box_text(hs_box) RETURNS text LANGUAGE plpgsql IMMUTABLE AS
  $$BEGIN PERFORM pg_advisory_lock(7004); RETURN 'box'; END$$;
CREATE CAST (hs_box AS text) WITH FUNCTION hs_box_text(hs_box) AS IMPLICIT;
CREATE TABLE hs_boxes (b hs_box);
INSERT INTO hs_boxes VALUES (ROW(1));
CREATE TYPE hs_t;
CREATE FUNCTION hs_t_in(cstring) RETURNS hs_t LANGUAGE internal IMMUTABLE STRICT AS 'int4in';
CREATE FUNCTION hs_t_out(hs_t) RETURNS cstring LANGUAGE internal IMMUTABLE STRICT AS 'int4out';
CREATE TYPE hs_t (input = hs_t_in, output = hs_t_out, like = int4);
CREATE DOMAIN hs_pos AS int CHECK (hs_noisy(VALUE) > 0);
CREATE FUNCTION hs_eq(int, int) RETURNS bool LANGUAGE plpgsql IMMUTABLE AS
  $$BEGIN PERFORM pg_advisory_lock(7005); RETURN $1 = $2; END$$;
CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = hs_eq);
CREATE FUNCTION hs_add(int, int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS
  $$BEGIN PERFORM pg_advisory_lock(7006); RETURN coalesce($1, 0) + $2; END$$;
CREATE AGGREGATE hs_sum(int) (SFUNC = hs_add, STYPE = int);
CREATE TABLE hs_secret (id int);
INSERT INTO hs_secret VALUES (1);
ALTER TABLE hs_secret ENABLE ROW LEVEL SECURITY;
CREATE POLICY hs_p ON hs_secret USING (hs_noisy(id) > 0);
CREATE TABLE hs_calm_secret (id int);
INSERT INTO hs_calm_secret VALUES (1);
ALTER TABLE hs_calm_secret ENABLE ROW LEVEL SECURITY;
CREATE POLICY hs_calm_p ON hs_calm_secret USING (hs_calm(id) > 0);
CREATE VIEW hs_view AS SELECT hs_noisy(1) AS n;
CREATE VIEW hs_lock_view AS SELECT pg_try_advisory_lock(7007) AS n;
CREATE VIEW hs_calm_view AS SELECT id, total_amount FROM invoices;
GRANT CONNECT ON DATABASE booking TO {READER};
GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER};
ALTER DATABASE booking SET standard_conforming_strings = off;
"""

# scalar expressions that would act: each goes into every place (as a statement's value, an invariant, a
# mapping expression and a hot query's condition)
EXPRESSIONS = [
    "pg_advisory_lock(7101)",
    "pg_try_advisory_lock_shared(7102)",
    f"pg_notify('{CHANNEL}', 'x')",
    "set_config('work_mem', '1GB', false)",
    "txid_current()",
    "pg_current_xact_id()",
    "nextval('invoices_id_seq')",
    "setval('invoices_id_seq', 99)",
    "lo_import('/etc/hostname')",
    f"lo_export(1, '{FILES[0]}')",
    "pg_terminate_backend(pg_backend_pid())",
    "pg_cancel_backend(pg_backend_pid())",
    "pg_stat_reset()",
    "pg_stat_reset_shared('bgwriter')",
    "pg_stat_reset_single_table_counters('invoices'::regclass)",
    "pg_stat_statements_reset()",
    "pg_reload_conf()",
    "pg_rotate_logfile()",
    "pg_switch_wal()",
    "pg_create_restore_point('hs')",
    "pg_logical_emit_message(false, 'hs', 'x')",
    "pg_create_physical_replication_slot('hs_slot')",
    "query_to_xml('SELECT pg_advisory_lock(7103)', true, true, '')",
    "query_to_xmlschema('SELECT pg_advisory_lock(7103)', true, true, '')",
    "query_to_xml_and_xmlschema('SELECT pg_advisory_lock(7103)', true, true, '')",
    "table_to_xml('hs_lock_view', true, true, '')",
    "cursor_to_xml('c', 1, true, true, '')",
    "(SELECT count(*) FROM ts_stat('SELECT to_tsvector(pg_advisory_lock(7104)::text)'))",
    "dblink_exec('dbname=booking', 'SELECT pg_advisory_lock(7105)')",
    f"(SELECT v FROM dblink('dbname=booking', 'SELECT pg_notify(''{CHANNEL}'', ''y'')::text') AS t(v text))",
    "pg_sleep(30)",
    f"pg_file_write('{FILES[1]}', 'x', false)",
    "pg_read_file('/etc/hostname')",
    # the database's own, and what the server runs without the SQL naming it
    "hs_noisy(1)",
    "1 === 1",
    "(SELECT hs_sum(id) FROM invoices)",
    "1::hs_box",
    "CAST(2 AS hs_box)",
    "(SELECT length(b) FROM hs_boxes)",  # the implicit cast hs_box -> text
    "'5'::hs_t",  # hs_t's input function
    "3::hs_pos",  # the domain's CHECK
    "(SELECT count(*) FROM hs_secret)",  # the table's row-level-security policy
    "(SELECT n FROM hs_view)",
    "(SELECT n FROM hs_lock_view)",
]

# whole statements that would act (as a declared `sql:` check and a hot query)
STATEMENTS = [
    "SELECT * FROM invoices FOR UPDATE",
    "SELECT * FROM invoices FOR SHARE",
    "SELECT * FROM invoices FOR NO KEY UPDATE NOWAIT",
    "LOCK invoices",
    "DO $$BEGIN PERFORM pg_advisory_lock(7201); END$$",
    "CALL hs_proc()",
    "PREPARE hs_p AS SELECT pg_advisory_lock(7202)",
    "EXECUTE hs_p",
    "SELECT 1; SELECT pg_advisory_lock(7203)",
    "SELECT 1; COMMIT; SELECT pg_advisory_lock(7204)",
    "SET work_mem = '1GB'",
    "SET SESSION AUTHORIZATION postgres",
    "RESET ALL",
    "LISTEN healthsuite_probe",
    f"NOTIFY {CHANNEL}",
    f"COPY invoices TO PROGRAM 'touch {FILES[2]}'",
    f"COPY invoices TO '{FILES[3]}'",
    f"COPY (SELECT 1) TO PROGRAM 'touch {FILES[4]}'",
    "VACUUM invoices",
    "ANALYZE invoices",
    "CHECKPOINT",
    "TRUNCATE invoices",
    "DISCARD ALL",
    "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
    "CREATE TEMP TABLE hs_tmp AS SELECT 1",
    "SELECT * INTO hs_stolen FROM invoices",
    "WITH x AS (SELECT nextval('invoices_id_seq')) SELECT * FROM x",
    "WITH d AS (DELETE FROM invoices RETURNING 1) SELECT * FROM d",
    "SELECT set_config('statement_timeout', '0', false), pg_sleep(40)",
    "EXPLAIN ANALYZE SELECT pg_advisory_lock(7205)",
    "SELECT pg_advisory_lock(7206) FROM invoices",
    f"SELECT * FROM invoices WHERE id = 1 UNION ALL SELECT 1, pg_notify('{CHANNEL}', 'z')::text::numeric",
    "SELECT hs_noisy(id) FROM invoices",
    "SELECT * FROM hs_secret",
    "SELECT * FROM hs_view",
]

# run as they are, and harmless: a literal with a backslash before its quote is one literal under
# standard_conforming_strings=on (the session's, as the load-time parser read it)
HARMLESS = [
    "SELECT 'x\\' AS a, ' AS b, pg_advisory_lock(7301) AS c --' AS d",
    "SELECT 'x\\'', pg_advisory_lock(7302) --' AS a",
]


def _available(server: PostgresServer, name: str) -> bool:
    return server.psql(f"SELECT count(*) FROM pg_available_extensions WHERE name = '{name}'").strip() == "1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL logging every statement, with pg_stat_statements loaded when it is installed,
    autovacuum off and checkpoints rare (nothing but the run writes or assigns a transaction id)."""
    settings = {"log_statement": "all", "autovacuum": "off", "checkpoint_timeout": "1h", "max_wal_senders": "2"}
    if (find_pg_bindir().parent / "lib" / "pg_stat_statements.so").exists():
        settings["shared_preload_libraries"] = "pg_stat_statements"
    with PostgresServer(tmp_path_factory.mktemp("effects"), settings=settings) as pg:
        pg.create_database("booking")
        pg.create_role(READER, PASSWORD)
        extensions = [name for name in ("pg_stat_statements", "dblink", "adminpack") if _available(pg, name)]
        if "shared_preload_libraries" not in settings:
            extensions = [name for name in extensions if name != "pg_stat_statements"]
        pg.psql("".join(f"CREATE EXTENSION {name};\n" for name in extensions) + SETUP, dbname="booking")
        pg.psql("VACUUM;\nCHECKPOINT;\n", dbname="booking")
        yield pg


def _superuser(server: PostgresServer) -> psycopg.Connection[Any]:
    return psycopg.connect(server.dsn(dbname="booking"), autocommit=True)


def _state(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """What the run must not change, read by a connection that itself assigns no transaction id."""
    one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
    state = {
        "xmax": one("SELECT pg_snapshot_xmax(pg_current_snapshot())::text"),
        "advisory": one("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
        "queue": one("SELECT pg_notification_queue_usage()"),
        "db_reset": one("SELECT stats_reset::text FROM pg_stat_database WHERE datname = 'booking'"),
        "bgwriter_reset": one("SELECT stats_reset::text FROM pg_stat_bgwriter"),
        "invoices_written": one("SELECT n_tup_ins || '/' || n_tup_upd || '/' || n_tup_del FROM pg_stat_user_tables "
                                "WHERE relname = 'invoices'"),
        "sequence": one("SELECT last_value || '/' || is_called FROM invoices_id_seq"),
        "large_objects": one("SELECT count(*) FROM pg_largeobject_metadata"),
        "slots": one("SELECT count(*) FROM pg_replication_slots"),
        "wal": one("SELECT pg_current_wal_insert_lsn()::text"),
        "work_mem": one("SELECT setting FROM pg_settings WHERE name = 'work_mem'"),
        "rows": one("SELECT count(*) FROM invoices"),
    }
    if one("SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'"):
        state["statements_reset"] = one("SELECT stats_reset::text FROM pg_stat_statements_info")
    return state


def _statements_kept(conn: psycopg.Connection[Any]) -> set[int]:
    if not conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'").fetchone()[0]:
        return set()
    return {row[0] for row in conn.execute("SELECT queryid FROM pg_stat_statements WHERE queryid IS NOT NULL")}


def _mapping_sql(expression: str) -> str:
    # as probes.pg_data reads a mapping expression's type
    return (f"SELECT pg_typeof(e)::oid FROM (SELECT 1) one LEFT JOIN (SELECT ({expression}) AS e FROM invoices "
            "LIMIT 0) x ON true")


def _places(reader: PgReader, text: str, expression: bool) -> list[tuple[str, str | None, ProbeError | None]]:
    """(place, load-time refusal, the server-side refusal or error) of `text` in each place it can go."""
    seen: list[tuple[str, str | None, ProbeError | None]] = []
    statement = f"SELECT ({text}) AS v" if expression else text
    hot = f"SELECT * FROM invoices WHERE ({text}) IS NOT NULL" if expression else text
    problem = hot_query_problem(statement)
    error = None
    if problem is None:
        error = reader.query(bounded_sql(statement, 5), max_rows=6, user_sql=(statement,)).error
    seen.append(("sql check", problem, error))
    problem = hot_query_problem(hot)
    error = None
    if problem is None:
        error = hot_query_plans(reader, [HotQuery(name="q", sql=hot)]).plans[0].error
    seen.append(("hot query", problem, error))
    if expression:
        holds = f"({text}) IS NOT NULL"
        problem = expression_problem(holds)
        error = None
        if problem is None:
            seen_invariants = invariants(reader, [Invariant(name="i", table="invoices", holds=holds)])
            error = seen_invariants.error or seen_invariants.invariants[0].error
        seen.append(("invariant", problem, error))
        problem = expression_problem(text)
        error = None
        if problem is None:
            error = reader.query(_mapping_sql(text), user_sql=(text,)).error
        seen.append(("mapping", problem, error))
    return seen


def test_hostile_sql_in_every_place_on_both_roles_leaves_the_server_as_it_found_it(server: PostgresServer) -> None:
    for path in FILES:
        assert not path.exists(), path
    observer = _superuser(server)
    listener = _superuser(server)
    listener.execute(f"LISTEN {CHANNEL}")
    try:
        before, kept = _state(observer), _statements_kept(observer)
        log_before = len(server.logfile.read_text(errors="replace"))
        readers = [PgReader(server.dsn(READER, PASSWORD, "booking"), 5), PgReader(server.dsn(dbname="booking"), 5)]
        let_through: list[str] = []
        try:
            for reader in readers:
                for text, expression in [(e, True) for e in EXPRESSIONS] + [(s, False) for s in STATEMENTS]:
                    for place, problem, error in _places(reader, text, expression):
                        if problem is None and error is None:
                            let_through.append(f"{reader.address}: {place}: {text}")
                for text in HARMLESS:
                    result = reader.query(text, user_sql=(text,))
                    assert result.error is None or "superuser" in result.error.detail, result
        finally:
            for reader in readers:
                reader.close()
        assert let_through == []
        after = _state(observer)
        assert after == before
        assert kept <= _statements_kept(observer)  # no statistic of pg_stat_statements was reset
        assert list(listener.notifies(timeout=1.0)) == []
        sessions = observer.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE (usename = %s OR application_name = 'healthsuite' "
            "OR query ILIKE '%%pg_sleep%%') AND pid <> pg_backend_pid()", (READER,)).fetchone()
        assert sessions == (0,)
    finally:
        listener.close()
        observer.close()
    for path in FILES:
        assert not path.exists(), path
    log = server.logfile.read_text(errors="replace")[log_before:]
    assert "hs_noisy ran" not in log
    for text in EXPRESSIONS + STATEMENTS:
        assert text not in log, text


def test_the_observations_can_fail_the_effects_are_real(server: PostgresServer) -> None:
    """The measures above see what they look for: a superuser session that acts changes each of them."""
    observer = _superuser(server)
    listener = _superuser(server)
    listener.execute(f"LISTEN {CHANNEL}")
    try:
        before = _state(observer)
        log_before = len(server.logfile.read_text(errors="replace"))
        with _superuser(server) as actor:
            actor.execute("SELECT pg_try_advisory_lock(7401), txid_current(), pg_notify(%s, 'real'), hs_noisy(1)",
                          (CHANNEL,))
            during = _state(observer)
        assert during["advisory"] == before["advisory"] + 2 and during["xmax"] != before["xmax"]
        assert sorted(n.payload for n in listener.notifies(timeout=2.0, stop_after=2)) == ["noisy", "real"]
        assert "hs_noisy ran" in server.logfile.read_text(errors="replace")[log_before:]
    finally:
        listener.close()
        observer.close()


def test_pg_stat_statements_is_watched(server: PostgresServer) -> None:
    """The proof above compares pg_stat_statements before and after only when the extension is loaded."""
    if not (find_pg_bindir().parent / "lib" / "pg_stat_statements.so").exists():
        pytest.skip("pg_stat_statements is not installed (no pg_stat_statements.so beside the server's binaries): "
                    "its statistics are not compared")
    observer = _superuser(server)
    try:
        assert "statements_reset" in _state(observer) and _statements_kept(observer)
    finally:
        observer.close()


def test_an_implicit_cast_between_postgresqls_own_types_that_calls_a_function_of_the_database_is_refused(
    server: PostgresServer,
) -> None:
    """Such a cast may apply wherever a value of its source type meets its target: every statement is refused
    until it is gone or the file allows its function."""
    server.psql("CREATE FUNCTION hs_point_text(point) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT 'p'$$;\n"
                "CREATE CAST (point AS text) WITH FUNCTION hs_point_text(point) AS IMPLICIT;\n", dbname="booking")
    reader = _least(server)
    try:
        plain = "SELECT count(*) FROM invoices"
        result = reader.query(plain, user_sql=(plain,))
        assert result.error is not None, result
        assert "hs_point_text() through the implicit cast from point to text" in result.error.detail, result
        allowed = reader.query(plain + " AS n", user_sql=(plain + " AS n",), allowed=("hs_point_text",))
        assert allowed.error is None and allowed.scalar() == 20, allowed
    finally:
        reader.close()
        server.psql("DROP CAST (point AS text);\nDROP FUNCTION hs_point_text(point);\n", dbname="booking")


# --- what the server runs without the SQL naming it ---------------------------------------------------


def _least(server: PostgresServer) -> PgReader:
    return PgReader(server.dsn(READER, PASSWORD, "booking"), 5)


VETTED = {
    "SELECT 1::hs_box": "hs_box_of() through type hs_box",
    "SELECT CAST(2 AS hs_box) AS b": "hs_box_of() through type hs_box",
    "SELECT length(b) FROM hs_boxes": "through table public.hs_boxes",  # its column's type's casts
    "SELECT '5'::hs_t AS t": "hs_t_in() through type hs_t",
    "SELECT 3::hs_pos": "hs_noisy() through type hs_pos",
    "SELECT count(*) FROM hs_secret": "hs_noisy() through table public.hs_secret",
    "SELECT 2 === 2": "operator public.=== (hs_eq)",
    "SELECT hs_sum(id) FROM invoices": "hs_sum() (function of schema public",
}


def test_casts_types_domains_policies_and_operators_that_run_a_function_of_the_database_are_refused(
    server: PostgresServer,
) -> None:
    log_before = len(server.logfile.read_text(errors="replace"))
    reader = _least(server)
    try:
        for statement, words in VETTED.items():
            assert hot_query_problem(statement) is None, statement
            result = reader.query(statement, user_sql=(statement,))
            assert result.error is not None and words in result.error.detail, (statement, result)
            assert "allow_sql" in result.error.detail, result.error.detail
        # a view the file allows is no hole: the functions its rules call are vetted all the same
        view = "SELECT n FROM hs_view"
        result = reader.query(view, user_sql=(view,), allowed=("hs_view",))
        assert result.error is not None and "hs_noisy() through view public.hs_view" in result.error.detail, result
        locking = "SELECT n FROM hs_lock_view"
        result = reader.query(locking, user_sql=(locking,), allowed=("hs_lock_view",))
        assert result.error is not None and "pg_try_advisory_lock() through view" in result.error.detail, result
        assert "VOLATILE" in result.error.detail
        # an invariant's table is the statement's: its policy is vetted though the expression names no table
        state = invariants(reader, [Invariant(name="i", table="hs_secret", holds="id > 0")]).invariants[0]
        assert state.error is not None and "hs_noisy() through table public.hs_secret" in state.error.detail, state
        # the file may allow the function by name; what only reads runs
        calm = "SELECT count(*) FROM hs_calm_secret"
        assert "hs_calm() through table public.hs_calm_secret" in str(reader.query(calm, user_sql=(calm,)).error)
        calm_allowed = calm + " AS n"
        result = reader.query(calm_allowed, user_sql=(calm_allowed,), allowed=("public.hs_calm",))
        assert result.error is None and result.scalar() == 1, result
        plain = "SELECT count(*), sum(total_amount)::int, min(id::text) FROM hs_calm_view"
        result = reader.query(plain, user_sql=(plain,), allowed=("hs_calm_view",))
        assert result.error is None and result.rows == ((20, 210, "1"),), result
    finally:
        reader.close()
    observer = _superuser(server)
    try:
        assert observer.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone() == (0,)
    finally:
        observer.close()
    log = server.logfile.read_text(errors="replace")[log_before:]
    assert "hs_noisy ran" not in log
    for statement in [*VETTED, "SELECT n FROM hs_view", "SELECT n FROM hs_lock_view"]:
        assert f"{statement}\n" not in log and f"{statement})" not in log, statement


# --- each value is bounded on the server ----------------------------------------------------------------


def test_a_value_over_the_bound_fails_cleanly_naming_it_and_is_not_sent(server: PostgresServer) -> None:
    reader = _least(server)
    try:
        big = "SELECT 1 AS n, repeat('x', 5000000) AS v"
        result = reader.query(bounded_sql(big, 5), max_rows=6, user_sql=(big,))
        assert result.error is not None and not result.rows, result
        assert f"over {MAX_VALUE_BYTES} bytes" in result.error.detail, result.error
        assert "the most one value may weigh" in result.error.detail
        # values under the bound, in a row over it, are read; the result keeps its shape and types
        wide = "SELECT 7 AS n, repeat('a', 900000) AS a, repeat('b', 900000) AS b, now() IS NOT NULL AS t"
        result = reader.query(bounded_sql(wide, 5), max_rows=6, user_sql=(wide,))
        assert result.error is None and result.columns[2:] == ("n", "a", "b", "t"), result
        assert result.rows[0][2] == 7 and len(result.rows[0][3]) == 900000 and result.rows[0][5] is True
        # the session is still usable after the refusal
        assert reader.query("SELECT 1").scalar() == 1
    finally:
        reader.close()


def test_a_declared_sql_check_with_a_value_over_the_bound_is_a_failure(tmp_path: Path, server: PostgresServer) -> None:
    from healthsuite.environment.loader import load_environment
    from healthsuite.probes import ProbeSession
    from healthsuite.probes.declared import observe

    dsn = f"postgresql://{READER}:${{PW}}@127.0.0.1:{server.port}/booking"
    path = tmp_path / "big.yaml"
    path.write_text(
        f'name: big\nkind: test\ndatabases:\n  - {{name: booking, engine: postgresql, dsn: "{dsn}"}}\n'
        "declared_checks:\n  - {name: big, diagnosis: DB1, expect: value == 'x',\n"
        "     sql: {database: booking, query: \"SELECT repeat('x', 3000000) AS v\"}}\n"
    )
    env = load_environment(path, {"PW": PASSWORD})
    probes = ProbeSession(env)
    try:
        seen = observe(probes, env.model.declared_checks[0])
    finally:
        probes.close()
    assert seen.error is not None and f"over {MAX_VALUE_BYTES} bytes" in seen.error.detail, seen
