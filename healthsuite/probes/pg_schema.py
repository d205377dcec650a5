"""PostgreSQL schema, integrity and plans: what DB9-DB13 and PERF4-PERF6 read through the run's
read-only `PgReader`.

Names from the environment file are quoted with `psycopg.sql.Identifier` (`schema.table` split on
'.') and resolved by the server with `to_regclass(quote_ident(...))`, so they mean exactly what the
file says; values travel as parameters. Row listings are LIMITed (counts plus a few examples).
Invariant expressions and hot queries are the file's own SQL (trusted, like its DSN); they run only
inside the reader's read-only transaction under its statement timeout, and hot queries are only
EXPLAINed, never run.

Each function returns a frozen observation whose `error` is set only when nothing could be read
(no connection, or the first catalog query refused); a problem with one declared item (a missing
table, a refused SELECT, an invalid expression) is recorded on that item, so the others are still
judged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..model.data import DataMapping, Dataset
from ..model.schema import ForeignKeyIndexes, HotQuery, Invariant, Migrations, Relation, SchemaDeclaration
from .errors import ProbeError
from .lazy import lazy
from .pgreader import PgReader, QueryResult
from .postgres import MARK

if TYPE_CHECKING:
    from psycopg import sql
else:
    sql = lazy("psycopg.sql")

EXAMPLES = 5  # offending rows listed per relation / invariant / statement
_REGCLASS = "to_regclass(coalesce(quote_ident({nsp}) || '.', '') || quote_ident({rel}))"
TABLE_KINDS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view", "f": "foreign table"}
HIDDEN_QUERY = "<insufficient privilege>"


# --- names -------------------------------------------------------------------------------------------


def split_table(name: str) -> tuple[str | None, str]:
    """`billing.invoices` -> ("billing", "invoices"); `invoices` -> (None, "invoices")."""
    schema, _, table = name.rpartition(".")
    return schema or None, table


def split_column(reference: str) -> tuple[str, str]:
    """`[schema.]table.column` -> ("[schema.]table", "column")."""
    table, _, column = reference.rpartition(".")
    return table, column


def declared_tables(declaration: SchemaDeclaration, data: DataMapping | None = None) -> list[str]:
    """Every table the schema declaration names (tables, large tables, relations, invariants), and the
    tables of the data mapping's datasets when given."""
    names = [*declaration.tables, *declaration.large_tables, *(i.table for i in declaration.invariants)]
    names += [split_column(ref)[0] for r in declaration.relations for ref in (r.child, r.parent)]
    if data is not None:
        names += [dataset.table for dataset in dict(data).values() if isinstance(dataset, Dataset)]
    return list(dict.fromkeys(names))


def table_identifier(name: str) -> sql.Identifier:
    return sql.Identifier(*name.split("."))


def _text(query: sql.Composable) -> str:
    return query.as_string()


def _regclass(nsp: str, rel: str) -> str:
    return _REGCLASS.format(nsp=nsp, rel=rel)


def _rows(fields: Sequence[str]) -> str:
    """A derived table `d` (fields..., ord) of the rows passed as one JSON parameter: hashable for the
    reader's cache, unlike a list, and one statement whatever the number of declared items."""
    columns = ", ".join(f"j.e->>'{name}' AS {name}" for name in fields)
    return f"(SELECT {columns}, j.ord FROM json_array_elements(%s::json) WITH ORDINALITY AS j(e, ord)) AS d"


def _json(rows: Iterable[dict[str, str | None]]) -> str:
    return json.dumps(list(rows))


def monitor_role(reader: PgReader) -> QueryResult:
    """`current_user`: the role the checks run as, for the GRANT a failure names."""
    return reader.query("SELECT current_user::text", label="current_user")


def _start(reader: PgReader) -> tuple[str, ProbeError | None]:
    result = monitor_role(reader)
    return (str(result.scalar() or ""), result.error)


def primary_key(reader: PgReader, table: str) -> tuple[str, ...]:
    """The table's primary-key columns, in key order; () when it has none (examples then show ctid)."""
    nsp, rel = split_table(table)
    result = reader.query(
        "SELECT a.attname::text FROM pg_index i "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
        f"WHERE i.indrelid = {_regclass('%s', '%s')} AND i.indisprimary "
        "ORDER BY array_position(i.indkey::int2[], a.attnum)",
        (nsp, rel),
        label="primary key",
    )
    return tuple(str(row[0]) for row in result.rows)


