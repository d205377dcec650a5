"""Judge PostgreSQL server activity: the connection (DB2), connection usage (DB3), long-running
queries (DB5), idle sessions (DB6), blocked queries (DB7) and statistics age (DB14)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

from ..catalogue.diagnoses import Catalogue
from ..probes.pg_activity import (
    AnalyzeAges,
    Backend,
    BlockedQueries,
    ConnectionCount,
    ConnectionInfo,
    IdleSessions,
    LongQueries,
    TableAnalyze,
)
from .failure import Finding, probe_failure

DAY_S = 86400.0


def duration(seconds: float) -> str:
    """`42 s`, `12 min 5 s`, `3 h 20 min`, `9 d 4 h`: what a person reads at a glance."""
    s = int(round(seconds))
    if s < 120:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        minutes, rest = s // 60, s % 60
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    if s < 2 * DAY_S:
        hours, minutes = s // 3600, s % 3600 // 60
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = s // 86400, s % 86400 // 3600
    return f"{days} d {hours} h" if hours else f"{days} d"


def _limit(seconds: float) -> str:
    return f"{seconds:g} s" if seconds < 120 else duration(seconds)


def _examples(backends: tuple[Backend, ...], what: str) -> str:
    return "; ".join(f"{b.label()} {what} {duration(b.age_s)}: {b.query or '(no query text)'!r}" for b in backends)


_ADDRESS = re.compile(r"/(?P<database>[^ /]*) \(user (?P<user>[^)]*)\)$")


def connected(obs: ConnectionInfo, catalogue: Catalogue, expected: str) -> Finding:
    """DB2: the shared connection was established. A failure is named by its kind, with that kind's causes
    and remediation from the catalogue's `failure_kinds`; refused CONNECT privilege adds its grant."""
    if obs.error is not None:
        failure = probe_failure(obs.error, catalogue, expected)
        where = _ADDRESS.search(obs.address)
        if obs.error.kind == "permission_denied" and where and "for database" in obs.error.detail:
            grant = f"GRANT CONNECT ON DATABASE {where['database']} TO {where['user']};"
            failure = replace(
                failure,
                meaning=f"the role {where['user']} may not connect to {where['database']} (no CONNECT privilege)",
                remediation=(f"Grant it, as the database owner: `{grant}`", *failure.remediation),
            )
        return failure
    role = "standby" if obs.in_recovery else "primary"
    host = obs.address.split(" (user", 1)[0]
    return Finding(
        ok=bool(obs.user),
        observed=f"connected as {obs.user} to {host} in {obs.connect_s * 1000:.0f} ms "
        f"(PostgreSQL {obs.server_version}, {role})",
        expected=expected,
        facts={
            "user": obs.user,
            "database": obs.database,
            "server_version": obs.server_version,
            "in_recovery": obs.in_recovery,
            "connect_ms": round(obs.connect_s * 1000, 1),
        },
    )


def connection_usage(obs: ConnectionCount, max_pct: float) -> Finding:
    """DB3: client connections under `max_pct` % of max_connections."""
    pct = 100.0 * obs.connections / obs.max_connections if obs.max_connections else 100.0
    ok = pct < max_pct
    groups = [
        {"application": app, "state": state, "user": user, "connections": count}
        for app, state, user, count in obs.groups
    ]
    top = ", ".join(f"{g['application'] or '(none)'}/{g['state']}/{g['user']}: {g['connections']}" for g in groups)
    observed = f"{obs.connections} of {obs.max_connections} connections ({pct:.0f} %)"
    if not ok and top:
        observed += f"; largest groups (application/state/user): {top}"
    left = obs.ordinary_slots - obs.connections
    meaning = ""
    if not ok:
        meaning = (
            f"only {max(0, left)} of the {obs.ordinary_slots} connections open to ordinary roles remain: new "
            "connections will soon be refused with 'too many clients'; find who holds them in the groups above"
        )
    return Finding(
        ok=ok,
        observed=observed,
        expected=f"under {max_pct:g} % of max_connections ({obs.max_connections})",
        meaning=meaning,
        facts={
            "connections": obs.connections,
            "counted": "client backends (pg_stat_activity.backend_type = 'client backend'), this check's own "
            "connection excluded",
            "all_backends": obs.all_backends,
            "max_connections": obs.max_connections,
            "superuser_reserved_connections": obs.superuser_reserved,
            "reserved_connections": obs.reserved,
            "percent": round(pct, 1),
            "top_groups": groups,
        },
    )


