"""Judge Redis health from one INFO reading: memory and rejected connections (CACHE2) and the keyspace hit
rate (PERF7).

Redis counters are cumulative since the server started (or the last `CONFIG RESETSTAT`): one reading judges
that whole lifetime, and the findings say so with its age."""

from __future__ import annotations

from ..probes.redis_stats import RedisInfo
from .failure import Finding
from .pg_activity import duration
from .units import size

MIN_LOOKUPS = 100  # PERF7: fewer keyspace lookups than this are too few to judge a hit rate


def _since(uptime_s: int | None, what: str = "the server started") -> str:
    return f"since {what} {duration(uptime_s)} ago" if uptime_s is not None else f"since {what}"


def redis_memory(obs: RedisInfo, max_pct: float, max_rejected: float) -> Finding:
    """CACHE2: used_memory under `max_pct` % of maxmemory, and rejected_connections at most `max_rejected`.

    maxmemory 0 means no limit: Redis then grows until the host (or container) runs out, so used memory
    is judged against total_system_memory, the host's memory as Redis sees it. rejected_connections is
    cumulative since start (or CONFIG RESETSTAT): any rejection in that lifetime fails, and the message
    says how to reset the counter once the cause is fixed."""
    used = obs.number("used_memory")
    maxmemory = obs.number("maxmemory") or 0
    system = obs.number("total_system_memory") or 0
    rejected = obs.number("rejected_connections")
    uptime = obs.number("uptime_in_seconds")
    policy = str(obs.fields.get("maxmemory_policy", "?"))
    expected = (
        f"used_memory under {max_pct:g} % of maxmemory (no maxmemory: of total_system_memory); "
        f"rejected_connections at most {max_rejected:g}"
    )
    if used is None or rejected is None:
        missing = " and ".join(n for n, v in (("used_memory", used), ("rejected_connections", rejected)) if v is None)
        return Finding(
            ok=False,
            observed=f"INFO from {obs.address} does not report {missing}",
            expected=expected,
            meaning="the server's memory use cannot be read: INFO may be restricted by a proxy or a managed service",
        )
    if maxmemory:
        limit, basis = maxmemory, "maxmemory"
    elif system:
        limit, basis = system, "total_system_memory (no maxmemory set)"
    else:
        limit, basis = 0, ""
    pct = 100.0 * used / limit if limit else 0.0
    memory_ok = pct < max_pct
    rejected_ok = rejected <= max_rejected
    if limit:
        memory = f"used_memory {size(used)} of {basis} {size(limit)} ({pct:.1f} %), policy {policy}"
    else:
        memory = f"used_memory {size(used)}, no maxmemory and no total_system_memory to judge it against"
    clients = f"{obs.number('connected_clients')} connected"
    if obs.number("maxclients"):
        clients += f" of maxclients {obs.number('maxclients')}"
    observed = f"{memory}; {rejected} rejected connections {_since(uptime)} ({clients})"
    meanings = []
    causes: list[str] = []
    remediation: list[str] = []
    if not memory_ok:
        if not maxmemory:
            meanings.append(
                f"Redis has no maxmemory and uses {pct:.0f} % of the host's memory: it will be killed by the "
                "out-of-memory killer, or swap, before it evicts anything"
            )
            remediation.append(
                "Set `maxmemory` (and a `maxmemory-policy`) so Redis evicts instead of exhausting the host."
            )
        elif policy == "noeviction":
            meanings.append(
                f"Redis is at {pct:.0f} % of maxmemory with policy noeviction: writes will fail with "
                "`OOM command not allowed` (sessions and cache entries can no longer be stored)"
            )
        else:
            meanings.append(
                f"Redis is at {pct:.0f} % of maxmemory with policy {policy}: keys (sessions, cached results) "
                "are evicted before they expire"
            )
        remediation.append(
            "Find the largest key patterns with `redis-cli -h <host> -p <port> --bigkeys` (and `--memkeys`) "
            "and keys without TTL before deleting anything; raise maxmemory if the working set really needs it."
        )
    if not rejected_ok:
        meanings.append(
            f"{rejected} client connections were refused {_since(uptime)}: the application got connection "
            "errors when Redis reached maxclients. The counter is cumulative: once the cause is fixed, reset it "
            "with `redis-cli -h <host> -p <port> config resetstat` so this check judges only new rejections"
        )
        causes.append("A connection leak or a pool without a limit in the application reaches maxclients.")
        remediation.append(
            "Compare `redis-cli -h <host> -p <port> info clients` (connected_clients) with "
            "`config get maxclients`, and check the application's Redis pool size."
        )
    return Finding(
        ok=memory_ok and rejected_ok,
        observed=observed,
        expected=expected,
        meaning="; ".join(meanings),
        causes=tuple(causes),
        remediation=tuple(remediation),
        facts={
            "used_memory": used,
            "maxmemory": maxmemory,
            "total_system_memory": system,
            "judged_against": basis or None,
            "memory_pct": round(pct, 1),
            "maxmemory_policy": policy,
            "rejected_connections": rejected,
            "connected_clients": obs.number("connected_clients"),
            "maxclients": obs.number("maxclients"),
            "evicted_keys": obs.number("evicted_keys"),
            "uptime_s": uptime,
            "counters": "cumulative since the server started or the last CONFIG RESETSTAT",
        },
    )


