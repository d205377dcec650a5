"""The SQL an environment file declares (PERF5 hot queries, DB11 invariants, data-mapping expressions)
is parsed by PostgreSQL's parser when the file loads and refused unless it only reads: each denied
function and construct is refused with its reason, file, line, key and fix; the accepted forms still
load; a syntax error carries the parser's message; and against a throwaway PostgreSQL the dangerous
declarations never reach the server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthsuite.environment.loader import load_environment
from healthsuite.environment.problems import EnvironmentFileError
from healthsuite.model.sqlsafety import expression_problem, hot_query_problem
from healthsuite.probes.pgreader import PgReader
from healthsuite.testing.postgres_server import PostgresServer
from tests.conftest import CHECKS

DSN = "postgresql://db/app"


def env_text(schema: str = "", data: str = "", dsn: str = DSN) -> str:
    """An environment file with one PostgreSQL database; `schema` and `data` are flow mappings."""
    text = f"name: t\nkind: test\ndatabases:\n  - name: main\n    engine: postgresql\n    dsn: '{dsn}'\n"
    if schema:
        text += f"    schema: {schema}\n"
    if data:
        text += f"    data: {data}\n"
    return text


def hot(sql: str) -> str:
    return env_text(schema="{hot_queries: [{name: q, sql: " + _quoted(sql) + "}]}")


def holds(expression: str, where: str | None = None) -> str:
    extra = f", where: {_quoted(where)}" if where is not None else ""
    return env_text(schema="{invariants: [{name: i, table: invoices, holds: " + _quoted(expression) + extra + "}]}")


def mapping(expression: str) -> str:
    return env_text(data="{api_keys: {active: " + _quoted(expression) + "}}")


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def error_of(tmp_path: Path, text: str) -> str:
    path = tmp_path / "staging.yaml"
    path.write_text(text)
    with pytest.raises(EnvironmentFileError) as info:
        load_environment(path, {})
    message = str(info.value)
    assert message.startswith(f"{path}: invalid environment file"), message
    return message


def loads(tmp_path: Path, text: str) -> None:
    path = tmp_path / "staging.yaml"
    path.write_text(text)
    load_environment(path, {})


LOCK = "takes a session-level lock that outlives the read-only transaction"
LOB = "large objects"
FILES = "reads the server's files or directories"

# each denied call and the words of its reason
DENIED = {
    "pg_try_advisory_lock(17)": LOCK,
    "pg_advisory_lock(17)": LOCK,
    "pg_advisory_lock_shared(17)": LOCK,
    "pg_try_advisory_lock_shared(1, 2)": LOCK,
    "pg_advisory_xact_lock(17)": "makes the application's own sessions wait",
    "pg_advisory_unlock_all()": "releases advisory locks",
    "lo_create(0)": LOB,
    "lo_import('/etc/passwd')": LOB,
    "lo_export(16384, '/tmp/x')": LOB,
    "lo_unlink(16384)": LOB,
    "loread(0, 10)": LOB,
    "lowrite(0, 'x')": LOB,
    "dblink('host=elsewhere', 'SELECT 1')": "opens a connection",
    "dblink_exec('host=elsewhere', 'DELETE FROM t')": "opens a connection",
    "pg_terminate_backend(1)": "ends another session",
    "pg_cancel_backend(1)": "cancels another session's query",
    "pg_reload_conf()": "reload its configuration",
    "pg_rotate_logfile()": "rotates the server's log file",
    "pg_sleep(5)": "for as long as it is told",
    "pg_sleep_for('5 minutes')": "for as long as it is told",
    "set_config('search_path', 'evil', false)": "changes a setting of the session",
    "nextval('invoices_id_seq')": "which no rollback undoes",
    "setval('invoices_id_seq', 1)": "which no rollback undoes",
    "currval('invoices_id_seq')": "sequence state",
    "txid_current()": "assigns a transaction id",
    "pg_current_xact_id()": "assigns a transaction id",
    "pg_notify('jobs', 'x')": "sends a notification",
    "pg_stat_reset()": "resets statistics",
    "pg_stat_reset_shared('bgwriter')": "resets statistics",
    "pg_switch_wal()": "write-ahead log",
    "pg_create_logical_replication_slot('s', 'pgoutput')": "replication slots",
    "pg_create_physical_replication_slot('s')": "replication slots",
    "pg_drop_replication_slot('s')": "replication slots",
    "pg_read_file('/etc/passwd')": FILES,
    "pg_read_binary_file('/etc/passwd')": FILES,
    "pg_ls_dir('.')": FILES,
    "query_to_xml('DELETE FROM invoices', true, true, '')": "runs the SQL of a string",
    # schema-qualified, any case, quoted
    "PG_CATALOG.PG_TRY_ADVISORY_LOCK(17)": LOCK,
    '"pg_catalog"."lo_create"(0)': LOB,
    "Pg_Sleep(1)": "for as long as it is told",
}


def _bare(call: str) -> str:
    return call.split("(", 1)[0].rsplit(".", 1)[-1].strip('"').lower()


@pytest.mark.parametrize("call", sorted(DENIED))
def test_each_denied_function_is_refused_in_every_kind_of_declared_sql(call: str) -> None:
    reason = f"calls {_bare(call)}(), which "
    for problem in (
        hot_query_problem(f"SELECT {call}"),
        hot_query_problem(f"SELECT * FROM invoices WHERE id = 1 AND {call} IS NOT NULL"),
        hot_query_problem(f"SELECT * FROM {call} AS f"),  # a set-returning position
        expression_problem(f"{call} IS NOT NULL"),
        expression_problem(f"EXISTS (SELECT 1 FROM tenants WHERE {call} IS NULL)"),  # deep in a subquery
    ):
        assert problem is not None and problem.startswith(reason), problem
        assert DENIED[call] in problem, problem


@pytest.mark.parametrize(
    ("text", "location", "words"),
    [
        (hot("SELECT pg_try_advisory_lock(17)"), "databases[0].schema.hot_queries[0].sql",
         "a hot query is one SELECT statement that only reads: it calls pg_try_advisory_lock(), which " + LOCK),
        (holds("pg_try_advisory_lock(17)"), "databases[0].schema.invariants[0].holds",
         "'pg_try_advisory_lock(17)' is not one read-only SQL expression: it calls pg_try_advisory_lock(), which "
         + LOCK),
        (holds("total_amount >= 0", where="lo_create(0) > 0"), "databases[0].schema.invariants[0].where",
         "it calls lo_create(), which creates, reads or removes large objects"),
        (mapping("NOT revoked AND pg_try_advisory_lock(17)"), "databases[0].data.api_keys.active",
         "it calls pg_try_advisory_lock(), which " + LOCK),
    ],
)
def test_a_denied_function_is_a_usage_error_naming_file_line_key_function_reason_and_fix(
    tmp_path: Path, text: str, location: str, words: str
) -> None:
    message = error_of(tmp_path, text)
    assert f"line 7: {location}: " in message, message
    assert words in message, message
    assert "\n    fix: write one " in message, message


HOT_CONSTRUCTS = {
    "SELECT * FROM invoices FOR UPDATE": "has a locking clause (FOR UPDATE/SHARE), which takes row locks",
    "SELECT * FROM invoices FOR NO KEY UPDATE SKIP LOCKED": "has a locking clause",
    "SELECT * FROM invoices FOR SHARE OF invoices": "has a locking clause",
    "SELECT * FROM tenants WHERE id IN (SELECT tenant_id FROM invoices FOR KEY SHARE)": "has a locking clause",
    "SELECT * INTO stolen FROM invoices": "has INTO, which creates a table",
    "WITH gone AS (DELETE FROM invoices RETURNING *) SELECT * FROM gone": "has a data-modifying WITH (DELETE in gone)",
    "WITH n AS (INSERT INTO invoices DEFAULT VALUES RETURNING id) SELECT * FROM n": "has a data-modifying WITH (INSERT",
    "WITH u AS (UPDATE invoices SET total_amount = 0 RETURNING id) SELECT 1": "has a data-modifying WITH (UPDATE",
    "DELETE FROM invoices": "is a DELETE statement, not a SELECT",
    "UPDATE invoices SET total_amount = 0": "is an UPDATE statement, not a SELECT",
    "COPY invoices TO '/tmp/x'": "is a COPY statement, not a SELECT",
    "EXPLAIN ANALYZE DELETE FROM invoices": "is an EXPLAIN statement, not a SELECT",
    "SELECT 1; DELETE FROM invoices": "is 2 statements: a hot query is one",
    "": "is empty",
}


@pytest.mark.parametrize("sql", sorted(HOT_CONSTRUCTS))
def test_hot_query_constructs_that_write_or_lock_are_refused(tmp_path: Path, sql: str) -> None:
    assert (hot_query_problem(sql) or "").startswith(HOT_CONSTRUCTS[sql])
    message = error_of(tmp_path, hot(sql))
    assert "line 7: databases[0].schema.hot_queries[0].sql: a hot query is one SELECT statement" in message
    assert HOT_CONSTRUCTS[sql] in message and "fix: write one SELECT (or WITH ... SELECT)" in message, message


EXPRESSION_CONSTRUCTS = {
    "total_amount >= 0 FOR UPDATE": "continues past the expression",
    "total_amount FROM invoices": "continues past the expression",
    "1 WHERE false": "continues past the expression",
    "total_amount AS x": "gives the expression a name (x)",
    "total_amount x": "gives the expression a name (x)",
    "a, b": "is a list",
    "*": "is `*`",
    "EXISTS (SELECT 1 FROM tenants FOR UPDATE)": "has a locking clause",
    "total_amount) OR (true": 'is not valid SQL: syntax error at or near ")" at character 13',
}


@pytest.mark.parametrize("expression", sorted(EXPRESSION_CONSTRUCTS))
def test_invariant_constructs_that_are_not_one_read_only_expression_are_refused(
    tmp_path: Path, expression: str
) -> None:
    message = error_of(tmp_path, holds(expression))
    assert "line 7: databases[0].schema.invariants[0].holds: " in message
    assert EXPRESSION_CONSTRUCTS[expression] in message, message
    assert "fix: write one boolean expression over the table's columns that only reads" in message


ACCEPTED_HOT = [
    "SELECT * FROM appointments WHERE tenant_id = 1",
    "select a.id, t.name from appointments a join tenants t on t.id = a.tenant_id where a.starts_at > now() limit 10",
    "WITH recent AS (SELECT * FROM appointments WHERE starts_at > now() - interval '1 day') SELECT count(*) FROM recent",
    "SELECT id FROM tenants UNION ALL SELECT tenant_id FROM appointments",
    "VALUES (1), (2)",
    "(SELECT 1)",
    "SELECT * FROM tenants WHERE id = 'a';",
    "SELECT lower(name), coalesce(currency, 'ZAR') FROM tenants ORDER BY 1",
    "SELECT * FROM tenants WHERE name LIKE 'a%'",
]
ACCEPTED_EXPRESSIONS = [
    "total_amount >= 0",
    "total_amount = subtotal + tax_amount",
    "status IN ('paid', 'void')",
    "coalesce(paid_at, created_at) <= now()",
    "EXISTS (SELECT 1 FROM tenants t WHERE t.id = tenant_id)",
    "extract(epoch FROM paid_at - created_at) < 86400",
    "CASE WHEN void THEN total_amount = 0 ELSE true END",
    "total_amount::numeric(12, 2) = total_amount",
    "\"order\" > 0",
]
ACCEPTED_MAPPINGS = [
    "NOT revoked",
    "coalesce(last_used_at, created_at)",
    "lower(state) = 'active'",
    "cast(flag AS int) = 1",
    "CASE WHEN revoked THEN false ELSE true END",
    "to_timestamp(used_epoch)",
    "extract(epoch FROM last_used_at) > 0",
]


@pytest.mark.parametrize("sql", ACCEPTED_HOT)
def test_read_only_hot_queries_still_load(tmp_path: Path, sql: str) -> None:
    loads(tmp_path, hot(sql))


@pytest.mark.parametrize("expression", ACCEPTED_EXPRESSIONS)
def test_read_only_invariants_still_load(tmp_path: Path, expression: str) -> None:
    loads(tmp_path, holds(expression, where="NOT void"))


@pytest.mark.parametrize("expression", ACCEPTED_MAPPINGS)
def test_read_only_mapping_expressions_still_load(tmp_path: Path, expression: str) -> None:
    loads(tmp_path, mapping(expression))


def test_a_syntax_error_is_reported_with_the_parsers_message_and_position(tmp_path: Path) -> None:
    message = error_of(tmp_path, hot("SELECT * FROM WHERE id = 1"))
    assert ("line 7: databases[0].schema.hot_queries[0].sql: a hot query is one SELECT statement that only "
            'reads: it is not valid SQL: syntax error at or near "WHERE" at character 15 (PostgreSQL\'s parser)'
            ) in message, message
    message = error_of(tmp_path, holds("total_amount >="))
    assert "is not valid SQL: syntax error at end of input (PostgreSQL's parser)" in message, message
    # the position is the expression's own, not that of the statement it is parsed in
    message = error_of(tmp_path, mapping("coalesce(last_used_at created_at)"))
    assert ("line 7: databases[0].data.api_keys.active: 'coalesce(last_used_at created_at)' is neither a column "
            'name nor one SQL expression: it is not valid SQL: syntax error at or near "created_at" at character 23'
            ) in message, message
    assert "fix: write one read-only SQL expression" in message


def test_all_refusals_of_a_file_are_reported_at_once(tmp_path: Path) -> None:
    text = env_text(
        schema="{invariants: [{name: i, table: invoices, holds: 'pg_advisory_lock(1)'}], "
        "hot_queries: [{name: q, sql: 'SELECT lo_create(0)'}]}",
        data="{api_keys: {active: 'pg_sleep(9) IS NULL'}}",
    )
    message = error_of(tmp_path, text)
    assert "(3 problems)" in message
    assert "pg_advisory_lock()" in message and "lo_create()" in message and "pg_sleep()" in message


# --- the proof: a real server never sees them ----------------------------------------------------------


@pytest.fixture(scope="module")
def logged_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL that logs every connection and every statement."""
    settings = {"log_connections": "on", "log_statement": "all"}
    with PostgresServer(tmp_path_factory.mktemp("sqlsafety"), settings=settings) as server:
        server.create_database("booking")
        server.psql("CREATE TABLE invoices (id int PRIMARY KEY, total_amount numeric)", dbname="booking")
        yield server


