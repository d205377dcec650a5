"""PostgreSQL server activity, read from the catalog views on the run's shared read-only connection:
the connection itself (DB2), connection usage (DB3), long-running queries (DB5), idle sessions
(DB6), lock waits (DB7) and statistics age of the large tables (DB14).

One snapshot of pg_stat_activity serves DB3, DB5 and DB6 (and the visibility check every activity
check starts with): a single statement with fixed text and parameters, so the run's statement cache
makes it one read per database and run. It returns the settings, the server's own counts and every
other client backend (bounded by max_connections); each check filters it by its own limits in Python
and keeps at most `EXAMPLES` examples. Query texts are cut to `QUERY_CHARS` characters by the server
and password literals masked. The check's own session (`pg_backend_pid()`) is never counted, so a
check cannot cause what it measures.

Without `pg_monitor` (or `pg_read_all_stats`) PostgreSQL still lists other sessions, but with a NULL
state and `<insufficient privilege>` as query: an activity observation then carries a
`permission_denied` error naming the grant, rather than judging the rows it can see.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from .errors import ProbeError
from .pgreader import PgReader

QUERY_CHARS = 200
EXAMPLES = 5
CLIENT = "backend_type = 'client backend'"  # the sessions max_connections limits (not autovacuum, walsenders)

_PASSWORD_LITERAL = re.compile(r"(?i)(password\s*=?\s*)'(?:[^']|'')*(?:'|$)")


def mask_query(text: str | None) -> str:
    """A query text as reports show it: one line, password literals masked (it is already cut short)."""
    flat = " ".join((text or "").split())
    return _PASSWORD_LITERAL.sub(r"\1'***'", flat)


# --- observations -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """One session of pg_stat_activity, as a report shows it."""

    pid: int
    user: str
    application: str
    state: str
    age_s: float  # how long it has been in the measured condition (running, idle, waiting)
    query: str  # truncated and masked
    client: str = ""
    wait: str = ""  # wait_event_type/wait_event, e.g. Lock/transactionid
    xact_age_s: float | None = None

    def label(self) -> str:
        """`pid 4242 (booking-api, user app)`."""
        who = f"{self.application or 'no application_name'}, user {self.user or '?'}"
        return f"pid {self.pid} ({who})"

    def as_fact(self) -> dict[str, Any]:
        fact: dict[str, Any] = {
            "pid": self.pid,
            "user": self.user,
            "application": self.application,
            "state": self.state,
            "age_s": round(self.age_s, 1),
            "query": self.query,
        }
        if self.client:
            fact["client"] = self.client
        if self.wait:
            fact["wait"] = self.wait
        if self.xact_age_s is not None:
            fact["transaction_age_s"] = round(self.xact_age_s, 1)
        return fact


@dataclass(frozen=True)
class Visibility:
    """Whether the monitoring role sees every session's state and query (pg_read_all_stats)."""

    role: str = ""
    sees_all: bool = False
    hidden: int = 0  # sessions shown as <insufficient privilege>
    error: ProbeError | None = None


@dataclass(frozen=True)
class ConnectionInfo:
    """DB2: who the shared connection logged in as, where, and how long connecting took."""

    address: str
    user: str = ""
    database: str = ""
    server_version: str = ""
    in_recovery: bool | None = None
    connect_s: float = 0.0
    error: ProbeError | None = None


@dataclass(frozen=True)
class ConnectionCount:
    """DB3: client connections (this check's own excluded) against max_connections."""

    address: str
    connections: int = 0
    max_connections: int = 0
    superuser_reserved: int = 0
    reserved: int = 0  # reserved_connections (PostgreSQL 16+), 0 before
    all_backends: int = 0  # every backend, autovacuum and replication included
    groups: tuple[tuple[str, str, str, int], ...] = ()  # (application, state, user, count), largest first
    error: ProbeError | None = None

    @property
    def ordinary_slots(self) -> int:
        """Connections a role without superuser (or pg_use_reserved_connections) may open."""
        return max(0, self.max_connections - self.superuser_reserved - self.reserved)


@dataclass(frozen=True)
class LongQueries:
    """DB5: active queries running longer than the limit, oldest first."""

    address: str
    older_than_s: float = 0.0
    count: int = 0
    leaked: int = 0  # of them, running longer than the leak limit
    examples: tuple[Backend, ...] = ()
    error: ProbeError | None = None