def _key_expressions(keys: Sequence[str], alias: str) -> sql.Composable:
    if not keys:
        return sql.SQL("{}.ctid::text").format(sql.Identifier(alias))
    return sql.SQL(", ").join(
        sql.SQL("{}.{}::text").format(sql.Identifier(alias), sql.Identifier(key)) for key in keys
    )


def _describe_key(keys: Sequence[str], values: Sequence[Any]) -> str:
    names = keys or ("ctid",)
    return ", ".join(f"{name}={value}" for name, value in zip(names, values, strict=False))


# --- DB9: tables ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableState:
    name: str  # as declared
    exists: bool
    kind: str = ""  # table, view, ... ("index" / "sequence" when the name is not a table)
    readable: bool | None = None  # the role's SELECT privilege (None when it does not exist)
    similar: tuple[str, ...] = ()  # schema.name of relations whose name contains it (a rename?)


@dataclass(frozen=True)
class TablesObservation:
    role: str = ""
    tables: tuple[TableState, ...] = ()
    error: ProbeError | None = None


def tables(reader: PgReader, names: Sequence[str]) -> TablesObservation:
    """Which declared tables exist (pg_class, which every role may read) and which the role may SELECT."""
    role, error = _start(reader)
    if error is not None:
        return TablesObservation(role, error=error)
    parts = [split_table(name) for name in names]
    result = reader.query(
        "SELECT d.name, c.oid IS NOT NULL, c.relkind::text, "
        "CASE WHEN c.oid IS NULL THEN NULL ELSE has_table_privilege(c.oid, 'SELECT') END, "
        "ARRAY(SELECT s.nspname || '.' || o.relname FROM pg_class o JOIN pg_namespace s ON s.oid = o.relnamespace "
        "      WHERE c.oid IS NULL AND o.relkind IN ('r', 'p', 'v', 'm', 'f') "
        "        AND s.nspname NOT IN ('pg_catalog', 'information_schema') "
        "        AND strpos(lower(o.relname), lower(d.rel)) > 0 ORDER BY 1 LIMIT 3) "
        f"FROM {_rows(('name', 'nsp', 'rel'))} "
        f"LEFT JOIN pg_class c ON c.oid = {_regclass('d.nsp', 'd.rel')} ORDER BY d.ord",
        (_json({"name": name, "nsp": nsp, "rel": rel} for name, (nsp, rel) in zip(names, parts, strict=True)),),
        label="declared tables",
    )
    if result.error is not None:
        return TablesObservation(role, error=result.error)
    states = []
    for name, found, relkind, readable, similar in result.rows:
        kind = TABLE_KINDS.get(relkind or "", {"i": "index", "I": "index", "S": "sequence"}.get(relkind or "", ""))
        exists = bool(found) and (relkind in TABLE_KINDS)
        states.append(TableState(name, exists, kind, readable if exists else None, tuple(similar or ())))
    return TablesObservation(role, tuple(states))


# --- DB10: orphans ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Orphans:
    relation: Relation
    count: int = 0
    key_columns: tuple[str, ...] = ()  # the child's primary key (or ctid)
    examples: tuple[str, ...] = ()  # "id=apt-9, tenant_id=ghost"
    error: ProbeError | None = None


@dataclass(frozen=True)
class OrphansObservation:
    role: str = ""
    relations: tuple[Orphans, ...] = ()
    error: ProbeError | None = None


def _orphan_query(relation: Relation, select: sql.Composable, limit: int | None) -> str:
    child_table, child_column = split_column(relation.child)
    parent_table, parent_column = split_column(relation.parent)
    query = sql.SQL(
        "SELECT {select} FROM {child} AS c LEFT JOIN {parent} AS p ON p.{pcol} = c.{ccol} "
        "WHERE p.{pcol} IS NULL AND c.{ccol} IS NOT NULL"
    ).format(
        select=select,
        child=table_identifier(child_table),
        parent=table_identifier(parent_table),
        pcol=sql.Identifier(parent_column),
        ccol=sql.Identifier(child_column),
    )
    if limit is not None:
        query = sql.SQL("{} LIMIT {}").format(query, sql.Literal(limit))
    return _text(query)


