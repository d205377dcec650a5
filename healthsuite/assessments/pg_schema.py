"""Judge the PostgreSQL schema observations: tables (DB9), orphans (DB10), invariants (DB11), foreign
keys (DB12), the migration head (DB13), slow statements (PERF4), hot-query plans (PERF5) and indexes
(PERF6). Pure functions: observation in, `Finding` out."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..probes.errors import ProbeError
from ..probes.pg_schema import (
    EXAMPLES,
    MAX_UNINDEXED,
    ForeignKeysObservation,
    IndexesObservation,
    InvariantsObservation,
    MigrationsObservation,
    OrphansObservation,
    PlanObservation,
    PlansObservation,
    ScanNode,
    StatementCounters,
    StatementsObservation,
    StatementsSnapshot,
    TablesObservation,
    parse_snapshot,
    split_column,
    split_table,
)
from .failure import Finding

MAX_NAME = 63  # PostgreSQL's identifier length
MAX_UNREADABLE_NAMED = MAX_UNINDEXED  # the probe names at most this many unreadable tables


def quoted(name: str) -> str:
    """An identifier as one would type it in psql: bare when it is plain lower case, else quoted."""
    return name if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) else '"' + name.replace('"', '""') + '"'


def qualified(name: str) -> str:
    return ".".join(quoted(part) for part in name.split("."))


def error_text(error: ProbeError) -> str:
    """The server's own words, without the `LINE 1: ... ^` echo of the statement."""
    detail = error.detail.split(" LINE ", 1)[0].strip().removesuffix(".")  # the "." that joined its lines
    return f"permission denied ({detail})" if error.kind == "permission_denied" else detail


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural or word + 's')}"


def _grant_select(role: str, tables: Iterable[str]) -> str:
    names = ", ".join(dict.fromkeys(qualified(t) for t in tables))
    return f"Grant the monitoring role read access: `GRANT SELECT ON {names} TO {quoted(role or '<monitor role>')};`"


# --- DB9 -------------------------------------------------------------------------------------------------


def tables(obs: TablesObservation) -> Finding:
    """DB9: every declared table exists, and the monitoring role may SELECT from it."""
    role = obs.role or "the monitoring role"
    names = [t.name for t in obs.tables]
    missing = [t for t in obs.tables if not t.exists]
    unreadable = [t for t in obs.tables if t.exists and not t.readable]
    problems, causes, remediation = [], [], []
    for table in missing:
        article = "an" if table.kind[:1] in ("a", "e", "i", "o", "u") else "a"
        text = f"{table.name} is {article} {table.kind}, not a table" if table.kind else f"{table.name} does not exist"
        if table.similar:
            text += f" (similar names: {', '.join(table.similar)})"
            causes.append(f"{table.name} was renamed or moved: {', '.join(table.similar)} exists.")
            renamed, original = qualified(table.similar[0]), quoted(split_table(table.name)[1])
            remediation.append(
                f"If {table.similar[0]} is {table.name} renamed by mistake, rename it back after checking what the "
                f"code expects: `ALTER TABLE {renamed} RENAME TO {original};`"
            )
        problems.append(text)
    for table in unreadable:
        problems.append(f"{table.name} exists but {role} has no SELECT privilege on it")
    if unreadable:
        remediation.append(_grant_select(obs.role, (t.name for t in unreadable)))
    if missing:
        meaning = (
            f"queries on {', '.join(t.name for t in missing)} fail with \"relation does not exist\": the pages and "
            "API calls that use them answer errors"
        )
    elif unreadable:
        meaning = (
            "the tables exist, but the monitoring role cannot read them, so the integrity and data checks cannot "
            "see their rows"
        )
    else:
        meaning = ""
    return Finding(
        ok=not problems,
        observed="; ".join(problems)
        if problems
        else f"all {_plural(len(names), 'declared table')} exist and {role} may read them",
        expected=f"every declared table exists and {role} may SELECT from it: {', '.join(names)}",
        meaning=meaning,
        causes=tuple(causes),
        remediation=tuple(remediation),
        facts={
            "missing": [t.name for t in missing],
            "unreadable": [t.name for t in unreadable],
            "similar": {t.name: list(t.similar) for t in missing if t.similar},
        },
    )


# --- DB10 ------------------------------------------------------------------------------------------------


def _relation(child: str, parent: str) -> str:
    return f"{child} -> {parent}"