def long_running_queries(obs: LongQueries, max_active_s: float, leak_s: float) -> Finding:
    """DB5: no active query older than `max_active_s`; over `leak_s` it is called a leaked connection."""
    ok = obs.count == 0
    expected = f"no active query running longer than {_limit(max_active_s)}"
    if ok:
        return Finding(ok=True, observed=f"no active query older than {_limit(max_active_s)}", expected=expected)
    oldest = obs.examples[0] if obs.examples else None
    observed = f"{obs.count} active quer{'y' if obs.count == 1 else 'ies'} older than {_limit(max_active_s)}"
    if obs.leaked:
        observed += f" ({obs.leaked} older than {_limit(leak_s)}: leaked connection{'s' if obs.leaked > 1 else ''})"
    observed += ": " + _examples(obs.examples, "running for")
    waiting = [b for b in obs.examples if b.wait.startswith("Lock/")]
    causes: tuple[str, ...] = ()
    if waiting:
        causes = (
            f"{', '.join(f'pid {b.pid}' for b in waiting)} wait{'s' if len(waiting) == 1 else ''} on a lock held "
            "by another session: see DB7 for the blocker before ending anything.",
        )
    if obs.leaked:
        meaning = (
            f"a query has run for over {_limit(leak_s)}: its connection is most likely leaked (the client gave up "
            "or never closed it) and holds a connection slot and its locks"
        )
    else:
        meaning = "a query runs far longer than a request should: it holds a connection and its locks meanwhile"
    return Finding(
        ok=False,
        observed=observed,
        expected=expected,
        meaning=meaning,
        causes=causes,
        remediation=(
            (f"The oldest is pid {oldest.pid}: `SELECT pg_cancel_backend({oldest.pid})` cancels only its query, "
             "`pg_terminate_backend` ends the whole session.",)
            if oldest
            else ()
        ),
        facts={
            "count": obs.count,
            "leaked": obs.leaked,
            "max_active_query_s": max_active_s,
            "leak_query_s": leak_s,
            "oldest": [b.as_fact() for b in obs.examples],
        },
    )


def idle_sessions(
    obs: IdleSessions, max_in_transaction_s: float, max_idle_s: float, *, include_idle: bool = False
) -> Finding:
    """DB6: no session idle in transaction (or idle in transaction (aborted)) longer than its limit; plain
    idle sessions longer than theirs only with `include_idle` (the database's `idle_sessions: include`).

    An idle session is what a connection pool keeps between requests: normal, so it is only counted (and
    named in the passing text) unless the file asks. Idle in transaction is the runbooks' fault: it holds
    locks and a snapshot, and blocks vacuum."""
    expected = f"no session idle in transaction for over {_limit(max_in_transaction_s)}"
    expected += (
        f", nor idle for over {_limit(max_idle_s)} (idle_sessions: include)"
        if include_idle
        else " (plain idle sessions, a pool's, are not judged unless the database sets idle_sessions: include)"
    )
    facts = {
        "idle_in_transaction": obs.in_transaction,
        "idle": obs.idle,
        "idle_judged": include_idle,
        "max_idle_in_transaction_s": max_in_transaction_s,
        "max_idle_s": max_idle_s,
        "idle_in_transaction_examples": [b.as_fact() for b in obs.in_transaction_examples],
        "idle_examples": [b.as_fact() for b in obs.idle_examples],
    }
    idle_failing = include_idle and obs.idle > 0
    if not obs.in_transaction and not idle_failing:
        observed = f"no session idle in transaction over {_limit(max_in_transaction_s)}"
        if include_idle:
            observed += f" nor idle over {_limit(max_idle_s)}"
        elif obs.idle:
            observed += (
                f" ({obs.idle} plain idle session(s) over {_limit(max_idle_s)}, as a connection pool keeps them: "
                "not judged without idle_sessions: include)"
            )
        return Finding(ok=True, observed=observed, expected=expected, facts=facts)
    parts = []
    if obs.in_transaction:
        parts.append(
            f"{obs.in_transaction} session(s) idle in transaction for over {_limit(max_in_transaction_s)}: "
            + "; ".join(_examples((b,), f"{b.state or 'idle in transaction'} for") for b in obs.in_transaction_examples)
        )
    if idle_failing:
        parts.append(
            f"{obs.idle} session(s) idle for over {_limit(max_idle_s)}: " + _examples(obs.idle_examples, "idle for")
        )
    remediation = []
    if obs.in_transaction:
        meaning = (
            "an open transaction nobody is using holds its locks and its snapshot (vacuum cannot clean behind "
            "it) and a connection slot: the application opened it and never committed or rolled back"
        )
        worst = obs.in_transaction_examples[0] if obs.in_transaction_examples else None
        if worst is not None:
            remediation.append(
                f"Look at pid {worst.pid} first (`SELECT * FROM pg_stat_activity WHERE pid = {worst.pid}`): its "
                "last statement shows where the code left the transaction open."
            )
        remediation.append(
            "Setting `idle_in_transaction_session_timeout` (e.g. `ALTER DATABASE <db> SET "
            "idle_in_transaction_session_timeout = '10min';`) makes the server end such sessions itself."
        )
    else:
        meaning = (
            "idle connections hold connection slots for nothing: a pool keeps more than it needs, or clients "
            "leaked them"
        )
    if idle_failing:
        worst = obs.idle_examples[0] if obs.idle_examples else None
        remediation.append(
            (f"Look at pid {worst.pid} first (`SELECT * FROM pg_stat_activity WHERE pid = {worst.pid}`); " if worst
             else "")
            + "bound the pool's idle connections (its idle timeout or maximum idle size), or set "
            "`idle_session_timeout` (PostgreSQL 14+) for the application's role so the server closes them."
        )
    return Finding(
        ok=False,
        observed="; ".join(parts),
        expected=expected,
        meaning=meaning,
        remediation=tuple(remediation),
        facts=facts,
    )


