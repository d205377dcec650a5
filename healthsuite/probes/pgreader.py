"""One read-only connection per PostgreSQL database for the whole run, shared by every check.

Every statement runs in its own read-only transaction (`BEGIN READ ONLY` in a session with
`default_transaction_read_only=on`), under the session's `statement_timeout` and `lock_timeout`, so a
check can neither write nor wait long on a lock. A transaction that answered ends in COMMIT, as any
read-only client's does (it cannot have written anything): a run leaves the database's commit ratio
(`xact_commit` / `xact_rollback` in pg_stat_database, which monitors such as check_postgres's
commitratio watch) as it found it; only a statement that failed has its transaction rolled back.
Results are cached by statement, so checks that read the same view share one read of it.

The SQL an environment file declares (`user_sql`) runs only after the server itself has said it cannot
act: the session's role is not a superuser and does not bypass row security, `standard_conforming_strings`
is on (the server reads string literals as the load-time parser did), and every function and operator the
SQL names is PostgreSQL's own (pg_catalog or an extension a superuser installed) and not VOLATILE (a short
list of volatile readers aside), every relation it reads is not a view of the database's own nor a table
the role can write, unless the file allows the name. What the server would run without the SQL naming it
is vetted the same way: the cast, input and output functions of the types it names and of the columns of
the relations the statement reads, their domains' CHECKs, their row-level-security policies, the functions
of the operators it uses (restriction and join estimators too), implicit casts between PostgreSQL's own
types, and the query of every view reached, allowed or not (its text is parsed: PostgreSQL records no
dependency on its own functions). Each value of a result weighs at most MAX_VALUE_BYTES as text: the
server stops the statement before it sends a row with a larger one.

Not guaranteed: a function that lies about its volatility (PostgreSQL's own, or one the file allows), what
an allowed function or aggregate calls (its body, its support functions), a C function of an extension a
superuser installed, triggers or rules the server runs for other sessions, and planner side effects of
PostgreSQL's own code. The session is read-only, so none of these can write a table; the role's privileges
are the last bound (docs/safety.md, Least privilege).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import deadline
from .errors import ProbeError, classify
from .postgres import PostgresObservation, address_of, connect, marked
from .postgres import ready as driver_ready

if TYPE_CHECKING:
    import psycopg

MAX_ROWS = 1000

# VOLATILE in pg_catalog, yet they only read (the clock, a random number, sizes, WAL positions, locks)
VOLATILE_READERS = frozenset({
    "random", "random_normal", "clock_timestamp", "timeofday", "gen_random_uuid",
    "pg_current_wal_lsn", "pg_current_wal_insert_lsn", "pg_current_wal_flush_lsn", "pg_last_wal_receive_lsn",
    "pg_last_wal_replay_lsn", "pg_last_xact_replay_timestamp", "pg_is_in_recovery", "pg_is_wal_replay_paused",
    "pg_get_wal_replay_pause_state", "pg_database_size", "pg_relation_size", "pg_table_size", "pg_indexes_size",
    "pg_total_relation_size", "pg_tablespace_size", "pg_blocking_pids", "pg_safe_snapshot_blocking_pids",
    "pg_lock_status", "pg_jit_available", "pg_xact_commit_timestamp", "pg_xact_status", "txid_status",
    "pg_notification_queue_usage", "pg_partition_tree", "pg_partition_ancestors", "pg_sequence_last_value",
    "pg_prepared_xact", "pg_last_committed_xact",
})
VOLATILE_READER_PREFIXES = ("pg_stat_get_",)

LEAST_PRIVILEGE = "see docs/safety.md, Least privilege: a role with CONNECT and SELECT only"

# the most one value of the file's SQL may weigh as text (1 MiB): the checks compare values, count rows and
# show a value in a message; a value that large is a document or a blob, read by mistake or on purpose to
# fill this process's memory, and the server stops the statement before it sends the row (see _value_bounded)
MAX_VALUE_BYTES = 1024 * 1024
_VALUE_OVER = "healthsuite-value-over-"

# what the server's catalogue says of each name the SQL uses, and of each function the server would run for
# it without the SQL naming it: (what, schema, name, volatile, own, writable, through what it is reached)
_CATALOGUE_SQL = """
WITH RECURSIVE fn(sch, name) AS (SELECT * FROM unnest(%s::text[], %s::text[])),
     op(sch, name) AS (SELECT * FROM unnest(%s::text[], %s::text[])),
     rel(sch, name) AS (SELECT * FROM unnest(%s::text[], %s::text[])),
     typ(sch, name) AS (SELECT * FROM unnest(%s::text[], %s::text[])),
     ctx(sch, name) AS (SELECT * FROM unnest(%s::text[], %s::text[])),
     procs AS (
       SELECT p.oid, p.proname::text AS name, n.nspname::text AS sch, p.provolatile::text AS volatility,
              (n.nspname IN ('pg_catalog', 'information_schema') OR EXISTS (
                 SELECT 1 FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                 JOIN pg_roles r ON r.oid = e.extowner
                 WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e' AND r.rolsuper
              )) AS own
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace),
     roots(cls, oid, via) AS (
       SELECT 'pg_class'::regclass, c.oid, CASE c.relkind WHEN 'v' THEN 'view ' ELSE 'table ' END
              || quote_ident(n.nspname) || '.' || quote_ident(c.relname)
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN (SELECT * FROM rel UNION SELECT * FROM ctx) r ON c.relname = r.name
          AND (n.nspname = r.sch OR (r.sch = '' AND n.nspname = ANY (current_schemas(true))))
       UNION
       SELECT 'pg_type'::regclass, t.oid, 'type ' || format_type(t.oid, NULL)
         FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN typ ON t.typname = typ.name
          AND (n.nspname = typ.sch OR (typ.sch = '' AND n.nspname = ANY (current_schemas(true))))
       UNION
       SELECT 'pg_operator'::regclass, o.oid, 'operator ' || o.oprname
         FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace JOIN op ON o.oprname = op.name
          AND (n.nspname = op.sch OR (op.sch = '' AND n.nspname = ANY (current_schemas(true))))
       UNION
       SELECT 'pg_proc'::regclass, k.castfunc, 'the implicit cast from ' || format_type(k.castsource, NULL)
              || ' to ' || format_type(k.casttarget, NULL)
         FROM pg_cast k JOIN procs p ON p.oid = k.castfunc JOIN pg_type s ON s.oid = k.castsource
        WHERE k.castcontext IN ('i', 'a') AND NOT p.own AND s.typnamespace = 'pg_catalog'::regnamespace),
     walk(cls, oid, via, depth) AS (
       SELECT cls, oid, via, 0 FROM roots
       UNION
       SELECT nx.cls, nx.oid, w.via, w.depth + 1 FROM walk w CROSS JOIN LATERAL (
         SELECT 'pg_rewrite'::regclass, r.oid FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
          WHERE w.cls = 'pg_class'::regclass AND r.ev_class = w.oid AND c.relkind = 'v'
         UNION ALL
         SELECT 'pg_policy'::regclass, p.oid FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
          WHERE w.cls = 'pg_class'::regclass AND p.polrelid = w.oid AND c.relrowsecurity
         UNION ALL
         SELECT 'pg_type'::regclass, a.atttypid FROM pg_attribute a
          WHERE w.cls = 'pg_class'::regclass AND a.attrelid = w.oid AND a.attnum > 0 AND NOT a.attisdropped
         UNION ALL
         SELECT d.refclassid, d.refobjid FROM pg_depend d
          WHERE d.classid = w.cls AND d.objid = w.oid AND w.cls IN ('pg_rewrite'::regclass, 'pg_policy'::regclass,
                'pg_type'::regclass, 'pg_constraint'::regclass)
            AND d.refclassid IN ('pg_proc'::regclass, 'pg_class'::regclass, 'pg_type'::regclass,
                'pg_operator'::regclass)
         UNION ALL
         SELECT 'pg_constraint'::regclass, k.oid FROM pg_constraint k
          WHERE w.cls = 'pg_type'::regclass AND k.contypid = w.oid
         UNION ALL
         SELECT 'pg_proc'::regclass, f FROM pg_type t,
                unnest(ARRAY[t.typinput, t.typoutput, t.typreceive, t.typsend, t.typmodin, t.typmodout]::oid[]) f
          WHERE w.cls = 'pg_type'::regclass AND t.oid = w.oid AND f <> 0
         UNION ALL
         SELECT 'pg_type'::regclass, x FROM pg_type t, unnest(ARRAY[t.typelem, t.typbasetype]) x
          WHERE w.cls = 'pg_type'::regclass AND t.oid = w.oid AND x <> 0
         UNION ALL
         SELECT 'pg_class'::regclass, t.typrelid FROM pg_type t
          WHERE w.cls = 'pg_type'::regclass AND t.oid = w.oid AND t.typrelid <> 0
         UNION ALL
         SELECT 'pg_proc'::regclass, k.castfunc FROM pg_cast k
          WHERE w.cls = 'pg_type'::regclass AND k.castfunc <> 0 AND (
                k.casttarget = w.oid AND w.depth = 0 AND (SELECT t.typnamespace = 'pg_catalog'::regnamespace
                                                          FROM pg_type t WHERE t.oid = k.castsource) OR
                k.castsource = w.oid AND (SELECT t.typnamespace = 'pg_catalog'::regnamespace FROM pg_type t
                                          WHERE t.oid = k.casttarget))
         UNION ALL
         SELECT 'pg_proc'::regclass, f FROM pg_operator o, unnest(ARRAY[o.oprcode, o.oprrest, o.oprjoin]::oid[]) f
          WHERE w.cls = 'pg_operator'::regclass AND o.oid = w.oid AND f <> 0
       ) nx(cls, oid) WHERE w.depth < 8)
