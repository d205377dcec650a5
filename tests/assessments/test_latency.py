"""healthsuite.assessments.latency on its own: the nearest-rank percentile of the samples (PERF2)."""

from __future__ import annotations

from healthsuite.assessments import latency


def test_PERF2_nearest_rank_is_the_percentile_of_the_samples() -> None:
    assert latency.nearest_rank([5, 1, 4, 2, 3, 6, 7, 8, 9, 10], 95) == 10
    assert latency.nearest_rank(list(range(1, 101)), 95) == 95