@dataclass(frozen=True)
class IdleSessions:
    """DB6: sessions idle in transaction, and plain idle, past their limits, longest first."""

    address: str
    in_transaction: int = 0
    in_transaction_examples: tuple[Backend, ...] = ()
    idle: int = 0
    idle_examples: tuple[Backend, ...] = ()
    error: ProbeError | None = None


@dataclass(frozen=True)
class BlockedQuery:
    blocked: Backend  # age_s: how long it has waited for the lock
    lock: str  # e.g. "ShareLock on transactionid", "AccessExclusiveLock on relation appointments"
    blockers: tuple[int, ...]
    blocker: Backend | None  # the first blocking session; age_s: the age of its transaction

    def as_fact(self) -> dict[str, Any]:
        return {
            "blocked": self.blocked.as_fact(),
            "lock": self.lock,
            "blocking_pids": list(self.blockers),
            "blocker": self.blocker.as_fact() if self.blocker else None,
        }


@dataclass(frozen=True)
class BlockedQueries:
    """DB7: sessions waiting on a lock another session holds, longest wait first."""

    address: str
    count: int = 0
    examples: tuple[BlockedQuery, ...] = ()
    error: ProbeError | None = None


@dataclass(frozen=True)
class TableAnalyze:
    name: str  # as declared
    exists: bool
    is_table: bool = True
    last_analyze: datetime | None = None
    last_autoanalyze: datetime | None = None
    age_s: float | None = None  # since the latest of the two; None: never analyzed
    live_rows: int | None = None
    modified_since_analyze: int | None = None
    # what tells whether the planner has statistics, whatever pg_stat_reset() did to the dates above:
    # pg_class.reltuples (-1: never analyzed nor vacuumed, PostgreSQL 14+) and column statistics in
    # pg_stats (visible for the columns the role may read) or extended statistics data
    reltuples: float | None = None
    planner_stats: bool = False


@dataclass(frozen=True)
class AnalyzeAges:
    """DB14: when each declared large table was last analyzed (manually or by autovacuum)."""

    address: str
    tables: tuple[TableAnalyze, ...] = ()
    error: ProbeError | None = None
    stats_reset: datetime | None = None  # pg_stat_database.stats_reset: the dates start from there


# --- probing ------------------------------------------------------------------------------------------

_BACKEND_COLUMNS = (
    "pid, coalesce(usename::text, ''), coalesce(application_name, ''), coalesce(state, ''), "
    f"left(query, {QUERY_CHARS}), coalesce(host(client_addr), ''), "
    "coalesce(wait_event_type || '/' || wait_event, ''), extract(epoch FROM now() - xact_start)::float8"
)

# One read of pg_stat_activity per database and run serves the visibility check, DB3, DB5 and DB6: the
# statement's text and parameters are fixed (no per-check threshold), so PgReader's statement cache
# answers whichever asks second with the rows the first one read. Each check filters, sorts and cuts
# its examples in Python. The one row of `totals` always comes back (LEFT JOIN), so the settings and
# counts are there even when no other client session exists; then the session columns are NULL.
_SNAPSHOT = f"""
WITH activity AS MATERIALIZED (
    SELECT pid, usename, application_name, state, query, client_addr, wait_event_type, wait_event,
           xact_start, query_start, state_change, backend_type
    FROM pg_stat_activity
), totals AS (
    SELECT current_user::text AS role_name, quote_ident(current_user) AS role_quoted,
           pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS sees_all,
           count(*) FILTER (WHERE query = '<insufficient privilege>') AS hidden,
           count(*) FILTER (WHERE {CLIENT} AND pid <> pg_backend_pid()) AS clients,
           count(*) AS all_backends,
           current_setting('max_connections')::int AS max_conn,
           current_setting('superuser_reserved_connections')::int AS su_reserved,
           coalesce(current_setting('reserved_connections', true)::int, 0) AS reserved
    FROM activity
)
SELECT t.role_name, t.role_quoted, t.sees_all, t.hidden, t.clients, t.all_backends, t.max_conn, t.su_reserved,
       t.reserved, {_BACKEND_COLUMNS}, coalesce(state, 'unknown'),
       extract(epoch FROM now() - query_start)::float8, extract(epoch FROM now() - state_change)::float8
FROM totals t
LEFT JOIN activity ON {CLIENT} AND pid <> pg_backend_pid()
ORDER BY pid"""

