"""No target can hang a run: every exchange ends at its deadline whatever the server does, the run's
deadline ends what is still out and every report is written, and every exchange a check needs goes
through the probe pool (counted in the report and at the server).

Nothing here asserts how fast anything is: a run that ends is the proof (the listeners below would
hold a request open forever), and the messages name the deadline that ended each exchange."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from healthsuite.assessments.latency import LatencyLimits, latency_decided
from healthsuite.demo.stack import DemoStack
from healthsuite.probes.latency import Sample
from healthsuite.testing.asgi_server import ServedApp
from healthsuite.testing.hostile import TlsStallListener, TrickleBodyListener, TrickleHeadersListener, hostile_dns
from healthsuite.testing.listeners import GarbageListener, SilentListener
from tests.conftest import RunChecks


def healthy_app() -> Starlette:
    async def page(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/", page)])


def test_each_hostile_behaviour_fails_only_its_own_checks_and_the_run_ends(
    run_checks: RunChecks, env_file: Callable[[str], Path]
) -> None:
    with (
        SilentListener() as silent,
        TrickleHeadersListener(interval_s=0.2) as headers,
        TrickleBodyListener(interval_s=0.2) as body,
        GarbageListener() as garbage,
        TlsStallListener(interval_s=0.2) as stall,
        SilentListener() as tls_silent,
        hostile_dns("drop") as dns,
        ServedApp(healthy_app()) as healthy,
    ):
        def page(name: str, port: int) -> str:
            return f"  - {{name: {name}, url: 'http://127.0.0.1:{port}/', timeout_s: 1}}"

        env = env_file(f"""
name: hostile
kind: test
timeouts: {{dns_s: 1}}
pages:
{page("silent", silent.port)}
{page("trickle-headers", headers.port)}
{page("trickle-body", body.port)}
{page("garbage", garbage.port)}
  - {{name: healthy, url: "{healthy.url}/", content_type: application/json, timeout_s: 1}}
tls:
  - {{name: stall, url: "https://127.0.0.1:{stall.port}", timeout_s: 1, http_redirect: false}}
  - {{name: silent, url: "https://127.0.0.1:{tls_silent.port}", timeout_s: 1, http_redirect: false}}
dns: {{nameservers: ["127.0.0.1:{dns.port}"]}}
hostnames: [{{name: app, host: app.hostile.test, records: [A]}}]
""")
        run = run_checks("--diagnosis", "AV1,AV3,PERF1,NET5,NET1", env=env)
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED, run.output
    for diagnosis in ("AV1", "AV3", "PERF1"):
        run.assert_outcome(diagnosis, "healthy", "passed", category=run.record(diagnosis, "healthy")["category"],
                           severity=run.record(diagnosis, "healthy")["severity"])
        for name, phase in (("silent", "the response headers were still arriving"),
                            ("trickle-headers", "the response headers were still arriving"),
                            ("trickle-body", "the body was still arriving")):
            observed = run.record(diagnosis, name)["observed"]
            assert run.record(diagnosis, name)["outcome"] == "failed", (diagnosis, name)
            assert observed.startswith("timed out") and "within its 1 s deadline" in observed, observed
            assert phase in observed, (name, observed)
        garbage_record = run.record(diagnosis, "garbage")
        assert garbage_record["outcome"] == "failed" and garbage_record["observed"].startswith("protocol error")
    for name in ("stall", "silent"):
        record = run.assert_outcome("NET5", name, "failed", category="network", severity="critical")
        assert "within its 1 s deadline" in record["observed"] and "TLS handshake" in record["observed"], record
    net1 = run.assert_outcome("NET1", "app", "failed", category="network", severity="critical")
    assert "timeout" in net1["observed"], net1
    assert len(run.junit) == len(run.report["checks"])  # every report written, every check in it
    assert run.report["run"]["exchanges"]["outside_pool"] == 0


def test_the_run_deadline_ends_what_is_still_out_and_every_report_is_written(
    run_checks: RunChecks, env_file: Callable[[str], Path]
) -> None:
    """Pages that would answer after 30 s, one at a time (one still queued when the deadline comes):
    all of them fail saying the run's deadline ended them, the healthy one passes, and the JSON
    report and JUnit are both written. The deadline leaves the healthy page room on a loaded machine (it
    counts from the start of the run: a 1 s deadline was spent there before its exchange began)."""
    with SilentListener() as silent, ServedApp(healthy_app()) as healthy:
        pages = "\n".join(
            f"  - {{name: hung{i}, url: 'http://127.0.0.1:{silent.port}/{i}', timeout_s: 30}}" for i in range(3)
        )
        env = env_file(f"""
