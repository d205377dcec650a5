"""SQLite/D1 files beyond `SELECT 1`: integrity and foreign keys (DB8), settings and size (DB15), query
plans (PERF5) and indexes (PERF6). Every read goes through a `mode=ro` connection; nothing is written,
no statement of a hot query is run (only `EXPLAIN QUERY PLAN`)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..model.schema import HotQuery
from .errors import ProbeError, classify
from .sqlite import read_only

MAX_PROBLEMS = 20  # integrity_check(N): the first problems only
MAX_VIOLATIONS_COUNTED = 100_000  # foreign_key_check rows counted before stopping ("100000+")
MAX_EXAMPLES = 10


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _malformed(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


# --- DB8 -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FkViolation:
    table: str
    rowid: int | None
    parent: str


@dataclass(frozen=True)
class IntegrityObservation:
    address: str
    problems: tuple[str, ...] = ()  # integrity_check's lines other than `ok` (the first MAX_PROBLEMS)
    fk_unreadable: str = ""  # foreign_key_check could not run (the file is corrupted): why
    fk_violations: int = 0  # counted up to MAX_VIOLATIONS_COUNTED
    fk_examples: tuple[FkViolation, ...] = ()
    fk_by_table: tuple[tuple[str, str, int], ...] = ()  # (table, parent, count) of the counted rows
    error: ProbeError | None = None

    @property
    def fk_capped(self) -> bool:
        return self.fk_violations >= MAX_VIOLATIONS_COUNTED


def integrity(path: Path, timeout_s: float) -> IntegrityObservation:
    """`PRAGMA integrity_check(N)` and `PRAGMA foreign_key_check` on a read-only connection."""

    def read(conn: sqlite3.Connection) -> IntegrityObservation:
        problems: list[str] = []
        try:
            for (line,) in conn.execute(f"PRAGMA integrity_check({MAX_PROBLEMS})"):
                if line != "ok":
                    problems.extend(
                        part.strip() for part in str(line).splitlines() if part.strip() and not part.startswith("***")
                    )
        except sqlite3.DatabaseError as exc:
            if not _malformed(exc):
                raise
            problems.append(str(exc))
        count = 0
        examples: list[FkViolation] = []
        by_table: dict[tuple[str, str], int] = {}
        unreadable = ""
        try:
            cursor = conn.execute("PRAGMA foreign_key_check")
            for table, rowid, parent, _fkid in cursor:
                count += 1
                by_table[(table, parent)] = by_table.get((table, parent), 0) + 1
                if len(examples) < MAX_EXAMPLES:
                    examples.append(FkViolation(str(table), rowid, str(parent)))
                if count >= MAX_VIOLATIONS_COUNTED:
                    break
        except sqlite3.DatabaseError as exc:
            if not _malformed(exc):
                raise
            unreadable = str(exc)
        return IntegrityObservation(
            str(path),
            problems=tuple(problems[:MAX_PROBLEMS]),
            fk_unreadable=unreadable,
            fk_violations=count,
            fk_examples=tuple(examples),
            fk_by_table=tuple((t, p, n) for (t, p), n in sorted(by_table.items())),
        )

    result = read_only(path, timeout_s, read)
    return IntegrityObservation(str(path), error=result) if isinstance(result, ProbeError) else result


# --- DB15 ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SettingsObservation:
    address: str
    journal_mode: str = ""
    connection_foreign_keys: bool = False  # this read-only connection's own setting (the SQLite default)
    busy_timeout_ms: int = 0  # the timeout this check read the file with
    page_size: int = 0
    page_count: int = 0
    file_bytes: int = 0
    wal_bytes: int = 0
    error: ProbeError | None = None

    @property
    def size_bytes(self) -> int:
        return self.file_bytes + self.wal_bytes


def settings(path: Path, busy_timeout_ms: int) -> SettingsObservation:
    """The file's journal mode, page count and size, read with the application's busy timeout."""

    def read(conn: sqlite3.Connection) -> SettingsObservation:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # takes the shared lock: waits for writers
        wal = path.with_name(path.name + "-wal")
        return SettingsObservation(
            str(path),
            journal_mode=str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower(),
            connection_foreign_keys=bool(conn.execute("PRAGMA foreign_keys").fetchone()[0]),
            busy_timeout_ms=int(conn.execute("PRAGMA busy_timeout").fetchone()[0]),
            page_size=int(conn.execute("PRAGMA page_size").fetchone()[0]),
            page_count=int(conn.execute("PRAGMA page_count").fetchone()[0]),
            file_bytes=path.stat().st_size,
            wal_bytes=wal.stat().st_size if wal.is_file() else 0,
        )

    result = read_only(path, max(busy_timeout_ms, 1) / 1000, read)
    return SettingsObservation(str(path), error=result) if isinstance(result, ProbeError) else result


# --- PERF5 ---------------------------------------------------------------------------------------------

_KEYWORDS = {
    "where", "on", "using", "join", "inner", "left", "right", "full", "cross", "natural", "outer", "group",
    "order", "limit", "having", "union", "except", "intersect", "window", "as", "select", "set", "values",
}
_SOURCE = re.compile(
    r'\b(?:from|join)\s+((?:"[^"]+"|[\w$]+)(?:\.(?:"[^"]+"|[\w$]+))?)(?:\s+(?:as\s+)?("[^"]+"|[\w$]+))?',
    re.IGNORECASE,
)
_PLAN_READ = re.compile(r"^(SCAN|SEARCH) (?:TABLE )?(\S+)(?: AS (\S+))?(?: (.*))?$")


def _bare(name: str) -> str:
    return name.split(".")[-1].strip('"')


def aliases(sql: str) -> dict[str, str]:
    """alias (or table) -> table, for the names `EXPLAIN QUERY PLAN` shows (it names a table by its alias)."""
    found: dict[str, str] = {}
    for table, alias in _SOURCE.findall(sql):
        found.setdefault(_bare(table), _bare(table))
        if alias and alias.strip('"').lower() not in _KEYWORDS:
            found[alias.strip('"')] = _bare(table)
    return found


@dataclass(frozen=True)
class TableRead:
    """One line of a query plan that reads a table: `SCAN appointments`, `SEARCH a USING INDEX i (x=?)`."""

    kind: str  # SCAN or SEARCH
    table: str  # the table, the alias resolved
    how: str  # the rest of the line: `USING INDEX ...`, `USING COVERING INDEX ...`, ``
    detail: str  # the line as SQLite wrote it

    @property
    def full_scan(self) -> bool:
        """Every row is read from the table: a bare SCAN, or a SEARCH through an index SQLite builds each time."""
        return (self.kind == "SCAN" and "INDEX" not in self.how) or "AUTOMATIC" in self.how


@dataclass(frozen=True)
class QueryPlan:
    query: HotQuery
    lines: tuple[str, ...] = ()
    reads: tuple[TableRead, ...] = ()
    error: ProbeError | None = None


@dataclass(frozen=True)
class PlansObservation:
    address: str
    plans: tuple[QueryPlan, ...] = ()
    error: ProbeError | None = None


def plan_reads(sql: str, lines: Sequence[str]) -> tuple[TableRead, ...]:
    names = {k.lower(): v for k, v in aliases(sql).items()}
    reads = []
    for line in lines:
        match = _PLAN_READ.match(line.strip())
        if match:
            kind, name, alias, how = match.groups()
            table = names.get(name.lower(), name) if alias is None else name
            reads.append(TableRead(kind, table, how or "", line.strip()))
    return tuple(reads)


def query_plans(path: Path, timeout_s: float, queries: Sequence[HotQuery]) -> PlansObservation:
    """`EXPLAIN QUERY PLAN` of each hot query (the query itself never runs)."""

    def read(conn: sqlite3.Connection) -> PlansObservation:
        plans = []
        for query in queries:
            sql = query.sql.strip().rstrip(";")
            try:
                lines = tuple(str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
            except sqlite3.Error as exc:
                plans.append(QueryPlan(query, error=classify(exc, "sqlite", str(path))))
                continue
            plans.append(QueryPlan(query, lines, plan_reads(sql, lines)))
        return PlansObservation(str(path), tuple(plans))

    result = read_only(path, timeout_s, read)
    return PlansObservation(str(path), error=result) if isinstance(result, ProbeError) else result


# --- PERF6 ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForeignKey:
    table: str
    columns: tuple[str, ...]
    parent: str  # parent table
    parent_columns: tuple[str, ...]


@dataclass(frozen=True)
class IndexesObservation:
    address: str
    indexes: dict[str, str] = field(default_factory=dict)  # index name -> table (sqlite_master)
    foreign_keys: int = 0
    unindexed: tuple[ForeignKey, ...] = ()
    error: ProbeError | None = None


def _leading_columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, ...]]:
    """The column lists of every full (not partial) index of a table, and its INTEGER PRIMARY KEY."""
    leading = []
    for _seq, name, _unique, _origin, partial in conn.execute(f"PRAGMA index_list({quoted(table)})"):
        if partial:
            continue
        columns = tuple(str(c[2]) for c in conn.execute(f"PRAGMA index_info({quoted(name)})"))
        leading.append(columns)
    pk = [(r[5], r[1], str(r[2]).upper()) for r in conn.execute(f"PRAGMA table_info({quoted(table)})") if r[5]]
    if len(pk) == 1 and pk[0][2] == "INTEGER":
        leading.append((pk[0][1],))  # the rowid alias: the table's own b-tree key
    return leading


def indexes(path: Path, timeout_s: float) -> IndexesObservation:
    """Every index of sqlite_master, and the foreign keys (PRAGMA foreign_key_list) no index leads."""

    def read(conn: sqlite3.Connection) -> IndexesObservation:
        found = {
            str(name): str(table)
            for name, table in conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'")
        }
        tables = [
            str(r[0])
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        total, unindexed = 0, []
        for table in tables:
            groups: dict[int, list[tuple[int, str, str, str]]] = {}
            for row in conn.execute(f"PRAGMA foreign_key_list({quoted(table)})"):
                fk_id, seq, parent, column, parent_column = row[0], row[1], row[2], row[3], row[4]
                groups.setdefault(fk_id, []).append((seq, str(parent), str(column), str(parent_column or "")))
            if not groups:
                continue
            leading = _leading_columns(conn, table)
            for parts in groups.values():
                parts.sort()
                columns = tuple(p[2] for p in parts)
                total += 1
                if not any(index[: len(columns)] == columns for index in leading):
                    unindexed.append(ForeignKey(table, columns, parts[0][1], tuple(p[3] for p in parts)))
        return IndexesObservation(str(path), found, total, tuple(unindexed))

    result = read_only(path, timeout_s, read)
    return IndexesObservation(str(path), error=result) if isinstance(result, ProbeError) else result
