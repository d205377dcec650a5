"""Every scenario of the benchmark in one run: `python -m bench [--repeat 3] [--sizes 100,1000,5000]`.

- **degraded** (bench/degraded.py): the bundled platform with every application answer 2.5 s late and
  every DNS answer 1.5 s; wall time against the run's slowest single exchange. And the healthy
  platform serially and with `-n 2` (what a user gets: the plugin runs the checks in one process).
- **shaped** (bench/shaped.py): one application host serving a dozen distinct exchanges at the production
  limits, healthy, slow (2.5 s answers, 1.5 s DNS) and with its health endpoint hung (10 s timeout);
  wall time against two waves of the slowest answer, and against the hung endpoint's timeout.
- **hostile** (bench/hostile.py): targets that never answer, trickle their headers or body, stall the
  TLS handshake, answer garbage, and a DNS server that never answers, each with a 2-3 s timeout;
  together, each alone, and 17 hung servers on distinct hosts; wall time against the largest declared
  timeout, a hang reported as such.
- **peer** (bench/peer.py): Prometheus blackbox_exporter and healthsuite probing the same N
  endpoints (50 ms each) with the same number of requests in flight, in the same run; both wall
  times and their ratio, at healthsuite's default limits (the published rows) and at 64 in flight.

Prints the targets' table (measured, target, verdict) and each scenario's own table, and writes
reports/bench.json. `python -m bench scale ...` runs the older size-and-workers table (bench/run.py);
`python -m bench degraded|hostile|peer ...` one scenario alone.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench import degraded, hostile, peer, shaped
from bench.scenario import DEFAULT_WATCHDOG_S, REPORTS, install_sigterm, write_json

PEER_TARGETS = {1000: 1.5, 5000: 1.5}  # ratio healthsuite / blackbox at most, at the same requests in flight
RSS_AT, RSS_LIMIT_MB = 5000, 120.0  # issue 27: under 120 MB at 5000 endpoints (an earlier issue asked < 150 MB)
FLOOR_LIMIT = 1.1  # issue 27: at the default 6 in flight, at most 1.1x the floor (the same requests by curl alone)


def _peer_row(rows: list[dict[str, Any]], size: int, limits: str) -> dict[str, Any] | None:
    return next((r for r in rows if r["endpoints"] == size and r["limits"] == limits), None)


def targets_table(
    slow: list[dict[str, Any]], hostile_rows: list[dict[str, Any]], peer_rows: list[dict[str, Any]],
    shaped_rows: list[dict[str, Any]] | None = None,
) -> list[dict[str, str]]:
    """The issue's targets, each with what was measured and its verdict."""
    table: list[dict[str, str]] = []
    shaped_rows = shaped_rows or []
    for row in (r for r in slow if r["kind"] == "slow"):
        table.append({
            "scenario": "degraded platform (2.5 s app, 1.5 s DNS)",
            "measured": f"{row['wall_s']:.2f} s (first run {row['cold_wall_s']:.2f} s); slowest exchange "
                        f"{row['slowest_exchange_s']:.2f} s",
            "target": f"<= slowest exchange + 1.5 s = {row['target_s']:.2f} s",
            "verdict": row["verdict"],
        })
    for row in (r for r in shaped_rows if r["scenario"] != "healthy"):
        decided = row["time"].get("decided_by", "")
        table.append({
            "scenario": f"platform-shaped host, {row['scenario']}: a dozen distinct exchanges"
                        + (f" at {shaped.SLOW_S:g} s, DNS {shaped.DNS_SLOW_S:g} s" if row["scenario"] == "slow" else
                           f", health endpoint hung ({shaped.HUNG_TIMEOUT_S:g} s timeout)"),
            "measured": f"{row['wall_s']:.2f} s (first run {row['cold_wall_s']:.2f} s); slowest exchange "
                        f"{row['slowest_exchange_s']:.2f} s" + (f"; decided by {decided}" if decided else ""),
            "target": f"{row['target']} = {row['target_s']:.2f} s",
            "verdict": row["verdict"],
        })
    stalled = next((r for r in hostile_rows if r["scenario"] == hostile.STALLED_SCENARIO), None)
    if stalled is not None:
        table.append({
            "scenario": f"{hostile.STALLED} stalled targets on distinct hosts, timeout 2 s",
            "measured": f"{stalled['wall_s']:.2f} s",
            "target": f"<= largest timeout + 1.5 s = {stalled['target_s']:.2f} s, never a hang",
            "verdict": stalled["verdict"],
        })
    together = next((r for r in hostile_rows if r["scenario"] == "all"), None)
    if together is not None:
        alone = [r for r in hostile_rows if r["scenario"] not in ("all", hostile.STALLED_SCENARIO)]
        worst = max(alone, key=lambda r: r["wall_s"] - r["target_s"], default=together)
        table.append({
            "scenario": "hostile targets, timeouts 2-3 s",
            "measured": f"all together {together['wall_s']:.2f} s; each alone, worst {worst['scenario']} "
                        f"{worst['wall_s']:.2f} s",
            "target": f"<= largest timeout + 1.5 s = {together['target_s']:.2f} s, never a hang",
            "verdict": together["verdict"] if all(r["verdict"] == "PASS" for r in alone) else "MISS",
        })
    for size, limit in PEER_TARGETS.items():
        for label in ("default", "64"):
            found = _peer_row(peer_rows, size, label)
            if found is None:
                continue
            row = found
            published = label == "default"
            floor_run: dict[str, Any] | None = row.get("pytest_alone")
            bound = limit * row["blackbox"]["wall_s"]
            below = (f"; pytest alone runs {floor_run['tests']} empty tests in {floor_run['wall_s']:.2f} s"
                     + (f", above the {bound:.2f} s bound" if floor_run["wall_s"] > bound else "")) if floor_run else ""
            table.append({
                "scenario": f"{size} endpoints vs blackbox_exporter, {row['in_flight']} in flight"
                            + (" (default limits)" if published else " (limits raised to 64)"),
                "measured": f"{row['ratio']:.2f}x ({row['healthsuite']['wall_s']:.2f} s vs "
                            f"{row['blackbox']['wall_s']:.2f} s){below}",
                "target": f"<= {limit:g}x",
                "verdict": "PASS" if row["ratio"] <= limit else "MISS",
            })
    for size in PEER_TARGETS:
        found = _peer_row(peer_rows, size, "64")
        if found is not None and found.get("pytest_alone"):
            alone = found["pytest_alone"]
            table.append({
                "scenario": f"{size} endpoints, 64 in flight, against pytest's own floor "
                            f"({alone['tests']} empty tests)",
                "measured": f"{found['healthsuite']['wall_s'] / alone['wall_s']:.2f}x "
                            f"({found['healthsuite']['wall_s']:.2f} s vs {alone['wall_s']:.2f} s; peak RSS "
                            f"{found['healthsuite']['rss_mb']:.0f} vs {alone['rss_mb']:.0f} MB)",
                "target": "measured: what healthsuite adds to one pytest item a check",
                "verdict": "MEASURED",
            })
    for size in PEER_TARGETS:
        found = _peer_row(peer_rows, size, "default")
        if found is not None and found.get("driver_alone"):
            floor = found["driver_alone"]["wall_s"]
            ratio = found["healthsuite"]["wall_s"] / floor
            table.append({
                "scenario": f"{size} endpoints, {found['in_flight']} in flight (default limits), against the floor",
                "measured": f"{ratio:.2f}x the floor ({found['healthsuite']['wall_s']:.2f} s vs {floor:.2f} s: "
                            "the same requests by curl alone)",
                "target": f"<= {FLOOR_LIMIT:g}x",
                "verdict": "PASS" if ratio <= FLOOR_LIMIT else "MISS",
            })
    for label in ("default", "64"):
        at = _peer_row(peer_rows, RSS_AT, label)
        if at is not None:
            table.append({
                "scenario": f"peak RSS, {RSS_AT} endpoints, {at['in_flight']} in flight",
                "measured": f"{at['healthsuite']['rss_mb']:.0f} MB (blackbox {at['blackbox']['rss_mb']:.0f} MB)",
                "target": f"< {RSS_LIMIT_MB:g} MB",
                "verdict": "PASS" if at["healthsuite"]["rss_mb"] < RSS_LIMIT_MB else "MISS",
            })
    for row in (r for r in slow if r["kind"] == "workers"):
        table.append({
            "scenario": "healthy platform, before the first exchange (imports, environment, collection)",
            "measured": f"{row['startup_s']:.2f} s of {row['serial_wall_s']:.2f} s (serial)",
            "target": "say it; cut it",
            "verdict": "MEASURED",
        })
        table.append({
            "scenario": "-n 2 vs serial, platform environment",
            "measured": f"{row['ratio']}x ({row['n2_wall_s']:.2f} s vs {row['serial_wall_s']:.2f} s)",
            "target": "never slower: the -n 2 median within the serial runs' own range "
                      f"({min(row['serial_walls_s']):.2f}-{max(row['serial_walls_s']):.2f} s)",
            "verdict": row["verdict"],
        })
    return table


