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
    """PERF2's samples of one endpoint, `samples` in all, at most `concurrency` out at once.

    The first is the request the other checks of that URL make (`first`: the probe cache's, so a run
    sends it once); the others are new requests (`take`), claimed only while the verdict can still
    change: once `decided` says it cannot (a sample over the limit, too many failures, a sample without
    an answer), no more are sent. The probe pool takes them (healthsuite.plans); a run
    without it takes them in `observation`.

    Extra traffic by design (the runbook's performance-monitor.sh sends its own requests too): the
    samples after the first never come from the probe cache, or every sample would be the same one."""

    def __init__(self, probes: ProbeSession, target: LatencyTarget, samples: int, decided: Decided) -> None:
        self._probes = probes
        self.request = probes.http_request(target)  # the application's own endpoint: http.headers apply
        self.concurrency = target.concurrency
        self.total = samples
        self._decided = decided
        self._samples: list[Sample] = []
        self._claimed = 0  # samples sent or claimed, the first included
        self._finished = 0
        self._stopped = ""
        self._first: float | None = None
        self._last = 0.0
        self._lock = threading.Condition()

    def first(self) -> None:
        """The first sample: the shared request (sent now unless the run has sent it already)."""
        with self._lock:
            if self._claimed:
                return
            self._claimed = 1
        started = time.perf_counter()
        observation = self._probes.send(self.request)
        self._record(observation, min(started, time.perf_counter() - observation.elapsed_s))

    def take(self) -> None:
        """One further sample, a new request (claimed beforehand by `claim`)."""
        observation = fetch_fresh(self._probes, self.request)
        self._record(observation, time.perf_counter() - observation.elapsed_s)

    def _record(self, observation: HttpObservation, started: float) -> None:
        sample = Sample(observation.status, round(observation.elapsed_s * 1000, 1), observation.error)
        with self._lock:
            self._samples.append(sample)
            self._first = started if self._first is None else min(self._first, started)
            self._last = time.perf_counter()
            if not self._stopped:
                self._stopped = self._decided(self._samples, self.total)
            self._finished += 1
            self._lock.notify_all()

    def claim(self, most: int) -> range:
        """The indices of up to `most` further samples to send now: none before the first has answered,
        once the verdict is decided, or when every sample is claimed."""
        with self._lock:
            if self._stopped or self._finished < 1:
                return range(0)
            count = max(0, min(most, self.total - self._claimed))
            self._claimed += count
            return range(self._claimed - count, self._claimed)

    def observation(self) -> LatencySamples:
        """The samples, once all are taken: those the probe pool did not take are taken here,
        `concurrency` at once (a run without the pool, e.g. `-n` with `--dist loadfile`)."""
        self.first()
        while claimed := self.claim(self.concurrency):
            with ThreadPoolExecutor(max_workers=len(claimed), thread_name_prefix="perf2") as pool:
                list(pool.map(lambda _: self.take(), claimed))
        with self._lock:
            self._lock.wait_for(lambda: self._finished >= self._claimed)
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

