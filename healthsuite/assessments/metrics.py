"""PERF3: judge one scrape of the application's Prometheus metrics: the 5xx share, the p95 from the duration
histogram, resident memory.

Prometheus counters are cumulative since the process started: one scrape judges that whole lifetime."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from ..model.metrics import MetricsEndpoint
from ..probes.metrics import MetricSample, MetricsScrape
from .failure import Finding, combine
from .pg_activity import duration
from .units import MIB, size

STATUS_LABELS = ("status", "code", "status_code")  # PERF3: tried after the declared status label


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> tuple[float, bool]:
    """Prometheus's histogram_quantile over cumulative (le, count) buckets: linear interpolation inside
    the bucket that holds the rank. Returns (value, beyond): `beyond` when the rank falls in the +Inf
    bucket, where the value is only known to exceed the highest finite bound (returned)."""
    ordered = sorted(buckets)
    total = ordered[-1][1]
    rank = q * total
    previous_le, previous_count = 0.0, 0.0
    for le, count in ordered:
        if count >= rank:
            if math.isinf(le):
                return previous_le, True
            if count == previous_count:
                return le, False
            return previous_le + (le - previous_le) * (rank - previous_count) / (count - previous_count), False
        previous_le, previous_count = le, count
    return previous_le, True


def _key(target: MetricsEndpoint, name: str) -> str:
    return f"metrics[{target.name}].{name}"


def _missing(target: MetricsEndpoint, metric: str, kind: str, key: str, scrape: MetricsScrape) -> Finding:
    known = sorted(scrape.types)
    shown = ", ".join(known[:12]) + (" ..." if len(known) > 12 else "")
    return Finding(
        ok=False,
        observed=f"no {kind} {metric} in the scrape (metrics found: {shown or 'none'})",
        expected=f"a {kind} named {metric}",
        meaning=f"the application does not export {metric}, or under another name: set `{_key(target, key)}` "
        "to the name it uses (null: do not judge it)",
    )


def _counter_samples(scrape: MetricsScrape, name: str) -> list[MetricSample]:
    found = scrape.named(name)
    if not found and not name.endswith("_total"):
        found = scrape.named(name + "_total")
    return found


def _error_share(target: MetricsEndpoint, scrape: MetricsScrape, max_pct: float, rollback_pct: float) -> Finding:
    samples = _counter_samples(scrape, target.requests_metric)
    if not samples:
        return _missing(target, target.requests_metric, "request counter", "requests_metric", scrape)
    labels = (target.status_label, *[label for label in STATUS_LABELS if label != target.status_label])
    label = next((name for name in labels if any(name in s.labels for s in samples)), None)
    expected = f"5xx share of requests under {max_pct:g} % (rollback trigger at {rollback_pct:g} %)"
    if label is None:
        return Finding(
            ok=False,
            observed=f"{target.requests_metric} has no status label (tried {', '.join(labels)}; labels: "
            f"{', '.join(sorted({k for s in samples for k in s.labels})) or 'none'})",
            expected=expected,
            meaning=f"the 5xx share cannot be computed: set `{_key(target, 'status_label')}` to the label that "
            "carries the HTTP status",
        )
    total = sum(s.value for s in samples)
    errors = sum(s.value for s in samples if s.labels.get(label, "").startswith("5"))
    pct = 100.0 * errors / total if total else 0.0
    ok = pct < max_pct
    rollback = pct >= rollback_pct
    observed = f"5xx {pct:.1f} % of requests ({errors:.0f} of {total:.0f}, {target.requests_metric})"
    meaning = ""
    if rollback:
        meaning = (
            f"the 5xx share {pct:.1f} % is at or over runbook 001's automatic rollback trigger ({rollback_pct:g} %): "
            "if it began with the last deployment, roll back now (with the platform's own rollback), then "
            "investigate"
        )
    elif not ok:
        meaning = f"the 5xx share {pct:.1f} % is over {max_pct:g} %: some requests fail with server errors"
    return Finding(
        ok=ok,
        observed=observed,
        expected=expected,
        meaning=meaning,
        facts={"requests": total, "requests_5xx": errors, "rate_5xx_pct": round(pct, 2), "rollback": rollback},
        severity="critical" if rollback else None,
    )


def _duration_p95(target: MetricsEndpoint, scrape: MetricsScrape, limit_ms: float) -> Finding:
    assert target.duration_metric is not None
    name = target.duration_metric
    by_le: dict[float, float] = {}
    for sample in scrape.named(name + "_bucket"):
        le = sample.labels.get("le")
        if le is not None:
            bound = float("inf") if le in ("+Inf", "Inf") else float(le)
            by_le[bound] = by_le.get(bound, 0.0) + sample.value
    expected = f"request-duration p95 under {limit_ms:g} ms"
    if not by_le:
        return _missing(target, name, "histogram", "duration_metric", scrape)
    buckets = sorted(by_le.items())
    count = buckets[-1][1]
    if count == 0:
        return Finding(ok=True, observed=f"{name}: no request observed yet", expected=expected)
    value, beyond = histogram_quantile(0.95, buckets)
    p95_ms = value * 1000
    ok = p95_ms < limit_ms and not beyond
    shown = f"over {p95_ms:.0f} ms (beyond the highest bucket)" if beyond else f"{p95_ms:.0f} ms"
    return Finding(
        ok=ok,
        observed=f"request-duration p95 {shown} over {count:.0f} requests ({name})",
        expected=expected,
        meaning="" if ok else f"at least one request in twenty takes longer than {limit_ms:g} ms",
        facts={"p95_ms": round(p95_ms, 1), "p95_beyond_highest_bucket": beyond, "observations": count},
    )


def _resident_memory(target: MetricsEndpoint, scrape: MetricsScrape, limit_mb: float) -> Finding:
    assert target.memory_metric is not None
    samples = scrape.named(target.memory_metric)
    if not samples:
        return _missing(target, target.memory_metric, "gauge", "memory_metric", scrape)
    resident = max(s.value for s in samples)  # several label sets (workers): the largest one
    mb = resident / MIB
    ok = mb < limit_mb
    return Finding(
        ok=ok,
        observed=f"resident memory {size(resident)} ({target.memory_metric})",
        expected=f"resident memory under {limit_mb:g} MiB",
        meaning="" if ok else f"the process holds {mb:.0f} MiB, over {limit_mb:g} MiB: a leak or too small a limit; "
        "out-of-memory kills and slow responses follow",
        facts={"resident_memory_mb": round(mb, 1)},
    )


def metrics(
    target: MetricsEndpoint,
    scrape: MetricsScrape,
    *,
    max_5xx_pct: float,
    rollback_5xx_pct: float,
    p95_ms: float,
    max_memory_mb: float,
    now: float | None = None,
) -> Finding:
    """PERF3: from one scrape, the 5xx share (at the rollback trigger the finding is raised to critical),
    the request-duration p95 from the histogram buckets, and resident memory. Counters and histograms are
    cumulative since the process started: one scrape judges that whole lifetime (its age is shown when
    process_start_time_seconds is exported)."""
    response = scrape.response
    expected = "200 with Prometheus metrics"
    if response.status != 200:
        return Finding(
            ok=False,
            observed=f"{response.summary()}: {response.text(120)!r}" if response.body else response.summary(),
            expected=expected,
            meaning=f"no metrics at {response.url}: check `{_key(target, 'path')}` (or url) and that the "
            "application exposes its Prometheus endpoint to the probe",
        )
    if scrape.parse_error:
        return Finding(
            ok=False,
            observed=f"the body is not Prometheus text: {scrape.parse_error}",
            expected=expected,
            meaning="the endpoint answers, but not in the Prometheus exposition format (a login page, a proxy error?)",
        )
    started = [s.value for s in scrape.named("process_start_time_seconds")]
    age = "counted since the process started (cumulative: one scrape judges its whole lifetime)"
    facts: dict[str, object] = {"cumulative": "counters and histograms count since the process started"}
    if started:
        age_s = max(0.0, (now if now is not None else datetime.now(UTC).timestamp()) - min(started))
        age = f"counted since the process started {duration(age_s)} ago (cumulative: one scrape judges that lifetime)"
        facts["process_age_s"] = round(age_s)
    parts = [_error_share(target, scrape, max_5xx_pct, rollback_5xx_pct)]
    if target.duration_metric is not None:
        parts.append(_duration_p95(target, scrape, p95_ms))
    if target.memory_metric is not None:
        parts.append(_resident_memory(target, scrape, max_memory_mb))
    finding = combine(parts)
    return replace(finding, observed=f"{finding.observed}; {age}", facts={**facts, **finding.facts})

