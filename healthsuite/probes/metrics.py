"""PERF3: one scrape of the application's Prometheus metrics endpoint, parsed with prometheus_client's
text and OpenMetrics parsers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..model.metrics import MetricsEndpoint
from .errors import ProbeError
from .http import HttpObservation
from .lazy import lazy

if TYPE_CHECKING:
    import prometheus_client.openmetrics.parser as _openmetrics_parser
    import prometheus_client.parser as _text_parser

    from .session import ProbeSession
else:
    _openmetrics_parser = lazy("prometheus_client.openmetrics.parser")
    _text_parser = lazy("prometheus_client.parser")


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