# Client backends are bounded by max_connections; this bounds them again. The counts that need no
# threshold (connections, all backends, hidden sessions) are aggregates over every row in SQL, so they
# stay exact whatever the listing. What is counted from the rows in Python (DB5's and DB6's counts past
# their limits, DB3's groups) would be short on a truncated listing: DB5 and DB6 then refuse to judge,
# saying so, and DB3 judges on its exact count without groups, rather than naming the wrong largest.
SNAPSHOT_ROWS = 10_000
IN_TRANSACTION = "idle in transaction"  # a prefix: "idle in transaction (aborted)" is one too


@dataclass(frozen=True)
class _Session:
    """A client backend of the snapshot (not the check's own)."""

    columns: tuple[Any, ...]  # the _BACKEND_COLUMNS values, for _backend()
    group_state: str  # coalesce(state, 'unknown'), as DB3 groups it
    running_s: float | None  # now() - query_start
    in_state_s: float | None  # now() - state_change

    @property
    def pid(self) -> int:
        return int(self.columns[0])

    @property
    def user(self) -> str:
        return str(self.columns[1])

    @property
    def application(self) -> str:
        return str(self.columns[2])

    @property
    def state(self) -> str:
        return str(self.columns[3])


@dataclass(frozen=True)
class _Snapshot:
    """The one read of pg_stat_activity: what the visibility check, DB3, DB5 and DB6 each need."""

    seen: Visibility
    count: ConnectionCount  # DB3's numbers, counted by the server (its groups are counted from `sessions`)
    sessions: tuple[_Session, ...] = ()
    truncated: bool = False

    @property
    def error(self) -> ProbeError | None:
        return self.seen.error

    def partial(self, address: str) -> ProbeError:
        return ProbeError(
            "other",
            "postgres",
            address,
            f"pg_stat_activity lists more than {SNAPSHOT_ROWS} client sessions and only {SNAPSHOT_ROWS} were read: "
            "not judged on a partial list",
        )


def _snapshot(reader: PgReader) -> _Snapshot:
    result = reader.query(_SNAPSHOT, label="pg_stat_activity snapshot", max_rows=SNAPSHOT_ROWS)
    if result.error is not None:
        return _Snapshot(Visibility(error=result.error), ConnectionCount(reader.address, error=result.error))
    first = result.rows[0]
    role, quoted, sees_all, hidden = first[:4]
    error = None
    if not sees_all or hidden:
        error = ProbeError(
            "permission_denied",
            "postgres",
            reader.address,
            f"role {role} is not a member of pg_monitor (nor pg_read_all_stats): pg_stat_activity hides the "
            f"state and query of {hidden} other backend(s) from it, so they cannot be judged; "
            f"run GRANT pg_monitor TO {quoted};",
        )
    clients, everything, max_conn, su_reserved, reserved = first[4:9]
    return _Snapshot(
        Visibility(str(role), bool(sees_all), int(hidden), error),
        ConnectionCount(
            reader.address,
            connections=int(clients),
            max_connections=int(max_conn),
            superuser_reserved=int(su_reserved),
            reserved=int(reserved),
            all_backends=int(everything),
        ),
        sessions=tuple(
            _Session(
                tuple(row[9:17]),
                str(row[17]),
                float(row[18]) if row[18] is not None else None,
                float(row[19]) if row[19] is not None else None,
            )
            for row in result.rows
            if row[9] is not None  # the LEFT JOIN's row when no other client session exists
        ),
        truncated=result.truncated,
    )


def visibility(reader: PgReader) -> Visibility:
    """Whether this role may see other sessions: membership of pg_read_all_stats (pg_monitor has it)."""
    return _snapshot(reader).seen


def connection(reader: PgReader) -> ConnectionInfo:
    """DB2: the run's shared connection, and who it is."""
    result = reader.query(
        "SELECT current_user::text, current_database()::text, split_part(current_setting('server_version'), ' ', 1), "
        "pg_is_in_recovery()",
        label="connection",
    )
    if result.error is not None:
        return ConnectionInfo(reader.address, connect_s=reader.connect_elapsed_s, error=result.error)
    user, database, version, recovery = result.rows[0]
    return ConnectionInfo(reader.address, user, database, version, bool(recovery), reader.connect_elapsed_s)


