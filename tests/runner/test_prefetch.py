"""Probes run ahead of the checks: bounded per host and overall, slowest first from the previous run,
each (target, observation) once, its error reported by every check that needed it."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from healthsuite.model.environment import ApiEndpoint
from healthsuite.outputs.json_report import previous_probe_latency
from healthsuite.plans import Planned, target_key
from healthsuite.runner.pool import Prefetcher, slowest_first
from healthsuite.testing.asgi_server import ServedApp
from healthsuite.testing.listeners import GarbageListener
from tests.conftest import RunChecks

# --- the pool ---------------------------------------------------------------------------------------------


class Recorder:
    """Calls that sleep and record how many of them, and of their host, run at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.peak_total = 0
        self.order: list[str] = []

    def call(self, host: str, name: str, seconds: float):  # type: ignore[no-untyped-def]
        def run() -> None:
            with self.lock:
                self.order.append(name)
                self.running[host] = self.running.get(host, 0) + 1
                self.peak[host] = max(self.peak.get(host, 0), self.running[host])
                self.peak_total = max(self.peak_total, sum(self.running.values()))
            time.sleep(seconds)
            with self.lock:
                self.running[host] -= 1

        return run


def planned(host: str, name: str, call, **options) -> Planned:  # type: ignore[no-untyped-def]
    return Planned(host, name, call, **options)


def test_limits_hold_and_a_busy_host_does_not_hold_back_another() -> None:
    recorder = Recorder()
    pool = Prefetcher(max_concurrency=4, max_per_host=2)
    for i in range(8):  # eight probes of one host first, then one of another
        pool.submit(planned("busy", f"b{i}", recorder.call("busy", f"b{i}", 0.1)), f"endpoints/b{i}")
    pool.submit(planned("other", "o", recorder.call("other", "o", 0.01)), "endpoints/o")
    assert pool.wait(5)
    pool.close()
    assert recorder.peak == {"busy": 2, "other": 1} and recorder.peak_total <= 4
    # with two slots per host the other host's probe starts at once, not after the busy host's queue
    assert recorder.order.index("o") <= 2, recorder.order
    latencies = pool.latencies()
    assert set(latencies) == {*(f"endpoints/b{i}" for i in range(8)), "endpoints/o"}
    assert all(0.09 < latencies[f"endpoints/b{i}"] < 1 for i in range(8))


def test_a_group_and_a_host_limit_of_their_own_hold_within_the_host() -> None:
    """PERF2's samples: at most the target's concurrency at once; a database's one session: one at a time."""
    recorder = Recorder()
    pool = Prefetcher(max_concurrency=8, max_per_host=6)
    for i in range(6):
        pool.submit(planned("app", f"s{i}", recorder.call("samples", f"s{i}", 0.05), group="latency:x",
                            group_limit=2), "latency/x")
    for i in range(3):
        pool.submit(planned("app", f"p{i}", recorder.call("pages", f"p{i}", 0.05)), f"pages/p{i}")
    for i in range(3):
        pool.submit(planned("database:main", f"d{i}", recorder.call("db", f"d{i}", 0.05), host_limit=1), "databases/main")
    assert pool.wait(5)
    pool.close()
    assert recorder.peak["samples"] == 2 and recorder.peak["db"] == 1, recorder.peak
    assert recorder.peak["pages"] >= 2  # the group's limit leaves the host's other slots to others


def test_identical_exchanges_run_once_for_every_check_that_planned_them() -> None:
    calls: list[str] = []
    pool = Prefetcher(max_concurrency=2, max_per_host=2)
    for owner in ("AV1", "AV3", "PERF1"):
        pool.submit(planned("h", "GET /", lambda: calls.append("GET /")), "pages/home", owner)
    for owner in ("AV1", "AV3", "PERF1"):
        assert pool.expedite(owner, 5)
    assert calls == ["GET /"]
    pool.close()


def test_a_failing_probe_is_counted_and_never_stops_the_pool() -> None:
    pool = Prefetcher(max_concurrency=1, max_per_host=1)
    done: list[str] = []

    def broken() -> None:
        raise RuntimeError("the check meets it again and reports it")

    pool.submit(planned("h", "broken", broken), "endpoints/broken")
    pool.submit(planned("h", "fine", lambda: done.append("fine")), "endpoints/fine")
    assert pool.wait(5) and done == ["fine"]
    assert set(pool.latencies()) == {"endpoints/broken", "endpoints/fine"}
    pool.close()


