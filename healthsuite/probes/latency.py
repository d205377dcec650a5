"""PERF2: latency samples of an endpoint. They are extra traffic by design: each is a new request through
the run's client (its TLS settings), never taken from the probe cache."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..model.latency import LatencyTarget
from .errors import ProbeError
from .http import HttpObservation, HttpRequest

if TYPE_CHECKING:
    from .session import ProbeSession


def fetch_fresh(probes: ProbeSession, request: HttpRequest) -> HttpObservation:
    """A new request every call, through the run's client (its TLS settings)."""
    return probes.send(request, cached=False)


@dataclass(frozen=True)
class Sample:
    status: int | None
    elapsed_ms: float
    error: ProbeError | None = None


@dataclass(frozen=True)
class LatencySamples:
    url: str
    concurrency: int
    samples: tuple[Sample, ...]
    wall_ms: float
    error: ProbeError | None = None  # never set: a failed request is a failed sample, counted in the rate
    planned: int = 0  # samples asked for; more than len(samples) when sampling stopped early
    stopped: str = ""  # why sampling stopped early: the verdict could no longer change


# Given the samples so far and how many were asked for: why the verdict can no longer change ("" if it can)
Decided = Callable[[Sequence[Sample], int], str]


class LatencySampler:
    """PERF2's samples of one endpoint: `samples` new requests, each taken by `take()` (the probe pool
    calls it once per sample, at most `concurrency` at once). Once `decided` says the verdict can no
    longer change, the samples not yet sent are not sent.

    Extra traffic by design (the runbook's performance-monitor.sh sends its own requests too): these
    never come from the probe cache, or every sample would be the same one."""

    def __init__(self, probes: ProbeSession, target: LatencyTarget, samples: int, decided: Decided) -> None:
        self._probes = probes
        self.request = probes.http_request(target)  # the application's own endpoint: http.headers apply
        self.concurrency = target.concurrency
        self.total = samples
        self._decided = decided
        self._samples: list[Sample] = []
        self._claimed = 0
        self._finished = 0
        self._stopped = ""
        self._first: float | None = None
        self._last = 0.0
        self._lock = threading.Condition()

    def take(self) -> None:
        """Send one sample, unless all are taken or the verdict is already decided."""
        with self._lock:
            if self._claimed >= self.total:
                return
            self._claimed += 1
            if self._stopped:
                self._finished += 1
                self._lock.notify_all()
                return
            now = time.perf_counter()
            self._first = now if self._first is None else min(self._first, now)
        observation = fetch_fresh(self._probes, self.request)
        sample = Sample(observation.status, round(observation.elapsed_s * 1000, 1), observation.error)
        with self._lock:
            self._samples.append(sample)
            self._last = time.perf_counter()
            if not self._stopped:
                self._stopped = self._decided(self._samples, self.total)
            self._finished += 1
            self._lock.notify_all()

    def observation(self) -> LatencySamples:
        """The samples, once all are taken: those no pool thread took are taken here, `concurrency` at
        once (a run without the probe pool, e.g. `-n` with `--dist loadfile`)."""
        with self._lock:
            left = self.total - self._claimed
        if left:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, left), thread_name_prefix="perf2") as pool:
                list(pool.map(lambda _: self.take(), range(left)))
        with self._lock:
            self._lock.wait_for(lambda: self._finished >= self.total)
            wall = (self._last - self._first) * 1000 if self._first is not None else 0.0
            return LatencySamples(
                self.request.url, self.concurrency, tuple(self._samples), round(wall, 1),
                planned=self.total, stopped=self._stopped,
            )


def latency_sampler(probes: ProbeSession, target: LatencyTarget, samples: int, decided: Decided) -> LatencySampler:
    """The run's one sampler of this endpoint (shared by the plan that takes the samples and the check)."""
    return probes.cache.get(
        ("perf2.sampler", target.name, probes.env.url_of(target)),
        lambda: LatencySampler(probes, target, samples, decided),
    )

