"""Judge the operations observations: Redis memory and rejections (CACHE2), the keyspace hit rate
(PERF7), sampled latency (PERF2), application metrics (PERF3), the calendar API (EXT1), the error
tracker's new issues (EXT2) and external dependencies (EXT3).

Redis and Prometheus counters are cumulative since the server or process started (Redis: or since the
last `CONFIG RESETSTAT`): one reading judges that whole lifetime, and the findings say so with its age."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from ..catalogue.diagnoses import Catalogue
from ..model.ops import ExternalDependency, MetricsEndpoint
from ..probes.http import HttpObservation
from ..probes.ops import IssueList, LatencySamples, MetricSample, MetricsScrape, Sample
from ..probes.redis_stats import RedisInfo
from . import status_meaning
from .failure import Finding, combine, probe_failure
from .pg_activity import duration

MIN_LOOKUPS = 100  # PERF7: fewer keyspace lookups than this are too few to judge a hit rate
TITLE_CHARS = 60  # EXT2: issue titles may carry user data; only their start is shown
STATUS_LABELS = ("status", "code", "status_code")  # PERF3: tried after the declared status label
MIB = 1024 * 1024


def size(n: float) -> str:
    """Bytes as a person reads them (binary units, as redis-cli's *_human fields)."""
    for unit, factor in (("GiB", 1024**3), ("MiB", MIB), ("KiB", 1024)):
        if n >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n:.0f} B"


def _since(uptime_s: int | None, what: str = "the server started") -> str:
    return f"since {what} {duration(uptime_s)} ago" if uptime_s is not None else f"since {what}"


# --- CACHE2: Redis memory and rejected connections -------------------------------------------------------------