def test_closing_drops_what_has_not_started() -> None:
    recorder = Recorder()
    pool = Prefetcher(max_concurrency=1, max_per_host=1)
    for i in range(5):
        pool.submit(planned("h", str(i), recorder.call("h", str(i), 0.2)), f"endpoints/{i}")
    time.sleep(0.05)
    pool.close()
    time.sleep(0.3)
    assert recorder.order == ["0"]


def test_a_check_expedites_its_own_probes_and_waits_only_for_them() -> None:
    recorder = Recorder()
    pool = Prefetcher(max_concurrency=1, max_per_host=1)
    pool.submit(planned("h", "first", recorder.call("h", "first", 0.2)), "endpoints/first", "check-first")
    for i in range(5):
        pool.submit(planned("h", f"q{i}", recorder.call("h", f"q{i}", 0.05)), f"endpoints/q{i}", f"check-q{i}")
    assert pool.expedite("check-q4", 5)  # queued last: it goes next, after the probe already out
    assert recorder.order[:2] == ["first", "q4"], recorder.order
    assert pool.expedite("check-unknown", 5)  # planned nothing: nothing to wait for
    assert pool.wait(5)
    pool.close()


def test_waiting_for_an_exchange_ends_at_the_timeout() -> None:
    """A check waits for its exchanges no longer than the run's deadline (plus a grace): expedite
    says whether they finished."""
    release = threading.Event()
    pool = Prefetcher(max_concurrency=1, max_per_host=1)
    pool.submit(planned("h", "stuck", lambda: release.wait(5)), "endpoints/stuck", "check")
    assert pool.expedite("check", 0.1) is False
    release.set()
    assert pool.expedite("check", 5) is True
    pool.close()


def test_slowest_first_by_the_previous_run() -> None:
    targets = [ApiEndpoint(name=name, path=f"/{name}") for name in ("a", "b", "c", "new")]
    history = {"endpoints/a": 0.2, "endpoints/b": 2.5, "endpoints/c": 0.1, "endpoints/gone": 0.05}
    # an unknown target counts as a typical one (the median of the known)
    assert [t.name for t in slowest_first(targets, history)] == ["b", "a", "new", "c"]
    assert [t.name for t in slowest_first(targets, {})] == ["a", "b", "c", "new"]  # no history: as given
    assert target_key(targets[0]) == "endpoints/a"


# --- in a run -----------------------------------------------------------------------------------------------


def ordering_app(arrivals: list[str]) -> Starlette:
    async def endpoint(request: Request) -> Response:
        name = request.path_params["name"]
        arrivals.append(name)
        await asyncio.sleep(0.4 if name == "slow" else 0.01)
        return JSONResponse({"endpoint": name})

    return Starlette(routes=[Route("/e/{name}", endpoint)])


def test_the_next_run_starts_the_slowest_probe_first(run_checks: RunChecks, env_file, tmp_path: Path) -> None:
    arrivals: list[str] = []
    with ServedApp(ordering_app(arrivals)) as served:
        env = env_file(f"""
name: order
kind: test
base_urls: {{app: "{served.url}"}}
http: {{max_concurrency: 1, max_per_host: 1}}
endpoints:
  - {{name: fast, path: /e/fast}}
  - {{name: slow, path: /e/slow}}
  - {{name: steady, path: /e/steady}}
""")
        reports = tmp_path / "reports"
        orders, latencies = [], []
        for _ in range(2):
            arrivals.clear()
            run = run_checks("--diagnosis", "AV3", "--reports-dir", str(reports), env=env)
            assert run.result.ret == pytest.ExitCode.OK, run.output
            orders.append(list(arrivals))
            latencies.append(json.loads((reports / "latest.json").read_text())["probe_latency_s"])
    assert orders[0] == ["fast", "slow", "steady"]  # no previous run: the checks' order
    assert set(latencies[0]) == {"endpoints/fast", "endpoints/slow", "endpoints/steady"}
    assert latencies[0]["endpoints/slow"] >= 0.4  # the server sleeps that long
    # then the slowest first by what the first run measured (on a loaded machine "fast" may have been
    # slow once: the order follows the report, not the names); the first check waits for its own probe
    # behind it, it does not probe beside the pool
    slowest = max(orders[0], key=lambda name: latencies[0][f"endpoints/{name}"])
    assert orders[1][0] == slowest and sorted(orders[1]) == sorted(orders[0])


