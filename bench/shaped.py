"""A degraded platform shaped like a real one: `python -m bench.shaped [--repeat 3] [--watchdog 180]`.

One application host serving a dozen distinct exchanges (two pages, the health endpoint, six API
endpoints, the sign-in endpoint, a CORS policy's two preflights) with PERF1 on each endpoint and three
PERF2 latency targets of 10 samples on them, and its name resolved through a loopback DNS server, at the
production defaults of the limits (64 in flight, 6 per host). Three scenarios, each run `--repeat` times in
a pytest subprocess (bench/scenario.py: timed, under a watchdog), the first reported apart (cold):

- **healthy**: every answer in about 10 ms;
- **slow**: every answer `SLOW_S` late and every DNS answer `DNS_SLOW_S`. Target: two waves of the slowest
  answer + 1.5 s (the twelve distinct exchanges are two waves of six; PERF2's first samples are those same
  GETs and one slow answer decides each, so no sample is sent again);
- **hung**: healthy, but the health endpoint is a server on the same host that accepts and never answers
  (`SilentListener`), with a `HUNG_TIMEOUT_S` timeout and a PERF2 latency target on it too. Target: that
  timeout + 1.5 s: one request to it, and nothing waits behind it.

No check needs to pass (slow answers fail PERF1 and PERF2, a hung one AV2): the wall time is measured, and
a pytest exit other than 0 or 1 is an ERROR. Each row carries the report's own account of where the time
went (`run.time`). Prints a markdown table and writes reports/bench-shaped.json.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.scenario import DEFAULT_WATCHDOG_S, REPORTS, install_sigterm, run_pytest, stop_all, verdict, write_json
from healthsuite.testing.asgi_server import ServedApp
from healthsuite.testing.dns import ANY_NAME, DnsServer
from healthsuite.testing.listeners import SilentListener

NAME = "shaped"
HOSTNAME = "app.shaped.test"
SLOW_S = 2.5
DNS_SLOW_S = 1.5
HUNG_TIMEOUT_S = 10.0
WALL_MARGIN_S = 1.5
ENDPOINTS = ("appointments", "employees", "services", "availability", "tenants", "bookings")
LATENCY = ("appointments", "employees", "availability")  # PERF2 targets of 10 samples, 5 at once


ORIGIN = "https://www.shaped.test"


class Platform:
    """The application: every path answers after `delay_s` (a page HTML, the API JSON, a preflight from
    `ORIGIN` allowed)."""

    def __init__(self) -> None:
        self.delay_s = 0.01

    def app(self) -> Starlette:
        async def endpoint(request: Request) -> Response:
            await asyncio.sleep(self.delay_s)
            if request.method == "OPTIONS":
                allowed = request.headers.get("origin") == ORIGIN
                headers = {"access-control-allow-origin": ORIGIN, "access-control-allow-methods": "GET"}
                return Response(status_code=204, headers=headers if allowed else {})
            if not request.url.path.startswith("/api"):
                return Response("<!doctype html><title>ok</title>", media_type="text/html")
            return JSONResponse({"status": "ok"})

        return Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "OPTIONS", "HEAD"])])


def environment(url: str, dns: DnsServer, hung_url: str | None) -> str:
    """Twelve distinct exchanges on the application host, and one DNS lookup; with `hung_url`, the health
    endpoint (and a PERF2 latency target) there."""
    health = f"url: '{hung_url}', timeout_s: {HUNG_TIMEOUT_S:g}" if hung_url else "path: /api/health"
    lines = [
        f"name: shaped-{'hung' if hung_url else 'platform'}",
        "kind: test",
        f"base_urls: {{app: '{url}'}}",
        "timeouts: {http_s: 5, dns_s: 5}",
        f"dns: {{nameservers: ['{dns.address}']}}",
        "pages: [{name: home, path: /}, {name: book, path: /book}]",
        f"health: [{{name: api, {health}}}]",
        "endpoints:",
        *[f"  - {{name: {name}, path: /api/{name}}}" for name in ENDPOINTS],
        f"cors: [{{name: api, path: /api/cors, origins: ['{ORIGIN}']}}]",
        "auth: {sign_in: {path: /api/auth/signin}}",
        "latency:",
        *[f"  - {{name: {name}, path: /api/{name}}}" for name in LATENCY],
        *([f"  - {{name: health, url: '{hung_url}', timeout_s: {HUNG_TIMEOUT_S:g}}}"] if hung_url else []),
        f"hostnames: [{{name: app, host: {HOSTNAME}, records: [A]}}]",
    ]
    return "\n".join(lines) + "\n"


def one_run(env_file: Path, reports: Path, watchdog_s: float) -> dict[str, Any]:
    result = run_pytest(env_file, reports, watchdog_s=watchdog_s)
    report = result.pop("report") or {}
    time = report.get("run", {}).get("time", {})
    result.update(time=time, slowest_exchange_s=float(time.get("slowest_exchange", {}).get("seconds", 0.0)),
                  failed_diagnoses=report.get("summary", {}).get("failed_diagnoses", []))
    return result


def summarize(scenario: str, runs: list[dict[str, Any]], target: str, target_s: float | None) -> dict[str, Any]:
    warm = runs[1:] or runs
    wall = round(statistics.median(r["wall_s"] for r in warm), 2)
    slowest = round(statistics.median(r["slowest_exchange_s"] for r in warm), 2)
    limit = target_s if target_s is not None else 0.0
    judged = verdict(wall <= limit, runs)
    if target_s is None and judged in ("PASS", "MISS"):
        judged = "MEASURED"
    return {
        "scenario": scenario, "repeat": len(runs), "wall_s": wall, "cold_wall_s": runs[0]["wall_s"],
        "walls_s": [r["wall_s"] for r in runs], "slowest_exchange_s": slowest, "target": target,
        "target_s": round(limit, 2), "verdict": judged, "time": warm[-1]["time"],
        "failed_diagnoses": sorted({d for r in runs for d in r["failed_diagnoses"]}), "runs": runs,
    }


def collect(repeat: int = 3, watchdog_s: float = DEFAULT_WATCHDOG_S) -> list[dict[str, Any]]:
    platform = Platform()
    rows: list[dict[str, Any]] = []
    dns = DnsServer({HOSTNAME: [("A", "127.0.0.1")]}).start()
    try:
        with tempfile.TemporaryDirectory(prefix="healthsuite-bench-shaped-") as scratch, \
                ServedApp(platform.app()) as served, SilentListener() as silent:
            base = Path(scratch)
            plan = [
                ("healthy", False, 0.01, 0.0, "measured", None),
                ("slow", False, SLOW_S, DNS_SLOW_S, f"<= two waves of the slowest answer + {WALL_MARGIN_S:g} s", 2.0),
                ("hung", True, 0.01, 0.0, f"<= its timeout ({HUNG_TIMEOUT_S:g} s) + {WALL_MARGIN_S:g} s", None),
            ]
            for scenario, hung, delay_s, dns_delay_s, target, waves in plan:
                platform.delay_s = delay_s
                dns.clear_faults()
                if dns_delay_s:
                    dns.set_fault(ANY_NAME, "slow", delay_s=dns_delay_s)
                env_file = base / f"{scenario}.yaml"
                hung_url = f"http://{silent.host}:{silent.port}/api/health" if hung else None
                env_file.write_text(environment(served.url, dns, hung_url))
                runs = []
                for index in range(repeat):
                    runs.append(one_run(env_file, base / f"reports-{scenario}", watchdog_s))
                    print(f"{scenario} run {index + 1}: wall {runs[-1]['wall_s']} s, exit {runs[-1]['exit']}",
                          file=sys.stderr, flush=True)
                if waves is not None:
                    slowest = statistics.median(r["slowest_exchange_s"] for r in runs[1:] or runs)
                    target_s: float | None = waves * slowest + WALL_MARGIN_S
                else:
                    target_s = HUNG_TIMEOUT_S + WALL_MARGIN_S if hung else None
                rows.append(summarize(scenario, runs, target, target_s))
    finally:
        stop_all()
        dns.stop()
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| scenario | wall s (median, warm) | first run s | slowest exchange s | target | verdict | "
             "start-up s | exchanges s | decided by |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        time = r["time"]
        target = f"{r['target']} = {r['target_s']:.2f} s" if r["target_s"] else r["target"]
        lines.append(f"| {r['scenario']} | {r['wall_s']:.2f} | {r['cold_wall_s']:.2f} | {r['slowest_exchange_s']:.2f} "
                     f"| {target} | {r['verdict']} | {time.get('startup_s', 0):.2f} | {time.get('exchanges_s', 0):.2f} "
                     f"| {time.get('decided_by', '-')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.shaped", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--watchdog", type=float, default=DEFAULT_WATCHDOG_S)
    parser.add_argument("--out", default=str(REPORTS / f"bench-{NAME}.json"))
    args = parser.parse_args(argv)
    install_sigterm()
    rows = collect(args.repeat, args.watchdog)
    out = write_json(Path(args.out), {"rows": rows})
    print(markdown(rows))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
