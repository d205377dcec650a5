"""healthsuite.assessments.metrics on its own: a histogram's quantile as Prometheus computes it (PERF3)."""

from __future__ import annotations

from healthsuite.assessments import metrics


def test_PERF3_histogram_quantile_interpolates_like_prometheus() -> None:
    buckets = [(0.05, 4000.0), (0.1, 4700.0), (0.25, 4950.0), (0.5, 4950.0), (0.75, 5000.0), (float("inf"), 5000.0)]
    value, beyond = metrics.histogram_quantile(0.95, buckets)
    assert round(value, 3) == 0.13 and not beyond
    value, beyond = metrics.histogram_quantile(0.95, [(0.1, 10.0), (float("inf"), 100.0)])
    assert (value, beyond) == (0.1, True)