@pytest.mark.parametrize("workers", [[], ["-n", "2", "--keep-workers"]], ids=["serial", "xdist"])
def test_a_probe_error_is_met_once_and_reported_by_every_check_that_needed_it(
    run_checks: RunChecks, env_file, workers: list[str]
) -> None:
    with GarbageListener() as garbage:
        env = env_file(f"""
name: garbage
kind: test
base_urls: {{app: "http://{garbage.host}:{garbage.port}"}}
pages: [{{name: home, path: /}}]
health: [{{name: api, path: /api/health}}]
""")
        run = run_checks("--diagnosis", "AV1,AV2,AV3,PERF1", *workers, env=env)
        connections = garbage.connections
    failed = [(r["diagnosis"], r["target"]) for r in run.report["checks"] if r["outcome"] == "failed"]
    assert sorted(failed) == sorted([("AV1", "home"), ("AV2", "api"), ("AV3", "home"), ("AV3", "api"),
                                     ("PERF1", "home"), ("PERF1", "api")])
    assert all(r["observed"].startswith("protocol error:") for r in run.report["checks"]), run.report["checks"]
    assert connections == 2, f"{connections} connections for 2 URLs"  # one probe per URL, its error shared


def concurrency_app(peak: list[int]) -> Starlette:
    """Every endpoint answers after 200 ms; `peak[0]` is the most requests it ever had at once."""
    running = [0]

    async def endpoint(request: Request) -> Response:
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        try:
            await asyncio.sleep(0.2)
        finally:
            running[0] -= 1
        return JSONResponse({})

    return Starlette(routes=[Route("/e/{name}", endpoint)])


@pytest.mark.parametrize("workers", [[], ["-n", "2", "--keep-workers"]], ids=["serial", "xdist"])
def test_the_host_never_sees_more_than_the_environments_limit(
    run_checks: RunChecks, env_file, workers: list[str]
) -> None:
    """max_per_host holds for the run: under -n each worker gets its share, and no check probes beside
    the pool (AV3 and PERF1 of twelve endpoints, all in flight together if nothing held them back)."""
    peak = [0]
    with ServedApp(concurrency_app(peak)) as served:
        endpoints = "\n".join(f"  - {{name: e{i:02d}, path: /e/{i}}}" for i in range(12))
        env = env_file(f"""
name: limits
kind: test
base_urls: {{app: "{served.url}"}}
http: {{max_concurrency: 8, max_per_host: 2}}
endpoints:
{endpoints}
""")
        run = run_checks("--diagnosis", "AV3,PERF1", *workers, env=env)
    assert run.result.ret == pytest.ExitCode.OK, run.output
    # under -n each of two workers gets one slot: the two may or may not overlap (a worker may be done
    # before the other starts); serially the pool keeps two in flight
    assert peak[0] <= 2, f"{peak[0]} requests at once against a host whose limit is 2"
    assert peak[0] == 2 or workers, f"{peak[0]} requests at once: the pool did not use its two slots"


def test_the_previous_run_is_found_beside_another_environments_latest(tmp_path: Path) -> None:
    def report(name: str, env: str, latency: dict[str, float]) -> None:
        (tmp_path / name).write_text(json.dumps({"environment": {"name": env}, "probe_latency_s": latency}))

    assert previous_probe_latency(tmp_path, "prod") == {}  # nothing yet
    report("prod-20261201T100000Z.json", "prod", {"endpoints/a": 1.0})
    report("prod-20261202T100000Z.json", "prod", {"endpoints/a": 2.0})
    report("prod-20261202T100000Z-2.json", "prod", {"endpoints/a": 3.0})  # the same second, written after
    report("prod-eu-20261203T100000Z.json", "prod-eu", {"endpoints/a": 9.0})  # another environment
    report("latest.json", "staging", {"endpoints/a": 8.0})  # the reports directory's last run: staging's
    assert previous_probe_latency(tmp_path, "prod") == {"endpoints/a": 3.0}
    report("latest.json", "prod", {"endpoints/b": 0.5})
    assert previous_probe_latency(tmp_path, "prod") == {"endpoints/b": 0.5}
    (tmp_path / "latest.json").write_text("{not json")
    assert previous_probe_latency(tmp_path, "prod") == {"endpoints/a": 3.0}