def markdown(table: list[dict[str, str]]) -> str:
    lines = ["| scenario | measured | target | verdict |", "|---|---|---|---|"]
    lines += [f"| {r['scenario']} | {r['measured']} | {r['target']} | {r['verdict']} |" for r in table]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per row (the first reported apart)")
    parser.add_argument("--sizes", default="100,1000,5000", help="peer: numbers of endpoints")
    parser.add_argument("--limits", default="default,64", help="peer: `default` limits and/or a number in flight")
    parser.add_argument("--watchdog", type=float, default=DEFAULT_WATCHDOG_S, help="seconds before a run is a HANG")
    parser.add_argument("--skip", default="", help="comma-separated scenarios to leave out: degraded, shaped, hostile, "
                        "peer")
    parser.add_argument("--out", default=str(REPORTS / "bench.json"))
    args = parser.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    install_sigterm()
    slow = degraded.collect(args.repeat, args.watchdog) if "degraded" not in skip else []
    shaped_rows = shaped.collect(args.repeat, args.watchdog) if "shaped" not in skip else []
    hostile_rows = hostile.collect(args.watchdog) if "hostile" not in skip else []
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    limits = [s.strip() for s in args.limits.split(",") if s.strip()]
    peer_rows = peer.collect(sizes, limits, args.repeat) if "peer" not in skip else []
    table = targets_table(slow, hostile_rows, peer_rows, shaped_rows)
    out = write_json(Path(args.out), {
        "targets": table, "degraded": slow, "shaped": shaped_rows, "hostile": hostile_rows, "peer": peer_rows,
    })
    print("\n## Targets\n")
    print(markdown(table))
    for title, rows, render in (("Degraded platform", slow, degraded.markdown),
                                ("Platform-shaped host", shaped_rows, shaped.markdown),
                                ("Hostile targets", hostile_rows, hostile.markdown),
                                ("Peer: blackbox_exporter", peer_rows, peer.markdown)):
        if rows:
            print(f"\n## {title}\n")
            print(render(rows))
    print(f"\nwrote {out}")
    return 0
