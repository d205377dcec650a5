"""CACHE2, PERF7 (the demo's throwaway Redis), PERF2, PERF3 (the demo app's /metrics and a slow API) and
EXT1-EXT3 (the demo's calendar, Sentry and e-mail stand-ins): each passes when healthy and fails on its
own real fault, with its category and severity, naming the observed value; the tokens never reach any
output; unset tokens skip naming their variable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from healthsuite.probes.integrations import Issue, IssueList, issues_url

from healthsuite.assessments import integrations, latency, metrics
from healthsuite.catalogue.diagnoses import load_catalogue
from healthsuite.demo.app import ops as app_ops
from healthsuite.demo.faults.switches import Fault
from healthsuite.demo.stack import DemoStack
from healthsuite.probes.http import HttpObservation
from healthsuite.testing.services import RedisServer, free_port
from tests.conftest import RunChecks

CALENDAR_TOKEN = "ya29.known-calendar-token-for-tests"
SENTRY_TOKEN = "sntrys_known-sentry-token-for-tests"
ALL = "CACHE2,PERF7,PERF3,PERF2,EXT1,EXT2,EXT3"
EXPECTED = {  # diagnosis -> (target, category, severity when it fails on its demo fault)
    "CACHE2": ("sessions", "cache", "medium"),
    "PERF7": ("sessions", "performance", "medium"),
    "PERF3": ("app", "performance", "critical"),  # 8 % 5xx: raised by the rollback trigger
    "PERF2": ("availability", "performance", "high"),
    "EXT1": ("calendar", "integrations", "medium"),
    "EXT2": ("sentry", "integrations", "medium"),
    "EXT3": ("mailer", "integrations", "medium"),
}


@pytest.fixture
def tokens() -> Iterator[dict[str, str]]:
    """Known token values for the demo's stand-ins (restored afterwards), as the checks' environment."""
    previous = app_ops.configure(calendar_token=CALENDAR_TOKEN, sentry_token=SENTRY_TOKEN)
    yield {app_ops.CALENDAR_TOKEN_VARIABLE: CALENDAR_TOKEN, app_ops.SENTRY_TOKEN_VARIABLE: SENTRY_TOKEN}
    app_ops.configure(
        calendar_token=previous[app_ops.CALENDAR_TOKEN_VARIABLE], sentry_token=previous[app_ops.SENTRY_TOKEN_VARIABLE]
    )


def ops_env(stack: DemoStack, body: str = "", *, integrations: str | None = None) -> str:
    """A file aimed at the demo (its CA trusted, its Redis), with its metrics, latency and integrations."""
    assert stack.redis is not None
    app = f"https://127.0.0.1:{stack.ports.https}"
    if integrations is None:
        integrations = f"""integrations:
  calendar:
    url: {app}{app_ops.CALENDAR_LIST}
    token: ${{{app_ops.CALENDAR_TOKEN_VARIABLE}}}
  error_tracker:
    url: {app}/__sentry
    organization: instyle
    project: booking
    token: ${{{app_ops.SENTRY_TOKEN_VARIABLE}}}
  dependencies:
    - {{name: mailer, path: {app_ops.MAILER_STATUS}, budget_ms: 1000}}
    - {{name: google-calendar, url: "{app}{app_ops.CALENDAR_LIST}", budget_ms: 1000}}
"""
    return f"""
name: ops
kind: test
base_urls:
  app: {app}
http:
  ca_bundle: {stack.directory / "ca.pem"}
  headers: {{x-app-token: "${{APP_HEADER_TOKEN:-app-header-value}}"}}
timeouts:
  http_s: 3
  cache_s: 2
caches:
  - name: sessions
    url: redis://127.0.0.1:{stack.redis.port}/0
    password: ${{HEALTHSUITE_DEMO_REDIS_PASSWORD}}
metrics:
  - name: app
