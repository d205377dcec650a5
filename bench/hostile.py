"""Hostile targets: `python -m bench.hostile [--only trickle-body,dns-drop] [--watchdog 180]`.

Starts, on loopback, servers that misbehave (healthsuite.testing.hostile) and one healthy page, writes an
environment file (kind: test) whose targets point at them, each with a declared timeout of 2-3 s, and
runs the full checks against it in a pytest subprocess (bench/scenario.py: timed, under a watchdog):

| target | server | declared timeout |
|---|---|---|
| page-silent | SilentListener: accepts, never answers | timeout_s 2 |
| page-trickle-headers | TrickleHeadersListener: the status line, then a header byte a second, forever | 3 |
| page-trickle-body | TrickleBodyListener: whole headers (content-length 1000000), then a body byte a second | 3 |
| page-garbage | GarbageListener: a binary status line | 3 |
| tls-stall | TlsStallListener: reads the ClientHello, trickles a handshake record a byte a second | 2 |
| tls-silent | SilentListener: never answers the ClientHello | 2 |
| dns-drop | a `hostnames:` entry resolved through a DNS server that never answers (dns.nameservers) | 2 |
| page-healthy | a tiny http.server thread answering 200 text/html: it must pass | 2 |

It runs once with every target together (`all`), then once per hostile behaviour alone (with the
healthy page beside it), so that a hang is pinned on the behaviour that causes it, then once with
`STALLED` (17) hung servers on distinct loopback addresses (127.0.0.10 and up, so distinct hosts: the
per-host limit does not hold them back, and the global limit must not either: one wave). For each run it reports
the wall time, the largest declared timeout of its targets and the target "wall <= largest declared
timeout + 1.5 s, never a hang" (a run the watchdog kills is a HANG; a pytest exit other than 0 or 1, e.g.
an INTERNALERROR, is an ERROR), whether the report was written, and
per target the checks' outcomes and the first line of `observed` of its first failing record: each hostile
target must fail only its own checks and the healthy page must pass. Prints markdown tables and writes
reports/bench-hostile.json. Every server and any pytest still running are stopped on exit, on an exception
and on SIGTERM.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
import tempfile
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.scenario import (
    DEFAULT_WATCHDOG_S,
    REPORTS,
    first_line,
    install_sigterm,
    run_pytest,
    stop_all,
    verdict,
    write_json,
)
from healthsuite.testing.dns import DnsServer
from healthsuite.testing.hostile import (
    BINARY_STATUS_LINE,
    GarbageListener,
    SilentListener,
    TlsStallListener,
    TrickleBodyListener,
    TrickleHeadersListener,
    hostile_dns,
)

NAME = "hostile"
LOOPBACK = "127.0.0.1"
TRICKLE_INTERVAL_S = 1.0
WALL_MARGIN_S = 1.5
HOSTNAME = "app.hostile.test"
HEALTHY = "page-healthy"
STALLED = 17  # hung servers of the `stalled` scenario, each its own host: more than the old global limit of 16
STALLED_SCENARIO = f"{STALLED}-stalled"
TARGET = f"wall <= largest declared timeout + {WALL_MARGIN_S:g} s, never a hang; each hostile target fails only " \
    "its own checks; the healthy page passes; the report is written"


class _Healthy(http.server.BaseHTTPRequestHandler):
    BODY = b"<!doctype html><html><head><title>ok</title></head><body>ok</body></html>\n"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(self.BODY)))
        self.end_headers()
        self.wfile.write(self.BODY)

    def do_HEAD(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        pass


class HealthyPage:
    """A tiny threaded http.server on a free loopback port."""

    def __init__(self) -> None:
        self.server = http.server.ThreadingHTTPServer((LOOPBACK, 0), _Healthy)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"bench-healthy-{self.port}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


@dataclass(frozen=True)
class Target:
    name: str
    behaviour: str  # what the server does
    timeout_s: float
    yaml: str  # its entry: "pages" | "tls" | "hostnames" and the line under it
    collection: str
    connections: Callable[[], int] | None = None  # what its server accepted so far


def start_servers(stack: ExitStack) -> tuple[list[Target], list[Target], DnsServer]:
    """Every server, registered with `stack` (closed when it unwinds); the targets pointing at them, and
    the `STALLED` hung servers on distinct loopback hosts."""
    silent_page = stack.enter_context(SilentListener())
    headers = stack.enter_context(TrickleHeadersListener(interval_s=TRICKLE_INTERVAL_S))
    body = stack.enter_context(TrickleBodyListener(interval_s=TRICKLE_INTERVAL_S))
    garbage = stack.enter_context(GarbageListener(BINARY_STATUS_LINE))
    tls_stall = stack.enter_context(TlsStallListener(interval_s=TRICKLE_INTERVAL_S))
    tls_silent = stack.enter_context(SilentListener())
    dns = hostile_dns()
    stack.callback(dns.stop)
    healthy = HealthyPage()
    stack.callback(healthy.close)

    def page(name: str, behaviour: str, port: int, timeout_s: float, counter: Callable[[], int] | None,
             content_type: str = "", host: str = LOOPBACK) -> Target:
        typed = f", content_type: {content_type}" if content_type else ""
        line = f"  - {{name: {name}, url: 'http://{host}:{port}/', timeout_s: {timeout_s:g}{typed}}}"
        return Target(name, behaviour, timeout_s, line, "pages", counter)

    def tls(name: str, behaviour: str, port: int, timeout_s: float, counter: Callable[[], int]) -> Target:
        line = f"  - {{name: {name}, url: 'https://{LOOPBACK}:{port}', http_redirect: false, timeout_s: {timeout_s:g}}}"
        return Target(name, behaviour, timeout_s, line, "tls", counter)

    targets = [
        page("page-silent", "SilentListener: accepts, never answers", silent_page.port, 2,
             lambda: silent_page.connections),
        page("page-trickle-headers", f"TrickleHeadersListener: status line, then a header byte every "
             f"{TRICKLE_INTERVAL_S:g} s", headers.port, 3, lambda: headers.connections),
        page("page-trickle-body", f"TrickleBodyListener: headers, then a body byte every {TRICKLE_INTERVAL_S:g} s",
             body.port, 3, lambda: body.connections),
        page("page-garbage", "GarbageListener: a binary status line", garbage.port, 3, lambda: garbage.connections),
        tls("tls-stall", f"TlsStallListener: a handshake record, a byte every {TRICKLE_INTERVAL_S:g} s",
            tls_stall.port, 2, lambda: tls_stall.connections),
        tls("tls-silent", "SilentListener: never answers the ClientHello", tls_silent.port, 2,
            lambda: tls_silent.connections),
        Target("dns-drop", "a DNS server that never answers", 2,
               f"  - {{name: dns-drop, host: {HOSTNAME}, records: [A], timeout_s: 2}}", "hostnames",
               lambda: sum(dns.queries.values())),
        page(HEALTHY, "http.server: 200 text/html", healthy.port, 2, None, content_type="text/html"),
    ]
    stalled = []
    for index in range(STALLED):
        listener = stack.enter_context(SilentListener(host=f"127.0.0.{10 + index}"))
        stalled.append(page(f"stalled-{index + 1:02}", f"SilentListener on {listener.host}: never answers",
                            listener.port, 2, functools.partial(getattr, listener, "connections"),
                            host=listener.host))
    return targets, stalled, dns


def environment(name: str, targets: list[Target], dns: DnsServer) -> str:
    lines = [
        f"# bench.hostile, scenario {name}: every target misbehaves but {HEALTHY}",
        f"name: hostile-{name}",
        "kind: test",
        "timeouts: {http_s: 3, dns_s: 2, connect_s: 2}",
    ]
    if any(t.collection == "hostnames" for t in targets):
        lines.append(f"dns: {{nameservers: ['{dns.address}']}}")
    for collection in ("pages", "tls", "hostnames"):
        entries = [t.yaml for t in targets if t.collection == collection]
        if entries:
            lines += [f"{collection}:", *entries]
    return "\n".join(lines) + "\n"


def judge(name: str, targets: list[Target], result: dict[str, Any], connections: dict[str, int]) -> dict[str, Any]:
    report = result.pop("report")
    largest = max(t.timeout_s for t in targets)
    per_target: dict[str, dict[str, Any]] = {}
    records = (report or {}).get("checks", [])
    for target in targets:
        mine = [r for r in records if r.get("target") == target.name]
        failing = [r for r in mine if r["outcome"] in ("failed", "error")]
        per_target[target.name] = {
            "behaviour": target.behaviour,
            "timeout_s": target.timeout_s,
            "connections": connections.get(target.name),
            "outcomes": {f"{r['diagnosis']}": r["outcome"] for r in mine},
            "observed": first_line((failing or mine or [{}])[0].get("observed", "")),
            "failed_all_checked": bool(mine) and all(r["outcome"] in ("failed", "error", "skipped") for r in mine)
            and bool(failing),
        }
    hostile_names = {t.name for t in targets} - {HEALTHY}
    # a failure of anything but a hostile target: the healthy page, or a check without a target of this file
    stray = [r["id"] for r in records if r["outcome"] in ("failed", "error") and r.get("target") not in hostile_names]
    healthy = per_target.get(HEALTHY, {})
    healthy_passed = bool(healthy.get("outcomes")) and all(v == "passed" for v in healthy["outcomes"].values())
    hostile = [t.name for t in targets if t.name != HEALTHY]
    isolated = report is not None and not stray and all(per_target[n]["failed_all_checked"] for n in hostile)
    on_time = result["wall_s"] <= largest + WALL_MARGIN_S
    judged = verdict(on_time and isolated and healthy_passed, [result])
    summary = (report or {}).get("summary", {})
    return {
        "scenario": name,
        **result,
        "largest_timeout_s": largest,
        "target_s": largest + WALL_MARGIN_S,
        "wall_ok": on_time and not result["hang"],
        "isolated": isolated,
        "healthy_passed": healthy_passed,
        "stray_failures": stray,
        "verdict": judged,
        "checks": summary.get("total"),
        "failed": summary.get("failed"),
        "targets": per_target,
    }


def scenarios(targets: list[Target], stalled: list[Target]) -> dict[str, list[Target]]:
    healthy = [t for t in targets if t.name == HEALTHY]
    alone = {t.name: [t, *healthy] for t in targets if t.name != HEALTHY}
    return {"all": targets, **alone, STALLED_SCENARIO: [*stalled, *healthy]}


def collect(watchdog_s: float = DEFAULT_WATCHDOG_S, only: list[str] | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="healthsuite-bench-hostile-") as scratch, ExitStack() as servers:
        base = Path(scratch)
        try:
            targets, stalled, dns = start_servers(servers)
            wanted = scenarios(targets, stalled)
            unknown = sorted(set(only or ()) - set(wanted))
            if unknown:
                raise ValueError(f"no scenario {', '.join(unknown)}; scenarios: {', '.join(wanted)}")
            for name, chosen in wanted.items():
                if only and name not in only:
                    continue
                env_file = base / f"hostile-{name}.yaml"
                env_file.write_text(environment(name, chosen, dns))
                before = {t.name: t.connections() for t in chosen if t.connections}
                result = run_pytest(env_file, base / f"reports-{name}", watchdog_s=watchdog_s)
                after = {t.name: t.connections() for t in chosen if t.connections}
                row = judge(name, chosen, result, {k: after[k] - before[k] for k in after})
                row["environment"] = env_file.read_text()
                rows.append(row)
                print(f"{name}: wall {row['wall_s']} s, {row['verdict']}, exit {row['exit']}, "
                      f"report {'written' if row['report_written'] else 'missing'}", file=sys.stderr, flush=True)
        finally:
            stop_all()
    return rows


def _outcomes(outcomes: dict[str, str]) -> str:
    return ", ".join(f"{d} {o}" for d, o in outcomes.items()) or "no record"


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario | wall s | largest timeout s | target s | verdict | exit | report written | hostile fail only "
        "their own | healthy page passed | checks (failed) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['wall_s']:.2f}{' (killed)' if r['hang'] else ''} | {r['largest_timeout_s']:g} "
            f"| {r['target_s']:g} | {r['verdict']} | {r['exit'] if r['exit'] is not None else '-'} "
            f"| {'yes' if r['report_written'] else 'no'} | {'yes' if r['isolated'] else 'no'} "
            f"| {'yes' if r['healthy_passed'] else 'no'} | {r['checks'] if r['checks'] is not None else '-'} "
            f"({r['failed'] if r['failed'] is not None else '-'}) |"
        )
    lines += ["", "| scenario | target | timeout s | connections | outcomes | observed (first line) |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        for name, t in r["targets"].items():
            observed = t["observed"].replace("|", "\\|")
            lines.append(f"| {r['scenario']} | {name} | {t['timeout_s']:g} | "
                         f"{t['connections'] if t['connections'] is not None else '-'} | {_outcomes(t['outcomes'])} "
                         f"| {observed or '-'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--watchdog", type=float, default=DEFAULT_WATCHDOG_S,
                        help="seconds after which a run is killed and reported as HANG")
    parser.add_argument("--only", default="", help="comma-separated scenarios: all or target names "
                        "(page-silent, page-trickle-headers, page-trickle-body, page-garbage, tls-stall, "
                        f"tls-silent, dns-drop) or {STALLED_SCENARIO}")
    parser.add_argument("--out", default=str(REPORTS / f"bench-{NAME}.json"))
    args = parser.parse_args(argv)
    install_sigterm()
    try:
        rows = collect(args.watchdog, [s.strip() for s in args.only.split(",") if s.strip()])
    except ValueError as exc:
        parser.error(str(exc))
    out = write_json(Path(args.out), {"target": TARGET, "watchdog_s": args.watchdog,
                                      "trickle_interval_s": TRICKLE_INTERVAL_S, "rows": rows})
    print(markdown(rows))
    print()
    print(f"  target: {TARGET}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
