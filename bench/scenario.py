"""What the scenario benchmarks (bench/degraded.py, bench/hostile.py) share: one pytest run of the real
checks in a subprocess, timed, under a watchdog, and the JSON report it wrote.

A run is started as bench/run.py's run_checks starts it (from the project directory, `python -m pytest
checks --env FILE -q -p no:cacheprovider -p no:hypothesispytest --reports-dir DIR`, as installed:
bench.run.AS_INSTALLED_ARGS) but in a session of its own, so that the watchdog can kill it with every process
it started (xdist workers included): a run still going after `watchdog_s` is killed and reported as a
HANG, it never hangs the benchmark. `stop_all()` kills any run still going; the scenarios call it on exit,
on an exception and on SIGTERM (`install_sigterm`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.run import AS_INSTALLED_ARGS, as_installed_environ, machine

PROJECT = Path(__file__).resolve().parents[1]
REPORTS = PROJECT / "reports"
DEFAULT_WATCHDOG_S = 180.0
OUTPUT_TAIL = 3000

__all__ = [
    "PROJECT", "REPORTS", "DEFAULT_WATCHDOG_S", "run_pytest", "stop_all", "install_sigterm", "slowest_exchange",
    "slowest_exchange_s",
    "write_json", "machine", "first_line",
]

_running: set[subprocess.Popen[str]] = set()


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the run's session (pytest and its workers): only what this module started."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # start_new_session: its process group id is its pid
    except (ProcessLookupError, PermissionError):
        proc.kill()


def stop_all() -> None:
    """Kill every run still going (idempotent)."""
    for proc in list(_running):
        _kill_group(proc)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        _running.discard(proc)


def install_sigterm() -> None:
    """A `kill` unwinds the scenario as Ctrl-C does: its `finally` stops what it started."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))


def _report_mtime(latest: Path) -> int:
    try:
        return latest.stat().st_mtime_ns
    except OSError:
        return 0


def run_pytest(
    env_file: Path,
    reports: Path,
    *,
    args: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    watchdog_s: float = DEFAULT_WATCHDOG_S,
) -> dict[str, Any]:
    """One run; `hang` is True when the watchdog killed it, `report` is the latest.json this run wrote
    (None if it wrote none: a hang, a crash)."""
    command = [sys.executable, "-m", "pytest", "checks", "--env", str(env_file), "-q", *AS_INSTALLED_ARGS,
               "--reports-dir", str(reports), *args]
    env = as_installed_environ()
    env.update(environ or {})
    latest = reports / "latest.json"
    before = _report_mtime(latest)
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    _running.add(proc)
    hang = False
    try:
        try:
            out, err = proc.communicate(timeout=watchdog_s)
        except subprocess.TimeoutExpired:
            hang = True
            _kill_group(proc)
            out, err = proc.communicate(timeout=30)
        wall = time.perf_counter() - started
    finally:
        _kill_group(proc)  # an exception (SIGTERM, Ctrl-C) mid-run: the run goes too
        _running.discard(proc)
    report: dict[str, Any] | None = None
    if _report_mtime(latest) != before:
        try:
            report = json.loads(latest.read_text())
        except (OSError, ValueError):
            report = None
    return {
        "command": " ".join(["python", *command[1:]]),
        "exit": None if hang else proc.returncode,
        "hang": hang,
        "wall_s": round(wall, 2),
        "watchdog_s": watchdog_s,
        "report_written": report is not None,
        "report": report,
        "stdout_tail": (out or "")[-OUTPUT_TAIL:],
        "stderr_tail": (err or "")[-OUTPUT_TAIL:],
    }


def slowest_exchange(report: Mapping[str, Any] | None) -> tuple[float, str]:
    """The run's slowest single exchange and where it was read: the largest of the report's
    `probe_latency_s` values (`probe_latency_s[KEY]`) and of PERF1's `facts.timings.cumulative_ms.time_total`
    (one request, its whole `curl -w` time; `PERF1 TARGET`) over every record. (0, "") without a report."""
    if not report:
        return 0.0, ""
    found = [(float(v), f"probe_latency_s[{k}]") for k, v in (report.get("probe_latency_s") or {}).items()]
    found += [
        (float(r["facts"]["timings"]["cumulative_ms"]["time_total"]) / 1000, f"PERF1 {r.get('target')}")
        for r in report.get("checks", [])
        if r.get("diagnosis") == "PERF1" and ((r.get("facts") or {}).get("timings") or {}).get("cumulative_ms")
    ]
    seconds, source = max(found, default=(0.0, ""))
    return round(seconds, 3), source


def slowest_exchange_s(report: Mapping[str, Any] | None) -> float:
    """slowest_exchange's seconds."""
    return slowest_exchange(report)[0]


def first_line(text: object, limit: int = 110) -> str:
    line = str(text or "").strip().splitlines()[0] if str(text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def write_json(path: Path, payload: Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2, default=str) + "\n")
    return path


def verdict(ok: bool, runs: Sequence[Mapping[str, Any]]) -> str:
    """A row's verdict: HANG when the watchdog killed a run, ERROR on a pytest exit other than 0 or 1 (an
    internal or usage error is not a judgement), else PASS or MISS by `ok`."""
    if any(r["hang"] for r in runs):
        return "HANG"
    errors = sorted({r["exit"] for r in runs if r["exit"] not in (0, 1)})
    if errors:
        return f"ERROR (exit {', '.join(map(str, errors))})"
    return "PASS" if ok else "MISS"