def test_the_danger_is_real_a_rolled_back_read_only_transaction_keeps_an_advisory_lock(
    logged_server: PostgresServer,
) -> None:
    held = logged_server.psql(
        "BEGIN READ ONLY;\nSELECT pg_try_advisory_lock(17);\nROLLBACK;\n"
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid();\n",
        dbname="booking",
    )
    assert held.split() == ["t", "1"], held


def test_dangerous_declarations_are_refused_before_any_connection(
    pytester: pytest.Pytester, logged_server: PostgresServer
) -> None:
    dsn = logged_server.dsn(dbname="booking")
    path = pytester.path / "dangerous.yaml"
    path.write_text(env_text(
        dsn=dsn,
        schema="{invariants: [{name: lock, table: invoices, holds: 'pg_try_advisory_lock(17)'}], "
        "hot_queries: [{name: lob, sql: 'SELECT lo_create(0)'}]}",
        data="{api_keys: {active: 'NOT pg_try_advisory_lock(18)'}}",
    ))
    before = logged_server.logfile.read_text(errors="replace")
    result = pytester.runpytest_subprocess(str(CHECKS), "--env", str(path), "-n", "2", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    errors = result.stderr.str()
    assert f"ERROR: {path}: invalid environment file (3 problems)" in errors, errors
    assert "line 7: databases[0].schema.invariants[0].holds: 'pg_try_advisory_lock(17)'" in errors, errors
    assert "line 7: databases[0].schema.hot_queries[0].sql: a hot query is one SELECT" in errors, errors
    assert "calls lo_create()" in errors and "line 8: databases[0].data.api_keys.active" in errors, errors
    after = logged_server.logfile.read_text(errors="replace")[len(before):]
    assert "connection received" not in after and "advisory" not in after and "lo_create" not in after, after
    # nothing is held or created, and the log does record what reaches the server (the check above can fail)
    state = logged_server.psql(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory';\nSELECT count(*) FROM pg_largeobject_metadata;\n",
        dbname="booking",
    )
    assert state.split() == ["0", "0"], state
    assert "connection received" in logged_server.logfile.read_text(errors="replace")[len(before):]


# --- the server decides: catalogue, role, session settings, bounds (issue 25) ----------------------------

READER_ROLE = "hs_select_only"
READER_PASSWORD = "select-only-pw"


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL logging every statement, whose database reads backslashes in literals as
    escapes (standard_conforming_strings=off), with a role that has only CONNECT and SELECT, and functions
    and a view of the database's own that take an advisory lock."""
    settings = {"log_statement": "all"}
    with PostgresServer(tmp_path_factory.mktemp("catalogue"), settings=settings) as server:
        server.create_database("booking")
        server.create_role(READER_ROLE, READER_PASSWORD)
        server.psql(
            "CREATE TABLE invoices (id int PRIMARY KEY, total_amount numeric);\n"
            "INSERT INTO invoices SELECT g, g FROM generate_series(1, 20) g;\n"
            "CREATE INDEX invoices_brin ON invoices USING brin (id);\n"
            "CREATE FUNCTION grab() RETURNS bool LANGUAGE sql VOLATILE AS 'SELECT pg_try_advisory_lock(4301)';\n"
            "CREATE FUNCTION fold(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS "
            "'BEGIN PERFORM pg_try_advisory_lock(4302); RETURN $1; END';\n"
            "CREATE FUNCTION calm(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 + 1';\n"
            "CREATE VIEW grabbing AS SELECT grab() AS g;\n"
            f"GRANT CONNECT ON DATABASE booking TO {READER_ROLE};\n"
            f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER_ROLE};\n"
            "ALTER DATABASE booking SET standard_conforming_strings = off;\n",
            dbname="booking",
        )
        yield server