def blocked_queries(obs: BlockedQueries) -> Finding:
    """DB7: no session waits on a lock another session holds."""
    expected = "no query waiting on a lock held by another session"
    if obs.count == 0:
        return Finding(ok=True, observed="no query is blocked by another session's lock", expected=expected)
    parts = []
    for item in obs.examples:
        blocked = item.blocked
        text = f"{blocked.label()} waits {duration(blocked.age_s)} for {item.lock}: {blocked.query!r}"
        if item.blocker is not None:
            holder = item.blocker
            text += (
                f", blocked by {holder.label()} {holder.state or 'in an unknown state'}"
                + (f" (transaction open for {duration(holder.age_s)})" if holder.xact_age_s is not None else "")
                + f": {holder.query or '(no query text)'!r}"
            )
        elif item.blockers:
            text += f", blocked by pid {', '.join(str(p) for p in item.blockers)}"
        parts.append(text)
    first = obs.examples[0] if obs.examples else None
    idle_holder = first is not None and first.blocker is not None and first.blocker.state.startswith("idle")
    meaning = f"{obs.count} quer{'y' if obs.count == 1 else 'ies'} cannot proceed until another transaction ends"
    if idle_holder:
        meaning += (
            ", and the blocking session is idle in its transaction: it holds the lock while doing nothing "
            "(an application that did not commit)"
        )
    remediation: tuple[str, ...] = ()
    if first is not None and first.blocker is not None:
        remediation = (
            f"The blocker is pid {first.blocker.pid}: check what it is doing before a human ends it with "
            f"`SELECT pg_terminate_backend({first.blocker.pid})`.",
        )
    return Finding(
        ok=False,
        observed=f"{obs.count} blocked: " + "; ".join(parts),
        expected=expected,
        meaning=meaning,
        remediation=remediation,
        facts={"blocked": obs.count, "examples": [item.as_fact() for item in obs.examples]},
    )


