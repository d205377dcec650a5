"""Judge a SQLite/D1 file: integrity and foreign keys (DB8), settings and size (DB15), hot-query plans
(PERF5) and indexes (PERF6)."""

from __future__ import annotations

from collections.abc import Sequence

from ..model.sqlite import SqliteSettings
from ..probes.sqlite_checks import (
    MAX_PROBLEMS,
    IndexesObservation,
    IntegrityObservation,
    PlansObservation,
    SettingsObservation,
)
from .failure import Finding

MB = 1_000_000


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural or word + 's')}"


def integrity(obs: IntegrityObservation) -> Finding:
    """DB8: `PRAGMA integrity_check` says `ok` and `PRAGMA foreign_key_check` returns no row."""
    problems = []
    if obs.problems:
        shown = "; ".join(obs.problems[:3])
        more = f" (and more; the first {MAX_PROBLEMS} are in the facts)" if len(obs.problems) > 3 else ""
        problems.append(f"integrity_check: {shown}{more}")
    if obs.fk_unreadable:
        problems.append(f"foreign_key_check could not run: {obs.fk_unreadable}")
    elif obs.fk_violations:
        count = f"{obs.fk_violations}+" if obs.fk_capped else str(obs.fk_violations)
        tables = ", ".join(f"{t} -> {p}: {n}" for t, p, n in obs.fk_by_table)
        examples = ", ".join(f"{v.table} rowid {v.rowid} -> {v.parent}" for v in obs.fk_examples[:3])
        problems.append(f"foreign_key_check: {count} rows reference a missing parent ({tables}; e.g. {examples})")
    corrupted = bool(obs.problems or obs.fk_unreadable)
    remediation: list[str] = []
    if corrupted:
        remediation.append(
            f"Copy the file aside (never repair in place) and run `sqlite3 copy.sqlite 'PRAGMA integrity_check;'` "
            f"to see every damaged page of {obs.address}."
        )
    if obs.fk_violations:
        first = obs.fk_examples[0] if obs.fk_examples else None
        if first is not None:
            remediation.append(
                f"List the orphans: `PRAGMA foreign_key_check({first.table});` then delete them or restore their "
                f"{first.parent} rows; make every connection run `PRAGMA foreign_keys = ON`."
            )
    meaning = ""
    if corrupted:
        meaning = "the database file is corrupted: reads of the damaged pages fail and writes may spread the damage"
    elif obs.fk_violations:
        meaning = "rows point at parent rows that do not exist, so joins lose them and the application may crash"
    return Finding(
        ok=not problems,
        observed="; ".join(problems) if problems else "integrity_check: ok; foreign_key_check: no violation",
        expected="PRAGMA integrity_check returns `ok` and PRAGMA foreign_key_check returns no row",
        meaning=meaning,
        causes=("The file was written while foreign keys were off (PRAGMA foreign_keys is per connection).",)
        if obs.fk_violations and not corrupted
        else (),
        remediation=tuple(remediation),
        facts={
            "integrity_problems": list(obs.problems),
            "fk_violations": obs.fk_violations,
            "fk_by_table": [{"table": t, "parent": p, "rows": n} for t, p, n in obs.fk_by_table],
            "fk_examples": [{"table": v.table, "rowid": v.rowid, "parent": v.parent} for v in obs.fk_examples],
        },
        severity=None,
    )


def settings(obs: SettingsObservation, declared: SqliteSettings) -> Finding:
    """DB15: journal mode as declared and size under the limit: the settings the file records.

    `foreign_keys` and `busy_timeout` are per connection, not in the file. The busy timeout is judged by
    reading the file with it (a longer lock fails the probe as `timed out`); rows violating a foreign key
    are DB8's finding (`PRAGMA foreign_key_check`), never repeated here, so `foreign_keys` is reported
    only."""
    problems, parts, expected, remediation = [], [], [], []
    mode = obs.journal_mode
    if declared.journal_mode is not None:
        want = declared.journal_mode
        shown = mode if mode == "wal" else f"{mode} (a rollback journal; the file does not record which)"
        matches = (mode == "wal") == (want == "wal")
        expected.append(f"journal_mode {want}")
        if matches:
            parts.append(f"journal_mode {shown}")
        else:
            problems.append(f"journal_mode {mode}, declared {want}")
            remediation.append(
                f"Set it where the database is opened or migrated: `PRAGMA journal_mode = {want};` (wal persists in "
                "the file; the rollback modes are set by every connection)."
            )
    if declared.foreign_keys:
        parts.append(
            "foreign_keys: per connection, not recorded in the file (rows violating a foreign key are DB8's "
            f"finding; this read-only connection has it {'on' if obs.connection_foreign_keys else 'off'})"
        )
    if declared.busy_timeout_ms is not None:
        expected.append(f"the file readable within busy_timeout {declared.busy_timeout_ms} ms")
        parts.append(f"read within busy_timeout {obs.busy_timeout_ms} ms")
    size_mb = obs.size_bytes / MB
    size = f"{size_mb:.1f} MB ({obs.page_count} pages of {obs.page_size} bytes" + (
        f", WAL {obs.wal_bytes / MB:.1f} MB)" if obs.wal_bytes else ")"
    )
    if declared.max_size_mb is not None:
        expected.append(f"size under {declared.max_size_mb:g} MB")
        if size_mb >= declared.max_size_mb:
            problems.append(f"size {size}, limit {declared.max_size_mb:g} MB")
            remediation.append(
                "Archive or prune old rows (appointments, logs, sessions), then `VACUUM` a copy to reclaim pages."
            )
        else:
            parts.append(f"size {size}, {100 * size_mb / declared.max_size_mb:.0f} % of {declared.max_size_mb:g} MB")
    else:
        parts.append(f"size {size}")
    meaning = ""
    if any(p.startswith("journal_mode") for p in problems):
        meaning = "another journal mode than the application expects changes how readers and writers block each other"
    elif any(p.startswith("size") for p in problems):
        meaning = "the database is at its size limit: writes will start failing"
    return Finding(
        ok=not problems,
        observed="; ".join(problems + parts),
        expected="; ".join(expected) or "no setting declared (size reported only)",
        meaning=meaning,
        remediation=tuple(remediation),
        facts={
            "journal_mode": mode,
            "connection_foreign_keys": obs.connection_foreign_keys,
            "busy_timeout_ms": obs.busy_timeout_ms,
            "size_bytes": obs.size_bytes,
            "wal_bytes": obs.wal_bytes,
            "page_size": obs.page_size,
            "page_count": obs.page_count,
        },
    )