name: deadline
kind: test
http: {{max_concurrency: 2, max_per_host: 2}}
pages:
  - {{name: healthy, url: "{healthy.url}/", content_type: application/json}}
{pages}
""")
        run = run_checks("--diagnosis", "AV1", "--run-deadline", "8", env=env)
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED, run.output
    run.assert_outcome("AV1", "healthy", "passed", category="availability", severity="critical")
    for i in range(3):
        record = run.assert_outcome("AV1", f"hung{i}", "failed", category="availability", severity="critical")
        assert "did not finish within the run's deadline of 8 s (--run-deadline)" in record["observed"], record
    assert run.report["run"]["deadline_reached"] is True
    assert run.report["run"]["deadline_s"] == 8
    assert "run deadline 8 s (--run-deadline)" in run.output


def test_a_bad_run_deadline_is_a_usage_error(run_checks: RunChecks, env_file: Callable[[str], Path]) -> None:
    env = env_file("name: x\nkind: test\npages: [{name: home, url: 'http://127.0.0.1:9/'}]\n")
    run = run_checks("--run-deadline", "soon", env=env)
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--run-deadline: 'soon' is not a number of seconds; write e.g. --run-deadline 300" in run.output


def test_every_exchange_of_the_platform_goes_through_the_pool(run_checks: RunChecks, stack: DemoStack) -> None:
    """The whole demo platform: no check probes beside the pool (the report counts what each process's
    exchanges were), and the requests checks build themselves reach the server once each."""
    run = run_checks()
    # the subject is where exchanges are made, not the platform's speed: on a loaded machine an answer
    # may take longer than a latency limit (PERF1, PERF2, EXT3), and nothing else may fail
    failed = {r["diagnosis"] for r in run.report["checks"] if r["outcome"] != "passed"}
    assert failed <= {"PERF1", "PERF2", "EXT3"}, run.output
    exchanges = run.report["run"]["exchanges"]
    assert exchanges["outside_pool"] == 0, exchanges["outside_examples"]
    assert exchanges["in_pool"] > 50
    requests = stack.faults.requests
    assert requests["GET /api/auth/me"] == 5  # AUTH3's five bad tokens, each once
    assert requests["POST /api/webhooks/paystack"] == 3  # PAY2's signed event, PAY3's unsigned and wrong ones
    assert requests["POST /api/book"] == 1  # BK1 and BK3 judge one POST


def counting_app(peak: list[int], seen: list[int]) -> Starlette:
    """Answers after 100 ms; records the most requests it had at once and how many it got."""
    running = [0]

    async def endpoint(request: Request) -> Response:
        running[0] += 1
        seen[0] += 1
        peak[0] = max(peak[0], running[0])
        try:
            await asyncio.sleep(0.1)
        finally:
            running[0] -= 1
        return JSONResponse({}, status_code=401)

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST"])])


def test_requests_a_check_builds_itself_keep_the_per_host_limit(
    run_checks: RunChecks, env_file: Callable[[str], Path]
) -> None:
    """AUTH3's tokens and PERF2's samples are pool jobs: the host never sees more than max_per_host at
    once, though AUTH3 alone would send five and PERF2 ten."""
    peak, seen = [0], [0]
    with ServedApp(counting_app(peak, seen)) as served:
        env = env_file(f"""
name: own
kind: test
base_urls: {{app: "{served.url}"}}
http: {{max_concurrency: 8, max_per_host: 2}}
auth:
  protected: {{path: /me}}