def connection_count(reader: PgReader) -> ConnectionCount:
    """DB3: client backends against max_connections, and the largest groups by application/state/user."""
    snap = _snapshot(reader)
    if snap.error is not None:
        return ConnectionCount(reader.address, error=snap.error)
    groups: Counter[tuple[str, str, str]] = Counter(
        (s.application, s.group_state, s.user) for s in snap.sessions
    )
    largest = sorted(groups.items(), key=lambda item: (-item[1], *item[0]))
    return replace(
        snap.count, groups=() if snap.truncated else tuple((a, s, u, n) for (a, s, u), n in largest[:EXAMPLES])
    )


def _backend(row: Sequence[Any], age_s: Any) -> Backend:
    pid, user, application, state, query, client, wait, xact_age = row[:8]
    return Backend(
        pid=int(pid),
        user=str(user),
        application=str(application),
        state=str(state),
        age_s=float(age_s or 0.0),
        query=mask_query(query),
        client=str(client),
        wait=str(wait),
        xact_age_s=float(xact_age) if xact_age is not None else None,
    )


def _older(sessions: Sequence[_Session], age: Callable[[_Session], float | None], limit_s: float) -> list[_Session]:
    """The sessions whose `age` exceeds `limit_s`, oldest first (pid breaks ties)."""
    past = [s for s in sessions if (a := age(s)) is not None and a > limit_s]
    return sorted(past, key=lambda s: (-(age(s) or 0.0), s.pid))


def long_queries(reader: PgReader, older_than_s: float, leak_s: float) -> LongQueries:
    """DB5: client queries active for longer than `older_than_s` (those over `leak_s` counted apart)."""
    snap = _snapshot(reader)
    if snap.error is not None:
        return LongQueries(reader.address, older_than_s, error=snap.error)
    if snap.truncated:
        return LongQueries(reader.address, older_than_s, error=snap.partial(reader.address))
    long = _older([s for s in snap.sessions if s.state == "active"], lambda s: s.running_s, older_than_s)
    return LongQueries(
        reader.address,
        older_than_s,
        count=len(long),
        leaked=sum(1 for s in long if (s.running_s or 0.0) > leak_s),
        examples=tuple(_backend(s.columns, s.running_s) for s in long[:EXAMPLES]),
    )


def idle_sessions(reader: PgReader, in_transaction_s: float, idle_s: float) -> IdleSessions:
    """DB6: sessions idle in transaction longer than `in_transaction_s`, and idle longer than `idle_s`."""
    snap = _snapshot(reader)
    if snap.error is not None:
        return IdleSessions(reader.address, error=snap.error)
    if snap.truncated:
        return IdleSessions(reader.address, error=snap.partial(reader.address))
    in_tx = [s for s in snap.sessions if s.state.startswith(IN_TRANSACTION)]  # as LIKE 'idle in transaction%'
    in_tx = _older(in_tx, lambda s: s.in_state_s, in_transaction_s)
    idle = _older([s for s in snap.sessions if s.state == "idle"], lambda s: s.in_state_s, idle_s)
    return IdleSessions(
        reader.address,
        in_transaction=len(in_tx),
        in_transaction_examples=tuple(_backend(s.columns, s.in_state_s) for s in in_tx[:EXAMPLES]),
        idle=len(idle),
        idle_examples=tuple(_backend(s.columns, s.in_state_s) for s in idle[:EXAMPLES]),
    )


# pg_blocking_pids() takes the lock manager's locks briefly: it is called only for sessions that wait
# on a heavyweight lock. pg_locks.waitstart exists from PostgreSQL 14 (read through to_jsonb so older
# servers answer too, falling back to the statement's start).
_BLOCKED = f"""
WITH waiting AS MATERIALIZED (
    SELECT pid, pg_blocking_pids(pid) AS blockers
    FROM pg_stat_activity
    WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()
)
SELECT b.pid, coalesce(b.usename::text, ''), coalesce(b.application_name, ''), coalesce(b.state, ''),
       left(b.query, {QUERY_CHARS}), coalesce(host(b.client_addr), ''),
       coalesce(b.wait_event_type || '/' || b.wait_event, ''), extract(epoch FROM now() - b.xact_start)::float8,
       extract(epoch FROM now() - coalesce(l.waitstart, b.query_start))::float8 AS waited_s,
       coalesce(l.mode, ''), coalesce(l.locktype, ''), coalesce(l.relation::regclass::text, ''),
       w.blockers[1:10],
       h.pid, coalesce(h.usename::text, ''), coalesce(h.application_name, ''), coalesce(h.state, ''),
       left(h.query, {QUERY_CHARS}), coalesce(host(h.client_addr), ''),
       coalesce(h.wait_event_type || '/' || h.wait_event, ''), extract(epoch FROM now() - h.xact_start)::float8,
       count(*) OVER ()
FROM waiting w
JOIN pg_stat_activity b ON b.pid = w.pid
LEFT JOIN LATERAL (
    SELECT pl.mode, pl.locktype, pl.relation, (to_jsonb(pl) ->> 'waitstart')::timestamptz AS waitstart
    FROM pg_locks pl WHERE pl.pid = w.pid AND NOT pl.granted LIMIT 1
) l ON true
LEFT JOIN pg_stat_activity h ON h.pid = w.blockers[1]
WHERE cardinality(w.blockers) > 0
ORDER BY waited_s DESC NULLS LAST
LIMIT %s"""