def orphans(obs: OrphansObservation) -> Finding:
    """DB10: no child row references a parent that does not exist."""
    problems, remediation, denied = [], [], []
    facts: dict[str, object] = {}
    for state in obs.relations:
        name = _relation(state.relation.child, state.relation.parent)
        child_table, child_column = split_column(state.relation.child)
        parent_table, parent_column = split_column(state.relation.parent)
        if state.error is not None:
            problems.append(f"{name}: could not be checked: {error_text(state.error)}")
            facts[name] = {"error": error_text(state.error)}
            if state.error.kind == "permission_denied":
                denied += [child_table, parent_table]
            continue
        facts[name] = {"orphans": state.count, "examples": list(state.examples)}
        if state.count:
            problems.append(
                f"{name}: {_plural(state.count, 'orphaned row')} (e.g. {'; '.join(state.examples)})"
            )
            c, p = quoted(child_column), quoted(parent_column)
            remediation.append(
                f"List them: `SELECT c.* FROM {qualified(child_table)} c LEFT JOIN {qualified(parent_table)} p "
                f"ON p.{p} = c.{c} WHERE p.{p} IS NULL AND c.{c} IS NOT NULL LIMIT 50;`"
            )
    if denied:
        remediation.append(_grant_select(obs.role, denied))
    relations = [_relation(s.relation.child, s.relation.parent) for s in obs.relations]
    orphaned = sum(s.count for s in obs.relations)
    if orphaned:
        meaning = (
            "rows point at parent rows that do not exist: the application may fail on them or show them without "
            "their tenant or owner, and the foreign key cannot be (re)created until they are resolved"
        )
    elif problems:
        meaning = "a relation could not be checked, so orphaned rows may be hidden"
    else:
        meaning = ""
    return Finding(
        ok=not problems,
        observed="; ".join(problems) if problems else f"no orphaned rows in {_plural(len(relations), 'relation')}: "
        + ", ".join(relations),
        expected="every non-NULL reference has its parent row: " + ", ".join(relations),
        meaning=meaning,
        remediation=tuple(remediation),
        facts={"relations": facts},
    )


# --- DB11 ------------------------------------------------------------------------------------------------


def invariants(obs: InvariantsObservation) -> Finding:
    """DB11: each declared invariant is TRUE for every (selected) row of its table."""
    problems, remediation, denied = [], [], []
    facts: dict[str, object] = {}
    invalid = False
    for state in obs.invariants:
        inv = state.invariant
        rule = f"{inv.name} ({inv.table}: {inv.holds}{f' where {inv.where}' if inv.where else ''})"
        if state.error is not None:
            problems.append(f"{rule}: could not be evaluated: {error_text(state.error)}")
            facts[inv.name] = {"error": error_text(state.error)}
            if state.error.kind == "permission_denied":
                denied.append(inv.table)
            else:
                invalid = True
            continue
        facts[inv.name] = {"violations": state.count, "examples": list(state.examples)}
        if state.count:
            problems.append(f"{rule}: {_plural(state.count, 'violating row')} (e.g. {'; '.join(state.examples)})")
            where = f" AND ({inv.where})" if inv.where else ""
            remediation.append(
                f"List them: `SELECT * FROM {qualified(inv.table)} WHERE ({inv.holds}) IS NOT TRUE{where} LIMIT 50;`"
            )
    if denied:
        remediation.append(_grant_select(obs.role, denied))
    if invalid:
        remediation.append(
            "Fix the invariant's SQL in the environment file (schema.invariants), or the schema it expects."
        )
    violated = sum(s.count for s in obs.invariants)
    names = [s.invariant.name for s in obs.invariants]
    if violated:
        meaning = "rows break a rule the application relies on: amounts shown, invoiced or charged may be wrong"
    elif problems:
        meaning = "an invariant could not be evaluated, so violations may be hidden"
    else:
        meaning = ""
    return Finding(
        ok=not problems,
        observed="; ".join(problems) if problems else f"{_plural(len(names), 'invariant')} hold for every row: "
        + ", ".join(names),
        expected="every row satisfies each invariant (a NULL result counts as a violation): " + ", ".join(names),
        meaning=meaning,
        remediation=tuple(remediation),
        facts={"invariants": facts},
    )


# --- DB12 ------------------------------------------------------------------------------------------------


