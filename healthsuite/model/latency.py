"""Environment-file model of the latency SLO targets (PERF2)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from .targets import HttpTarget


class LatencyTarget(HttpTarget):
    """PERF2: an endpoint sampled N times (at most `concurrency` at once) for its latency SLO.

    The samples are extra traffic by design: each is a new request, never taken from the probe cache."""

    samples: int | None = Field(
        None, ge=1, le=1000, description="Requests sent (default: thresholds.PERF2.samples)."
    )
    concurrency: int = Field(5, ge=1, le=50, description="Requests in flight at once.")
    max_p95_ms: float | None = Field(None, gt=0, description="p95 limit (default: thresholds.PERF2.p95_ms).")
    max_mean_ms: float | None = Field(None, gt=0, description="Mean limit (default: thresholds.PERF2.mean_ms).")

    kind_label: ClassVar[str] = "latency target"
    collection: ClassVar[str] = "latency"