def hit_rate(obs: RedisInfo, min_pct: float, min_lookups: int = MIN_LOOKUPS) -> Finding:
    """PERF7: keyspace_hits / (hits + misses) at least `min_pct` %. Under `min_lookups` lookups the rate
    says nothing (a fresh or idle cache): it passes, saying so."""
    hits = obs.number("keyspace_hits")
    misses = obs.number("keyspace_misses")
    uptime = obs.number("uptime_in_seconds")
    expected = f"keyspace hit rate at least {min_pct:g} % (judged from {min_lookups} lookups on)"
    if hits is None or misses is None:
        return Finding(
            ok=False,
            observed=f"INFO stats from {obs.address} does not report keyspace_hits/keyspace_misses",
            expected=expected,
            meaning="the hit rate cannot be read: INFO stats may be restricted by a proxy or a managed service",
        )
    lookups = hits + misses
    evicted = obs.number("evicted_keys") or 0
    facts = {
        "keyspace_hits": hits,
        "keyspace_misses": misses,
        "evicted_keys": evicted,
        "expired_keys": obs.number("expired_keys"),
        "uptime_s": uptime,
        "counters": "cumulative since the server started or the last CONFIG RESETSTAT",
    }
    since = _since(uptime, "the server started (or the last CONFIG RESETSTAT)")
    if lookups < min_lookups:
        return Finding(
            ok=True,
            observed=f"only {lookups} keyspace lookups {since} ({hits} hits, {misses} misses): too few to judge "
            f"a hit rate (at least {min_lookups} needed)",
            expected=expected,
            facts={**facts, "hit_rate_pct": None},
        )
    rate = 100.0 * hits / lookups
    ok = rate >= min_pct
    meaning = ""
    causes: tuple[str, ...] = ()
    if not ok:
        meaning = (
            f"{misses} of {lookups} reads missed the cache, so they went to the database or the slow "
            "computation the cache should spare"
        )
        if evicted:
            meaning += f"; {evicted} keys were evicted, so memory pressure removes entries early (see CACHE2)"
            causes = ("Keys are evicted because Redis reached maxmemory.",)
    return Finding(
        ok=ok,
        observed=f"hit rate {rate:.1f} % ({hits} hits, {misses} misses) {since}; evicted_keys {evicted}",
        expected=expected,
        meaning=meaning,
        causes=causes,
        facts={**facts, "hit_rate_pct": round(rate, 1)},
    )

