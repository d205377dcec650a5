"""What a PostgreSQL database holds, as the schema expectations an environment file declares: its
readable tables (DB9), single-column foreign keys (DB10, DB12), largest tables (DB14) and their
indexes (PERF6), and the Alembic head (DB13).

The largest tables are the LARGE_TABLES first by total size (pg_total_relation_size: the table, its
indexes and TOAST); tables of the same size go by schema, then name, in byte order: the same database
gives the same choice on every run.

One connection through probes.pgreader: a read-only session, every statement in its own read-only
transaction that ends in COMMIT, under the session's statement and lock timeouts, and cut at its
deadline."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..probes.errors import ProbeError
from ..probes.pgreader import PgReader, QueryResult
from . import shown, unsafe

MAX_TABLES = 100
MAX_RELATIONS = 200
LARGE_TABLES = 3
MAX_INDEXES_PER_TABLE = 10

_TABLES = """
SELECT n.nspname::text, c.relname::text, pg_total_relation_size(c.oid)::bigint,
       greatest(c.reltuples, 0)::bigint, has_table_privilege(c.oid, 'SELECT'),
       extract(epoch FROM now() - greatest(s.last_analyze, s.last_autoanalyze))::float8
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype = 'e')
ORDER BY 3 DESC, n.nspname COLLATE "C", c.relname COLLATE "C"  -- the largest first; a tie by name, in byte order
LIMIT %s"""

_RELATIONS = """
SELECT k.conname::text, cn.nspname::text, c.relname::text, ca.attname::text,
       pn.nspname::text, p.relname::text, pa.attname::text
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace
JOIN pg_attribute ca ON ca.attrelid = k.conrelid AND ca.attnum = k.conkey[1]
JOIN pg_attribute pa ON pa.attrelid = k.confrelid AND pa.attnum = k.confkey[1]
WHERE k.contype = 'f' AND k.convalidated AND cardinality(k.conkey) = 1
  AND cn.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 2, 3, 4, 1
LIMIT %s"""

_INDEXES = """
SELECT n.nspname::text, x.relname::text, t.relname::text
FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = x.relnamespace
WHERE i.indisvalid AND NOT i.indisprimary AND n.nspname = %s AND t.relname = %s
ORDER BY 2
LIMIT %s"""

_UNINDEXED = """
SELECT count(*) FROM pg_constraint k JOIN pg_namespace n ON n.oid = (SELECT relnamespace FROM pg_class
                                                                       WHERE oid = k.conrelid)
WHERE k.contype = 'f' AND n.nspname = 'public'
  AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = k.conrelid AND i.indkey[0] = k.conkey[1]
                  AND i.indisvalid)"""


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    size_bytes: int
    rows: int
    readable: bool
    analyzed_age_s: float | None

    @property
    def declared(self) -> str:
        """As an environment file names it: `invoices` in public, `billing.invoices` elsewhere."""
        return self.name if self.schema == "public" else f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class ForeignKey:
    constraint: str
    child: str  # [schema.]table.column
    parent: str


@dataclass
class Schema:
    address: str
    server_version: str = ""
    tables: list[Table] = field(default_factory=list)
    more_tables: bool = False  # more than MAX_TABLES: the largest are kept
    unreadable: list[str] = field(default_factory=list)
    relations: list[ForeignKey] = field(default_factory=list)
    large_tables: list[Table] = field(default_factory=list)
    not_analyzed: list[str] = field(default_factory=list)  # large tables left out of DB14's list
    indexes: dict[str, list[str]] = field(default_factory=dict)  # large table -> its indexes
    migration_head: str | None = None
    unindexed_foreign_keys: int = 0
    refused: list[str] = field(default_factory=list)  # names left out: not safe to write, as the terminal shows them


class DatabaseUnusable(Exception):
    def __init__(self, error: ProbeError) -> None:
        self.error = error
        super().__init__(f"{error.kind_name}: {error.detail}")


def _rows(result: QueryResult) -> tuple[tuple[object, ...], ...]:
    if result.error is not None:
        raise DatabaseUnusable(result.error)
    return result.rows


def _int(value: object) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _qualified(schema: str, name: str) -> str:
    return name if schema == "public" else f"{schema}.{name}"


def _plain(name: str) -> bool:
    """A name the file's table and column patterns take (letters, digits, _, $; no quotes)."""
    return bool(name) and (name[0].isalpha() or name[0] == "_") and all(ch.isalnum() or ch in "_$" for ch in name) \
        and name.isascii()