def foreign_keys(obs: ForeignKeysObservation) -> Finding:
    """DB12: a FOREIGN KEY constraint exists for each relation declared with `constraint: true`."""
    wanted = [s for s in obs.relations if s.relation.constraint]
    problems, remediation, present = [], [], []
    for state in wanted:
        name = _relation(state.relation.child, state.relation.parent)
        child_table, child_column = split_column(state.relation.child)
        parent_table, parent_column = split_column(state.relation.parent)
        if not state.child_exists or not state.parent_exists:
            gone = [t for t, ok in ((child_table, state.child_exists), (parent_table, state.parent_exists)) if not ok]
            problems.append(f"{name}: no FOREIGN KEY possible, table {' and '.join(gone)} does not exist (DB9)")
        elif state.constraint is None:
            problems.append(f"{name}: no FOREIGN KEY constraint")
            constraint = f"{split_table(child_table)[1]}_{child_column}_fkey"[:MAX_NAME]
            table = qualified(child_table)
            remediation.append(
                f"Re-add it through a migration: `ALTER TABLE {table} ADD CONSTRAINT {quoted(constraint)} "
                f"FOREIGN KEY ({quoted(child_column)}) REFERENCES {qualified(parent_table)} ({quoted(parent_column)}) "
                f"NOT VALID;` then, once DB10 finds no orphans, `ALTER TABLE {table} VALIDATE CONSTRAINT "
                f"{quoted(constraint)};`"
            )
        else:
            present.append(f"{name} ({state.constraint}{'' if state.validated else ', NOT VALID'})")
    if not wanted:
        observed = "no declared relation asks for a constraint (all have constraint: false)"
    elif problems:
        observed = "; ".join(problems)
    else:
        observed = f"{_plural(len(present), 'FOREIGN KEY constraint')} present: {', '.join(present)}"
    return Finding(
        ok=not problems,
        observed=observed,
        expected="a FOREIGN KEY constraint (pg_constraint, contype 'f') for "
        + (", ".join(_relation(s.relation.child, s.relation.parent) for s in wanted) or "no relation"),
        meaning="without the constraint, nothing stops rows that reference missing parents (orphans, DB10)"
        if problems
        else "",
        remediation=tuple(remediation),
        facts={"missing": [p.split(":", 1)[0] for p in problems], "present": present},
    )


# --- DB13 ------------------------------------------------------------------------------------------------


def migration_head(obs: MigrationsObservation, expected: str | None) -> Finding:
    """DB13: the recorded migration head is the expected one (and there is only one)."""
    expected = expected or None
    where = f"{obs.table}.{obs.column}"
    wanted = f"head {expected}" if expected else "exactly one head"
    expectation = f"{where} records {wanted}"
    facts: dict[str, object] = {"table": obs.table, "heads": list(obs.heads), "expected": expected}
    if not obs.table_exists:
        return Finding(
            ok=False,
            observed=f"no migrations table: {obs.table} does not exist",
            expected=expectation,
            meaning="no migration was ever applied to this database, or the application points at another database",
            remediation=(
                "Check that DATABASE_URL names the right database, then apply the migrations (`alembic upgrade head`).",
            ),
            facts=facts,
        )
    if obs.read_error is not None:
        remediation = (_grant_select(obs.role, [obs.table]),) if obs.read_error.kind == "permission_denied" else ()
        return Finding(
            ok=False,
            observed=f"{obs.table} could not be read: {error_text(obs.read_error)}",
            expected=expectation,
            meaning="the migration head cannot be read, so whether migrations are pending is unknown",
            remediation=remediation,
            facts=facts,
        )
    if not obs.heads:
        return Finding(
            ok=False,
            observed=f"the migrations table {obs.table} is empty: no migration applied",
            expected=expectation,
            meaning="the schema was created without its migrations being recorded, or they were never applied",
            facts=facts,
        )
    if len(obs.heads) > 1:
        more = " (and more)" if obs.truncated else ""
        return Finding(
            ok=False,
            observed=f"{len(obs.heads)} heads in {where}: {', '.join(obs.heads)}{more}",
            expected=expectation,
            meaning="the migration history has branches: `alembic upgrade head` stops until they are merged",
            causes=("Two branches of migrations were applied without a merge revision.",),
            facts=facts,
        )
    head = obs.heads[0]
    ok = expected is None or head == expected
    return Finding(
        ok=ok,
        observed=f"{where} = {head}",
        expected=expectation,
        meaning=""
        if ok
        else f"the schema is at revision {head}, not {expected}: code expecting the new schema fails on the old "
        "one (pending or rolled-back migrations)",
        facts=facts,
    )