def hot_query_plans(obs: PlansObservation, large_tables: Sequence[str]) -> Finding:
    """PERF5: no hot query's `EXPLAIN QUERY PLAN` reads a (declared large) table without an index."""
    large = {t.split(".")[-1].lower() for t in large_tables}
    problems, used = [], []
    scanned: set[str] = set()
    facts: dict[str, object] = {}
    for plan in obs.plans:
        name = plan.query.name
        if plan.error is not None:
            problems.append(f"{name}: EXPLAIN QUERY PLAN failed: {plan.error.detail}")
            facts[name] = {"error": plan.error.detail}
            continue
        scans = [r for r in plan.reads if r.full_scan and (not large or r.table.lower() in large)]
        facts[name] = {"plan": list(plan.lines), "full_scans": [r.detail for r in scans]}
        if scans:
            problems.append(f"{name}: {'; '.join(r.detail for r in scans)}")
            scanned.update(r.table for r in scans)
        else:
            used.append(f"{name}: {'; '.join(plan.lines) or 'no table read'}")
    scope = ", ".join(large_tables) if large_tables else "any table (no large_tables declared)"
    remediation = (
        (
            f"Add the index the query filters by, e.g. `CREATE INDEX idx_{sorted(scanned)[0]}_<columns> ON "
            f"{sorted(scanned)[0]} (<filter columns>, <order column>);` then `ANALYZE`.",
        )
        if scanned
        else ()
    )
    return Finding(
        ok=not problems,
        observed="; ".join(problems) if problems else "; ".join(used),
        expected=f"each hot query reads {scope} through an index: SEARCH ... USING INDEX, or a SCAN USING an index "
        "(EXPLAIN QUERY PLAN; never executed)",
        meaning=f"no index serves the query, so it reads every row of {', '.join(sorted(scanned))} on each call "
        "and slows down as the table grows"
        if scanned
        else ("a hot query could not be explained, so its plan is unknown" if problems else ""),
        remediation=remediation
        if scanned
        else (("Fix the hot query in the environment file (schema.hot_queries)",) if problems else ()),
        facts=facts,
    )


def indexes(obs: IndexesObservation, declared: Sequence[str]) -> Finding:
    """PERF6: the declared indexes exist in sqlite_master; every foreign key's columns lead an index."""
    problems, remediation = [], []
    for name in declared:
        bare = name.split(".")[-1]
        if bare not in obs.indexes:
            problems.append(f"index {bare} does not exist")
            remediation.append(f"Re-create {bare} from its migration: `CREATE INDEX {bare} ON <table> (<columns>);`")
    for fk in obs.unindexed:
        columns = ", ".join(fk.columns)
        problems.append(f"foreign key {fk.table}({columns}) -> {fk.parent} has no index led by {columns}")
        remediation.append(f"`CREATE INDEX idx_{fk.table}_{'_'.join(fk.columns)} ON {fk.table} ({columns});`")
    ok_text = f"all {_plural(obs.foreign_keys, 'foreign key')} are indexed"
    expected = "every foreign key's columns lead an index (PRAGMA foreign_key_list, index_list)"
    if declared:
        ok_text = f"{_plural(len(declared), 'declared index', 'declared indexes')} exist; {ok_text}"
        expected = f"the declared indexes exist ({', '.join(declared)}); {expected}"
    return Finding(
        ok=not problems,
        observed="; ".join(problems) if problems else ok_text,
        expected=expected,
        meaning="without the index, lookups and joins on these columns, and every delete of a parent row, read the "
        "whole table"
        if problems
        else "",
        remediation=tuple(remediation),
        facts={
            "indexes": sorted(obs.indexes),
            "foreign_keys": obs.foreign_keys,
            "unindexed": [{"table": f.table, "columns": list(f.columns), "parent": f.parent} for f in obs.unindexed],
        },
    )
