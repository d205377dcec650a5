"""Environment-file models of metrics (PERF3), the latency SLO (PERF2) and external integrations
(EXT1-EXT3). Redis health (CACHE2, PERF7) reads the declared `caches`.

OWNER: the metrics/integrations work; the attribute names used by healthsuite.plugin.TARGET_FIXTURES
(`metrics`, `latency`, `integrations.calendar`, `integrations.error_tracker`,
`integrations.dependencies`) must stay.
"""

from __future__ import annotations

from .modeltypes import Model
from .targets import HttpTarget


class MetricsEndpoint(HttpTarget):
    """PERF3: a Prometheus /metrics endpoint."""


class LatencyTarget(HttpTarget):
    """PERF2: an endpoint sampled N times for its latency SLO."""


class CalendarApi(HttpTarget):
    """EXT1: the calendar API (Google Calendar's shape)."""


class ErrorTracker(HttpTarget):
    """EXT2: the error tracker's issues API (Sentry's shape)."""


class ExternalDependency(HttpTarget):
    """EXT3: an external dependency and its time budget."""


class Integrations(Model):
    calendar: CalendarApi | None = None
    error_tracker: ErrorTracker | None = None
    dependencies: list[ExternalDependency] = []
