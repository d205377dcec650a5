"""Run the probes the selected checks need concurrently, before the checks ask for them.

After collection, each selected check's target names the observation its check will read first (a
page's GET, a hostname's DNS answers, a TLS handshake, a port's connect, a database's SELECT 1, a
Redis PING). Those are started on a bounded pool, at most `http.max_concurrency` at once and
`http.max_per_host` against one host (under `-n`, each worker gets its share of both), slowest first
by the previous run's report, and land in the run's ProbeCache. A check waits only for its own
target's probes, moved to the head of the queue if they have not started (`expedite`), so a run
costs about its slowest probe, not the sum of them, and no check probes beside the pool. Anything a
probe cannot resolve (an unset variable) is left to the check, which reports it. Prefetching never
changes what is observed: the same functions, the same cache keys.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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


def target_key(target: Target) -> str:
    """`endpoints/slow`: how a target's probe latency is kept from one run's report to the next."""
    return f"{target.collection}/{target.name}"


def slowest_first(targets: Sequence[Target], history: Mapping[str, float]) -> list[Target]:
    """Targets by the latency their probes had in the previous run, slowest first (the longest job
    first keeps a bounded pool from ending on a slow probe that waited its turn); a target the
    previous run did not probe counts as a typical one; equal ones keep their order."""
    if not history:
        return list(targets)
    known = sorted(history.values())
    typical = known[len(known) // 2]
    return sorted(targets, key=lambda target: -history.get(target_key(target), typical))


@dataclass(eq=False)  # a job is itself: identity, for deque.remove
class _Job:
    order: int  # jobs start lowest first; an expedited job gets a negative one
    host: str
    key: str  # target_key of the target it probes
    call: Call
    started: bool = False
    done: bool = False


class Prefetcher:
    """Runs probes at most `max_concurrency` at once and `max_per_host` against one host, in the order
    they were started: a job starts only when its host has room, so probes of a busy host never
    hold a slot that a probe of another host could use."""

    def __init__(self, max_concurrency: int, max_per_host: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="healthsuite-probe")
        self._max = max_concurrency
        self._per_host = max_per_host
        self._queues: dict[str, deque[_Job]] = {}
        self._running: Counter[str] = Counter()
        self._in_flight = 0
        self._submitted = 0
        self._finished = 0
        self._lock = threading.Condition()
        self._closed = False
        self._jobs: dict[str, list[_Job]] = {}  # target_key -> its jobs
        self._expedited = 0
        self._latency_s: dict[str, float] = {}  # target_key -> the longest of its probes, in seconds

    def submit(self, host: str, key: str, call: Call) -> None:
        with self._lock:
            job = _Job(self._submitted, host, key, call)
            self._queues.setdefault(host, deque()).append(job)
            self._jobs.setdefault(key, []).append(job)
            self._submitted += 1
            self._dispatch()

    def expedite(self, key: str) -> None:
        """A check is about to read the probes of target `key`: those still waiting go first, and this
        returns when all of them have finished. So a check never probes beside the pool (its limits
        hold) and never jumps ahead of a slow probe that is already out."""
        with self._lock:
            jobs = self._jobs.get(key, [])
            for job in jobs:
                if not job.started:
                    self._queues[job.host].remove(job)
                    self._expedited += 1
                    job.order = -self._expedited
                    self._queues[job.host].appendleft(job)
            self._dispatch()
            self._lock.wait_for(lambda: self._closed or all(job.done for job in jobs))

    def _dispatch(self) -> None:
        """Start the earliest waiting job of each host with room, while the pool has room (lock held)."""
        while self._in_flight < self._max and not self._closed:
            ready = [queue for host, queue in self._queues.items() if queue and self._running[host] < self._per_host]
            if not ready:
                return
            job = min(ready, key=lambda queue: queue[0].order).popleft()
            job.started = True
            self._running[job.host] += 1
            self._in_flight += 1
            self._pool.submit(self._run, job)

    def _run(self, job: _Job) -> None:
        started = time.perf_counter()
        try:
            job.call()
        except Exception:  # noqa: BLE001 - the check meets it again and reports it
            pass
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                self._latency_s[job.key] = max(elapsed, self._latency_s.get(job.key, 0.0))
                job.done = True
                self._running[job.host] -= 1
                self._in_flight -= 1
                self._finished += 1
                self._dispatch()
                self._lock.notify_all()

    def start(self, probes: ProbeSession, targets: Iterable[Target], history: Mapping[str, float] | None = None) -> int:
        """Start the probes of every distinct target, slowest first by `history` (the previous run's
        latencies, see slowest_first); returns how many were started."""
        unique: dict[int, Target] = {}
        for target in targets:
            unique.setdefault(id(target), target)
        ordered = slowest_first(list(unique.values()), history or {})
        if any(isinstance(t, TlsEndpoint) for t in ordered):
            # read the system trust store here, once: it silences cryptography's warnings about odd roots
            # with warnings.catch_warnings, which is not thread-safe
            system_roots()
        count = 0
        for target in ordered:
            for host, call in planned(probes, target):
                self.submit(host, target_key(target), call)
                count += 1
        return count

    def latencies(self) -> dict[str, float]:
        """target_key -> the longest of its probes so far, in seconds."""
        with self._lock:
            return dict(self._latency_s)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Until every started probe has finished (True), or the timeout (False)."""
        with self._lock:
            return self._lock.wait_for(lambda: self._finished == self._submitted, timeout_s)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._queues.clear()
            self._lock.notify_all()
        self._pool.shutdown(wait=False, cancel_futures=True)