def _no_analyze_recorded(table: TableAnalyze, stats_reset: datetime | None) -> str:
    """What is true of a table pg_stat_all_tables has no analyze date for. The dates are the cumulative
    statistics', which pg_stat_reset() clears; the planner's statistics (pg_class.reltuples, pg_stats)
    stay. "never analyzed" only when those say so too (reltuples -1: never analyzed nor vacuumed)."""
    if not table.planner_stats and table.reltuples is not None and table.reltuples < 0:
        return f"{table.name} was never analyzed (no planner statistics: pg_class.reltuples is -1, pg_stats empty)"
    since = f" since the statistics were reset at {stats_reset.isoformat(timespec='seconds')}" if stats_reset else ""
    text = f"{table.name}: no analyze recorded{since}"
    if table.planner_stats:
        return f"{text} (its planner statistics are present in pg_stats: it was analyzed before, when is unknown)"
    return f"{text} (no column statistics visible to this role in pg_stats)"


def analyze_recency(obs: AnalyzeAges, max_age_days: float) -> Finding:
    """DB14: each declared large table was analyzed (manually or by autovacuum) within `max_age_days`.
    A table without an analyze date is said to be never analyzed only when its planner statistics are
    missing too; after pg_stat_reset() it is "no analyze recorded since the statistics were reset"."""
    limit_s = max_age_days * DAY_S
    problems: list[str] = []
    missing: list[str] = []
    seen: list[str] = []
    for table in obs.tables:
        if not table.exists:
            missing.append(table.name)
            problems.append(f"{table.name} does not exist")
        elif not table.is_table:
            problems.append(f"{table.name} is not a table (no statistics)")
        elif table.age_s is None:
            problems.append(_no_analyze_recorded(table, obs.stats_reset))
        elif table.age_s > limit_s:
            changed = table.modified_since_analyze
            since = f" ({changed} rows changed since)" if changed is not None else ""
            problems.append(f"{table.name} last analyzed {duration(table.age_s)} ago{since}")
        else:
            seen.append(f"{table.name} {duration(table.age_s)} ago")
    window = f"{max_age_days:g} days" if max_age_days >= 1 else _limit(limit_s)
    expected = f"every large table analyzed within {window}"
    facts = {
        "max_analyze_age_days": max_age_days,
        "tables": [
            {
                "table": t.name,
                "exists": t.exists,
                "last_analyze": t.last_analyze.isoformat() if t.last_analyze else None,
                "last_autoanalyze": t.last_autoanalyze.isoformat() if t.last_autoanalyze else None,
                "age_s": round(t.age_s, 1) if t.age_s is not None else None,
                "live_rows": t.live_rows,
                "modified_since_analyze": t.modified_since_analyze,
                "reltuples": t.reltuples,
                "planner_stats": t.planner_stats,
            }
            for t in obs.tables
        ],
        "stats_reset": obs.stats_reset.isoformat() if obs.stats_reset else None,
    }
    if not problems:
        return Finding(ok=True, observed="analyzed: " + ", ".join(seen), expected=expected, facts=facts)
    stale = stale_or_never(obs, limit_s)
    meaning = ""
    remediation: tuple[str, ...] = ()
    unknown = [t.name for t in obs.tables if t.exists and t.is_table and t.age_s is None and t.planner_stats]
    if stale and len(unknown) == len(stale):
        meaning = (
            "the planner has statistics on these tables, but their age is unknown: no analyze is recorded since "
            "the cumulative statistics were reset, so they may be outdated"
        )
        remediation = (f"Analyze them once, which records when: `ANALYZE {', '.join(stale)};`",)
    elif stale:
        meaning = (
            "the planner works from missing or outdated statistics on these tables, so it may pick full scans or "
            "bad joins for queries that were fast"
        )
        remediation = (f"Refresh them now: `ANALYZE {', '.join(stale)};`",)
    if missing:
        absent = (
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} declared large but "
            f"{'does' if len(missing) == 1 else 'do'} not exist here: a wrong name or schema in the environment "
            "file, or a migration that was not applied"
        )
        meaning = f"{absent}; and {meaning}" if meaning else absent
        remediation += ("Compare `schema.large_tables` with `\\dt` on this database (schema-qualify as schema.table).",)
    return Finding(
        ok=False,
        observed="; ".join(problems),
        expected=expected,
        meaning=meaning,
        remediation=remediation,
        facts=facts,
    )


def stale_or_never(obs: AnalyzeAges, limit_s: float) -> list[str]:
    """The declared tables that exist but were never analyzed, or not within `limit_s`."""
    return [t.name for t in obs.tables if t.exists and t.is_table and (t.age_s is None or t.age_s > limit_s)]