def _reader(server: PostgresServer, superuser: bool = False) -> PgReader:
    if superuser:
        return PgReader(server.dsn(dbname="booking"), 5)
    return PgReader(server.dsn(READER_ROLE, READER_PASSWORD, "booking"), 5)


def _left_behind(server: PostgresServer) -> list[str]:
    """Advisory locks held, and sessions of the select-only role still there."""
    return server.psql(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory';\n"
        f"SELECT count(*) FROM pg_stat_activity WHERE usename = '{READER_ROLE}';\n",
        dbname="booking",
    ).split()


# each statement that would act, run by the select-only role, and the words of its refusal
ACTING = {
    "SELECT * FROM ts_stat('SELECT to_tsvector((pg_advisory_lock(4242))::text)')": "ts_stat(), which the server "
    "marks VOLATILE",
    "SELECT pg_notify('jobs', 'x')": "pg_notify(), which the server marks VOLATILE",
    "SELECT set_config('statement_timeout', '0', false), pg_sleep(40)": "marks VOLATILE",
    "SELECT brin_summarize_new_values('invoices_brin')": "brin_summarize_new_values(), which the server marks",
    "SELECT gin_clean_pending_list('invoices_brin')": "gin_clean_pending_list(), which the server marks",
    "SELECT * FROM pg_hba_file_rules()": "pg_hba_file_rules(), which the server marks VOLATILE",
    "SELECT grab()": "grab() (function of schema public, defined in this database",
    "SELECT * FROM invoices WHERE fold(id) > 0": "fold() (function of schema public",
    "SELECT * FROM grabbing": "view public.grabbing (view of schema public",
}