latency:
  - name: availability
    path: {app_ops.AVAILABILITY}
{integrations}{body}"""


def environ(stack: DemoStack, tokens: dict[str, str] | None = None) -> dict[str, str]:
    assert stack.redis is not None and stack.redis.password
    return {"HEALTHSUITE_DEMO_REDIS_PASSWORD": stack.redis.password, **(tokens or {})}


def outputs(run_texts: str, tmp_path: Path, reports: Path) -> dict[str, str]:
    texts = {"terminal": run_texts}
    for path in [*reports.rglob("*"), *tmp_path.glob("junit-*.xml")]:
        if path.is_file():
            texts[str(path)] = path.read_text(errors="replace")
    return texts


def assert_no_token_leaks(run_output: str, tmp_path: Path, reports: Path) -> None:
    texts = outputs(run_output, tmp_path, reports)
    for secret in (CALENDAR_TOKEN, SENTRY_TOKEN):
        leaks = [where for where, text in texts.items() if secret in text]
        assert not leaks, f"a token appears in {leaks}"


# --- the demo, healthy and broken ----------------------------------------------------------------------------


def test_healthy_demo_passes_every_ops_diagnosis(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path], tokens: dict[str, str], tmp_path: Path
) -> None:
    run = run_checks(
        "--diagnosis", ALL, "-rA", "-vv", "-o", "junit_logging=all",
        env=env_file(ops_env(stack)), environ=environ(stack, tokens),
    )
    for diagnosis, (target, category, _) in EXPECTED.items():
        default = load_catalogue().diagnosis(diagnosis).severity
        run.assert_outcome(diagnosis, target, "passed", category=category, severity=default)
    run.assert_outcome("EXT3", "google-calendar", "passed", category="integrations", severity="medium")
    cache2 = run.record("CACHE2", "sessions")["observed"]
    assert "of total_system_memory (no maxmemory set)" in cache2 and "0 rejected connections since" in cache2
    assert " hits, " in run.record("PERF7", "sessions")["observed"]  # a fresh cache: too few lookups to judge
    perf3 = run.record("PERF3", "app")["observed"]
    assert perf3.startswith("5xx 0.2 % of requests (10 of 5000, http_requests_total)")
    assert "request-duration p95 130 ms" in perf3 and "counted since the process started" in perf3
    assert run.record("PERF2", "availability")["observed"].startswith("10 samples (5 at once): min ")
    assert run.record("EXT1", "calendar")["observed"].endswith(": 2 calendars listed")
    ext2 = run.record("EXT2", "sentry")
    assert ext2["observed"].startswith("2 new issues in the last 24 h; top: [BOOKING-1] TypeError")
    assert "<email>" not in ext2["observed"]  # the old issue naming an address is not new
    assert "401" in run.record("EXT3", "google-calendar")["observed"]  # any answer under 500 will do
    assert_no_token_leaks(run.output, tmp_path, run.reports_dir)
    seen = list(app_ops.THIRD_PARTY_HEADERS)
    assert seen and all("authorization" in names or "x-app-token" not in names for names in seen)
    assert not any("x-app-token" in names for names in seen), "the app's http.headers went to a third party"


def test_each_demo_fault_fails_its_diagnosis_and_heals(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path], tokens: dict[str, str], tmp_path: Path
) -> None:
    path = env_file(ops_env(stack))
    stack.break_(ALL.split(","))
    run = run_checks("--diagnosis", ALL, "-rA", "-vv", "-o", "junit_logging=all", env=path,
                     environ=environ(stack, tokens))
    records = {}
    for diagnosis, (target, category, severity) in EXPECTED.items():
        records[diagnosis] = run.assert_outcome(diagnosis, target, "failed", category=category, severity=severity)
    run.assert_outcome("EXT3", "google-calendar", "passed", category="integrations", severity="medium")

    cache2 = records["CACHE2"]
    assert "of maxmemory" in cache2["observed"] and "policy noeviction" in cache2["observed"]
    assert 90 < cache2["facts"]["memory_pct"] < 100  # 97 % when made; client buffers move it a little
    assert "`OOM command not allowed`" in cache2["message"]
    perf7 = records["PERF7"]
    assert "hit rate 0.0 % (0 hits, 500 misses)" in perf7["observed"]
    perf3 = records["PERF3"]
    assert perf3["observed"].startswith("5xx 8.0 % of requests (400 of 5000, http_requests_total)")
    assert "rollback trigger (5 %)" in perf3["message"] and "roll back now" in perf3["message"]
    perf2 = records["PERF2"]
    assert f"p95 {perf2['facts']['p95_ms']:.0f} / max" in perf2["observed"]
    assert perf2["facts"]["p95_ms"] >= 700 and perf2["facts"]["planned_samples"] == 10
    # the first slow sample decides the failure (p95 by nearest rank over 10 is the slowest): the samples
    # not yet sent are not sent, and the message says so
    taken = perf2["facts"]["samples"]
    assert 1 <= taken <= 5 and f"sampling stopped after {taken} of 10 samples" in perf2["observed"], perf2["observed"]
    assert "p95 cannot get under it" in perf2["observed"] and perf2["facts"]["stopped_early"]
    ext1 = records["EXT1"]
    assert ext1["observed"].startswith("HTTP 401 Unauthorized") and "authError" in ext1["observed"]
    assert "expired or was revoked" in ext1["message"] and "re-authorize" in ext1["message"]
    ext2 = records["EXT2"]
    assert ext2["observed"].startswith("27 new issues in the last 24 h; top: [BOOKING-3] Error: booking 1000")
    assert "@gmail.example" not in ext2["observed"] and "<email>" in ext2["observed"]
    assert all(len(issue["title"]) <= integrations.TITLE_CHARS for issue in ext2["facts"]["top_issues"])
    ext3 = records["EXT3"]
    assert "(budget 1000 ms): " in ext3["observed"] and " + server " in ext3["observed"]
    assert "most of the time is server" in ext3["message"]
    assert ext3["facts"]["timings"]["phases_ms"]["server"] >= 1400
    assert "Traceback" not in run.output
    assert_no_token_leaks(run.output, tmp_path, run.reports_dir)

    stack.heal()
    healed = run_checks("--diagnosis", ALL, env=path, environ=environ(stack, tokens))
    assert healed.report["summary"]["failed"] == 0, healed.output
    assert healed.report["summary"]["passed"] == 8


# --- PERF3, EXT1, EXT3, PERF2: the other answers ------------------------------------------------------------


def test_other_failures_are_named(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path], tokens: dict[str, str]
) -> None:
    closed = free_port()
    app = f"https://127.0.0.1:{stack.ports.https}"
    body = """  - name: renamed
    requests_metric: booking_requests_total
    duration_metric: null
    memory_metric: null
  - name: code-label
    status_label: code
    duration_metric: booking_latency_seconds
    max_resident_memory_mb: 1
