"""The degraded platform: `python -m bench.degraded [--repeat 3] [--watchdog 180]`.

Starts the bundled demo (healthsuite.demo.stack.DemoStack) on free ports in a temporary directory and runs
the full checks against it (`--env environments/demo.yaml` with the stack's environ(), as the demo's own
`run` does), in a pytest subprocess (bench/scenario.py: timed, under a watchdog):

- **healthy, serial vs `-n 2`**: one untimed run of each (one reports directory per mode, so the timed
  runs start the slowest probes first), then `--repeat` runs of each, interleaved; the median wall of
  each, their ratio, and the target "-n 2 never slower than serial";
- **slow**: the demo's `slow` switch on (every HTTP answer of the app and its stand-ins 2.5 s late, every
  DNS answer 1.5 s), serially, `--repeat` runs: the first reported apart (cold), the median of the
  others. Its wall is set against the run's *slowest single exchange*: the largest of the report's
  `probe_latency_s` values and of PERF1's `facts.timings.cumulative_ms.time_total` over every record
  (one request's whole time); target "wall <= slowest single exchange + 1.5 s". With the switch on many
  checks fail, as they should (PERF1 and PERF2 over their limits, DNS resolution over NET4's): the
  failed diagnoses are listed, with the number of checks and the exit status.

A run the watchdog kills is a HANG; a pytest exit other than 0 (healthy) or 1 (checks failed), e.g. an
INTERNALERROR, is an ERROR. Prints markdown tables and writes reports/bench-degraded.json. The
stack and any pytest still running are stopped on exit, on an exception and on SIGTERM.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.scenario import (
    DEFAULT_WATCHDOG_S,
    PROJECT,
    REPORTS,
    install_sigterm,
    run_pytest,
    slowest_exchange,
    stop_all,
    verdict,
    write_json,
)
from healthsuite.demo.faults.registry import SLOW_DNS_DELAY_S, SLOW_HTTP_DELAY_S
from healthsuite.demo.stack import DemoPorts, DemoStack
from healthsuite.testing.ports import free_port

NAME = "degraded"
ENV_FILE = PROJECT / "environments" / "demo.yaml"
WALL_MARGIN_S = 1.5
SLOWEST_CHECKS = 8  # listed per run
TARGETS = {
    "slow": f"wall <= slowest single exchange + {WALL_MARGIN_S:g} s, never a hang",
    "workers": "-n 2 never slower than serial: its median wall within the serial runs' own range (the machine's "
               "noise, measured in the same run)",
}


def start_stack(directory: Path) -> DemoStack:
    """The demo on free ports (retried on fresh ones if one was taken meanwhile), as tests/conftest.py does."""
    for attempt in range(3):
        ports = DemoPorts(**{name: free_port() for name in DemoPorts.__dataclass_fields__})
        stack = DemoStack(directory / f"demo-{attempt}", ports)
        try:
            return stack.start()
        except Exception as exc:  # noqa: BLE001 - retried only for a port taken meanwhile
            text = str(exc).lower()
            if attempt == 2 or ("in use" not in text and "listen" not in text):
                raise
    raise AssertionError("unreachable")


def one_run(stack: DemoStack, reports: Path, workers: int, watchdog_s: float) -> dict[str, Any]:
    args = ["-n", str(workers)] if workers else []
    result = run_pytest(ENV_FILE, reports, args=args, environ=stack.environ(), watchdog_s=watchdog_s)
    report = result.pop("report")
    summary = (report or {}).get("summary", {})
    failed = summary.get("failed_diagnoses")
    if failed is None and report:
        failed = sorted({r["diagnosis"] for r in report["checks"] if r["outcome"] in ("failed", "error")})
    records = (report or {}).get("checks", [])
    by_duration = sorted(records, key=lambda r: float(r.get("duration_s") or 0), reverse=True)
    result.update(
        # where the wall goes: the checks that took longest (a check's own requests, e.g. PERF2's samples or
        # AUTH3's bad tokens, are not probes: the slowest exchange does not cover them)
        slowest_checks=[{"id": r["id"], "duration_s": round(float(r.get("duration_s") or 0), 2)}
                        for r in by_duration[:SLOWEST_CHECKS]],
        checks_duration_sum_s=round(sum(float(r.get("duration_s") or 0) for r in records), 2),
        slowest_exchange_s=slowest_exchange(report)[0],
        slowest_exchange_of=slowest_exchange(report)[1],
        # where the time went, as the run's own report says it (healthsuite.outputs.timing)
        time=(report or {}).get("run", {}).get("time", {}),
        checks=summary.get("total"),
        failed=summary.get("failed"),
        errors=summary.get("error"),
        failed_diagnoses=list(failed or []),
    )
    return result


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 2) if values else 0.0


def summarize_slow(runs: list[dict[str, Any]]) -> dict[str, Any]:
    warm = runs[1:] or runs
    wall = _median([r["wall_s"] for r in warm])
    slowest = _median([r["slowest_exchange_s"] for r in warm])
    cold = runs[0]
    return {
        "kind": "slow",
        "scenario": f"slow (HTTP +{SLOW_HTTP_DELAY_S:g} s, DNS +{SLOW_DNS_DELAY_S:g} s)",
        "workers": 0,
        "repeat": len(runs),
        "wall_s": wall,
        "cold_wall_s": cold["wall_s"],
        "walls_s": [r["wall_s"] for r in runs],
        "slowest_exchange_s": slowest,
        "slowest_exchange_of": warm[-1]["slowest_exchange_of"],
        "cold_slowest_exchange_s": cold["slowest_exchange_s"],
        "target_s": round(slowest + WALL_MARGIN_S, 2),
        "verdict": verdict(wall <= slowest + WALL_MARGIN_S, warm),
        "cold_verdict": verdict(cold["wall_s"] <= cold["slowest_exchange_s"] + WALL_MARGIN_S, [cold]),
        "checks": sorted({r["checks"] for r in runs if r["checks"] is not None}),
        "failed": sorted({r["failed"] for r in runs if r["failed"] is not None}),
        "exits": [r["exit"] for r in runs],
        "failed_diagnoses": sorted({d for r in runs for d in r["failed_diagnoses"]}),
        "slowest_checks": runs[-1]["slowest_checks"],
        "checks_duration_sum_s": runs[-1]["checks_duration_sum_s"],
        "runs": runs,
    }


def summarize_workers(serial: list[dict[str, Any]], parallel: list[dict[str, Any]]) -> dict[str, Any]:
    s_wall, p_wall = _median([r["wall_s"] for r in serial]), _median([r["wall_s"] for r in parallel])
    return {
        "kind": "workers",
        "scenario": "healthy",
        "repeat": len(serial),
        "serial_wall_s": s_wall,
        "n2_wall_s": p_wall,
        "serial_walls_s": [r["wall_s"] for r in serial],
        "n2_walls_s": [r["wall_s"] for r in parallel],
        "ratio": round(p_wall / s_wall, 2) if s_wall else None,
        "serial_slowest_exchange_s": _median([r["slowest_exchange_s"] for r in serial]),
        "n2_slowest_exchange_s": _median([r["slowest_exchange_s"] for r in parallel]),
        # slower only when its median is above every serial run: the serial runs' spread is the noise
        "serial_noise_s": round(max(r["wall_s"] for r in serial) - min(r["wall_s"] for r in serial), 2),
        "verdict": verdict(p_wall <= max(r["wall_s"] for r in serial), serial + parallel),
        "checks": sorted({r["checks"] for r in serial + parallel if r["checks"] is not None}),
        "failed": sorted({r["failed"] for r in serial + parallel if r["failed"] is not None}),
        "exits": {"serial": [r["exit"] for r in serial], "n2": [r["exit"] for r in parallel]},
        "failed_diagnoses": sorted({d for r in serial + parallel for d in r["failed_diagnoses"]}),
        # before the first exchange: imports, loading the environment, collection (the report's run.time)
        "startup_s": _median([float(r["time"].get("startup_s", 0.0)) for r in serial if r.get("time")]),
        "runs": {"serial": serial, "n2": parallel},
    }


def collect(repeat: int = 3, watchdog_s: float = DEFAULT_WATCHDOG_S, *, healthy: bool = True) -> list[dict[str, Any]]:
    """Start the demo, run the healthy rows (serial, -n 2) then the slow one; stop the demo."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="healthsuite-bench-degraded-") as scratch:
        base = Path(scratch)
        stack: DemoStack | None = None
        try:
            stack = start_stack(base)
            if healthy:
                # one untimed run of each first (the machine and the reports directory warm), then the
                # two interleaved, so that the machine's drift over the minutes falls on both alike
                modes: dict[int, list[dict[str, Any]]] = {0: [], 2: []}
                for workers in modes:
                    one_run(stack, base / f"reports-healthy-{workers}", workers, watchdog_s)
                for i in range(repeat):
                    for workers, runs in modes.items():
                        runs.append(one_run(stack, base / f"reports-healthy-{workers}", workers, watchdog_s))
                        _progress("healthy", workers, i, runs[-1])
                rows.append(summarize_workers(modes[0], modes[2]))
            stack.heal()
            stack.break_(["slow"])
            slow: list[dict[str, Any]] = []
            for i in range(repeat):
                slow.append(one_run(stack, base / "reports-slow", 0, watchdog_s))
                _progress("slow", 0, i, slow[-1])
            rows.insert(0, summarize_slow(slow))
        finally:
            stop_all()
            if stack is not None:
                stack.stop()
    return rows