# --- PERF4 -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementDelta:
    """A statement's calls and execution time over the judged period."""

    counters: StatementCounters
    calls: int
    total_ms: float
    basis: str  # "previous run", "all-time" (first run), "reset" (counters went back), "new" (not kept before)

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0


_BASIS_NOTE = {
    "previous run": "",
    "all-time": "",
    "reset": "; its counters were reset since the previous run: judged from the reset",
    "new": "; not recorded by the previous run: judged from its first call",
}


def statement_deltas(obs: StatementsObservation, previous: StatementsSnapshot | None) -> list[StatementDelta]:
    """Each statement's calls and total time since the previous run's counters: all-time on a first run
    (no previous counters); from the reset when pg_stat_statements was reset since (stats_reset changed)
    or its own counters went back; from its first call when the previous run did not keep it."""
    deltas = []
    reset_all = previous is not None and bool(obs.stats_reset) and obs.stats_reset != previous.stats_reset
    for counters in obs.counters:
        before = None if previous is None else previous.counters.get(counters.key)
        if previous is None:
            delta = StatementDelta(counters, counters.calls, counters.total_ms, "all-time")
        elif reset_all or (before is not None and (counters.calls < before[0] or counters.total_ms < before[1] - 0.01)):
            delta = StatementDelta(counters, counters.calls, counters.total_ms, "reset")
        elif before is None:
            delta = StatementDelta(counters, counters.calls, counters.total_ms, "new")
        else:
            delta = StatementDelta(counters, counters.calls - before[0], max(0.0, counters.total_ms - before[1]),
                                   "previous run")
        if delta.calls > 0:
            deltas.append(delta)
    return deltas


def slow_statements(obs: StatementsObservation, max_mean_ms: float, previous: str | None = None) -> Finding:
    """PERF4: no statement has a mean execution time over the limit in the calls made since the previous
    run (the counters it kept, `previous`: StatementsObservation.snapshot); a first run judges the all-time
    means and says so. Hidden texts never pass."""
    role = obs.role or "the monitoring role"
    snapshot = parse_snapshot(previous)
    first = snapshot is None
    period = "all-time, since the statistics were last reset (no previous run kept the counters)" if first else (
        "since the previous run"
    )
    deltas = statement_deltas(obs, snapshot)
    slow = sorted((d for d in deltas if d.mean_ms > max_mean_ms), key=lambda d: (-d.mean_ms, d.counters.key))
    problems, remediation = [], []
    if slow:
        worst = "; ".join(
            f"{d.mean_ms:.0f} ms x{d.calls} `{d.counters.query}` (role {d.counters.role}{_BASIS_NOTE[d.basis]})"
            for d in slow[:EXAMPLES]
        )
        more = f"; and {_plural(len(slow) - EXAMPLES, 'more')}" if len(slow) > EXAMPLES else ""
        problems.append(
            f"{_plural(len(slow), 'statement')} with a mean over {max_mean_ms:g} ms {period}: {worst}{more}"
        )
        remediation.append(
            "PERF4 judges the calls made since the previous run, so it passes again on the first run without a "
            "new slow call: no reset of pg_stat_statements is needed (`pg_stat_statements_reset()` needs a "
            f"superuser or a granted EXECUTE, which {role} should not have; it also erases the history others read)."
        )
    if obs.hidden:
        problems.append(
            f"{_plural(obs.hidden, 'statement')} of other roles hidden from {role} (`<insufficient privilege>`): "
            "their texts cannot be read, so a slow one cannot be named"
        )
        remediation.append(
            f"Grant the statistics role: `GRANT pg_read_all_stats TO {quoted(obs.role or '<monitor role>')};` "
            "(part of `pg_monitor`)."
        )
    if slow:
        meaning = (
            f"the slowest statement took {slow[0].mean_ms:.0f} ms on average {period}: every request that runs it "
            "waits that long and holds a connection meanwhile"
        )
    elif obs.hidden:
        meaning = "the check cannot see what other roles run, so it cannot vouch for them"
    else:
        meaning = ""
    called = sum(1 for d in deltas)
    if first:
        ok_text = (
            f"no statement with an all-time mean over {max_mean_ms:g} ms among {_plural(obs.statements, 'statement')} "
            "of this database (first run: no previous counters, so all-time means are judged)"
        )
    else:
        ok_text = (
            f"no statement with a mean over {max_mean_ms:g} ms since the previous run: "
            f"{_plural(called, 'statement')} called since, of {_plural(obs.statements, 'statement')} of this database"
        )
    return Finding(
        ok=not problems,
        observed="; ".join(problems) if problems else ok_text,
        expected=f"no statement with a mean execution time over {max_mean_ms:g} ms in the calls made since the "
        "previous run (pg_stat_statements' calls and total time, minus the previous run's; a first run judges "
        "the all-time mean); the suite's own statements, marked /* healthsuite */, excluded",
        meaning=meaning,
        remediation=tuple(remediation),
        facts={
            "statements": obs.statements,
            "period": "all-time" if first else "since the previous run",
            "called": called,
            "slow": len(slow),
            "hidden": obs.hidden,
            "worst": [
                {
                    "query": d.counters.query,
                    "calls": d.calls,
                    "mean_ms": round(d.mean_ms, 1),
                    "role": d.counters.role,
                    "basis": d.basis,
                }
                for d in slow[:EXAMPLES]
            ],
        },
    )


