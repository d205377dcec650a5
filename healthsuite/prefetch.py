"""Run the probes the selected checks need concurrently, before the checks ask for them.

After collection, each selected check's target names the observation its check will read first (a
page's GET, a hostname's DNS answers, a TLS handshake, a port's connect, a database's SELECT 1, a
Redis PING). Those are started on a bounded thread pool, at most `http.max_concurrency` at once and
`http.max_per_host` against one host, and land in the run's ProbeCache; a check that asks for one
waits only for that one (the cache's per-key lock), so a run costs about its slowest probe, not the
sum of them. Anything a probe cannot resolve (an unset variable) is left to the check, which reports
it. Prefetching never changes what is observed: the same functions, the same cache keys.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from urllib.parse import urlsplit

from .envfile import LoadedEnvironment
from .environment import (
    ApiEndpoint,
    CorsPolicy,
    HealthEndpoint,
    Hostname,
    Page,
    PoolStatus,
    PostgresDatabase,
    ProxiedPath,
    RedisCache,
    ServicePort,
    SqliteDatabase,
    StatusPage,
    Target,
    TlsEndpoint,
    VersionSource,
)
from .netaddr import parse_address
from .probes.session import ProbeSession
from .probes.tls import system_roots

Call = Callable[[], object]
# targets whose checks read exactly `probes.http(target)`; others (a webhook, a calendar API with its
# token, latency samples) build their own requests, so guessing them would send a request too many
PLAIN_GET = (Page, HealthEndpoint, ApiEndpoint, ProxiedPath, StatusPage, VersionSource, PoolStatus)


def shared_requests(env: LoadedEnvironment, targets: Iterable[Target]) -> list[set[str]]:
    """The names of the targets whose checks read the same request (a health endpoint and a proxied
    path at one URL), one set per request; targets with an unresolvable URL are left out."""
    by_request: dict[tuple[str, str], set[str]] = {}
    for target in targets:
        if isinstance(target, PLAIN_GET):
            try:
                key = (target.method, env.url_of(target))
            except Exception:  # noqa: BLE001 - an unset variable: the check reports it
                continue
            by_request.setdefault(key, set()).add(target.name)
    return [names for names in by_request.values() if len(names) > 1]


def planned(probes: ProbeSession, target: Target) -> list[tuple[str, Call]]:
    """(host, probe) pairs a target's checks will read; [] for targets whose checks build their own."""
    env = probes.env
    try:
        if isinstance(target, CorsPolicy):
            host = urlsplit(env.url_of(target)).hostname or ""
            origins = [*probes.cors_origins(target), target.foreign_origin]
            return [(host, lambda o=origin: probes.cors_preflight(target, o)) for origin in origins]  # type: ignore[misc]
        if isinstance(target, PLAIN_GET):
            return [(urlsplit(env.url_of(target)).hostname or "", lambda: probes.http(target))]
        if isinstance(target, Hostname):
            return [("dns", lambda: probes.dns(target))]
        if isinstance(target, TlsEndpoint):
            host = probes.tls_address(target)[0]
            calls: list[tuple[str, Call]] = [(host, lambda: probes.tls(target))]
            if target.http_redirect:
                calls.append((host, lambda: probes.fetch_url(probes.plain_http_url(target))))
            return calls
        if isinstance(target, ServicePort):
            host = parse_address(env.resolve(target.address))[0]
            return [(host, lambda: probes.tcp(target))]
        if isinstance(target, RedisCache):
            return [("redis:" + target.name, lambda: probes.redis_ping(target))]
        if isinstance(target, (PostgresDatabase, SqliteDatabase)):
            return [("database:" + target.name, lambda: probes.database(target))]
    except Exception:  # noqa: BLE001 - an unresolvable target is the check's to report
        return []
    return []


class Prefetcher:
    """A bounded pool: `max_concurrency` probes in flight, `max_per_host` per host."""

    def __init__(self, max_concurrency: int, max_per_host: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="healthsuite-probe")
        self._per_host = max_per_host
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        self._guard = threading.Lock()
        self.futures: list[Future[object]] = []

    def _slot(self, host: str) -> threading.BoundedSemaphore:
        with self._guard:
            return self._hosts.setdefault(host, threading.BoundedSemaphore(self._per_host))

    def submit(self, host: str, call: Call) -> None:
        slot = self._slot(host)

        def run() -> object:
            with slot:
                try:
                    return call()
                except Exception:  # noqa: BLE001 - the check meets it again and reports it
                    return None

        self.futures.append(self._pool.submit(run))

    def start(self, probes: ProbeSession, targets: Iterable[Target]) -> int:
        """Start the probes of every distinct target; returns how many were started."""
        targets = list(targets)
        if any(isinstance(t, TlsEndpoint) for t in targets):
            # read the system trust store here, once: it silences cryptography's warnings about odd roots
            # with warnings.catch_warnings, which is not thread-safe
            system_roots()
        seen: set[int] = set()
        count = 0
        for target in targets:
            if id(target) in seen:
                continue
            seen.add(id(target))
            for host, call in planned(probes, target):
                self.submit(host, call)
                count += 1
        return count

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