def _progress(scenario: str, workers: int, index: int, run: dict[str, Any]) -> None:
    brief = {k: run[k] for k in ("wall_s", "slowest_exchange_s", "exit", "hang", "checks", "failed")}
    print(f"{scenario} workers={workers or 'serial'} run {index + 1}: {brief}", file=sys.stderr, flush=True)


def _fmt(values: list[Any]) -> str:
    return ", ".join(str(v) for v in values) or "-"


def markdown(rows: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    slow = [r for r in rows if r["kind"] == "slow"]
    if slow:
        lines += [
            "| scenario | runs | wall s (median, warm) | first run s | slowest exchange s | target s | verdict "
            "| first run verdict | checks | failed | exit | failed diagnoses |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in slow:
            lines.append(
                f"| {r['scenario']} | {r['repeat']} | {r['wall_s']:.2f} | {r['cold_wall_s']:.2f} "
                f"| {r['slowest_exchange_s']:.2f} | {r['target_s']:.2f} | {r['verdict']} | {r['cold_verdict']} "
                f"| {_fmt(r['checks'])} | {_fmt(r['failed'])} | {_fmt(r['exits'])} | {_fmt(r['failed_diagnoses'])} |"
            )
        for r in slow:
            slowest = ", ".join(f"{c['id'].split('::', 1)[-1]} {c['duration_s']:.1f} s" for c in r["slowest_checks"])
            lines += ["", f"Slowest exchange of the last slow run: {r['slowest_exchange_of']}."]
            lines += ["", f"Slowest checks of the last slow run (their durations sum to "
                      f"{r['checks_duration_sum_s']:.1f} s): {slowest}"]
    workers = [r for r in rows if r["kind"] == "workers"]
    if workers:
        lines += [
            "",
            "| scenario | runs each | serial wall s (median) | -n 2 wall s (median) | -n 2 / serial | verdict "
            "| slowest exchange s (serial, -n 2) | checks | failed | exit (serial; -n 2) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in workers:
            lines.append(
                f"| {r['scenario']} | {r['repeat']} | {r['serial_wall_s']:.2f} ({_fmt(r['serial_walls_s'])}) "
                f"| {r['n2_wall_s']:.2f} ({_fmt(r['n2_walls_s'])}) | {r['ratio']} | {r['verdict']} "
                f"| {r['serial_slowest_exchange_s']:.2f}, {r['n2_slowest_exchange_s']:.2f} | {_fmt(r['checks'])} "
                f"| {_fmt(r['failed'])} | {_fmt(r['exits']['serial'])}; {_fmt(r['exits']['n2'])} |"
            )
    return "\n".join(lines).strip("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.degraded", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per row (slow: the first reported apart, the median of the others)")
    parser.add_argument("--watchdog", type=float, default=DEFAULT_WATCHDOG_S,
                        help="seconds after which a run is killed and reported as HANG")
    parser.add_argument("--no-healthy", action="store_true", help="only the slow row (skip serial vs -n 2)")
    parser.add_argument("--out", default=str(REPORTS / f"bench-{NAME}.json"))
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    install_sigterm()
    rows = collect(args.repeat, args.watchdog, healthy=not args.no_healthy)
    out = write_json(Path(args.out), {"targets": TARGETS, "watchdog_s": args.watchdog, "rows": rows})
    print(markdown(rows))
    print()
    for name, target in TARGETS.items():
        print(f"  {name}: {target}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
