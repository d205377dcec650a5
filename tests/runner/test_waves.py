"""The fewest waves: PERF2's first sample is the GET the other checks of its URL make, a sample that
decides the verdict stops the sampling, a target that does not answer gets one request, and every
distinct exchange starts before any repeated sample. Requests are counted at the server; nothing here
asserts how fast anything is (the servers' sleeps are lower bounds, the limits far from them)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from healthsuite.testing.asgi_server import ServedApp
from tests.conftest import RunChecks


def recording_app(arrivals: list[str], sleeps: dict[str, float]) -> Starlette:
    """Records each request's path as it arrives, then answers after the path's sleep (default 10 ms)."""

    async def endpoint(request: Request) -> Response:
        path = "/" + request.path_params["path"]
        arrivals.append(path)
        await asyncio.sleep(sleeps.get(path, 0.01))
        return JSONResponse({"path": path})

    return Starlette(routes=[Route("/{path:path}", endpoint)])


def test_PERF2_first_sample_is_the_shared_get_and_a_deciding_sample_stops_it(
    run_checks: RunChecks, env_file: Callable[[str], Path]
) -> None:
    arrivals: list[str] = []
    with ServedApp(recording_app(arrivals, {"/slow": 0.3})) as served:
        env = env_file(f"""
name: waves
kind: test
base_urls: {{app: "{served.url}"}}
endpoints: [{{name: api, path: /slow}}]
latency: [{{name: api, path: /slow, samples: 10, concurrency: 5, max_p95_ms: 100}}]
""")
        run = run_checks("--diagnosis", "AV3,PERF1,PERF2", env=env)
    # AV3's and PERF1's GET is PERF2's first sample; at 300 ms it is over the 100 ms p95 already
    assert arrivals == ["/slow"], arrivals
    perf2 = run.record("PERF2", "api")
    assert perf2["outcome"] == "failed", perf2
    assert "sampling stopped after 1 of 10 samples" in perf2["observed"], perf2["observed"]
    run.assert_outcome("AV3", "api", "passed", category="availability", severity="critical")


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_target_that_does_not_answer_gets_one_request(
    run_checks: RunChecks, env_file: Callable[[str], Path], workers: list[str]
) -> None:
    arrivals: list[str] = []
    with ServedApp(recording_app(arrivals, {"/hang": 60.0})) as served:
        env = env_file(f"""
name: hung
kind: test
base_urls: {{app: "{served.url}"}}
health: [{{name: api, path: /hang, timeout_s: 1}}]
latency: [{{name: api, path: /hang, timeout_s: 1, samples: 10, concurrency: 5}}]
""")
        run = run_checks("--diagnosis", "AV2,PERF2", *workers, env=env)
    assert arrivals == ["/hang"], arrivals  # under -n, a target's checks run in one worker
    perf2 = run.record("PERF2", "api")
    assert perf2["outcome"] == "failed", perf2
    assert "no more are sent to a target that does not answer" in perf2["observed"], perf2["observed"]
    assert run.record("AV2", "api")["outcome"] == "failed"


def test_distinct_exchanges_start_before_repeated_samples(
    run_checks: RunChecks, env_file: Callable[[str], Path]
) -> None:
    """One slot on the host: the server sees requests in the order the pool starts them."""
    arrivals: list[str] = []
    distinct = [f"/e{index}" for index in range(6)]
    with ServedApp(recording_app(arrivals, {})) as served:
        endpoints = ", ".join(f"{{name: e{index}, path: {path}}}" for index, path in enumerate(distinct))
        env = env_file(f"""
name: order
kind: test
base_urls: {{app: "{served.url}"}}
http: {{max_per_host: 1}}
endpoints: [{endpoints}]
latency: [{{name: lat, path: /lat, samples: 5, concurrency: 5, max_p95_ms: 600000, max_mean_ms: 600000}}]
""")
        run = run_checks("--diagnosis", "AV3,PERF2", env=env)
    assert run.record("PERF2", "lat")["outcome"] == "passed", run.output
    assert arrivals.count("/lat") == 5, arrivals
    second_sample = [index for index, path in enumerate(arrivals) if path == "/lat"][1]
    assert all(arrivals.index(path) < second_sample for path in distinct), arrivals


def test_the_report_says_when_the_per_host_limit_and_not_the_target_decided_the_run(
    run_checks: RunChecks, env_file: Callable[[str], Path]
) -> None:
    """Three answers of at least 0.5 s through one slot: the second and third wait for it, so the limit,
    not the target, decided the run; the same answers with three slots wait for nothing."""
    sleeps = {f"/e{index}": 0.5 for index in range(3)}
    endpoints = ", ".join(f"{{name: e{index}, path: /e{index}}}" for index in range(3))
    times = []
    with ServedApp(recording_app([], sleeps)) as served:
        for per_host in (1, 3):
            env = env_file(f"""
name: limits
kind: test
base_urls: {{app: "{served.url}"}}
http: {{max_per_host: {per_host}}}
endpoints: [{endpoints}]
""")
            run = run_checks("--diagnosis", "AV3", env=env)
            assert run.result.ret == pytest.ExitCode.OK, run.output
            times.append((run.report["run"]["time"], run.output))
    (held, held_output), (free, free_output) = times
    assert held["decided_by"] == "max_per_host", held
    assert held["held_by_limits"]["max_per_host"]["jobs"] == 2
    assert held["held_by_limits"]["max_per_host"]["longest_s"] >= 0.5 * 2 - 0.05  # two answers before it
    assert held["busiest_host"] == {"host": "127.0.0.1", "distinct_exchanges": 3, "max_per_host": 1, "waves": 3}
    assert held["slowest_exchange"]["seconds"] >= 0.5 and held["exchanges"] == 3
    assert "decided by the per-host limit (max_per_host): 2 exchanges waited" in held_output, held_output
    assert "(3 distinct exchanges there: 3 waves of 1)" in held_output
    assert free["decided_by"] == "targets", free
    assert free["held_by_limits"]["max_per_host"]["jobs"] == 0
    assert "decided by the targets' answers, not by the limits" in free_output
    for time in (held, free):
        assert time["floor_s"] >= time["startup_s"] + 0.5
        assert time["wall_s"] >= time["startup_s"] + time["exchanges_s"]