"""
    integrations = f"""integrations:
  calendar:
    url: {app}{app_ops.CALENDAR_LIST}
    token: ${{{app_ops.CALENDAR_TOKEN_VARIABLE}}}
  dependencies:
    - {{name: refused, url: "https://127.0.0.1:{closed}/v1/status", budget_ms: 500}}
    - {{name: strict, url: "{app}{app_ops.CALENDAR_LIST}", expect_status: 200}}
"""
    text = ops_env(stack, integrations=integrations).replace("metrics:\n  - name: app\n", "metrics:\n  - name: app\n" + body)
    text = text.replace(
        "latency:\n", f"latency:\n  - {{name: failing, path: /api/appointments, samples: 4}}\n"
        f"  - {{name: down, url: 'https://127.0.0.1:{closed}/', samples: 3, concurrency: 3}}\n",
    )
    stack.faults.set_mode("metrics_latency", "slow")
    stack.faults.set_mode("metrics_memory", "high")
    stack.faults.set_mode("calendar", "no_scope")
    stack.faults.set("/api/appointments", Fault(status=503))
    run = run_checks("--diagnosis", "PERF3,EXT1,EXT3,PERF2", env=env_file(text), environ=environ(stack, tokens))

    app_record = run.assert_outcome("PERF3", "app", "failed", category="performance", severity="high")
    assert "request-duration p95 2125 ms over 5000 requests" in app_record["observed"]
    assert "resident memory 3.2 GiB" in app_record["observed"]
    renamed = run.assert_outcome("PERF3", "renamed", "failed", category="performance", severity="high")
    assert renamed["observed"].startswith("no request counter booking_requests_total in the scrape")
    assert "`metrics[renamed].requests_metric`" in renamed["message"]
    code = run.assert_outcome("PERF3", "code-label", "failed", category="performance", severity="high")
    assert "no histogram booking_latency_seconds" in code["observed"] and "5xx 0.2 %" in code["observed"]  # `status`
    assert "resident memory" in code["observed"] and "`metrics[code-label].duration_metric`" in code["message"]

    ext1 = run.assert_outcome("EXT1", "calendar", "failed", category="integrations", severity="medium")
    assert "HTTP 403" in ext1["observed"] and "insufficientPermissions" in ext1["observed"]
    assert "lacks the Calendar scope" in ext1["message"]
    refused = run.assert_outcome("EXT3", "refused", "failed", category="integrations", severity="medium")
    assert refused["observed"].startswith("connection refused")
    strict = run.assert_outcome("EXT3", "strict", "failed", category="integrations", severity="medium")
    assert strict["observed"].startswith("HTTP 401 in ") and "Unauthorized" in strict["message"]

    failing = run.assert_outcome("PERF2", "failing", "failed", category="performance", severity="high")
    # a failed sample decides the failure (the success rate cannot reach 99 %): the rest are not sent
    taken = failing["facts"]["samples"]
    assert f"0 of {taken} succeeded (0 %); failed: HTTP 503 x{taken}" in failing["observed"], failing["observed"]
    assert taken == 4 or f"sampling stopped after {taken} of 4 samples" in failing["observed"]
    assert "the success rate cannot reach 99 %" in failing["observed"] or taken == 4
    down = run.assert_outcome("PERF2", "down", "failed", category="performance", severity="high")
    assert down["observed"].startswith("none of ") and "connection refused x" in down["observed"]
    run.assert_outcome("PERF2", "availability", "passed", category="performance", severity="high")


# --- secrets: unset, wrong, literal -------------------------------------------------------------------------


def test_unset_tokens_skip_naming_the_variable(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    run = run_checks("--diagnosis", "EXT1,EXT2", "-rs", env=env_file(ops_env(stack)), environ=environ(stack))
    run.assert_outcome("EXT1", "calendar", "skipped", category="integrations", severity="medium")
    run.assert_outcome("EXT2", "sentry", "skipped", category="integrations", severity="medium")
    assert app_ops.CALENDAR_TOKEN_VARIABLE in run.output and app_ops.SENTRY_TOKEN_VARIABLE in run.output


def test_wrong_tokens_fail_and_stay_secret(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path], tmp_path: Path
) -> None:
    wrong = {app_ops.CALENDAR_TOKEN_VARIABLE: CALENDAR_TOKEN, app_ops.SENTRY_TOKEN_VARIABLE: SENTRY_TOKEN}
    run = run_checks("--diagnosis", "EXT1,EXT2", "-rA", env=env_file(ops_env(stack)), environ=environ(stack, wrong))
    run.assert_outcome("EXT1", "calendar", "failed", category="integrations", severity="medium")
    ext2 = run.assert_outcome("EXT2", "sentry", "failed", category="integrations", severity="medium")
    assert ext2["observed"].startswith("HTTP 401") and "rejects the API token" in ext2["message"]
    assert_no_token_leaks(run.output, tmp_path, run.reports_dir)


def test_a_literal_token_is_refused_with_its_fix(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    text = ops_env(stack).replace(f"${{{app_ops.CALENDAR_TOKEN_VARIABLE}}}", "ya29.pasted-token")
    run = run_checks("--diagnosis", "EXT1", env=env_file(text), environ=environ(stack))
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "integrations.calendar" in run.output and "a token is written literally" in run.output
    assert "${VARIABLE_NAME}" in run.output


# --- CACHE2: rejected connections, on a throwaway Redis of its own ------------------------------------------


def test_cache2_fails_on_rejected_connections(
    run_checks: RunChecks, env_file: Callable[[str], Path], tmp_path: Path
) -> None:
    with RedisServer(tmp_path / "redis") as server:
        holder = redis.Redis(host=server.host, port=server.port, socket_timeout=2)
        holder.ping()
        holder.config_set("maxclients", 1)
        with pytest.raises(redis.ConnectionError, match="max number of clients"):
            redis.Redis(host=server.host, port=server.port, socket_timeout=2).ping()
        holder.config_set("maxclients", 100)
        holder.close()
        path = env_file(f"name: rejected\nkind: test\ncaches:\n  - {{name: busy, url: 'redis://127.0.0.1:{server.port}/0'}}\n")
        run = run_checks("--diagnosis", "CACHE2,PERF7", env=path)
    record = run.assert_outcome("CACHE2", "busy", "failed", category="cache", severity="medium")
    assert record["facts"]["rejected_connections"] >= 1  # redis-py retried the refused connection
    assert f"; {record['facts']['rejected_connections']} rejected connections since the server started" in record["observed"]
    assert "maxclients" in record["message"] and "config resetstat" in record["message"]
    run.assert_outcome("PERF7", "busy", "passed", category="performance", severity="medium")


# --- the pure parts ----------------------------------------------------------------------------------------


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    buckets = [(0.05, 4000.0), (0.1, 4700.0), (0.25, 4950.0), (0.5, 4950.0), (0.75, 5000.0), (float("inf"), 5000.0)]
    value, beyond = metrics.histogram_quantile(0.95, buckets)
    assert round(value, 3) == 0.13 and not beyond
    value, beyond = metrics.histogram_quantile(0.95, [(0.1, 10.0), (float("inf"), 100.0)])
    assert (value, beyond) == (0.1, True)
    assert latency.nearest_rank([5, 1, 4, 2, 3, 6, 7, 8, 9, 10], 95) == 10
    assert latency.nearest_rank(list(range(1, 101)), 95) == 95


def test_calendar_answers_are_told_apart() -> None:
    catalogue = load_catalogue()

    def answer(status: int, reason: str = "") -> HttpObservation:
        body = f'{{"error": {{"code": {status}, "message": "m", "errors": [{{"reason": "{reason}"}}]}}}}'
        return HttpObservation("GET", "https://www.googleapis.com/x", status=status, body=body.encode())

    assert "throttles" in integrations.calendar(answer(403, "rateLimitExceeded"), catalogue).meaning
    assert "throttles" in integrations.calendar(answer(429, "rateLimitExceeded"), catalogue).meaning
    assert "not enabled" in integrations.calendar(answer(403, "accessNotConfigured"), catalogue).meaning
    assert "provider has an incident" in integrations.calendar(answer(503, "backendError"), catalogue).meaning


def test_new_issues_counts_only_the_window_and_masks_titles() -> None:
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    recent = (now - timedelta(hours=2)).isoformat()
    old = (now - timedelta(days=3)).isoformat()
    response = HttpObservation("GET", "https://sentry.example/api", status=200, body=b"[]")
    issues = (
        Issue("KeyError: 'email' for jane.doe+x@example.com in " + "x" * 80, count=3, first_seen=recent),
        Issue("old", count=90, first_seen=old),
    )
    finding = integrations.new_issues(IssueList("u", response, issues, more=True), 1, 24, 5, load_catalogue(), now=now)
    assert not finding.ok and finding.observed.startswith("at least 1 new issues in the last 24 h")
    assert "jane.doe" not in finding.observed and "KeyError: 'email' for <email> in xxx" in finding.observed
    assert "old" not in finding.observed
    url = issues_url("https://sentry.io/", "my org", "web", "is:unresolved", 24)
    assert url.startswith("https://sentry.io/api/0/projects/my%20org/web/issues/?statsPeriod=24h&query=is%3Aunresolved")
    assert "firstSeen%3A-24h" in url