def redis_memory(obs: RedisInfo, max_pct: float, max_rejected: float) -> Finding:
    """CACHE2: used_memory under `max_pct` % of maxmemory, and rejected_connections at most `max_rejected`.

    maxmemory 0 means no limit: Redis then grows until the host (or container) runs out, so used memory
    is judged against total_system_memory, the host's memory as Redis sees it. rejected_connections is
    cumulative since start (or CONFIG RESETSTAT): any rejection in that lifetime fails, and the message
    says how to reset the counter once the cause is fixed."""
    used = obs.number("used_memory")
    maxmemory = obs.number("maxmemory") or 0
    system = obs.number("total_system_memory") or 0
    rejected = obs.number("rejected_connections")
    uptime = obs.number("uptime_in_seconds")
    policy = str(obs.fields.get("maxmemory_policy", "?"))
    expected = (
        f"used_memory under {max_pct:g} % of maxmemory (no maxmemory: of total_system_memory); "
        f"rejected_connections at most {max_rejected:g}"
    )
    if used is None or rejected is None:
        missing = " and ".join(n for n, v in (("used_memory", used), ("rejected_connections", rejected)) if v is None)
        return Finding(
            ok=False,
            observed=f"INFO from {obs.address} does not report {missing}",
            expected=expected,
            meaning="the server's memory use cannot be read: INFO may be restricted by a proxy or a managed service",
        )
    if maxmemory:
        limit, basis = maxmemory, "maxmemory"
    elif system:
        limit, basis = system, "total_system_memory (no maxmemory set)"
    else:
        limit, basis = 0, ""
    pct = 100.0 * used / limit if limit else 0.0
    memory_ok = pct < max_pct
    rejected_ok = rejected <= max_rejected
    if limit:
        memory = f"used_memory {size(used)} of {basis} {size(limit)} ({pct:.1f} %), policy {policy}"
    else:
        memory = f"used_memory {size(used)}, no maxmemory and no total_system_memory to judge it against"
    clients = f"{obs.number('connected_clients')} connected"
    if obs.number("maxclients"):
        clients += f" of maxclients {obs.number('maxclients')}"
    observed = f"{memory}; {rejected} rejected connections {_since(uptime)} ({clients})"
    meanings = []
    causes: list[str] = []
    remediation: list[str] = []
    if not memory_ok:
        if not maxmemory:
            meanings.append(
                f"Redis has no maxmemory and uses {pct:.0f} % of the host's memory: it will be killed by the "
                "out-of-memory killer, or swap, before it evicts anything"
            )
            remediation.append(
                "Set `maxmemory` (and a `maxmemory-policy`) so Redis evicts instead of exhausting the host."
            )
        elif policy == "noeviction":
            meanings.append(
                f"Redis is at {pct:.0f} % of maxmemory with policy noeviction: writes will fail with "
                "`OOM command not allowed` (sessions and cache entries can no longer be stored)"
            )
        else:
            meanings.append(
                f"Redis is at {pct:.0f} % of maxmemory with policy {policy}: keys (sessions, cached results) "
                "are evicted before they expire"
            )
        remediation.append(
            "Find the largest key patterns with `redis-cli -h <host> -p <port> --bigkeys` (and `--memkeys`) "
            "and keys without TTL before deleting anything; raise maxmemory if the working set really needs it."
        )
    if not rejected_ok:
        meanings.append(
            f"{rejected} client connections were refused {_since(uptime)}: the application got connection "
            "errors when Redis reached maxclients. The counter is cumulative: once the cause is fixed, reset it "
            "with `redis-cli -h <host> -p <port> config resetstat` so this check judges only new rejections"
        )
        causes.append("A connection leak or a pool without a limit in the application reaches maxclients.")
        remediation.append(
            "Compare `redis-cli -h <host> -p <port> info clients` (connected_clients) with "
            "`config get maxclients`, and check the application's Redis pool size."
        )
    return Finding(
        ok=memory_ok and rejected_ok,
        observed=observed,
        expected=expected,
        meaning="; ".join(meanings),
        causes=tuple(causes),
        remediation=tuple(remediation),
        facts={
            "used_memory": used,
            "maxmemory": maxmemory,
            "total_system_memory": system,
            "judged_against": basis or None,
            "memory_pct": round(pct, 1),
            "maxmemory_policy": policy,
            "rejected_connections": rejected,
            "connected_clients": obs.number("connected_clients"),
            "maxclients": obs.number("maxclients"),
            "evicted_keys": obs.number("evicted_keys"),
            "uptime_s": uptime,
            "counters": "cumulative since the server started or the last CONFIG RESETSTAT",
        },
    )


# --- PERF7: keyspace hit rate --------------------------------------------------------------------------------


def hit_rate(obs: RedisInfo, min_pct: float, min_lookups: int = MIN_LOOKUPS) -> Finding:
    """PERF7: keyspace_hits / (hits + misses) at least `min_pct` %. Under `min_lookups` lookups the rate
    says nothing (a fresh or idle cache): it passes, saying so."""
    hits = obs.number("keyspace_hits")
    misses = obs.number("keyspace_misses")
    uptime = obs.number("uptime_in_seconds")
    expected = f"keyspace hit rate at least {min_pct:g} % (judged from {min_lookups} lookups on)"
    if hits is None or misses is None:
        return Finding(
            ok=False,
            observed=f"INFO stats from {obs.address} does not report keyspace_hits/keyspace_misses",
            expected=expected,
            meaning="the hit rate cannot be read: INFO stats may be restricted by a proxy or a managed service",
        )
    lookups = hits + misses
    evicted = obs.number("evicted_keys") or 0
    facts = {
        "keyspace_hits": hits,
        "keyspace_misses": misses,
        "evicted_keys": evicted,
        "expired_keys": obs.number("expired_keys"),
        "uptime_s": uptime,
        "counters": "cumulative since the server started or the last CONFIG RESETSTAT",
    }
    since = _since(uptime, "the server started (or the last CONFIG RESETSTAT)")
    if lookups < min_lookups:
        return Finding(
            ok=True,
            observed=f"only {lookups} keyspace lookups {since} ({hits} hits, {misses} misses): too few to judge "
            f"a hit rate (at least {min_lookups} needed)",
            expected=expected,
            facts={**facts, "hit_rate_pct": None},
        )
    rate = 100.0 * hits / lookups
    ok = rate >= min_pct
    meaning = ""
    causes: tuple[str, ...] = ()
    if not ok:
        meaning = (
            f"{misses} of {lookups} reads missed the cache, so they went to the database or the slow "
            "computation the cache should spare"
        )
        if evicted:
            meaning += f"; {evicted} keys were evicted, so memory pressure removes entries early (see CACHE2)"
            causes = ("Keys are evicted because Redis reached maxmemory.",)
    return Finding(
        ok=ok,
        observed=f"hit rate {rate:.1f} % ({hits} hits, {misses} misses) {since}; evicted_keys {evicted}",
        expected=expected,
        meaning=meaning,
        causes=causes,
        facts={**facts, "hit_rate_pct": round(rate, 1)},
    )