def test_statements_that_would_act_are_refused_by_the_servers_catalogue_and_never_run(
    guarded_server: PostgresServer,
) -> None:
    reader = _reader(guarded_server)
    try:
        for statement, words in ACTING.items():
            result = reader.query(statement, user_sql=(statement,))
            assert result.error is not None and words in result.error.detail, (statement, result)
            assert "allow_sql" in result.error.detail
        # what only reads still runs: PostgreSQL's own functions, stable or volatile readers
        fine = "SELECT count(*), max(id + 1), random() < 2, now() > clock_timestamp() - interval '1 h' FROM invoices"
        result = reader.query(fine, user_sql=(fine,))
        assert result.error is None and result.rows == ((20, 21, True, True),), result
        # a function of the database's own, even immutable, only when the file allows it
        calm = "SELECT calm(1) + 0"
        assert "calm() (function of schema public" in str(reader.query(calm, user_sql=(calm,)).error)
        # the file may allow a name all the same
        allowed = reader.query(calm + " + 0", user_sql=(calm + " + 0",), allowed=("calm",))
        assert allowed.error is None and allowed.scalar() == 2, allowed
    finally:
        reader.close()
    assert _left_behind(guarded_server) == ["0", "0"]
    log = guarded_server.logfile.read_text(errors="replace")
    for statement in ACTING:
        assert f"statement: /* healthsuite */ {statement}" not in log and f"{statement}\n" not in log.replace(
            "execute", ""), statement