def blocked_queries(reader: PgReader) -> BlockedQueries:
    """DB7: sessions blocked by another's lock: who waits, on what lock, for how long, behind whom."""
    seen = visibility(reader)
    if seen.error is not None:
        return BlockedQueries(reader.address, error=seen.error)
    result = reader.query(_BLOCKED, (EXAMPLES,), label="blocked queries")
    if result.error is not None:
        return BlockedQueries(reader.address, error=result.error)
    examples = []
    for row in result.rows:
        mode, locktype, relation = row[9], row[10], row[11]
        lock = f"{mode or 'a lock'} on {locktype or '?'}" + (f" {relation}" if relation else "")
        blocker = None
        if row[13] is not None:
            blocker = _backend(row[13:21], row[20])
        examples.append(BlockedQuery(_backend(row[:8], row[8]), lock, tuple(int(p) for p in row[12] or ()), blocker))
    return BlockedQueries(reader.address, count=int(result.rows[0][21]) if result.rows else 0, examples=tuple(examples))


_ANALYZE = """
SELECT d.name, c.oid IS NOT NULL, s.relid IS NOT NULL, s.last_analyze, s.last_autoanalyze,
       extract(epoch FROM now() - greatest(s.last_analyze, s.last_autoanalyze))::float8,
       s.n_live_tup, s.n_mod_since_analyze, c.reltuples::float8,
       c.oid IS NOT NULL AND (
           EXISTS (SELECT 1 FROM pg_stats ps JOIN pg_namespace n ON n.nspname = ps.schemaname
                   WHERE n.oid = c.relnamespace AND ps.tablename = c.relname)
           OR EXISTS (SELECT 1 FROM pg_stats_ext pe JOIN pg_namespace n ON n.nspname = pe.schemaname
                      WHERE n.oid = c.relnamespace AND pe.tablename = c.relname)),
       (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database())
FROM jsonb_to_recordset(%s::jsonb) AS d(ord int, name text, schema_name text, table_name text)
LEFT JOIN pg_class c ON c.oid = to_regclass(
    CASE WHEN d.schema_name IS NULL THEN quote_ident(d.table_name)
         ELSE quote_ident(d.schema_name) || '.' || quote_ident(d.table_name) END)
LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
ORDER BY d.ord"""


def split_table(name: str) -> tuple[str | None, str]:
    """`billing.invoices` -> ("billing", "invoices"); `invoices` -> (None, "invoices") (search_path)."""
    schema, _, table = name.rpartition(".")
    return (schema or None), table


def analyze_ages(reader: PgReader, tables: Sequence[str]) -> AnalyzeAges:
    """DB14: last (auto)analyze of each declared table; names are matched exactly, as quoted identifiers."""
    declared = [
        {"ord": i, "name": name, "schema_name": split_table(name)[0], "table_name": split_table(name)[1]}
        for i, name in enumerate(tables)
    ]
    result = reader.query(_ANALYZE, (json.dumps(declared),), label="analyze ages")
    if result.error is not None:
        return AnalyzeAges(reader.address, error=result.error)
    return AnalyzeAges(
        reader.address,
        tuple(
            TableAnalyze(
                name=str(name),
                exists=bool(exists),
                is_table=bool(has_stats),
                last_analyze=last,
                last_autoanalyze=last_auto,
                age_s=float(age) if age is not None else None,
                live_rows=int(live) if live is not None else None,
                modified_since_analyze=int(modified) if modified is not None else None,
                reltuples=float(reltuples) if reltuples is not None else None,
                planner_stats=bool(planner),
            )
            for name, exists, has_stats, last, last_auto, age, live, modified, reltuples, planner, _ in result.rows
        ),
        stats_reset=next((row[-1] for row in result.rows), None),
    )
