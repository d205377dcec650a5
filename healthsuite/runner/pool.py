"""The probe pool: every exchange the selected checks planned (healthsuite.plans), run concurrently
before the checks ask for it.

At most `http.max_concurrency` exchanges run at once and `http.max_per_host` against one host (under
`-n`, each worker gets its share of both); a database's one session takes one at a time, and a
check's own group (PERF2's samples) at most its declared concurrency. A job starts only when its
host (and group) has room, so a busy host never holds a slot another host could use. Targets run
slowest first by the previous run's report, and every distinct exchange goes before any repeated one:
PERF2's further samples are planned only once its first (the GET the other checks of that URL make)
has answered without deciding the verdict, and start only when no first exchange waits for room, so
a degraded host costs about ceil(distinct exchanges on it / max_per_host) of its slowest answers.
A check waits only for its own exchanges, moved to the head of their queues if they have not
started (`expedite`), so a run costs about its slowest exchange, not the sum of them, and no check
probes beside the pool. Anything a plan cannot resolve
(an unset variable) is left to the check, which reports it.

The pool's threads are daemons: a thread still blocked when the process ends (which the exchange
deadlines make next to impossible) cannot hold the exit.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from healthsuite.environment.loaded import LoadedEnvironment
from healthsuite.model.environment import (
    ApiEndpoint,
    HealthEndpoint,
    Page,
    PoolStatus,
    ProxiedPath,
    StatusPage,
    Target,
    TlsEndpoint,
    VersionSource,
)
from healthsuite.plans import Plan, Planned, Threshold, target_key
from healthsuite.probes import deadline
from healthsuite.probes.chain import system_roots
from healthsuite.probes.session import ProbeSession

# targets whose checks read exactly `probes.http(target)`: targets at one URL share that request
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


def slowest_first(targets: Sequence[Target], history: Mapping[str, float]) -> list[Target]:
    """Targets by the latency their probes had in the previous run, slowest first (the longest job
    first keeps a bounded pool from ending on a slow probe that waited its turn); a target the
    previous run did not probe counts as a typical one; equal ones keep their order."""
    if not history:
        return list(targets)
    known = sorted(history.values())
    typical = known[len(known) // 2]
    return sorted(targets, key=lambda target: -history.get(target_key(target), typical))


@dataclass(frozen=True)
class Work:
    """One selected check: who waits (`owner`, its node id), its target, its plan and thresholds."""

    owner: Hashable
    target: Target
    plan: Plan
    threshold: Threshold


REPEAT_ORDER = 1 << 40  # a repeated sample's order: after every first exchange, whenever it was queued
LIMIT_WAIT_S = 0.01  # a job that waited longer than this for a slot counts as held by a limit


@dataclass(eq=False, slots=True)  # a job is itself: identity, for deque.remove
class _Job:
    order: int  # jobs start lowest first; an expedited job gets a negative one
    queue: tuple[str, str]  # (host, group)
    target: str  # target_key of the target it probes
    call: Planned | None  # dropped once run: its closure holds what the plan built
    ready_at: float = 0.0  # when it was queued (monotonic)
    repeat: bool = False
    started: bool = False
    done: bool = False
    # follow-ups to plan once it has finished: (then, the check that planned it, that check's target)
    thens: list[tuple[Callable[[], Sequence[Planned]], Hashable, str]] = field(default_factory=list)


@dataclass
class LimitWaits:
    """The jobs a limit held back: how many, the longest wait, and where (for the report's time section)."""

    jobs: int = 0
    longest_s: float = 0.0
    where: str = ""

    def add(self, waited_s: float, where: str) -> None:
        self.jobs += 1
        if waited_s > self.longest_s:
            self.longest_s, self.where = waited_s, where


class Prefetcher:
    """Runs planned exchanges at most `max_concurrency` at once and `max_per_host` against one host."""

    def __init__(self, max_concurrency: int, max_per_host: int) -> None:
        self._max = max_concurrency
        self._per_host = max_per_host
        self._queues: dict[tuple[str, str], deque[_Job]] = {}
        self._host_running: Counter[str] = Counter()
        self._host_limit: dict[str, int] = {}
        self._group_running: Counter[str] = Counter()
        self._group_limit: dict[str, int] = {}
        self._in_flight = 0
        self._submitted = 0
        self._finished = 0
        self._lock = threading.Condition()
        self._closed = False
        self._by_key: dict[Hashable, _Job] = {}
        self._owned: dict[Hashable, list[_Job]] = {}
        self._expedited = 0
        self._latency_s: dict[str, float] = {}  # target_key -> the longest of its exchanges, in seconds
        self._running: dict[_Job, float] = {}  # the jobs out now -> when they got their slot (monotonic)
        self._work: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        # checks not planned yet, in the order they are planned (see start): planning all of them at once
        # held every plan's requests and closures at the same time, tens of megabytes at thousands of targets
        self._probes: ProbeSession | None = None
        self._pending: deque[Hashable] = deque()
        # each check waiting to be planned (its target's key is made when it is planned: a string and a
        # tuple for each of thousands of checks queued at once, while collection goes on, otherwise)
        self._unplanned: dict[Hashable, Work] = {}
        self._added: set[Hashable] = set()  # every check queued (by start, or by add during collection)
        self._streaming = False  # checks may still be added: identical exchanges must stay merged
        self._ahead = 2 * max_concurrency  # exchanges kept planned and waiting beyond those running
        self._repeats_waiting = 0  # repeated samples queued and not started: planning goes on past them
        # where the time went (timing()): monotonic times, the slowest exchange, what the limits held back
        self._first_start = 0.0
        self._last_finish = 0.0
        self._slowest: tuple[float, str] = (0.0, "")
        self._peak = 0
        self._global_full_at = -1.0  # the last time a job waited because max_concurrency were out
        self._waits = {"max_per_host": LimitWaits(), "max_concurrency": LimitWaits()}
        self._distinct: Counter[str] = Counter()  # first exchanges per host
        self._repeats = 0

    def submit(self, planned: Planned, target: str, owner: Hashable | None = None) -> None:
        """Queue one exchange for `owner` (an exchange already queued under the same key is shared, and
        keeps every check's `then`)."""
        with self._lock:
            job = self._by_key.get(planned.key)
            if job is None:
                host, group = planned.host, planned.group
                if planned.host_limit:
                    self._host_limit.setdefault(host, planned.host_limit)
                if group and planned.group_limit:
                    self._group_limit.setdefault(group, planned.group_limit)
                order = self._submitted + (REPEAT_ORDER if planned.repeat else 0)
                job = _Job(order, (host, group), target, planned, time.monotonic(), planned.repeat)
                self._by_key[planned.key] = job
                self._queues.setdefault(job.queue, deque()).append(job)
                self._submitted += 1
                if planned.repeat:
                    self._repeats_waiting += 1
                    self._repeats += 1
                else:
                    self._distinct[host] += 1
            if owner is not None:
                self._owned.setdefault(owner, []).append(job)
            then_now = planned.then if planned.then is not None and job.done else None
            if planned.then is not None and not job.done:
                job.thens.append((planned.then, owner, target))
            self._dispatch()
        if then_now is not None:  # shared with an exchange that has already answered
            self._follow_up([(then_now, owner, target)])

    def _follow_up(self, thens: Sequence[tuple[Callable[[], Sequence[Planned]], Hashable, str]]) -> None:
        """Queue what each finished exchange's `then` plans, for the check that planned it (outside the lock)."""
        for then, owner, target in thens:
            try:
                more = then()
            except Exception:  # noqa: BLE001 - the check meets it again and reports it
                continue
            for planned in more:
                self.submit(planned, target, owner)

    def expedite(self, owner: Hashable, timeout_s: float | None = None) -> bool:
        """A check is about to read its exchanges: those still waiting go first (planned now if they
        were not yet), and this returns when all of them have finished (True), or after `timeout_s`
        (False). So a check never probes beside the pool (its limits hold) and never jumps ahead of a
        slow exchange that is already out."""
        with self._lock:
            unplanned = self._unplanned.pop(owner, None)
        if unplanned is not None:
            self._plan(unplanned)
        with self._lock:
            jobs = self._owned.get(owner, [])
            for job in jobs:
                if not job.started:
                    waiting = self._queues[job.queue]
                    waiting.remove(job)
                    self._expedited += 1
                    job.order = -self._expedited
                    waiting.appendleft(job)
            self._dispatch()
            done = self._lock.wait_for(lambda: self._closed or all(job.done for job in jobs), timeout_s)
            if done:
                self._owned.pop(owner, None)
            return done

    def _room(self, host: str, group: str) -> bool:
        if self._host_running[host] >= self._host_limit.get(host, self._per_host):
            return False
        return not group or self._group_running[group] < self._group_limit.get(group, self._max)

    def _dispatch(self) -> None:
        """Start the earliest waiting job of each queue with room, while the pool has room (lock held)."""
        while not self._closed:
            if self._in_flight >= self._max:
                if self._submitted > self._started():
                    self._global_full_at = time.monotonic()
                return
            ready = [waiting for (host, group), waiting in self._queues.items() if waiting and self._room(host, group)]
            if not ready:
                return
            job = min(ready, key=lambda waiting: waiting[0].order).popleft()
            job.started = True
            now = time.monotonic()
            self._running[job] = now
            self._first_start = self._first_start or now
            if job.repeat:
                self._repeats_waiting -= 1
            host, group = job.queue
            waited = now - job.ready_at
            if waited > LIMIT_WAIT_S:
                held_by = "max_concurrency" if self._global_full_at >= job.ready_at else "max_per_host"
                self._waits[held_by].add(waited, host)
            self._host_running[host] += 1
            if group:
                self._group_running[group] += 1
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            if len(self._threads) < self._in_flight:
                thread = threading.Thread(target=self._worker, name="healthsuite-probe", daemon=True)
                self._threads.append(thread)
                thread.start()
            self._work.put(job)

    def _worker(self) -> None:
        deadline.mark_pool_thread()
        while True:
            job = self._work.get()
            if job is None:
                return
            self._run(job)
            self._refill()

    def _refill(self) -> None:
        """Plan the next checks while fewer than `_ahead` exchanges wait to start."""
        while True:
            with self._lock:
                if self._closed or self._submitted - self._started() - self._repeats_waiting >= self._ahead:
                    return
                unplanned = None
                while self._pending and unplanned is None:
                    unplanned = self._unplanned.pop(self._pending.popleft(), None)
                if unplanned is None:
                    if not self._streaming:  # every check is planned: identical exchanges are all merged
                        self._by_key.clear()
                    return
            self._plan(unplanned)

    def _started(self) -> int:
        return self._finished + self._in_flight

    def _plan(self, item: Work) -> None:
        """Queue one check's exchanges (outside the lock: a plan resolves the environment's values)."""
        assert self._probes is not None
        try:
            planned = item.plan(self._probes, item.target, item.threshold)
        except Exception:  # noqa: BLE001 - an unresolvable target is the check's to report
            return
        key = target_key(item.target)
        for exchange in planned:
            self.submit(exchange, key, item.owner)

    def _run(self, job: _Job) -> None:
        started = time.perf_counter()
        try:
            if job.call is not None:
                job.call.call()
        except Exception:  # noqa: BLE001 - the check meets it again and reports it
            pass
        finally:
            job.call = None
            elapsed = time.perf_counter() - started
            with self._lock:
                thens, job.thens = job.thens, []
            # before the job counts as done, so a check waiting for it waits for its follow-ups too
            self._follow_up(thens)
            with self._lock:
                self._latency_s[job.target] = max(elapsed, self._latency_s.get(job.target, 0.0))
                self._slowest = max(self._slowest, (elapsed, job.target))
                self._last_finish = time.monotonic()
                job.done = True
                self._running.pop(job, None)
                host, group = job.queue
                self._host_running[host] -= 1
                if group:
                    self._group_running[group] -= 1
                self._in_flight -= 1
                self._finished += 1
                self._dispatch()
                self._lock.notify_all()

    def start(self, probes: ProbeSession, work: Sequence[Work], history: Mapping[str, float] | None = None) -> int:
        """Queue every check's exchanges, the targets slowest first by `history` (the previous run's
        latencies, see slowest_first), planning them as the pool gets through them; returns how many
        distinct exchanges were queued at once."""
        self._queue(probes, work)
        self._order_waiting(history or {})
        self._refill()
        with self._lock:
            return self._submitted

    def add(self, probes: ProbeSession, work: Sequence[Work]) -> None:
        """Queue checks as collection finds them (plugin.streaming), in the order they come: the pool
        starts before collection ends. `collected` puts those not planned yet slowest first once
        every check is known."""
        with self._lock:
            self._streaming = True
        self._queue(probes, work)
        self._refill()

    def collected(self, history: Mapping[str, float]) -> None:
        """Every check has been added: those not planned yet go slowest target first by `history` (as
        start orders them)."""
        with self._lock:
            self._streaming = False
        if history:
            self._order_waiting(history)
        self._refill()

    def _queue(self, probes: ProbeSession, work: Sequence[Work]) -> None:
        """Each check not queued before waits to be planned, in the order given."""
        if any(isinstance(item.target, TlsEndpoint) for item in work):
            # read the system trust store here, once: it silences cryptography's warnings about odd roots
            # with warnings.catch_warnings, which is not thread-safe
            system_roots()
        with self._lock:
            self._probes = probes
            for item in work:
                if item.owner not in self._added:  # once per check, whatever became of its plan
                    self._added.add(item.owner)
                    self._unplanned[item.owner] = item
                    self._pending.append(item.owner)

    def _order_waiting(self, history: Mapping[str, float]) -> None:
        """The checks not planned yet, grouped by target, the slowest target first (slowest_first)."""
        with self._lock:
            waiting = [self._unplanned[owner] for owner in self._pending if owner in self._unplanned]
            order = {id(target): rank for rank, target in enumerate(slowest_first(
                list({id(item.target): item.target for item in waiting}.values()), history))}
            self._pending = deque(sorted((item.owner for item in waiting),
                                         key=lambda owner: order[id(self._unplanned[owner].target)]))

    def latencies(self) -> dict[str, float]:
        """target_key -> the longest of its exchanges so far, in seconds."""
        with self._lock:
            return dict(self._latency_s)

    def timing(self, origin: float) -> dict[str, Any]:
        """Where this process's exchange time went, for the report (healthsuite.outputs.timing): from
        `origin` (the run's start, monotonic) to the first exchange, from there to the last one's end,
        the slowest, the peak in flight, and the jobs each limit held back."""
        with self._lock:
            busiest = self._distinct.most_common(1)
            began = self._first_start or time.monotonic()
            return {
                "startup_s": round(began - origin, 3),
                "exchanges_s": round(max(0.0, self._last_finish - began), 3),
                "slowest_s": round(self._slowest[0], 3),
                "slowest_target": self._slowest[1],
                "exchanges": self._finished,
                "repeated": self._repeats,
                "peak_in_flight": self._peak,
                "max_concurrency": self._max,
                "max_per_host": self._per_host,
                "busiest_host": busiest[0][0] if busiest else "",
                "busiest_host_exchanges": busiest[0][1] if busiest else 0,
                "waited": {
                    name: {"jobs": waits.jobs, "longest_s": round(waits.longest_s, 3), "where": waits.where}
                    for name, waits in self._waits.items()
                },
            }

    def running(self) -> list[tuple[str, float]]:
        """The exchanges out now: (target_key, when it started, monotonic), one per exchange."""
        with self._lock:
            return [(job.target, started) for job, started in self._running.items()]

    def wait(self, timeout_s: float | None = None) -> bool:
        """Until every check's exchanges have finished (True), or the timeout (False)."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._unplanned and self._finished == self._submitted, timeout_s)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._queues.clear()
            self._running.clear()
            self._lock.notify_all()
        for _ in self._threads:
            self._work.put(None)