def test_a_literal_that_hides_a_call_when_backslashes_escape_stays_a_literal(guarded_server: PostgresServer) -> None:
    statement = "SELECT 'x\\' AS a, ' AS b, pg_advisory_lock(4250) AS c --' AS d"
    assert hot_query_problem(statement) is None  # one string literal to the load-time parser
    reader = _reader(guarded_server)
    try:
        result = reader.query(statement, user_sql=(statement,))
        # two literals, as the load-time parser read them: `x\` AS a and `' AS b, ... --` AS d
        assert result.error is None and result.columns == ("a", "d"), result
        assert result.rows == (("x\\", " AS b, pg_advisory_lock(4250) AS c --"),), result
    finally:
        reader.close()
    assert _left_behind(guarded_server) == ["0", "0"]


def test_an_immutable_function_of_the_database_in_a_hot_query_is_not_folded_at_explain(
    guarded_server: PostgresServer,
) -> None:
    from healthsuite.model.schema import HotQuery
    from healthsuite.probes.pg_schema import hot_query_plans

    reader = _reader(guarded_server)
    try:
        hot = HotQuery(name="q", sql="SELECT * FROM invoices WHERE id = fold(3)")
        plans = hot_query_plans(reader, [hot])
        assert plans.plans[0].error is not None and "fold()" in plans.plans[0].error.detail, plans
    finally:
        reader.close()
    assert _left_behind(guarded_server) == ["0", "0"]
    assert "EXPLAIN (FORMAT JSON, VERBOSE) SELECT * FROM invoices WHERE id = fold(3)" not in (
        guarded_server.logfile.read_text(errors="replace"))