latency: [{{name: slow, path: /latency, samples: 10, concurrency: 5, expect_status: 401}}]
""")
        run = run_checks("--diagnosis", "AUTH3,PERF2", env=env)
    run.assert_outcome("AUTH3", "protected", "passed", category="auth", severity="high")
    assert peak[0] == 2, f"{peak[0]} requests at once against a host whose limit is 2"
    assert seen[0] == 5 + 10
    assert run.report["run"]["exchanges"]["outside_pool"] == 0


LIMITS = LatencyLimits(samples=10, expected_statuses=(), p95_ms=500, mean_ms=2000, min_success_pct=99)


def sample(ms: float, status: int | None = 200) -> Sample:
    return Sample(status, ms)


@pytest.mark.parametrize(
    ("taken", "decided"),
    [
        ([], ""),
        ([sample(100)] * 9, ""),  # the tenth could still fail it, not decide a pass: nothing to save
        ([sample(100)] * 5, ""),
        ([sample(700)], "1 of 10 samples took 500 ms or more already: p95 cannot get under it"),
        ([sample(100), sample(0, None)], "1 of 10 samples failed already: the success rate cannot reach 99 %"),
        ([sample(100, 503)], "1 of 10 samples failed already: the success rate cannot reach 99 %"),
        ([sample(100)] * 10, ""),  # all taken
    ],
)
def test_perf2_stops_sampling_only_once_its_failure_is_certain(taken: list[Sample], decided: str) -> None:
    assert latency_decided(LIMITS)(taken, 10) == decided


def test_perf2_mean_decides_a_failure_only_when_the_rest_cannot_bring_it_under() -> None:
    limits = LatencyLimits(samples=4, expected_statuses=(), p95_ms=1e9, mean_ms=1000, min_success_pct=0)
    decided = latency_decided(limits)
    assert decided([sample(3000)], 4) == ""  # three more at 0 ms would make a mean of 750
    assert decided([sample(3000), sample(1500)], 4).startswith("the first 2 samples took 4500 ms in all")


def test_a_declared_checks_own_timeout_counts_in_the_default_run_deadline(tmp_path: Path) -> None:
    from healthsuite.environment.loader import load_environment
    from healthsuite.plugin.configure import longest_exchange_s

    path = tmp_path / "own.yaml"
    path.write_text(
        "name: own\nkind: test\nbase_urls: {app: 'https://app.example.com'}\ndeclared_checks:\n"
        "  - name: slow-report\n    diagnosis: AV2\n    http: {path: /report, timeout_s: 120}\n"
        "    expect: status == 200\n"
    )
    assert longest_exchange_s(load_environment(path, {})) == (120.0, "declared_checks[slow-report].http.timeout_s")


def test_a_driver_is_imported_before_its_first_exchange_deadline_starts() -> None:
    """A lazily imported driver (probes.lazy) is loaded before the exchange's clock starts, so its import
    never counts against the target's timeout: recorded in a fresh process, where none is imported yet."""
    code = """
import importlib, socket, sys
from healthsuite.probes import deadline, lazy
seen = []
real = importlib.import_module
def recording(name, *args):
    seen.append((name, deadline.current() is None))
    return real(name, *args)
lazy.importlib.import_module = recording
with socket.socket() as s:
    s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
from healthsuite.probes import http, postgres, redis, resolver, tls
from healthsuite.probes.pgreader import PgReader
redis.ping(f"redis://127.0.0.1:{port}/0", None, None, 0.5)
PgReader(f"postgresql://u@127.0.0.1:{port}/db", 0.5, ()).open()
resolver.resolve("example.test", ("A",), (("127.0.0.1", port),), 0.2)
tls.handshake("127.0.0.1", port, "localhost", None, 0.5)
client = http.make_client(http.tls_context(True, None))
http.fetch(client, http.HttpRequest("GET", f"http://127.0.0.1:{port}/", follow_redirects=True, timeout_s=0.5), 100)
names = {name.split(".")[0] for name, _ in seen}
assert {"redis", "psycopg", "dns", "cryptography", "OpenSSL", "httpx"} <= names, names
inside = [name for name, outside in seen if not outside]
assert not inside, inside
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
