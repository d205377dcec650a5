"""PERF2: judge sampled latency against its SLO (p95 and mean), and say when the samples so far already
decide the verdict so that sampling can stop."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..probes.latency import LatencySamples, Sample
from .failure import Finding


def nearest_rank(values: Sequence[float], pct: float) -> float:
    """The `pct` percentile by nearest rank: the smallest value with at least pct % of values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


@dataclass(frozen=True)
class LatencyLimits:
    """PERF2's limits for one endpoint (the target's own, else the diagnosis's thresholds)."""

    samples: int
    expected_statuses: tuple[int, ...]
    p95_ms: float
    mean_ms: float
    min_success_pct: float


def _succeeded(sample: Sample, expected_statuses: Sequence[int]) -> bool:
    return sample.status is not None and (sample.status < 400 or sample.status in expected_statuses)


def latency_decided(limits: LatencyLimits) -> Callable[[Sequence[Sample], int], str]:
    """Whether PERF2's failure is already certain after some of its samples, whatever the others turn
    out to be: why (a sentence), or "". Used to stop sampling early. Each rule is one that `latency`
    also fails on the samples taken so far, so stopping never changes the verdict:
    - success: even if every sample left succeeds, the rate stays under the minimum;
    - p95 (nearest rank): enough answered samples are at or over the limit that it stays there even if
      every sample left answers fast;
    - mean: even if every sample left answered in no time, the mean stays at or over its limit;
    - no answer: a sample timed out or could not connect. A target that does not answer is never sent
      more samples in the same run (each would wait out its timeout); `latency` fails a stopped run."""

    def decided(samples: Sequence[Sample], total: int) -> str:
        left = total - len(samples)
        if left <= 0:
            return ""
        unanswered = next((sample for sample in samples if sample.status is None and sample.error), None)
        if unanswered is not None and unanswered.error is not None:
            return (
                f"a sample got no answer ({unanswered.error.kind_name}): no more are sent to a target that "
                "does not answer"
            )
        succeeded = sum(1 for sample in samples if _succeeded(sample, limits.expected_statuses))
        if 100.0 * (succeeded + left) / total < limits.min_success_pct:
            return (
                f"{len(samples) - succeeded} of {total} samples failed already: the success rate cannot reach "
                f"{limits.min_success_pct:g} %"
            )
        answered = [sample.elapsed_ms for sample in samples if sample.status is not None]
        if not answered:
            return ""
        most = len(answered) + left
        over = sum(1 for ms in answered if ms >= limits.p95_ms)
        if over >= most - math.ceil(0.95 * most) + 1:
            return f"{over} of {total} samples took {limits.p95_ms:g} ms or more already: p95 cannot get under it"
        if sum(answered) / most >= limits.mean_ms:
            return (
                f"the first {len(answered)} samples took {sum(answered):.0f} ms in all: the mean over {total} "
                f"cannot get under {limits.mean_ms:g} ms"
            )
        return ""

    return decided


def latency(
    obs: LatencySamples, expected_statuses: Sequence[int], p95_ms: float, mean_ms: float, min_success_pct: float
) -> Finding:
    """PERF2, as performance-monitor.sh computes it: over the samples, p95 under `p95_ms`, mean under
    `mean_ms` and the success rate (2xx/3xx or a declared status) at least `min_success_pct` %. Times are
    those of the samples that got an answer; the others count as failures."""
    samples = obs.samples
    answered = [s.elapsed_ms for s in samples if s.status is not None]
    succeeded = [s for s in samples if _succeeded(s, expected_statuses)]
    success_pct = 100.0 * len(succeeded) / len(samples) if samples else 0.0
    failures = Counter(
        f"HTTP {s.status}" if s.error is None else s.error.kind_name for s in samples if s not in succeeded
    )
    expected = (
        f"over {len(samples)} samples: p95 under {p95_ms:g} ms, mean under {mean_ms:g} ms, "
        f"success rate at least {min_success_pct:g} %"
    )
    failed = ", ".join(f"{kind} x{count}" for kind, count in failures.most_common())
    if not answered:
        first = next((s.error for s in samples if s.error is not None), None)
        detail = f" ({first.detail})" if first is not None else ""
        stopped = f"; sampling stopped after {len(samples)} of {obs.planned}: {obs.stopped}" if obs.stopped else ""
        return Finding(
            ok=False,
            observed=f"none of {len(samples)} requests to {obs.url} got an answer: {failed}{detail}{stopped}",
            expected=expected,
            meaning="the endpoint did not answer a single sample: it is down or unreachable (see AV2, AV4)",
            facts={"samples": len(samples), "failures": dict(failures)},
        )
    low, high = min(answered), max(answered)
    mean = sum(answered) / len(answered)
    p95 = nearest_rank(answered, 95)
    p95_ok, mean_ok, success_ok = p95 < p95_ms, mean < mean_ms, success_pct >= min_success_pct
    observed = (
        f"{len(samples)} samples ({obs.concurrency} at once): min {low:.0f} / mean {mean:.0f} / p95 {p95:.0f} / "
        f"max {high:.0f} ms; {len(succeeded)} of {len(samples)} succeeded ({success_pct:.0f} %)"
    )
    if failed:
        observed += f"; failed: {failed}"
    if obs.stopped:
        observed += f"; sampling stopped after {len(samples)} of {obs.planned} samples: {obs.stopped}"
    meanings = []
    if not p95_ok:
        meanings.append(
            f"p95 {p95:.0f} ms is over {p95_ms:g} ms: at least one request in twenty is slower than the SLO"
        )
    if not mean_ok:
        meanings.append(
            f"the mean {mean:.0f} ms is over {mean_ms:g} ms: if this lasts 10 minutes after a deployment, it is a "
            "rollback trigger of runbook 001"
        )
    if not success_ok:
        meanings.append(f"{len(samples) - len(succeeded)} of {len(samples)} requests failed ({failed})")
    if obs.stopped and not meanings:  # a sample got no answer: sampling stopped, so the rate is not known
        meanings.append(f"sampling stopped: {obs.stopped}")
    return Finding(
        ok=p95_ok and mean_ok and success_ok and not obs.stopped,
        observed=observed,
        expected=expected,
        meaning="; ".join(meanings),
        facts={
            "url": obs.url,
            "samples": len(samples),
            "concurrency": obs.concurrency,
            "min_ms": low,
            "mean_ms": round(mean, 1),
            "p95_ms": p95,
            "max_ms": high,
            "success_rate_pct": round(success_pct, 1),
            "failures": dict(failures),
            "wall_ms": obs.wall_ms,
            "planned_samples": obs.planned or len(samples),
            **({"stopped_early": obs.stopped} if obs.stopped else {}),
            "traffic": "extra requests sent by this check (not from the probe cache)",
        },
    )