def test_the_files_sql_is_not_run_by_a_superuser(guarded_server: PostgresServer) -> None:
    reader = _reader(guarded_server, superuser=True)
    try:
        result = reader.query("SELECT count(*) FROM invoices", user_sql=("SELECT count(*) FROM invoices",))
        assert result.error is not None, result
        assert "is not run as postgres, a superuser" in result.error.detail
        assert "docs/safety.md, Least privilege" in result.error.detail
        # the suite's own statements still run
        assert reader.query("SELECT 1").scalar() == 1
    finally:
        reader.close()


def test_a_declared_result_of_three_million_rows_is_bounded_on_the_server(guarded_server: PostgresServer) -> None:
    """Measured in a child process of its own (its peak is its own, not what earlier tests left in this one)."""
    code = f"""
import json
from pathlib import Path
from healthsuite.probes.declared import bounded_sql
from healthsuite.probes.pgreader import PgReader

reader = PgReader({guarded_server.dsn(READER_ROLE, READER_PASSWORD, "booking")!r}, 5)
huge = "SELECT g, repeat('x', 1000) AS pad FROM generate_series(1, 3000000) g ORDER BY g"
try:
    result = reader.query(bounded_sql(huge, 5), user_sql=(huge,), max_rows=6)
    one = "SELECT repeat('x', 20000000) AS big"
    over = reader.query(bounded_sql(one, 5), user_sql=(one,), max_rows=6)
    empty = "SELECT 1 WHERE false"
    nothing = reader.query(bounded_sql(empty, 5), user_sql=(empty,), max_rows=6)
finally:
    reader.close()
status = Path("/proc/self/status").read_text()
peak_kb = int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])
print(json.dumps({{"error": str(result.error) if result.error else None, "columns": list(result.columns),
                  "firsts": [row[2] for row in result.rows], "over": [over.rows[0][0], over.rows[0][2]],
                  "empty": nothing.rows[0][1], "peak_kb": peak_kb}}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["error"] is None and seen["columns"][2:] == ["g", "pad"], seen
    assert seen["firsts"] == [1, 2, 3, 4, 5, 6], seen
    assert seen["over"] == [True, None] and seen["empty"] is None, seen  # a value over the bound is not sent
    assert seen["peak_kb"] < 500 * 1024, seen


def test_an_80_kb_query_is_a_located_usage_error_not_a_parser_crash(tmp_path: Path) -> None:
    long_sql = "SELECT 1" + "+1" * 40_000
    assert (hot_query_problem(long_sql) or "").startswith("is 80008 characters long, longer than the 16384")
    message = error_of(tmp_path, hot(long_sql))
    assert "line 7: databases[0].schema.hot_queries[0].sql: " in message and "80008 characters" in message
    message = error_of(tmp_path, holds("total_amount > 0" + " AND true" * 60_000))
    assert "line 7: databases[0].schema.invariants[0].holds: " in message and "characters long" in message


def test_an_endless_recursive_sqlite_query_stops_at_its_timeout(tmp_path: Path) -> None:
    import sqlite3
    import time

    from healthsuite.probes.declared import sqlite_rows

    path = tmp_path / "app.db"
    sqlite3.connect(path).close()
    started = time.monotonic()
    result = sqlite_rows(path, 1.0, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                         "SELECT count(*) FROM c", 10)
    assert result.error is not None and result.error.kind == "timeout", result
    assert "stopped after 1 s" in result.error.detail
    assert time.monotonic() - started < 30


def test_a_database_allows_its_own_functions_by_name_in_the_file(guarded_server: PostgresServer,
                                                                 tmp_path: Path) -> None:
    """`allow_sql` of a database reaches its session: the named function of the database's own runs, every
    other one is still refused."""
    from healthsuite.probes import ProbeSession  # noqa: PLC0415

    dsn = f"postgresql://{READER_ROLE}:${{READER_PASSWORD}}@127.0.0.1:{guarded_server.port}/booking"
    for allow, runs in (("", False), ("allow_sql: [public.calm]", True)):
        path = tmp_path / f"allow-{runs}.yaml"
        path.write_text(f'name: allow\nkind: test\ndatabases:\n  - name: booking\n    engine: postgresql\n'
                        f'    dsn: "{dsn}"\n    {allow}\n')
        env = load_environment(path, {"READER_PASSWORD": READER_PASSWORD})
        probes = ProbeSession(env)
        try:
            reader = probes.postgres(env.model.databases[0])  # type: ignore[arg-type]
            calm, grab = "SELECT calm(1)", "SELECT grab()"
            assert (reader.query(calm, user_sql=(calm,)).error is None) is runs
            assert "grab()" in str(reader.query(grab, user_sql=(grab,)).error)
        finally:
            probes.close()
    assert _left_behind(guarded_server) == ["0", "0"]
