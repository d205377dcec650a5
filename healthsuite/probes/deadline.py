"""Whole-exchange deadlines that the tool enforces itself, and the run's deadline.

A client library's timeout bounds each read, not the exchange: a server that sends its headers one
byte a second never lets a read time out, and the request never ends. So every exchange (an HTTP
request, a TLS handshake, a TCP connect, a DNS lookup, a Redis or PostgreSQL round trip) runs inside
`exchange(timeout_s)`, which gives it an absolute deadline:

- the probe clamps every blocking call to the time left (`Exchange.clamp`), so an exchange that is
  merely slow ends with the library's own timeout error at its deadline;
- the sockets it uses are watched (`Exchange.watch`): at the deadline a reaper thread shuts them
  down, which wakes any call still blocked in them (a TLS handshake fed one byte at a time, a
  driver that loops on reads), so nothing can outlive its deadline by more than a moment;
- no exchange outlives the run's deadline (`RunDeadline`): from then on, exchanges still running are
  cut and new ones fail at once, each saying "did not finish within the run's deadline".

Which deadline ended an exchange is kept (`Exchange.expired_by`), so the probe reports a timeout
that names it instead of the reset or protocol error a cut socket produces.
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

ExpiredBy = Literal["", "exchange", "run"]


class DeadlineExceeded(TimeoutError):
    """An exchange tried to go on past its deadline (a TimeoutError: classified as kind `timeout`)."""


@dataclass(frozen=True)
class RunDeadline:
    """The run's deadline: `at` on the monotonic clock, `seconds` and `source` for the message."""

    at: float
    seconds: float
    source: str  # "--run-deadline", "ini healthsuite_run_deadline", "default: 3 x the longest exchange"

    def sentence(self) -> str:
        return f"did not finish within the run's deadline of {self.seconds:g} s ({self.source})"


_run_deadline: RunDeadline | None = None
_local = threading.local()
_counts_lock = threading.Lock()
_counts = {"in_pool": 0, "outside_pool": 0}
_outside: list[str] = []  # the first few exchanges made outside the probe pool (what they were)
OUTSIDE_KEPT = 20
T = TypeVar("T")


def mark_pool_thread() -> None:
    """This thread is one of the probe pool's: its exchanges count as planned ones."""
    _local.pool = True


def carried(fn: Callable[..., T]) -> Callable[..., T]:
    """`fn`, to run on a helper thread as this thread's work: inside its current exchange (its deadline)
    and counted as it would be here (in the probe pool or not)."""
    pool, outer = getattr(_local, "pool", False), current()

    def run(*args: Any, **kwargs: Any) -> T:
        _local.pool, _local.exchange = pool, outer
        try:
            return fn(*args, **kwargs)
        finally:
            _local.pool, _local.exchange = False, None

    return run


def exchange_counts() -> dict[str, object]:
    """How many exchanges this process made in the probe pool and outside it (a check that probed by
    itself), and what the first few of the latter were."""
    with _counts_lock:
        return {**_counts, "outside_examples": list(_outside)}


def reset_exchange_counts() -> None:
    with _counts_lock:
        _counts.update(in_pool=0, outside_pool=0)
        _outside.clear()


def set_run_deadline(deadline: RunDeadline | None) -> None:
    """Set (or clear, with None) the deadline of the run in this process. Exchanges started after it
    passes fail at once; those running at that moment are cut (their deadline is never later)."""
    global _run_deadline
    _run_deadline = deadline


def run_deadline() -> RunDeadline | None:
    return _run_deadline