def orphans(reader: PgReader, relations: Iterable[Relation]) -> OrphansObservation:
    """For each child -> parent relation, the child rows whose non-NULL reference has no parent row
    (an anti-join, so it works whether or not the FOREIGN KEY exists): their count and a few keys."""
    role, error = _start(reader)
    if error is not None:
        return OrphansObservation(role, error=error)
    found = []
    for relation in relations:
        child_table, child_column = split_column(relation.child)
        label = f"orphans {relation.child} -> {relation.parent}"
        counted = reader.query(_orphan_query(relation, sql.SQL("count(*)"), None), label=label)
        if counted.error is not None:
            found.append(Orphans(relation, error=counted.error))
            continue
        count = int(counted.scalar() or 0)
        keys = primary_key(reader, child_table)
        examples: tuple[str, ...] = ()
        if count:
            select = sql.SQL("{}, c.{}::text").format(_key_expressions(keys, "c"), sql.Identifier(child_column))
            listed = reader.query(_orphan_query(relation, select, EXAMPLES), label=label, max_rows=EXAMPLES)
            examples = tuple(
                f"{_describe_key(keys, row[:-1])}, {child_column}={row[-1]!r}" for row in listed.rows
            )
        found.append(Orphans(relation, count, keys, examples))
    return OrphansObservation(role, tuple(found))


# --- DB11: invariants ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvariantState:
    invariant: Invariant
    count: int = 0  # rows where the expression is not TRUE
    key_columns: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    error: ProbeError | None = None


@dataclass(frozen=True)
class InvariantsObservation:
    role: str = ""
    invariants: tuple[InvariantState, ...] = ()
    error: ProbeError | None = None


def _violations(invariant: Invariant) -> sql.Composable:
    # FALSE and NULL both violate: `(holds) IS NOT TRUE`; `where` narrows the rows (NULL excludes)
    condition = sql.SQL("({}) IS NOT TRUE").format(sql.SQL(invariant.holds))
    if invariant.where:
        condition = sql.SQL("{} AND ({})").format(condition, sql.SQL(invariant.where))
    return condition


def invariants(reader: PgReader, declared: Iterable[Invariant]) -> InvariantsObservation:
    """For each invariant, the rows of its table where the expression is not TRUE: count and keys."""
    role, error = _start(reader)
    if error is not None:
        return InvariantsObservation(role, error=error)
    states = []
    for invariant in declared:
        table = table_identifier(invariant.table)
        condition = _violations(invariant)
        label = f"invariant {invariant.name}"
        pieces = tuple(text for text in (invariant.holds, invariant.where) if text)
        counted = reader.query(
            _text(sql.SQL("SELECT count(*) FROM {} AS t WHERE {}").format(table, condition)), label=label,
            user_sql=pieces,
        )
        if counted.error is not None:
            states.append(InvariantState(invariant, error=counted.error))
            continue
        count = int(counted.scalar() or 0)
        keys = primary_key(reader, invariant.table)
        examples: tuple[str, ...] = ()
        if count:
            listed = reader.query(
                _text(
                    sql.SQL("SELECT {} FROM {} AS t WHERE {} LIMIT {}").format(
                        _key_expressions(keys, "t"), table, condition, sql.Literal(EXAMPLES)
                    )
                ),
                label=label,
                max_rows=EXAMPLES,
                user_sql=pieces,
            )
            examples = tuple(_describe_key(keys, row) for row in listed.rows)
        states.append(InvariantState(invariant, count, keys, examples))
    return InvariantsObservation(role, tuple(states))


# --- DB12: foreign-key constraints -------------------------------------------------------------------------


@dataclass(frozen=True)
class ForeignKeyState:
    relation: Relation
    child_exists: bool
    parent_exists: bool
    constraint: str | None = None  # the matching FOREIGN KEY's name
    validated: bool = True  # False: NOT VALID (existing rows were never checked)


@dataclass(frozen=True)
class ForeignKeysObservation:
    relations: tuple[ForeignKeyState, ...] = ()
    error: ProbeError | None = None