def _why_not(name: str) -> str:
    return unsafe(name) or "not a plain name (letters, digits, _ and $), which the file's names are"


def discover(dsn: str, timeout_s: float, max_analyze_age_s: float) -> Schema:
    reader = PgReader(dsn, timeout_s)
    try:
        observation = reader.observation()
        if observation.error is not None:
            raise DatabaseUnusable(observation.error)
        found = Schema(reader.address, observation.server_version)
        rows = _rows(reader.query(_TABLES, (MAX_TABLES + 1,), label="tables", max_rows=MAX_TABLES + 1))
        found.more_tables = len(rows) > MAX_TABLES
        for schema, name, size, count, readable, age in rows[:MAX_TABLES]:
            table = Table(str(schema), str(name), _int(size), _int(count), bool(readable),
                          None if age is None else float(str(age)))
            if not (_plain(table.schema) and _plain(table.name)):
                bad = table.schema if not _plain(table.schema) else table.name
                found.refused.append(f"table {shown(table.schema)}.{shown(table.name)}: {_why_not(bad)}")
                continue
            if table.readable:
                found.tables.append(table)
            else:
                found.unreadable.append(table.declared)
        names = {t.declared for t in found.tables}
        rows = _rows(reader.query(_RELATIONS, (MAX_RELATIONS,), label="foreign keys", max_rows=MAX_RELATIONS))
        for constraint, cschema, ctable, ccol, pschema, ptable, pcol in rows:
            child, parent = _qualified(str(cschema), str(ctable)), _qualified(str(pschema), str(ptable))
            if child in names and parent in names and _plain(str(ccol)) and _plain(str(pcol)):
                name, why = str(constraint), unsafe(str(constraint))
                if why:  # the relation is kept, its comment without the name
                    found.refused.append(f"the name of the foreign key {child}.{ccol} -> {parent}.{pcol}, "
                                         f"{shown(name)} (the key is kept, its name left out): {why}")
                    name = ""
                found.relations.append(ForeignKey(name, f"{child}.{ccol}", f"{parent}.{pcol}"))
            elif not (_plain(str(ccol)) and _plain(str(pcol))) and child in names and parent in names:
                bad = str(ccol) if not _plain(str(ccol)) else str(pcol)
                found.refused.append(f"foreign key {shown(str(constraint))}: column {shown(bad)}: {_why_not(bad)}")
        for table in found.tables[:LARGE_TABLES]:  # by total size, largest first; a tie by name
            if table.analyzed_age_s is None or table.analyzed_age_s > max_analyze_age_s:
                found.not_analyzed.append(table.declared)
            else:
                found.large_tables.append(table)
            rows = _rows(reader.query(_INDEXES, (table.schema, table.name, MAX_INDEXES_PER_TABLE),
                                      label="indexes", max_rows=MAX_INDEXES_PER_TABLE))
            indexes = [_qualified(str(s), str(x)) for s, x, _ in rows if _plain(str(x))]
            found.refused += [f"index {shown(str(x))} on {table.declared}: {_why_not(str(x))}"
                              for _, x, _ in rows if not _plain(str(x))]
            if indexes:
                found.indexes[table.declared] = indexes
        found.unindexed_foreign_keys = _int(_rows(reader.query(_UNINDEXED, label="unindexed foreign keys"))[0][0])
        if "alembic_version" in names:
            result = reader.query("SELECT version_num::text FROM alembic_version", label="alembic head", max_rows=2)
            if result.ok and len(result.rows) == 1 and result.rows[0][0]:
                head = str(result.rows[0][0])
                why = unsafe(head.replace("${", ""))  # a `$` is written doubled (render.literal)
                if why:
                    found.refused.append(f"Alembic head {shown(head)}: {why}")
                else:
                    found.migration_head = head
        return found
    finally:
        reader.close()