# --- PERF5 -----------------------------------------------------------------------------------------------


def _is_large(relation: str, large_tables: Sequence[str]) -> bool:
    if not large_tables:
        return True
    schema, table = split_table(relation)
    for name in large_tables:
        large_schema, large_table = split_table(name)
        if large_table == table and (large_schema is None or large_schema == schema):
            return True
    return False


def full_scans(plan: PlanObservation, large_tables: Sequence[str]) -> list[ScanNode]:
    """The nodes reading a whole large table: a Seq Scan, or an index scan without an Index Cond
    unless it is a top-N read (under a Limit, without a Filter)."""
    found = []
    for node in plan.scans:
        if not _is_large(node.relation, large_tables):
            continue
        whole_index = node.node_type in ("Index Scan", "Index Only Scan") and not node.index_cond
        if node.node_type == "Seq Scan" or (whole_index and (node.filter or not node.ordered_limit)):
            found.append(node)
    return found


def hot_query_plans(obs: PlansObservation, large_tables: Sequence[str]) -> Finding:
    """PERF5: no hot query's plan (enable_seqscan off) reads a large table in full."""
    problems, used = [], []
    tables: set[str] = set()
    facts: dict[str, object] = {}
    invalid = denied = False
    for plan in obs.plans:
        name = plan.query.name
        if plan.error is not None:
            problems.append(f"{name}: EXPLAIN failed: {error_text(plan.error)}")
            facts[name] = {"error": error_text(plan.error)}
            denied = denied or plan.error.kind == "permission_denied"
            invalid = invalid or plan.error.kind != "permission_denied"
            continue
        scans = full_scans(plan, large_tables)
        facts[name] = {"scans": [n.describe() for n in plan.scans], "full_scans": [n.describe() for n in scans]}
        if scans:
            problems.append(f"{name}: {'; '.join(n.describe() for n in scans)}")
            tables.update(n.relation for n in scans)
        else:
            used.append(f"{name}: {'; '.join(n.describe() for n in plan.scans) or 'no table read'}")
    scope = ", ".join(large_tables) if large_tables else "any table (no large_tables declared)"
    remediation = [
        "Confirm in psql: `BEGIN; SET LOCAL enable_seqscan = off; EXPLAIN <query>; ROLLBACK;` - a Seq Scan that "
        "remains means no index can serve the query."
    ] if tables else []
    if denied:
        remediation.append(
            "EXPLAIN needs SELECT on the tables a query reads: "
            f"`GRANT SELECT ON <table> TO {quoted(obs.role or '<monitor role>')};`"
        )
    if invalid:
        remediation.append("Fix the hot query in the environment file (schema.hot_queries), or the schema it expects.")
    return Finding(
        ok=not problems,
        observed="; ".join(problems) if problems else "; ".join(used),
        expected=f"each hot query reads {scope} through an index (EXPLAIN with enable_seqscan off; never executed)",
        meaning=f"no index serves the query, so it reads the whole of {', '.join(sorted(tables))} on every call and "
        "slows down as the table grows"
        if tables
        else ("a hot query could not be explained, so its plan is unknown" if problems else ""),
        remediation=tuple(remediation),
        facts={"plans": facts},
    )


# --- PERF6 -----------------------------------------------------------------------------------------------