def foreign_keys(reader: PgReader, relations: Sequence[Relation]) -> ForeignKeysObservation:
    """For each relation, the pg_constraint (contype 'f') from child table/column to parent table/column."""
    fields = ("cnsp", "crel", "ccol", "pnsp", "prel", "pcol")
    rows = []
    for relation in relations:
        child_table, child_column = split_column(relation.child)
        parent_table, parent_column = split_column(relation.parent)
        values = (*split_table(child_table), child_column, *split_table(parent_table), parent_column)
        rows.append(dict(zip(fields, values, strict=True)))
    child, parent = _regclass("d.cnsp", "d.crel"), _regclass("d.pnsp", "d.prel")
    result = reader.query(
        f"SELECT {child} IS NOT NULL, {parent} IS NOT NULL, fk.conname::text, fk.convalidated "
        f"FROM {_rows(fields)} "
        "LEFT JOIN LATERAL ("
        "  SELECT k.conname, k.convalidated FROM pg_constraint k "
        "  CROSS JOIN LATERAL unnest(k.conkey, k.confkey) AS u(ck, pk) "
        "  JOIN pg_attribute ca ON ca.attrelid = k.conrelid AND ca.attnum = u.ck "
        "  JOIN pg_attribute pa ON pa.attrelid = k.confrelid AND pa.attnum = u.pk "
        f"  WHERE k.contype = 'f' AND k.conrelid = {child} AND k.confrelid = {parent} "
        "    AND ca.attname = d.ccol AND pa.attname = d.pcol "
        "  ORDER BY k.convalidated DESC, k.conname LIMIT 1) AS fk ON true "
        "ORDER BY d.ord",
        (_json(rows),),
        label="foreign keys",
    )
    if result.error is not None:
        return ForeignKeysObservation(error=result.error)
    return ForeignKeysObservation(
        tuple(
            ForeignKeyState(relation, bool(row[0]), bool(row[1]), row[2], row[3] is not False)
            for relation, row in zip(relations, result.rows, strict=True)
        )
    )


# --- DB13: migration head ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MigrationsObservation:
    table: str
    column: str
    table_exists: bool = False
    heads: tuple[str, ...] = ()  # Alembic: every row (several = branches); order_by: the latest row
    truncated: bool = False
    read_error: ProbeError | None = None  # the table exists but could not be read (e.g. no SELECT)
    role: str = ""
    error: ProbeError | None = None


MAX_HEADS = 20


def migration_head(reader: PgReader, migrations: Migrations) -> MigrationsObservation:
    """The recorded head: every row of Alembic's one-row-per-head table, or the latest row by `order_by`."""
    role, error = _start(reader)
    nsp, rel = split_table(migrations.table)
    exists = reader.query(f"SELECT {_regclass('%s', '%s')} IS NOT NULL", (nsp, rel), label="migrations table")
    if error is not None or exists.error is not None:
        return MigrationsObservation(migrations.table, migrations.column, role=role, error=error or exists.error)
    if not exists.scalar():
        return MigrationsObservation(migrations.table, migrations.column, role=role)
    column = sql.Identifier(migrations.column)
    if migrations.order_by is None:
        query = sql.SQL("SELECT {col}::text FROM {table} ORDER BY 1 LIMIT {limit}").format(
            col=column, table=table_identifier(migrations.table), limit=sql.Literal(MAX_HEADS + 1)
        )
    else:
        query = sql.SQL("SELECT {col}::text FROM {table} ORDER BY {order} DESC NULLS LAST LIMIT 1").format(
            col=column, table=table_identifier(migrations.table), order=sql.Identifier(migrations.order_by)
        )
    rows = reader.query(_text(query), label="migration head", max_rows=MAX_HEADS)
    if rows.error is not None:
        return MigrationsObservation(migrations.table, migrations.column, True, read_error=rows.error, role=role)
    return MigrationsObservation(
        migrations.table, migrations.column, True, tuple(str(row[0]) for row in rows.rows), rows.truncated, role=role
    )


# --- PERF4: pg_stat_statements ------------------------------------------------------------------------------

# statements PERF4 leaves out: schema changes and maintenance, by their first word (after comments)
MAINTENANCE = (r"^(\s|/\*.*?\*/|--[^\n]*\n)*(create|alter|drop|grant|revoke|comment|security\s+label|vacuum|"
               r"analyze|reindex|cluster|refresh\s+materialized|checkpoint|load)\M")


STATEMENTS_HINT = "statements"  # probes.learn/hint name of PERF4's counters, kept for the next run
KEPT_STATEMENTS = 50  # read (and kept) per run: the top by total time, and the top by mean over the limit


@dataclass(frozen=True)
class StatementCounters:
    """One statement's cumulative counters in pg_stat_statements (summed over its top-level and nested
    entries), as read this run."""

    key: str  # "<userid>:<queryid>": pg_stat_statements' identity within this database
    query: str  # whitespace collapsed, at most 200 characters, passwords masked
    role: str
    calls: int
    total_ms: float


