"""Environment-file model of the application's metrics endpoint (PERF3)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, model_validator

from .targets import HttpTarget, default_location

METRIC_NAME = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"


class MetricsEndpoint(HttpTarget):
    """PERF3: the application's Prometheus /metrics endpoint (default path /metrics), scraped once.

    Counters are cumulative since the process started, so the 5xx share judged is the lifetime one."""

    requests_metric: str = Field(
        "http_requests_total", pattern=METRIC_NAME, description="Counter of HTTP requests, with a status label."
    )
    status_label: str = Field(
        "status",
        description="Label of requests_metric carrying the HTTP status (then status, code, status_code are tried).",
    )
    duration_metric: str | None = Field(
        "http_request_duration_seconds",
        pattern=METRIC_NAME,
        description="Histogram of request durations in seconds (p95 from its buckets); null: not judged.",
    )
    memory_metric: str | None = Field(
        "process_resident_memory_bytes",
        pattern=METRIC_NAME,
        description="Gauge of resident memory in bytes; null: not judged.",
    )
    max_p95_ms: float | None = Field(None, gt=0, description="p95 limit (default: thresholds.PERF3.p95_ms).")
    max_resident_memory_mb: float | None = Field(
        None, gt=0, description="Resident memory limit (default: thresholds.PERF3.max_resident_memory_mb)."
    )

    kind_label: ClassVar[str] = "metrics endpoint"
    collection: ClassVar[str] = "metrics"

    @model_validator(mode="before")
    @classmethod
    def _default_path(cls, data: Any) -> Any:
        return default_location(data, path="/metrics")

