"""HTTP probes of the operations diagnoses: latency samples (PERF2), a Prometheus scrape (PERF3), the
calendar API (EXT1), the error tracker's new issues (EXT2) and external dependencies (EXT3).

External services get a request of their own (`external_request`): the target's headers and token
only, never the environment's `http.headers`, which are the application's credentials. They go through
the run's HTTP client (its TLS settings) and are probed once per run, like every other request;
PERF2's samples are the exception: they are extra traffic by design, each a new request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from ..environment.loaded import LoadedEnvironment
from ..model.ops import ErrorTracker, ExternalDependency, LatencyTarget, MetricsEndpoint
from ..model.targets import HttpTarget, Target
from ..model.types import SecretTemplate
from .errors import ProbeError
from .http import HttpObservation, HttpRequest
from .lazy import lazy

if TYPE_CHECKING:
    import prometheus_client.openmetrics.parser as _openmetrics_parser
    import prometheus_client.parser as _text_parser

    from .session import ProbeSession
else:
    _openmetrics_parser = lazy("prometheus_client.openmetrics.parser")
    _text_parser = lazy("prometheus_client.parser")


# --- requests ------------------------------------------------------------------------------------------------


def bearer(env: LoadedEnvironment, target: Target, token: SecretTemplate) -> tuple[str, str]:
    """The Authorization header; the token is registered as a secret when it is resolved."""
    return "authorization", "Bearer " + env.resolve(token, env.where(target, "token"))


def external_request(
    env: LoadedEnvironment,
    target: HttpTarget,
    token: SecretTemplate | None = None,
    timeout_s: float | None = None,
) -> HttpRequest:
    """A request to a third party: its own headers and token, not the environment's http.headers."""
    headers = {k.lower(): env.resolve(v, env.where(target, f"headers.{k}")) for k, v in target.headers.items()}
    if token is not None:
        headers.update([bearer(env, target, token)])
    return HttpRequest(
        method=target.method,
        url=env.url_of(target),
        headers=tuple(sorted(headers.items())),
        follow_redirects=target.follow_redirects,
        timeout_s=timeout_s or target.timeout_s or env.model.timeouts.http_s,
    )


def dependency_request(env: LoadedEnvironment, target: ExternalDependency, budget_ms: float) -> HttpRequest:
    """EXT3: waits a little past the budget (unless timeout_s says otherwise), so a slow answer still
    arrives with its timing breakdown instead of a bare timeout."""
    timeout_s = target.timeout_s or min(600.0, max(budget_ms / 1000 + 5, env.model.timeouts.http_s))
    return external_request(env, target, target.token, timeout_s)


def fetch_once(probes: ProbeSession, request: HttpRequest) -> HttpObservation:
    """Through the run's client and probe cache (the same key as `ProbeSession.http`)."""
    return probes.send(request)


def fetch_fresh(probes: ProbeSession, request: HttpRequest) -> HttpObservation:
    """A new request every call, through the run's client (its TLS settings)."""
    return probes.send(request, cached=False)


# --- PERF2: latency samples ----------------------------------------------------------------------------------


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


# --- PERF3: a Prometheus scrape ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricSample:
    name: str
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class MetricsScrape:
    response: HttpObservation
    samples: tuple[MetricSample, ...] = ()
    types: Mapping[str, str] = field(default_factory=dict)  # family name -> counter, histogram, gauge, ...
    parse_error: str = ""

    @property
    def error(self) -> ProbeError | None:
        return self.response.error

    def named(self, name: str) -> list[MetricSample]:
        return [s for s in self.samples if s.name == name]


def scrape(probes: ProbeSession, target: MetricsEndpoint) -> MetricsScrape:
    """GET /metrics once (probe cache) and parse the exposition text (Prometheus or OpenMetrics)."""
    response = probes.http(target)
    if response.error is not None or response.status != 200:
        return MetricsScrape(response)
    if response.truncated:
        return MetricsScrape(response, parse_error="the body was larger than http.max_body_bytes")
    text = response.text()
    parser = _openmetrics_parser if "openmetrics" in response.content_type else _text_parser
    parse = parser.text_string_to_metric_families
    samples: list[MetricSample] = []
    types: dict[str, str] = {}
    try:
        for family in parse(text):
            types[family.name] = family.type
            samples.extend(MetricSample(s.name, dict(s.labels), float(s.value)) for s in family.samples)
    except Exception as exc:  # noqa: BLE001 - a malformed exposition is a finding, not a crash
        return MetricsScrape(response, parse_error=f"{type(exc).__name__}: {str(exc)[:200]}")
    return MetricsScrape(response, tuple(samples), types)


# --- EXT2: the error tracker's new issues --------------------------------------------------------------------


@dataclass(frozen=True)
class Issue:
    title: str
    culprit: str = ""
    level: str = ""
    count: int = 0  # events
    first_seen: str = ""  # ISO 8601, as the tracker wrote it
    short_id: str = ""


@dataclass(frozen=True)
class IssueList:
    url: str
    response: HttpObservation
    issues: tuple[Issue, ...] = ()
    more: bool = False  # the tracker has a next page: the count is a lower bound
    problem: str = ""  # the answer is not an issue list

    @property
    def error(self) -> ProbeError | None:
        return self.response.error


PAGE_SIZE = 100


def issues_url(base: str, organization: str, project: str, query: str, window_h: float) -> str:
    hours = f"{window_h:g}h"
    params = {"statsPeriod": "24h", "query": f"{query} firstSeen:-{hours}".strip(), "limit": str(PAGE_SIZE)}
    path = f"/api/0/projects/{quote(organization, safe='')}/{quote(project, safe='')}/issues/"
    return base.rstrip("/") + path + "?" + urlencode(params)


def _issue(item: Mapping[str, object]) -> Issue:
    count = item.get("count", 0)
    return Issue(
        title=str(item.get("title") or item.get("metadata") or "(no title)"),
        culprit=str(item.get("culprit") or ""),
        level=str(item.get("level") or ""),
        count=int(count) if isinstance(count, (int, str)) and str(count).isdigit() else 0,
        first_seen=str(item.get("firstSeen") or ""),
        short_id=str(item.get("shortId") or ""),
    )


def new_issues(probes: ProbeSession, tracker: ErrorTracker, window_h: float) -> IssueList:
    """Sentry's `GET /api/0/projects/{org}/{project}/issues/?query=<query> firstSeen:-<window>h`, one page."""
    env = probes.env
    url = issues_url(
        env.resolve(tracker.url, env.where(tracker, "url")),
        env.resolve(tracker.organization, env.where(tracker, "organization")),
        env.resolve(tracker.project, env.where(tracker, "project")),
        tracker.query,
        window_h,
    )
    request = HttpRequest(
        "GET",
        url,
        (("accept", "application/json"), bearer(env, tracker, tracker.token)),
        timeout_s=tracker.timeout_s or env.model.timeouts.http_s,
    )
    response = fetch_once(probes, request)
    if response.error is not None or response.status != 200:
        return IssueList(url, response)
    try:
        document = response.json()
    except ValueError:
        return IssueList(url, response, problem=f"the answer is not JSON: {response.text(120)!r}")
    if not isinstance(document, list):
        return IssueList(url, response, problem=f"the answer is not a list of issues: {response.text(120)!r}")
    issues = tuple(_issue(item) for item in document if isinstance(item, dict))
    link = response.headers.get("link", "")
    more = any('rel="next"' in part and 'results="true"' in part for part in link.split(","))
    return IssueList(url, response, issues, more)