@dataclass(frozen=True)
class StatementsObservation:
    role: str = ""
    unavailable: str | None = None  # why pg_stat_statements cannot be read, and the fix (the check skips)
    statements: int = 0  # statements of this database, the suite's own (marked) excluded
    hidden: int = 0  # text hidden: `<insufficient privilege>`
    counters: tuple[StatementCounters, ...] = ()  # at most 2 x KEPT_STATEMENTS, largest total time first
    stats_reset: str = ""  # pg_stat_statements_info.stats_reset (1.9+): when every counter was last reset
    error: ProbeError | None = None

    def snapshot(self) -> str:
        """The counters as compact JSON, for the next run to judge the calls made since this one."""
        return json.dumps(
            {"reset": self.stats_reset, "s": {c.key: [c.calls, round(c.total_ms, 3)] for c in self.counters}},
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class StatementsSnapshot:
    """What the previous run kept: when all counters were last reset, and calls and total time by key."""

    stats_reset: str
    counters: dict[str, tuple[int, float]]


def parse_snapshot(text: str | None) -> StatementsSnapshot | None:
    """The previous run's counters (`StatementsObservation.snapshot`); None when there is none or it is
    not one (the run then judges all-time means, as a first run does)."""
    if not text:
        return None
    try:
        document = json.loads(text)
        counters = {
            str(key): (int(value[0]), float(value[1])) for key, value in dict(document.get("s", {})).items()
        }
        return StatementsSnapshot(str(document.get("reset", "")), counters)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError):
        return None


QUERY_EXCERPT = 200
_PASSWORD_LITERAL = re.compile(r"(?i)(password\s*=?\s*)'(?:[^']|'')*'")


def query_excerpt(text: str) -> str:
    """A statement for a report: one line, at most 200 characters, `PASSWORD '...'` masked."""
    return _PASSWORD_LITERAL.sub(r"\1'***'", " ".join(text.split()))[:QUERY_EXCERPT]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text))


def _not_installed(database: str) -> str:
    return (
        f"pg_stat_statements is not installed in database {database}: add "
        "`shared_preload_libraries = 'pg_stat_statements'` to postgresql.conf (restart), then run "
        "`CREATE EXTENSION pg_stat_statements;` in this database"
    )