SELECT * FROM (
SELECT 1 AS rank, 'function', p.sch, p.name, p.volatility, p.own, false, '' FROM procs p JOIN fn
  ON p.name = fn.name AND (p.sch = fn.sch OR (fn.sch = '' AND p.sch = ANY (current_schemas(true))))
UNION ALL
SELECT 1, 'operator', p.sch, o.oprname::text || ' (' || p.name || ')', p.volatility, p.own, false, ''
  FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace JOIN procs p ON p.oid = o.oprcode JOIN op
  ON o.oprname = op.name AND (n.nspname = op.sch OR (op.sch = '' AND n.nspname = ANY (current_schemas(true))))
UNION ALL
SELECT 1, CASE c.relkind WHEN 'v' THEN 'view' WHEN 'f' THEN 'foreign table' ELSE 'table' END, n.nspname::text,
       c.relname::text, '', n.nspname IN ('pg_catalog', 'information_schema') OR c.relkind NOT IN ('v', 'f'),
       c.relkind IN ('r', 'p') AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE'), ''
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN rel
  ON c.relname = rel.name AND (n.nspname = rel.sch OR (rel.sch = '' AND n.nspname = ANY (current_schemas(true))))
UNION ALL
SELECT DISTINCT ON (p.oid) 2, 'function', p.sch, p.name, p.volatility, p.own, false, w.via
  FROM walk w JOIN procs p ON w.cls = 'pg_proc'::regclass AND p.oid = w.oid
UNION ALL
SELECT DISTINCT ON (w.cls, w.oid) 3, 'definition', '', CASE w.cls
         WHEN 'pg_rewrite'::regclass THEN (SELECT pg_get_viewdef(r.ev_class) FROM pg_rewrite r WHERE r.oid = w.oid)
         WHEN 'pg_policy'::regclass
           THEN (SELECT pg_get_expr(p.polqual, p.polrelid) FROM pg_policy p WHERE p.oid = w.oid)
         ELSE (SELECT pg_get_expr(k.conbin, 0) FROM pg_constraint k WHERE k.oid = w.oid) END, '', true, false, w.via
  FROM walk w WHERE w.cls IN ('pg_rewrite'::regclass, 'pg_policy'::regclass, 'pg_constraint'::regclass)
) AS catalogue ORDER BY rank
"""


@dataclass(frozen=True)
class QueryResult:
    """The rows of one statement (at most `max_rows`), or the error it met."""

    label: str
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()
    truncated: bool = False  # more rows existed than were read
    elapsed_s: float = 0.0
    error: ProbeError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def scalar(self) -> Any:
        """The first column of the first row (None when there is no row)."""
        return self.rows[0][0] if self.rows else None


class PgReader:
    """Opens its connection on first use; `error` is set (and every query returns it) when it cannot."""

    def __init__(self, dsn: str, timeout_s: float, allow_sql: Collection[str] = ()) -> None:
        self.address = address_of(dsn)
        # the functions and views the file allows although the catalogue cannot vouch for them (allow_sql)
        self.allow_sql = frozenset(name.lower() for name in allow_sql)
        self.timeout_s = timeout_s
        self._dsn = dsn
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self._opened = False
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, tuple[Any, ...], int, tuple[tuple[str, str], ...]], QueryResult] = {}
        self.error: ProbeError | None = None
        self.connect_elapsed_s = 0.0
        self.connections_opened = 0  # for tests: one per run
        self._guard: ProbeError | None | bool = False  # False: not yet asked (see _guarded)
        self._vetted: dict[tuple[tuple[str, ...], frozenset[str], str], ProbeError | None] = {}

    def open(self) -> PgReader:
        with self._lock:
            self._open_locked()
        return self

    def _open_locked(self) -> None:
        if self._opened:
            return
        self._opened = True
        driver_ready()
        started = time.perf_counter()
        with deadline.exchange(self.timeout_s, f"postgres connect {self.address}") as exchange:
            try:
                self._conn = connect(self._dsn, exchange.clamp())
                self.connections_opened += 1
            except Exception as exc:  # noqa: BLE001 - every failure becomes an observation
                self.error = self._failure(exc, exchange)
        self.connect_elapsed_s = time.perf_counter() - started

    def _failure(self, exc: BaseException, exchange: deadline.Exchange) -> ProbeError:
        error = classify(exc, "postgres", self.address)
        if exchange.expired:
            return ProbeError("timeout", "postgres", self.address, f"{exchange.sentence()} ({error.detail})")
        return error

    def query(
        self,
        sql: str,
        params: Sequence[Any] = (),
        *,
        label: str = "",
        max_rows: int = MAX_ROWS,
        settings: Mapping[str, str] | None = None,
        user_sql: Sequence[str] = (),
        allowed: Collection[str] = (),
    ) -> QueryResult:
        """Run one statement in its own read-only transaction; cached by (statement, parameters, settings).

        `settings` are set first in that same transaction with `set_config(name, value, true)`, so they
        end with it (PERF5 explains under {"enable_seqscan": "off"}). `user_sql`: the pieces of the file's
        SQL that `sql` contains; the statement is not sent unless the server's catalogue says they cannot
        act (see the module's text), else its result is the error naming why. `allowed`: the names of
        functions and views the file allows all the same."""
        prelude = tuple(sorted((settings or {}).items()))
        key = (sql, tuple(params), max_rows, prelude)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            self._open_locked()
            statement = sql
            if user_sql:
                refusal = self._vet(tuple(user_sql), self.allow_sql | {name.lower() for name in allowed}, sql)
                if refusal is not None:
                    return QueryResult(label or sql.split(None, 1)[0], error=refusal)
                statement = _value_bounded(sql)
            result = self._run(statement, tuple(params), label or sql.split(None, 1)[0], max_rows, prelude)
            self._cache[key] = result
            return result

    def _run(
        self, sql: str, params: tuple[Any, ...], label: str, max_rows: int, prelude: tuple[tuple[str, str], ...] = ()
    ) -> QueryResult:
        if self.error is not None or self._conn is None:
            return QueryResult(label, error=self.error)
        conn = self._conn
        started = time.perf_counter()
        with deadline.exchange(self.timeout_s, f"postgres {label} {self.address}") as exchange:
            return self._exchange(conn, exchange, sql, params, label, max_rows, prelude, started)

    def _exchange(
        self,
        conn: psycopg.Connection[tuple[Any, ...]],
        exchange: deadline.Exchange,
        sql: str,
        params: tuple[Any, ...],
        label: str,
        max_rows: int,
        prelude: tuple[tuple[str, str], ...],
        started: float,
    ) -> QueryResult:
        """One statement within the exchange's deadline: the server's statement_timeout should end a
        slow one first; a server that does not answer at all has its socket cut at the deadline."""
        try:
            exchange.clamp()
            exchange.watch_fd(conn.pgconn.socket)
            for name, value in prelude:
                conn.execute(marked("SELECT set_config(%s, %s, true)"), (name, value))
            # prepare=True: the extended protocol, which refuses a string of several statements, so
            # nothing like "COMMIT; BEGIN READ WRITE; ..." can leave the read-only transaction
            # every statement carries the suite's leading comment (postgres.MARK): PERF4 leaves out these only
            cursor = conn.execute(marked(sql), params or None, prepare=True)
            columns = tuple(column.name for column in cursor.description or ())
            rows = cursor.fetchmany(max_rows + 1) if cursor.description else []
            # COMMIT, not ROLLBACK: the transaction is read-only, so this ends it without writing, and
            # without counting a rollback the database's monitors would read as failing clients
            conn.commit()
        except Exception as exc:  # noqa: BLE001 - an error is an observation, never a pass
            error = self._failure(exc, exchange)
            if _VALUE_OVER in str(exc):
                error = ProbeError(
                    "other", "postgres", self.address,
                    f"a value of the result is over {MAX_VALUE_BYTES} bytes as text, the most one value may weigh: "
                    "the server stopped the statement before sending it (select a part of it, e.g. left(v, 200), "
                    "or its length)",
                )
            if exchange.expired:
                self.error = error  # the connection was cut: every later statement meets that
            else:
                self._recover(conn)
            return QueryResult(label, elapsed_s=time.perf_counter() - started, error=error)
        return QueryResult(
            label,
            columns,
            tuple(tuple(row) for row in rows[:max_rows]),
            truncated=len(rows) > max_rows,
            elapsed_s=time.perf_counter() - started,
        )

    def _guarded(self) -> ProbeError | None:
        """Once per session, before the first piece of the file's SQL: the role is no superuser, and the
        server reads string literals as the load-time parser did (`standard_conforming_strings`)."""
        if self._guard is not False:
            return self._guard if isinstance(self._guard, ProbeError) else None
        if self.error is not None or self._conn is None:
            return self.error
        self._guard = None
        with deadline.exchange(self.timeout_s, f"postgres session guard {self.address}") as exchange:
            try:
                exchange.clamp()
                exchange.watch_fd(self._conn.pgconn.socket)
                self._conn.execute(marked("SET standard_conforming_strings = on"))
                row = self._conn.execute(marked(
                    "SELECT current_user::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
                )).fetchone()
                self._conn.commit()
            except Exception as exc:  # noqa: BLE001 - an error is an observation, never a pass
                self._guard = self._failure(exc, exchange)
                if exchange.expired:
                    self.error = self._guard
                else:
                    self._recover(self._conn)
                return self._guard
        if row is not None and (row[1] or row[2]):
            kind = "superuser" if row[1] else "role that bypasses row security"
            self._guard = ProbeError(
                "other", "postgres", self.address,
                f"the file's SQL is not run as {row[0]}, a {kind}: its session could do whatever the SQL asks "
                f"({LEAST_PRIVILEGE})",
            )
        return self._guard

    def _vet(self, pieces: tuple[str, ...], allowed: frozenset[str], statement: str = "") -> ProbeError | None:
        """Why the server's catalogue says `pieces` could act (the first reason found); None when not.
        `statement`, the whole statement the pieces are sent in: the server runs the functions of the
        policies, rules and column types of the relations it reads too (its own are the suite's)."""
        guard = self._guarded()
        if guard is not None:
            return guard
        key = (pieces, allowed, statement)
        if key in self._vetted:
            return self._vetted[key]
        from ..model.sqlsafety import references  # pglast only for a run that declares SQL

        names: list[set[tuple[str, str]]] = [set(), set(), set(), set(), set()]
        for piece in pieces:  # functions, operators, relations, types
            for found, into in zip(references(piece), names[:4], strict=True):
                into.update(found)
        if statement:
            names[4].update(references(statement)[2])
        error = self._vet_names(names, allowed, "", set())
        self._vetted[key] = error
        return error

    def _vet_names(self, names: list[set[tuple[str, str]]], allowed: frozenset[str], via: str, seen: set[str],
                   depth: int = 0) -> ProbeError | None:
        """The catalogue's word on `names` (functions, operators, relations, types, relations only read
        through), then on what the definitions it reaches call (a view's query, a policy's USING, a domain's
        CHECK: PostgreSQL records no dependency on its own functions, so their text is parsed)."""
        from ..model.sqlsafety import references

        args: list[list[str]] = []
        for group in names:
            ordered = sorted(group)
            args += [[schema for schema, _ in ordered], [name for _, name in ordered]]
        # jit off: the planner's estimate of the recursive walk is large, and compiling it costs seconds
        result = self._run(_CATALOGUE_SQL, tuple(args), "catalogue of the file's SQL", 10_000, (("jit", "off"),))
        if result.error is not None:
            return result.error
        definitions: dict[str, str] = {}
        for _, what, schema, name, volatility, own, writable, reached in result.rows:
            if what == "definition":
                if str(name) not in seen:
                    seen.add(str(name))
                    definitions.setdefault(str(name), via or str(reached))
                continue
            refusal = _refusal(str(what), str(schema), str(name), str(volatility), bool(own), bool(writable),
                               allowed, via or str(reached))
            if refusal is not None:
                return ProbeError("other", "postgres", self.address, refusal)
        for text, through in definitions.items():
            if depth >= 4:
                return ProbeError("other", "postgres", self.address,
                                  f"the file's SQL reaches definitions nested too deep to vet (through {through})")
            functions, operators, relations, types = references(text)
            # relations read through the definition go where their own rules and policies are walked
            inner = [set(functions), set(operators), set(), set(types), set(relations)]
            error = self._vet_names(inner, allowed, through, seen, depth + 1)
            if error is not None:
                return error
        return None

    def _recover(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        """After a failed statement: its transaction is aborted, and only a rollback ends it."""
        try:
            conn.rollback()
        except Exception:  # noqa: BLE001 - the connection is gone: report it on the next query
            self.error = ProbeError("reset", "postgres", self.address, "the connection was lost during the run")

    def observation(self) -> PostgresObservation:
        """DB1's `SELECT 1`, on the shared connection."""
        if self.error is None:
            self.open()
        if self.error is not None:
            return PostgresObservation(self.address, elapsed_s=self.connect_elapsed_s, error=self.error)
        result = self.query(
            "SELECT 1, current_setting('server_version'), pg_is_in_recovery(), "
            "current_setting('transaction_read_only')",
            label="SELECT 1",
        )
        if result.error is not None or not result.rows:
            return PostgresObservation(self.address, elapsed_s=result.elapsed_s, error=result.error)
        row = result.rows[0]
        return PostgresObservation(
            self.address,
            answered=row[0] == 1,
            server_version=str(row[1]),
            in_recovery=bool(row[2]),
            read_only=row[3] == "on",
            elapsed_s=self.connect_elapsed_s + result.elapsed_s,
        )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None


def _refusal(what: str, schema: str, name: str, volatility: str, own: bool, writable: bool,
             allowed: frozenset[str], via: str = "") -> str | None:
    """Why one catalogue entry the SQL names (or, `via` what, makes the server run) is refused; None when
    it is not."""
    bare = name.split(" (", 1)[-1].rstrip(")") if what == "operator" else name
    if bare.lower() in allowed or f"{schema}.{bare}".lower() in allowed:
        return None
    shown = f"{name}()" if what == "function" else f"{what} {schema}.{name}"
    if via:
        shown += f" through {via}, which the server runs it for"
    allow = "list it under the database's allow_sql if you know it only reads"
    if writable:
        return (f"the file's SQL reads table {schema}.{name}, which the session's role can write: the SQL is "
                f"not run by a role that can change what it reads ({LEAST_PRIVILEGE})")
    if not own:
        where = "function" if what in ("function", "operator") else what
        return (f"the file's SQL uses {shown} ({where} of schema {schema}, defined in this database, not "
                f"PostgreSQL's own): the server cannot say it only reads; {allow}")
    if volatility == "v" and bare not in VOLATILE_READERS and not bare.startswith(VOLATILE_READER_PREFIXES):
        return (f"the file's SQL calls {shown if what == 'function' else shown + ', whose function'}, which the "
                f"server marks VOLATILE (it may act beyond reading); {allow}")
    return None


def _value_bounded(sql: str) -> str:
    """`sql` (a statement whose rows are read) as the server runs it: the same columns, but the statement
    fails on the server, before the row is sent, when one of a row's values weighs over MAX_VALUE_BYTES as
    text (a row over it as a whole is looked at value by value). EXPLAIN and the like are left as they are:
    their one value is the server's own."""
    head = sql.lstrip().lstrip("(").lstrip()[:6].lower()
    if head not in ("select", "with", "values") and not head.startswith(("with ", "with\n")):
        return sql
    # ('marker' || length)::int fails with the marker in its message, only for a row that has such a value (the
    # length keeps the planner from folding the constant and failing every statement)
    return (
        f"SELECT hs_q.* FROM (\n{sql}\n) AS hs_q WHERE (CASE WHEN octet_length(hs_q.*::text) > {MAX_VALUE_BYTES} "
        f"AND EXISTS (SELECT FROM json_each_text(to_json(hs_q.*)) AS hs_e WHERE octet_length(hs_e.value) > "
        f"{MAX_VALUE_BYTES}) THEN ('{_VALUE_OVER}' || octet_length(hs_q.*::text))::int END) IS NULL"
    )