# --- PERF2: sampled latency ----------------------------------------------------------------------------------


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
    - mean: even if every sample left answered in no time, the mean stays at or over its limit."""

    def decided(samples: Sequence[Sample], total: int) -> str:
        left = total - len(samples)
        if left <= 0:
            return ""
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
    return Finding(
        ok=p95_ok and mean_ok and success_ok,
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


# --- PERF3: application metrics ------------------------------------------------------------------------------


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


# --- EXT1: the calendar API ----------------------------------------------------------------------------------

_QUOTA_REASONS = ("ratelimitexceeded", "userratelimitexceeded", "quotaexceeded", "dailylimitexceeded")
_SCOPE_REASONS = ("insufficientpermissions", "access_token_scope_insufficient", "forbidden")


def google_error(obs: HttpObservation) -> tuple[str, str]:
    """(reason, message) of a Google API error body ({"error": {"message", "status", "errors": [{"reason"}]}})."""
    try:
        document = obs.json()
    except ValueError:
        return "", obs.text(160)
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return "", obs.text(160)
    reasons = [e.get("reason", "") for e in error.get("errors", []) if isinstance(e, dict)]
    details = [d.get("reason", "") for d in error.get("details", []) if isinstance(d, dict)]
    reason = next((r for r in (*reasons, *details, error.get("status", "")) if r), "")
    return str(reason), str(error.get("message", ""))[:160]


def calendar(obs: HttpObservation, catalogue: Catalogue) -> Finding:
    """EXT1: 200 with the access token. 401 = token expired or revoked, 403 = scope or quota (by Google's
    reason), 429 = quota, 5xx or no answer = the provider is down."""
    expected = "HTTP 200 with the configured access token"
    if obs.error is not None:
        failure = probe_failure(obs.error, catalogue, expected)
        return replace(
            failure,
            meaning="the calendar provider could not be reached: it is down, or the network path to it is broken; "
            "bookings are not synced to calendars meanwhile",
            remediation=("Check Google's status: https://www.google.com/appsstatus/dashboard/",),
        )
    assert obs.status is not None
    if obs.status == 200:
        try:
            document = obs.json()
            items = document.get("items") if isinstance(document, dict) else None
        except ValueError:
            items = None
        listed = f": {len(items)} calendars listed" if isinstance(items, list) else ""
        return Finding(
            ok=True,
            observed=f"{obs.summary()}{listed}",
            expected=expected,
            facts={"status": 200, "elapsed_ms": round(obs.elapsed_s * 1000, 1)},
        )
    reason, message = google_error(obs)
    said = f" ({reason}: {message})" if reason or message else ""
    observed = f"{obs.summary()}{said}"
    low = reason.lower()
    remediation: tuple[str, ...] = ()
    if obs.status == 401:
        meaning = (
            "the access token is expired or was revoked: Google no longer accepts it, so calendar sync fails. "
            "Access tokens live about an hour and must be refreshed with the refresh token; a revoked grant "
            "(the user removed the app's access or changed password) needs the user to re-authorize"
        )
        remediation = (
            "Refresh it with the refresh token, or have the account owner re-authorize the integration; then update "
            "the secret both the application and these checks read (tokeninfo answering invalid_token confirms it).",
        )
    elif obs.status == 429 or (obs.status == 403 and low in _QUOTA_REASONS):
        meaning = (
            f"Google throttles the project ({reason or obs.status}): a rate limit or the daily quota is exhausted"
        )
        remediation = ("Check the quotas of the Calendar API in the Google Cloud Console (APIs & Services > Quotas).",)
    elif obs.status == 403 and low == "accessnotconfigured":
        meaning = "the Calendar API is not enabled in the Google Cloud project of this OAuth client"
        remediation = ("Enable the Google Calendar API in the Cloud Console (APIs & Services > Library).",)
    elif obs.status == 403:
        meaning = (
            f"the token is valid but not allowed ({reason or 'forbidden'}): it lacks the Calendar scope, or a "
            "quota forbids the call"
        )
        remediation = (
            "Check the token's scopes with the tokeninfo call (it must include "
            "https://www.googleapis.com/auth/calendar or calendar.readonly) and re-authorize with them.",
        )
    elif obs.status >= 500:
        meaning = f"Google's API answers {obs.status}: the provider has an incident (not this configuration)"
        remediation = ("Check Google's status: https://www.google.com/appsstatus/dashboard/ and retry later.",)
    else:
        meaning, _ = status_meaning(obs.status, catalogue)
        meaning = meaning or f"an unexpected answer: check `integrations.calendar.url` ({obs.url})"
    return Finding(
        ok=False,
        observed=observed,
        expected=expected,
        meaning=meaning,
        remediation=remediation,
        facts={"status": obs.status, "reason": reason},
    )


# --- EXT2: new issues in the error tracker -------------------------------------------------------------------

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def short_title(title: str, limit: int = TITLE_CHARS) -> str:
    """An issue title as it may be shown: e-mail addresses masked, cut at `limit` characters (titles carry
    exception messages, which may quote user data)."""
    masked = _EMAIL.sub("<email>", " ".join(title.split()))
    return masked if len(masked) <= limit else masked[: limit - 3] + "..."


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_TRACKER_STATUSES = {
    401: "the tracker rejects the API token: it is invalid, expired or revoked (create a new one with project:read)",
    403: "the token may not read this project: it lacks the project:read scope or the organization membership",
    404: "no such organization or project: check `integrations.error_tracker.organization` and `.project` "
    "(the slugs in the tracker's URLs)",
    429: "the tracker throttles the API token (rate limit)",
}


def new_issues(
    obs: IssueList, max_new: float, window_h: float, top: int, catalogue: Catalogue, now: datetime | None = None
) -> Finding:
    """EXT2: fewer than `max_new` issues first seen in the last `window_h` hours; the top ones (by events)
    are listed with their titles masked and truncated."""
    expected = f"fewer than {max_new:g} new issues in the last {window_h:g} h"
    response = obs.response
    if response.status != 200:
        meaning = _TRACKER_STATUSES.get(response.status or 0, "")
        if not meaning:
            status_text, _ = status_meaning(response.status, catalogue)
            meaning = f"the error tracker is failing ({status_text})" if status_text else "an unexpected answer"
        return Finding(
            ok=False,
            observed=f"{response.summary()}: {response.text(160)!r}" if response.body else response.summary(),
            expected=expected,
            meaning=meaning,
            facts={"status": response.status},
        )
    if obs.problem:
        return Finding(
            ok=False,
            observed=obs.problem,
            expected=expected,
            meaning="the answer is not Sentry's issue list: check `integrations.error_tracker.url`",
        )
    cutoff = (now or datetime.now(UTC)) - timedelta(hours=window_h)
    new = [i for i in obs.issues if (seen := _parse_time(i.first_seen)) is None or seen >= cutoff]
    new.sort(key=lambda i: i.count, reverse=True)
    count = f"at least {len(new)}" if obs.more else str(len(new))
    ok = len(new) < max_new
    listed = [
        f"{f'[{i.short_id}] ' if i.short_id else ''}{short_title(i.title)} ({i.count} events)" for i in new[:top]
    ]
    observed = f"{count} new issues in the last {window_h:g} h"
    if listed:
        observed += "; top: " + "; ".join(listed)
    return Finding(
        ok=ok,
        observed=observed,
        expected=expected,
        meaning=""
        if ok
        else f"{count} new kinds of error appeared in {window_h:g} h: something changed (a deployment, a failing "
        "dependency); open them in the tracker, grouped by release",
        facts={
            "new_issues": len(new),
            "more_pages": obs.more,
            "top_issues": [
                {"id": i.short_id, "title": short_title(i.title), "events": i.count, "level": i.level,
                 "first_seen": i.first_seen}
                for i in new[:top]
            ],
        },
    )


# --- EXT3: external dependencies -----------------------------------------------------------------------------


def _slowest_phase(obs: HttpObservation) -> str:
    if obs.timings is None:
        return ""
    phases = {k: v for k, v in obs.timings.phases().items() if v is not None}
    name, ms = max(phases.items(), key=lambda kv: kv[1])
    where = {
        "server": "the service itself is slow to answer",
        "dns": "name resolution is slow",
        "connect": "the network path (TCP connect) is slow",
        "tls": "the TLS handshake is slow",
        "transfer": "the body is slow to arrive",
    }[name]
    return f"most of the time is {name} ({ms:.0f} ms): {where}"


def dependency(target: ExternalDependency, obs: HttpObservation, budget_ms: float, catalogue: Catalogue) -> Finding:
    """EXT3: an answer (any status under 500, or the declared expect_status) within the budget; a slow
    answer is reported with its curl -w timing breakdown."""
    declared = "expect_status" in target.model_fields_set
    statuses = " or ".join(str(s) for s in target.expected_statuses)
    expected = f"{'HTTP ' + statuses if declared else 'an answer under 500'} within {budget_ms:g} ms"
    if obs.error is not None:
        failure = probe_failure(obs.error, catalogue, expected)
        return replace(
            failure,
            observed=f"{failure.observed} after {obs.elapsed_s * 1000:.0f} ms",
            meaning="the dependency did not answer: calls from the application fail or hang until their timeout",
        )
    assert obs.status is not None
    status_ok = obs.status in target.expected_statuses if declared else obs.status < 500
    total_ms = obs.timings.total if obs.timings is not None else obs.elapsed_s * 1000
    fast = total_ms <= budget_ms
    observed = f"HTTP {obs.status} in {total_ms:.0f} ms (budget {budget_ms:g} ms)"
    if not fast and obs.timings is not None:
        observed += f": {obs.timings.summary()}"
    meanings = []
    causes: tuple[str, ...] = ()
    if not status_ok:
        status_text, causes = status_meaning(obs.status, catalogue)
        meanings.append(f"the dependency answers {obs.status}" + (f" ({status_text})" if status_text else ""))
    if not fast:
        meanings.append(f"it answers {total_ms - budget_ms:.0f} ms over its budget; " + _slowest_phase(obs))
    return Finding(
        ok=status_ok and fast,
        observed=observed,
        expected=expected,
        meaning="; ".join(m for m in meanings if m),
        causes=causes,
        facts={
            "status": obs.status,
            "total_ms": total_ms,
            "budget_ms": budget_ms,
            **({"timings": obs.timings.as_dict()} if obs.timings is not None else {}),
        },
    )