def slow_statements(reader: PgReader, max_mean_ms: float) -> StatementsObservation:
    """The cumulative counters (calls, total time) of this database's statements in pg_stat_statements,
    except the suite's own (which start with `postgres.MARK`, so the checks never flag themselves): the
    KEPT_STATEMENTS with the largest total time and the KEPT_STATEMENTS with the largest all-time mean over
    `max_mean_ms`; how many statements there are and how many are hidden; when the counters were last
    reset. PERF4 judges the difference from the previous run's counters."""
    role, error = _start(reader)
    if error is not None:
        return StatementsObservation(role, error=error)
    ext = reader.query(
        "SELECT n.nspname::text, e.extversion, current_database()::text FROM pg_extension e "
        "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'",
        label="pg_stat_statements extension",
    )
    if ext.error is not None:
        return StatementsObservation(role, error=ext.error)
    if not ext.rows:
        database = reader.query("SELECT current_database()::text", label="current_database").scalar()
        return StatementsObservation(role, unavailable=_not_installed(str(database)))
    schema, version, database = ext.rows[0]
    new_names = _version(str(version)) >= (1, 8)  # PostgreSQL 13 renamed total_time to total_exec_time
    total = sql.Identifier("total_exec_time" if new_names else "total_time")
    view = sql.Identifier(schema, "pg_stat_statements")
    # the suite's own statements start with its mark; every other statement counts, the monitoring role's
    # too (it may be the application's role). A hidden text (`<insufficient privilege>`) is never ours.
    # nor do schema changes and maintenance (a migration's CREATE TABLE, an extension, VACUUM): they run once,
    # by an operator, and are no query of the application's
    mine = sql.SQL(
        "s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND left(s.query, {length}) IS DISTINCT FROM {mark} AND s.query !~* {maintenance}"
    ).format(length=sql.Literal(len(MARK)), mark=sql.Literal(MARK), maintenance=sql.Literal(MAINTENANCE))
    hidden = sql.Literal(HIDDEN_QUERY)
    counts = reader.query(
        _text(
            sql.SQL("SELECT count(*), count(*) FILTER (WHERE s.query = {hidden}) FROM {view} s WHERE {mine}").format(
                hidden=hidden, view=view, mine=mine
            )
        ),
        label="pg_stat_statements",
    )
    if counts.error is not None:
        if "shared_preload_libraries" in counts.error.detail:
            return StatementsObservation(
                role,
                unavailable=f"pg_stat_statements is installed in database {database} but its library is not "
                "loaded: add `shared_preload_libraries = 'pg_stat_statements'` to postgresql.conf and restart "
                f"PostgreSQL ({counts.error.detail})",
            )
        return StatementsObservation(role, error=counts.error)
    statements, hidden_count = (int(v or 0) for v in counts.rows[0])
    stats_reset = ""
    if _version(str(version)) >= (1, 9):  # PostgreSQL 14: when pg_stat_statements_reset() last reset them all
        info_view = sql.Identifier(schema, "pg_stat_statements_info")
        info = reader.query(
            _text(sql.SQL("SELECT stats_reset::text FROM {}").format(info_view)),
            label="pg_stat_statements_info",
        )
        stats_reset = str(info.scalar() or "") if info.error is None else ""  # unknown: counters going back tell
    limit = sql.Literal(KEPT_STATEMENTS)
    read = reader.query(
        _text(
            sql.SQL(
                "WITH st AS (SELECT s.userid, s.queryid, min(s.query) AS query, sum(s.calls)::bigint AS calls, "
                "  sum(s.{total})::float8 AS total FROM {view} s "
                "  WHERE {mine} AND s.queryid IS NOT NULL AND s.query IS DISTINCT FROM {hidden} "
                "  GROUP BY s.userid, s.queryid), "
                "picked AS ((SELECT * FROM st ORDER BY total DESC, queryid LIMIT {limit}) UNION "
                "  (SELECT * FROM st WHERE calls > 0 AND total / calls > %s ORDER BY total / calls DESC, queryid "
                "   LIMIT {limit})) "
                "SELECT p.userid::text || ':' || p.queryid::text, p.query, p.calls, p.total, "
                "coalesce(r.rolname::text, p.userid::text) FROM picked p LEFT JOIN pg_roles r ON r.oid = p.userid "
                "ORDER BY p.total DESC, 1"
            ).format(total=total, view=view, mine=mine, hidden=hidden, limit=limit)
        ),
        (max_mean_ms,),
        label="pg_stat_statements counters",
        max_rows=2 * KEPT_STATEMENTS,
    )
    counters = tuple(
        StatementCounters(str(key), query_excerpt(str(text)), str(owner), int(calls), float(total_ms))
        for key, text, calls, total_ms, owner in read.rows
    )
    return StatementsObservation(role, None, statements, hidden_count, counters, stats_reset, read.error)


# --- PERF5: plans of hot queries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanNode:
    """One node of a plan that reads a relation."""

    node_type: str  # Seq Scan, Index Scan, Index Only Scan, Bitmap Heap Scan, ...
    relation: str  # schema.table (EXPLAIN VERBOSE names the schema)
    index: str | None = None
    index_cond: str | None = None
    filter: str | None = None
    ordered_limit: bool = False  # under a Limit with only streaming nodes between (a top-N read)

    def describe(self) -> str:
        text = f"{self.node_type} on {self.relation}"
        if self.index:
            text += f" using {self.index}"
        if self.index_cond:
            text += f" (Index Cond: {self.index_cond})"
        if self.filter:
            text += f" (Filter: {self.filter})"
        return text


@dataclass(frozen=True)
class PlanObservation:
    query: HotQuery
    scans: tuple[ScanNode, ...] = ()
    error: ProbeError | None = None


@dataclass(frozen=True)
class PlansObservation:
    plans: tuple[PlanObservation, ...] = ()
    role: str = ""
    error: ProbeError | None = None


# nodes that pass rows on as they come: a Limit above them still stops the scan below early
STREAMING = frozenset(
    {"Limit", "Result", "Subquery Scan", "Gather", "Gather Merge", "Append", "Merge Append", "Incremental Sort",
     "Unique", "Nested Loop", "Memoize"}
)


def scan_nodes(plan: dict[str, Any], ordered_limit: bool = False) -> list[ScanNode]:
    """Every node of an EXPLAIN (FORMAT JSON, VERBOSE) plan that reads a relation, depth first."""
    node_type = str(plan.get("Node Type", ""))
    limited = node_type == "Limit" or (ordered_limit and node_type in STREAMING)
    found = []
    if "Relation Name" in plan:
        schema = plan.get("Schema")
        found.append(
            ScanNode(
                node_type,
                f"{schema}.{plan['Relation Name']}" if schema else str(plan["Relation Name"]),
                plan.get("Index Name"),
                plan.get("Index Cond"),
                plan.get("Filter"),
                ordered_limit,
            )
        )
    for child in plan.get("Plans", ()):
        found += scan_nodes(child, limited)
    return found