@dataclass(eq=False, slots=True)
class Exchange:
    """One exchange's deadline and the sockets watched on its behalf."""

    timeout_s: float
    at: float  # monotonic: the earlier of its own deadline and the run's
    run: RunDeadline | None = None  # set when the run's deadline comes first
    expired_by: ExpiredBy = ""
    started: float = field(default_factory=time.monotonic)
    _watched: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _finished: bool = False

    def remaining(self) -> float:
        return self.at - time.monotonic()

    @property
    def expired(self) -> bool:
        if not self.expired_by and time.monotonic() >= self.at:
            self.expired_by = "run" if self.run is not None else "exchange"
        return bool(self.expired_by)

    def clamp(self, timeout: float | None = None) -> float:
        """`timeout` cut to the time left; raises DeadlineExceeded when none is left."""
        left = self.remaining()
        if left <= 0 or self.expired:
            self.expired  # noqa: B018 - records which deadline it was
            raise DeadlineExceeded(self.sentence())
        return left if timeout is None else min(timeout, left)

    def sentence(self) -> str:
        """Why it ended: the run's deadline, or its own."""
        if self.expired_by == "run" and self.run is not None:
            return self.run.sentence()
        return f"the whole exchange did not finish within its {self.timeout_s:g} s deadline"

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down at the deadline (a duplicate of its descriptor is kept until the exchange
        ends, so the socket can be cut even after a library wrapped it, e.g. in TLS)."""
        try:
            blocking = os.get_blocking(sock.fileno())
            duplicate = sock.dup()
            # the duplicate is made blocking, and that flag is the open file's, shared with `sock`: put it
            # back (libpq's non-blocking socket made blocking waits forever on a result over one read, ~100 kB)
            os.set_blocking(sock.fileno(), blocking)
        except OSError:
            return
        with self._lock:
            if self._finished:
                duplicate.close()
                return
            self._watched.append(duplicate)
            cut = bool(self.expired_by)
        if cut:
            _shutdown(duplicate)

    def watch_fd(self, fileno: int) -> None:
        """As `watch`, for a driver that exposes only its descriptor (libpq)."""
        try:
            sock = socket.socket(fileno=fileno)
        except OSError:
            return
        try:
            self.watch(sock)
        finally:
            sock.detach()  # the descriptor stays the driver's

    def _expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            if not self.expired_by:
                self.expired_by = "run" if self.run is not None else "exchange"
            watched = list(self._watched)
        for sock in watched:
            _shutdown(sock)

    def _finish(self) -> None:
        with self._lock:
            self._finished = True
            watched, self._watched = self._watched, []
        for sock in watched:
            sock.close()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


FINISHED_HELD_MIN = 64  # finished exchanges the heap may hold behind one still out before it is swept


class _Reaper:
    """One daemon thread that expires exchanges at their deadlines (earliest first)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Exchange]] = []
        self._finished_held = 0  # about how many of the heap's exchanges have finished (a sweep resets it)
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, exchange: Exchange) -> None:
        with self._cond:
            heapq.heappush(self._heap, (exchange.at, next(self._order), exchange))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="healthsuite-deadline", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is exchange:
                self._cond.notify()

    def finished(self, exchange: Exchange) -> None:
        """`exchange` has finished: when it is the earliest, the loop drops it now (and the finished
        ones after it) rather than at its deadline; when finished ones behind an earlier one still out
        (a slow target) are most of the heap, they are dropped at once. So thousands of finished
        exchanges are never held until the first one's deadline."""
        with self._cond:
            self._finished_held += 1
            if self._heap and self._heap[0][2] is exchange:
                self._cond.notify()
            elif self._finished_held > FINISHED_HELD_MIN and 2 * self._finished_held > len(self._heap):
                self._heap = [entry for entry in self._heap if not entry[2]._finished]
                heapq.heapify(self._heap)
                self._finished_held = 0

    def _loop(self) -> None:
        with self._cond:
            while True:
                if not self._heap:
                    self._cond.wait()
                    continue
                at, _, exchange = self._heap[0]
                if exchange._finished:
                    heapq.heappop(self._heap)
                    self._finished_held = max(0, self._finished_held - 1)
                    continue
                wait = at - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                exchange._expire()


_reaper = _Reaper()


def current() -> Exchange | None:
    """The exchange running on this thread (None outside one)."""
    return getattr(_local, "exchange", None)


@contextmanager
def exchange(timeout_s: float, label: str = "") -> Iterator[Exchange]:
    """Run one exchange within `timeout_s` (and within the run's deadline). Nested exchanges keep the
    earlier deadline and count once. `label` says what it is (`http GET https://...`), for the count
    of exchanges made outside the probe pool."""
    now = time.monotonic()
    outer = current()
    if outer is None:
        in_pool = getattr(_local, "pool", False)
        with _counts_lock:
            _counts["in_pool" if in_pool else "outside_pool"] += 1
            if not in_pool and len(_outside) < OUTSIDE_KEPT:
                _outside.append(label)
    at = now + timeout_s
    run = _run_deadline
    if outer is not None and outer.at < at:
        at, timeout_s, run = outer.at, outer.timeout_s, outer.run
    elif run is not None and run.at < at:
        at = run.at
    else:
        run = None
    ex = Exchange(timeout_s, at, run)
    _local.exchange = ex
    _reaper.add(ex)
    try:
        yield ex
    finally:
        _local.exchange = outer
        ex._finish()
        _reaper.finished(ex)


def remaining(default: float) -> float:
    """The time left to the current exchange, or `default` outside one."""
    ex = current()
    return default if ex is None else max(ex.remaining(), 0.001)