def indexes(obs: IndexesObservation) -> Finding:
    """PERF6: the declared indexes exist and are valid; every foreign key's first column leads an index."""
    problems, remediation = [], []
    for index in obs.declared:
        if not index.exists:
            problems.append(f"index {index.name} does not exist")
            remediation.append(
                f"Re-create {index.name} from its migration, e.g. `CREATE INDEX CONCURRENTLY {qualified(index.name)} "
                "ON <table> (<columns>);` (it does not block writes; run it outside a transaction)."
            )
        elif not index.is_index:
            problems.append(f"{index.name} exists but is not an index")
        elif not index.valid:
            problems.append(f"index {index.name} on {index.table} is INVALID (a failed CREATE INDEX CONCURRENTLY)")
            remediation.append(
                f"Rebuild it: `DROP INDEX CONCURRENTLY {qualified(index.name)};` then create it again "
                "(or `REINDEX INDEX CONCURRENTLY`)."
            )
    for fk in obs.unindexed:
        problems.append(
            f"foreign key {fk.table}.{fk.column} ({fk.constraint} -> {fk.parent}) has no index led by {fk.column}"
        )
        name = f"idx_{fk.table}_{fk.column}"[:MAX_NAME]
        table = f"{quoted(fk.schema)}.{quoted(fk.table)}"
        remediation.append(f"`CREATE INDEX CONCURRENTLY {quoted(name)} ON {table} ({quoted(fk.column)});`")
    hidden = obs.unindexed_count - len(obs.unindexed)
    if hidden > 0:
        problems.append(f"and {_plural(hidden, 'more unindexed foreign key')}")
    schemas = ", ".join(obs.schemas) or "public"
    declared = [i.name for i in obs.declared]
    role = obs.role or "the monitoring role"
    if obs.scope == "all":
        scope = f"in schema {schemas}"
    else:
        scope = f"of the {_plural(obs.tables, 'declared table')}"
    expected = f"every foreign key {scope} has an index led by its first column"
    if declared:
        expected = f"the declared indexes exist and are valid ({', '.join(declared)}); {expected}"
    if obs.foreign_keys:
        ok_text = f"all {_plural(obs.foreign_keys, 'foreign key')} {scope} are indexed"
    else:
        ok_text = f"no foreign key {scope} to judge"
    if declared:
        ok_text = f"{_plural(len(declared), 'declared index', 'declared indexes')} exist and are valid; {ok_text}"
    left_out = []
    if obs.undeclared:
        left_out.append(
            f"{_plural(obs.undeclared, 'foreign key')} of tables the file does not declare "
            "(schema.foreign_key_indexes.scope: all judges them)"
        )
    if obs.excluded:
        left_out.append(f"{_plural(obs.excluded, 'foreign key')} excluded by schema.foreign_key_indexes.exclude")
    if obs.unreadable:
        more = " ..." if obs.unreadable_tables and len(obs.unreadable_tables) >= MAX_UNREADABLE_NAMED else ""
        left_out.append(
            f"{_plural(obs.unreadable, 'foreign key')} of tables {role} cannot read "
            f"({', '.join(obs.unreadable_tables)}{more}: it has no SELECT on them)"
        )
    not_judged = f"not judged: {'; '.join(left_out)}" if left_out else ""
    observed = "; ".join(problems) if problems else ok_text
    if not_judged:
        observed = f"{observed} ({not_judged})"
    unindexed = bool(obs.unindexed_count)
    return Finding(
        ok=not problems,
        observed=observed,
        expected=expected,
        meaning="lookups and joins by the unindexed column, and every delete or key update of the parent row, "
        "scan the whole child table"
        if unindexed
        else ("queries that rely on the missing index scan whole tables" if problems else ""),
        remediation=tuple(remediation),
        facts={
            "missing_indexes": [i.name for i in obs.declared if not (i.exists and i.is_index and i.valid)],
            "unindexed_foreign_keys": [
                {"table": f"{fk.schema}.{fk.table}", "column": fk.column, "constraint": fk.constraint}
                for fk in obs.unindexed
            ],
            "unindexed_count": obs.unindexed_count,
            "foreign_keys": obs.foreign_keys,
            "scope": obs.scope,
            "declared_tables": obs.tables,
            "not_judged": {
                "undeclared": obs.undeclared,
                "excluded": obs.excluded,
                "unreadable": obs.unreadable,
                "unreadable_tables": list(obs.unreadable_tables),
            },
            # what failed, for the history: another missing index or unindexed key is a new failure
            "identity": sorted([f"index {i.name}" for i in obs.declared if not (i.exists and i.is_index and i.valid)]
                               + [f"fk {fk.schema}.{fk.table}.{fk.column}" for fk in obs.unindexed]),
        },
    )