def _plan_document(value: Any) -> dict[str, Any]:
    document = json.loads(value) if isinstance(value, str) else value
    return dict(document[0]["Plan"])


def hot_query_plans(reader: PgReader, queries: Iterable[HotQuery]) -> PlansObservation:
    """EXPLAIN (FORMAT JSON, VERBOSE) of each hot query (never ANALYZE: nothing is run) with
    `enable_seqscan = off` for that transaction only, so a Seq Scan left in the plan means no index
    can serve the query, whatever the table's size today."""
    role, error = _start(reader)
    if error is not None:
        return PlansObservation(role=role, error=error)
    plans = []
    for hot in queries:
        statement = hot.sql.strip().rstrip(";").rstrip()
        result = reader.query(
            "EXPLAIN (FORMAT JSON, VERBOSE) " + statement,
            label=f"EXPLAIN {hot.name}",
            settings={"enable_seqscan": "off"},
            # planning folds IMMUTABLE calls (runs them): the catalogue decides first, as for a statement run
            user_sql=(statement,),
        )
        if result.error is not None:
            plans.append(PlanObservation(hot, error=result.error))
            continue
        plans.append(PlanObservation(hot, tuple(scan_nodes(_plan_document(result.scalar())))))
    return PlansObservation(tuple(plans), role)


# --- PERF6: indexes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeclaredIndex:
    name: str
    exists: bool
    is_index: bool = False
    valid: bool = False  # False after a failed CREATE INDEX CONCURRENTLY
    table: str = ""


@dataclass(frozen=True)
class UnindexedForeignKey:
    schema: str
    table: str
    column: str  # the constraint's first column
    constraint: str
    parent: str


@dataclass(frozen=True)
class IndexesObservation:
    declared: tuple[DeclaredIndex, ...] = ()
    schemas: tuple[str, ...] = ()
    foreign_keys: int = 0  # constraints judged
    unindexed_count: int = 0
    unindexed: tuple[UnindexedForeignKey, ...] = ()  # at most MAX_UNINDEXED
    scope: str = "declared"  # ForeignKeyIndexes.scope: "declared" or "all"
    tables: int = 0  # declared tables found (scope declared: whose foreign keys are judged)
    undeclared: int = 0  # foreign keys of tables the file does not declare, left out (scope declared)
    excluded: int = 0  # foreign keys left out by ForeignKeyIndexes.exclude
    unreadable: int = 0  # foreign keys of tables the role cannot read, left out
    unreadable_tables: tuple[str, ...] = ()  # schema.table of those (at most MAX_UNINDEXED)
    role: str = ""
    error: ProbeError | None = None


MAX_UNINDEXED = 20


