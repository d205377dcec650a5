"""Measure a full run against local targets with injected latency: `python -m bench [--sizes 10,100]`.

Starts, on loopback: an HTTP app whose every endpoint answers in 200 ms (one in 2.5 s), a DNS server
answering in 150 ms, a throwaway PostgreSQL and Redis. For each size (number of declared endpoints)
it writes an environment file, runs the checks (serially and with `-n 2`) in a subprocess, and
reports the wall time, the sum and the maximum of the probes' own latencies (PERF1's timings), the
requests each target received (counted at the server: every request opens its own connection), and
the peak RSS of the run's processes. Prints a table and writes reports/bench.json.

Speed goals are measured here, never in a timed unit test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from healthsuite.demo.dns import DnsServer
from healthsuite.demo.faults import Faults
from healthsuite.demo.server import ServedApp
from healthsuite.demo.services import PostgresServer, RedisServer

PROJECT = Path(__file__).resolve().parents[1]
ENDPOINT_DELAY_S = 0.2
SLOW_DELAY_S = 2.5
DNS_DELAY_S = 0.15
DIAGNOSES = "AV3,PERF1,NET1,NET4,DB1,DB2,CACHE1,AV4"


def target_app(faults: Faults) -> Any:
    """Every endpoint answers after 200 ms, /e/slow after 2.5 s; requests are counted."""

    async def endpoint(request: Request) -> Response:
        name = request.path_params["name"]
        faults.count(request.method, request.url.path)
        await asyncio.sleep(SLOW_DELAY_S if name == "slow" else ENDPOINT_DELAY_S)
        return JSONResponse({"endpoint": name})

    return Starlette(routes=[Route("/e/{name}", endpoint)])


def environment(size: int, http_port: int, dns_port: int, pg_dsn: str, redis_port: int) -> str:
    names = ["slow", *(f"n{i}" for i in range(1, size))]
    endpoints = "\n".join(f"  - {{name: {name}, path: /e/{name}}}" for name in names)
    return f"""
name: bench
kind: test
base_urls:
  app: http://127.0.0.1:{http_port}
timeouts: {{http_s: 10, database_s: 5, cache_s: 3, dns_s: 3}}
http: {{max_concurrency: 64, max_per_host: 64}}   # a local target: no production to protect
endpoints:
{endpoints}
dns:
  nameservers: ["127.0.0.1:{dns_port}"]
hostnames:
  - {{name: app, host: app.bench.test, records: [A]}}
databases:
  - {{name: main, engine: postgresql, dsn: "{pg_dsn}"}}
caches:
  - {{name: cache, url: "redis://127.0.0.1:{redis_port}/0"}}
ports:
  - {{name: app, address: "127.0.0.1:{http_port}"}}
"""


def run_checks(env_file: Path, reports: Path, workers: int) -> dict[str, Any]:
    args = [sys.executable, "-m", "pytest", str(PROJECT / "checks"), "--env", str(env_file), "-q",
            "-p", "no:cacheprovider", "--diagnosis", DIAGNOSES, "--reports-dir", str(reports)]
    if workers:
        args += ["-n", str(workers)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(args, cwd=PROJECT, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    report = json.loads((reports / "latest.json").read_text())
    totals = [
        r["facts"]["timings"]["cumulative_ms"]["time_total"]
        for r in report["checks"]
        if r["diagnosis"] == "PERF1" and r.get("facts", {}).get("timings")
    ]
    return {
        "exit": done.returncode,
        "wall_s": round(wall, 2),
        "probe_sum_s": round(sum(totals) / 1000, 2),
        "probe_max_s": round(max(totals, default=0) / 1000, 2),
        "checks": report["summary"]["total"],
        "failed": report["summary"]["failed"],
        "peak_rss_mb": round(max(peak_kb, before) / 1024, 1),  # the largest process of all runs so far
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100", help="numbers of endpoints, comma-separated (e.g. 10,100,1000)")
    parser.add_argument("--workers", default="0,2", help="xdist workers per run: 0 = serial (e.g. 0,2)")
    parser.add_argument("--out", default=str(PROJECT / "reports" / "bench.json"))
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]
    faults = Faults()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="healthsuite-bench-") as scratch:
        base = Path(scratch)
        app = ServedApp(target_app(faults)).start()
        dns = DnsServer({"app.bench.test": [("A", "127.0.0.1")]}).start()
        dns.set_fault("app.bench.test", "slow", delay_s=DNS_DELAY_S)
        postgres = PostgresServer(base / "pg").start()
        redis = RedisServer(base / "redis").start()
        try:
            for size in sizes:
                env_file = base / f"bench-{size}.yaml"
                env_file.write_text(environment(size, app.port, dns.port, postgres.dsn(), redis.port))
                for workers in worker_counts:
                    faults.requests.clear()
                    result = run_checks(env_file, base / f"reports-{size}-{workers}", workers)
                    per_url = set(faults.requests.values())
                    row = {"endpoints": size, "workers": workers, **result,
                           "requests_per_endpoint": sorted(per_url), "requests": sum(faults.requests.values())}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            redis.remove()
            postgres.remove()
            dns.stop()
            app.stop()
    machine = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": machine, "runs": rows}, indent=2) + "\n")
    header = f"{'endpoints':>9} {'workers':>7} {'wall s':>7} {'probe sum s':>11} {'probe max s':>11} " \
             f"{'req/endpoint':>12} {'peak RSS MB':>11} {'checks':>6}"
    print(header)
    for row in rows:
        print(f"{row['endpoints']:>9} {row['workers']:>7} {row['wall_s']:>7} {row['probe_sum_s']:>11} "
              f"{row['probe_max_s']:>11} {','.join(map(str, row['requests_per_endpoint'])):>12} "
              f"{row['peak_rss_mb']:>11} {row['checks']:>6}")
    print(f"wrote {args.out}")
    return 0
