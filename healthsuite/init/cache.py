"""What a Redis reports about its memory: one INFO (probes.redis_stats, bounded; no CONFIG, which
managed services forbid), read as the cache checks read it: used memory against maxmemory (or the
host's memory without one), the eviction policy, rejected connections (CACHE2) and the keyspace hit
rate (PERF7)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..assessments.units import size
from ..probes import redis_stats
from ..probes.errors import ProbeError
from ..probes.redis_stats import RedisInfo
from . import shown

_POLICY = re.compile(r"[a-z][a-z0-9-]{0,39}")  # noeviction, allkeys-lru, volatile-ttl, ...


class CacheUnusable(Exception):
    def __init__(self, error: ProbeError) -> None:
        self.error = error
        super().__init__(f"{error.kind_name}: {error.detail}")


@dataclass(frozen=True)
class Memory:
    info: RedisInfo

    @property
    def maxmemory(self) -> int:
        return self.info.number("maxmemory") or 0

    @property
    def policy(self) -> str:
        """The eviction policy INFO names, or `?` when it names none or something that is not a policy
        name (left out: `refused`)."""
        value = self.info.fields.get("maxmemory_policy")
        return value if isinstance(value, str) and _POLICY.fullmatch(value) else "?"

    @property
    def refused(self) -> list[str]:
        """The INFO values init reads but leaves out of the file and its summary, shown escaped."""
        value = self.info.fields.get("maxmemory_policy")
        return [] if value is None or self.policy != "?" else [f"Redis INFO maxmemory_policy {shown(str(value))}"]

    def used_pct(self) -> float | None:
        used = self.info.number("used_memory")
        limit = self.maxmemory or self.info.number("total_system_memory") or 0
        return None if used is None or not limit else 100.0 * used / limit

    def describe(self) -> str:
        """`maxmemory 64.0 MB, maxmemory-policy allkeys-lru, used 1.1 MB (1.7 %)`, as CACHE2 reads it."""
        used = self.info.number("used_memory")
        pct = self.used_pct()
        share = f" ({pct:.1f} %)" if pct is not None else ""
        if self.maxmemory:
            limit = f"maxmemory {size(self.maxmemory)}"
        else:
            system = self.info.number("total_system_memory")
            limit = "maxmemory 0 (no limit: CACHE2 judges used memory against the host's"
            limit += f" {size(system)})" if system else " memory, which INFO does not report)"
        used_text = f", used {size(used)}{share}" if used is not None else ""
        return f"{limit}, maxmemory-policy {self.policy}{used_text}"

    def hit_rate(self) -> tuple[float | None, int]:
        hits, misses = self.info.number("keyspace_hits") or 0, self.info.number("keyspace_misses") or 0
        lookups = hits + misses
        return (100.0 * hits / lookups if lookups else None), lookups


def discover(url: str, username: str | None, password: str | None, timeout_s: float) -> Memory:
    info = redis_stats.info(url, username, password, timeout_s)
    if info.error is not None:
        raise CacheUnusable(info.error)
    return Memory(info)