def indexes(
    reader: PgReader,
    declared: Sequence[str],
    tables: Sequence[str],
    options: ForeignKeyIndexes | None = None,
) -> IndexesObservation:
    """The declared indexes (exist, are valid), and the foreign keys whose first column leads no valid
    index: of the declared `tables` (and of the declared indexes' tables) by default, or with scope `all`
    of every table in `public` and in the schemas of `tables`. Foreign keys matched by `exclude`, and those
    of tables the role cannot read (no SELECT on any column), are counted apart and never judged."""
    options = options or ForeignKeyIndexes()
    role, error = _start(reader)
    if error is not None:
        return IndexesObservation(scope=options.scope, role=role, error=error)
    parts = [split_table(name) for name in declared]
    listed = reader.query(
        "SELECT d.name, c.oid IS NOT NULL, c.relkind IN ('i', 'I'), coalesce(i.indisvalid, false), "
        "coalesce(tn.nspname || '.' || t.relname, '') "
        f"FROM {_rows(('name', 'nsp', 'rel'))} "
        f"LEFT JOIN pg_class c ON c.oid = {_regclass('d.nsp', 'd.rel')} "
        "LEFT JOIN pg_index i ON i.indexrelid = c.oid LEFT JOIN pg_class t ON t.oid = i.indrelid "
        "LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace ORDER BY d.ord",
        (_json({"name": name, "nsp": nsp, "rel": rel} for name, (nsp, rel) in zip(declared, parts, strict=True)),),
        label="declared indexes",
    )
    if listed.error is not None:
        return IndexesObservation(scope=options.scope, role=role, error=listed.error)
    states = tuple(
        DeclaredIndex(str(name), bool(exists), bool(is_index), bool(valid), str(table))
        for name, exists, is_index, valid, table in listed.rows
    )
    names = list(dict.fromkeys([*tables, *(s.table for s in states if s.table)]))
    table_parts = [split_table(name) for name in names]
    fks = reader.query(
        "WITH declared AS ("
        f"  SELECT DISTINCT c.oid, c.relnamespace FROM {_rows(('nsp', 'rel'))} "
        f"  JOIN pg_class c ON c.oid = {_regclass('d.nsp', 'd.rel')} WHERE c.relkind IN ('r', 'p')"
        "), schemas AS ("
        "  SELECT 'public'::text AS nspname UNION "
        "  SELECT n.nspname::text FROM declared JOIN pg_namespace n ON n.oid = declared.relnamespace"
        "), fks AS ("
        "  SELECT n.nspname::text AS schema, c.relname::text AS tbl, a.attname::text AS col, "
        "         k.conname::text AS constraint_name, f.relname::text AS parent, "
        "         EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = k.conrelid "
        "                 AND i.indkey[0] = k.conkey[1] AND i.indisvalid) AS indexed, "
        "         (%s::text = 'all' OR k.conrelid IN (SELECT oid FROM declared)) AS in_scope, "
        "         EXISTS (SELECT 1 FROM json_array_elements_text(%s::json) AS e(v) WHERE e.v IN ("
        "                 c.relname::text, n.nspname || '.' || c.relname, c.relname || '.' || a.attname, "
        "                 n.nspname || '.' || c.relname || '.' || a.attname)) AS excluded, "
        "         has_any_column_privilege(c.oid, 'SELECT') AS readable "
        "  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
        "  JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_class f ON f.oid = k.confrelid "
        "  JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] "
        "  WHERE k.contype = 'f' AND (n.nspname::text IN (SELECT nspname FROM schemas) "
        "                             OR k.conrelid IN (SELECT oid FROM declared))"
        "), judged AS (SELECT * FROM fks WHERE in_scope AND NOT excluded AND readable"
        ") SELECT (SELECT array_agg(nspname ORDER BY nspname) FROM schemas), (SELECT count(*) FROM declared), "
        "(SELECT count(*) FROM judged), (SELECT count(*) FROM judged WHERE NOT indexed), "
        "(SELECT coalesce(json_agg(x), '[]') FROM (SELECT schema, tbl, col, constraint_name, parent FROM judged "
        f"  WHERE NOT indexed ORDER BY schema, tbl, col, constraint_name LIMIT {MAX_UNINDEXED}) x), "
        "(SELECT count(*) FROM fks WHERE NOT in_scope), (SELECT count(*) FROM fks WHERE in_scope AND excluded), "
        "(SELECT count(*) FROM fks WHERE in_scope AND NOT excluded AND NOT readable), "
        "(SELECT coalesce(array_agg(t ORDER BY t), '{}') FROM (SELECT DISTINCT schema || '.' || tbl AS t FROM fks "
        f"  WHERE in_scope AND NOT excluded AND NOT readable ORDER BY 1 LIMIT {MAX_UNINDEXED}) u)",
        (
            _json({"nsp": nsp, "rel": rel} for nsp, rel in table_parts),
            options.scope,
            json.dumps(options.exclude),
        ),
        label="unindexed foreign keys",
    )
    if fks.error is not None:
        return IndexesObservation(states, scope=options.scope, role=role, error=fks.error)
    schemas, found, total, unindexed_count, unindexed, undeclared, excluded, unreadable, unreadable_tables = (
        fks.rows[0]
    )
    items = json.loads(unindexed) if isinstance(unindexed, str) else unindexed
    return IndexesObservation(
        states,
        tuple(schemas or ()),
        int(total),
        int(unindexed_count),
        tuple(
            UnindexedForeignKey(i["schema"], i["tbl"], i["col"], i["constraint_name"], i["parent"]) for i in items
        ),
        scope=options.scope,
        tables=int(found),
        undeclared=int(undeclared),
        excluded=int(excluded),
        unreadable=int(unreadable),
        unreadable_tables=tuple(unreadable_tables or ()),
        role=role,
    )
