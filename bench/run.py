"""Measure a full run against local targets with injected latency: `python -m bench [--sizes 10,100]`.

Starts, on loopback: an HTTP target whose every endpoint answers in 200 ms (one in 2.5 s), in a process
of its own (bench/target.py: a bare asyncio server, so that the target's own cost stays out of the
measurement), a TCP listener for the `ports:` check, a DNS server answering in 150 ms, a throwaway
PostgreSQL and Redis. For each size (number of declared endpoints) it writes an environment file and
runs the checks (AV3, PERF1, NET1, NET4, DB1, DB2, CACHE1, AV4) in a pytest subprocess, serially and
with `-n 2`, `--repeat` times each, and reports for every (size, workers):

- the wall time of the run: of the first run apart (`first run s`: no previous report, so its probes
  start in the checks' order) and the median of the others (`wall s`: they start the slowest probes
  first, from the previous run's report, as scheduled runs do); the sum and the maximum of the probes'
  own latencies (PERF1's `time_total`), and `overhead_s` = wall - slowest probe;
- what each target received, counted at the server: the TCP connections the HTTP target accepted (in
  total, those that sent no request, and per endpoint: it closes each connection after one answer) and
  the requests per endpoint; the connections to the port listener; the DNS queries per (name, type); the
  PostgreSQL sessions (`log_connections` lines of TCP clients); the Redis connections
  (`total_connections_received`, less the bench's own `INFO`);
- the peak RSS of the largest single process, pytest or one of its xdist workers (the kernel's own
  peak: `wait4`'s ru_maxrss, which also sees a peak between two samples), and of the sum over the
  process tree, read from /proc every 50 ms during the run;
- PASS or MISS against each target (see TARGETS).

Prints a markdown table and writes reports/bench.json (the machine, the targets, and every measured
field of every run). Speed goals are measured here, never in a timed unit test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from healthsuite.testing.asgi_server import LOOPBACK
from healthsuite.testing.dns import DnsServer
from healthsuite.testing.listeners import SilentListener
from healthsuite.testing.postgres_server import PostgresServer
from healthsuite.testing.redis_server import RedisServer

PROJECT = Path(__file__).resolve().parents[1]
DNS_DELAY_S = 0.15
DNS_NAME = "app.bench.test"
DIAGNOSES = "AV3,PERF1,NET1,NET4,DB1,DB2,CACHE1,AV4"
SAMPLE_INTERVAL_S = 0.05

# The targets: each (target, observation) probed exactly once per run, and
WALL_MARGIN_S = 1.5  # below LARGE endpoints (10, 100): wall < slowest probe + 1.5 s
WALL_FACTOR = 3.0  # from LARGE endpoints on: wall < 3 x the slowest probe
LARGE = 1000
RSS_LIMIT_MB = 150.0  # the largest process; stated for 1000 endpoints, judged at every size (fewer endpoints need less)
TARGETS = {
    "wall": f"< probe max + {WALL_MARGIN_S:g} s below {LARGE} endpoints, < {WALL_FACTOR:g} x probe max from {LARGE}",
    "http": "every endpoint: 1 request on 1 connection; no connection without a request (app total <= endpoints)",
    "port": "1 connection to the `ports:` listener",
    "dns": f"1 query per (name, type): {DNS_NAME} A",
    "postgres": "1 session",
    "redis": "1 connection",
    "rss": f"largest process < {RSS_LIMIT_MB:g} MB",
}


# --- the targets, counted at the server ----------------------------------------------------------------------


class HttpTarget:
    """The endpoints' server, in its own process (bench/target.py); every connection carries one request."""

    def __init__(self) -> None:
        self.port = 0
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.target"], cwd=PROJECT, stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        self.port = int(self._process.stdout.readline())

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)

    def _call(self, method: str, path: str) -> Any:
        request = urllib.request.Request(f"http://{LOOPBACK}:{self.port}{path}", method=method)
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    def reset(self) -> None:
        self._call("POST", "/__reset")

    def counts(self, paths: list[str]) -> dict[str, Any]:
        """The run's counts for the declared endpoint paths (0 for one never asked)."""
        seen = self._call("GET", "/__counts")
        requests: dict[str, int] = {key.split(" ", 1)[1]: n for key, n in seen["requests"].items()}
        declared = set(paths)
        per_endpoint = [requests.get(path, 0) for path in paths]
        return {
            "connections": seen["connections"],
            # the target closes every connection after its one answer: an endpoint's connections are its requests
            "connections_per_endpoint": span(per_endpoint),
            "requests_per_endpoint": span(per_endpoint),
            "requests": sum(requests.values()),
            "undeclared_requests": sum(n for path, n in requests.items() if path not in declared),
            "connections_without_request": seen["silent"],
        }


def redis_connections_received(redis: RedisServer) -> int:
    """`total_connections_received` from INFO stats; the INFO's own connection is counted in it."""
    for line in redis.command("INFO", "stats").decode().splitlines():
        if line.startswith("total_connections_received:"):
            return int(line.split(":", 1)[1])
    raise RuntimeError("redis INFO stats has no total_connections_received")


def postgres_log_size(postgres: PostgresServer) -> int:
    return postgres.logfile.stat().st_size


def postgres_sessions_since(postgres: PostgresServer, offset: int) -> int:
    """TCP sessions the server logged (`log_connections`) after `offset`; the bench's psql uses the unix socket."""
    with open(postgres.logfile, "rb") as fh:
        fh.seek(offset)
        lines = fh.read().decode("utf-8", "replace").splitlines()
    return sum(1 for line in lines if "connection received: host=" in line and "host=[local]" not in line)


# --- peak RSS of the run's process tree, from /proc ----------------------------------------------------------

_CHILDREN_FILES = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists()  # CONFIG_PROC_CHILDREN


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants alive now."""
    parents: dict[int, list[int]] = defaultdict(list)
    if not _CHILDREN_FILES:  # one scan of /proc for every process's parent
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                parents[int(stat.rsplit(")", 1)[1].split()[1])].append(int(entry))
    tree, queue = [], [root]
    while queue:
        pid = queue.pop()
        tree.append(pid)
        if not _CHILDREN_FILES:
            queue += parents.get(pid, [])
            continue
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                queue += [int(child) for child in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
            except OSError:
                pass
    return tree


def memory_kb(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) of `pid` in kB; None once it has exited (a zombie has neither)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = {key: value for key, _, value in (line.partition(":") for line in status.splitlines())}
    if "VmRSS" not in fields:
        return None
    return int(fields["VmRSS"].split()[0]), int(fields.get("VmHWM", fields["VmRSS"]).split()[0])


class RssSampler:
    """Reads the RSS of a process and its descendants every SAMPLE_INTERVAL_S, on a thread, until stop()."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.samples = 0
        self.processes: set[int] = set()
        self.peak_tree_kb = 0  # the largest sum of VmRSS over the tree at one sample
        self.peak_process_kb = 0  # the largest VmRSS of one process at one sample
        self.peak_hwm_kb = 0  # the largest VmHWM (a process's own peak RSS, also between samples)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"bench-rss-{root}", daemon=True)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stopping.wait(SAMPLE_INTERVAL_S):
                return

    def sample(self) -> None:
        readings = [(pid, memory_kb(pid)) for pid in process_tree(self.root)]
        alive = [(pid, kb) for pid, kb in readings if kb is not None]
        if not alive:
            return
        self.samples += 1
        self.processes.update(pid for pid, _ in alive)
        self.peak_tree_kb = max(self.peak_tree_kb, sum(rss for _, (rss, _) in alive))
        self.peak_process_kb = max(self.peak_process_kb, *(rss for _, (rss, _) in alive))
        self.peak_hwm_kb = max(self.peak_hwm_kb, *(hwm for _, (_, hwm) in alive))

    def stop(self) -> dict[str, Any]:
        self._stopping.set()
        self._thread.join(timeout=5)
        return {
            "max_process_mb": round(max(self.peak_hwm_kb, self.peak_process_kb) / 1024, 1),
            "max_process_sampled_mb": round(self.peak_process_kb / 1024, 1),
            "tree_mb": round(self.peak_tree_kb / 1024, 1),
            "processes": len(self.processes),
            "samples": self.samples,
        }


# --- one run -----------------------------------------------------------------------------------------------


class Targets:
    """The local targets, started once and shared by every run."""

    def __init__(self, base: Path) -> None:
        self.app = HttpTarget()
        # the `ports:` target (AV4): a listener of its own that counts connections (the app counts its endpoints)
        self.port = SilentListener()
        self.dns = DnsServer({DNS_NAME: [("A", LOOPBACK)]})
        self.postgres = PostgresServer(base / "pg", settings={"log_connections": "on"})
        self.redis = RedisServer(base / "redis")

    def start(self) -> Targets:
        self.app.start()
        self.dns.start()
        self.dns.set_fault(DNS_NAME, "slow", delay_s=DNS_DELAY_S)
        self.postgres.start()
        self.redis.start()
        return self

    def stop(self) -> None:
        self.redis.remove()
        self.postgres.remove()
        self.dns.stop()
        self.port.close()
        self.app.stop()

    def environment(self, size: int) -> str:
        names = ["slow", *(f"n{i}" for i in range(1, size))]
        endpoints = "\n".join(f"  - {{name: {name}, path: /e/{name}}}" for name in names)
        return f"""
name: bench
kind: test
base_urls:
  app: http://127.0.0.1:{self.app.port}
timeouts: {{http_s: 10, database_s: 5, cache_s: 3, dns_s: 3}}
http: {{max_concurrency: 64, max_per_host: 64}}   # a local target: no production to protect
endpoints:
{endpoints}
dns:
  nameservers: ["127.0.0.1:{self.dns.port}"]
hostnames:
  - {{name: app, host: {DNS_NAME}, records: [A]}}
databases:
  - {{name: main, engine: postgresql, dsn: "{self.postgres.dsn()}"}}
caches:
  - {{name: cache, url: "redis://127.0.0.1:{self.redis.port}/0"}}
ports:   # its own listener, so that the app counts the endpoints' connections alone
  - {{name: app, address: "127.0.0.1:{self.port.port}"}}
"""

    def run(self, size: int, env_file: Path, reports: Path, workers: int) -> dict[str, Any]:
        """One pytest run and what every target received during it."""
        self.app.reset()
        port_before = self.port.connections
        dns_before = Counter(self.dns.queries)
        pg_offset = postgres_log_size(self.postgres)
        redis_before = redis_connections_received(self.redis)
        result = run_checks(env_file, reports, workers)
        paths = ["/e/slow", *(f"/e/n{i}" for i in range(1, size))]
        dns_queries = Counter(self.dns.queries)
        dns_queries.subtract(dns_before)
        asked = {key: n for key, n in dns_queries.items() if n}
        return {
            **result,
            "http": self.app.counts(paths),
            "port_connections": self.port.connections - port_before,
            "dns": {"queries": asked, "max_per_name_type": max(asked.values(), default=0),
                    "total": sum(asked.values())},
            "pg_sessions": postgres_sessions_since(self.postgres, pg_offset),
            "redis_connections": redis_connections_received(self.redis) - redis_before - 1,  # less this INFO's
        }


# A run is measured as a user's installation runs it: with byte-code caches (a sandbox may set
# PYTHONDONTWRITEBYTECODE, which makes every run compile every module again) and without the test extra's
# Hypothesis plugin (installed here for the project's own tests; it imports Hypothesis in every run's
# terminal summary: about 0.6 s of each run on this machine, none of it healthsuite's).
AS_INSTALLED_ARGS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")


def as_installed_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


RUN_TIMEOUT_S = 1800  # a watchdog on every measured run


def run_process(args: list[str], environ: dict[str, str] | None = None, sample_rss: bool = False,
                timeout_s: float = RUN_TIMEOUT_S) -> tuple[int, float, float, dict[str, Any], str, str]:
    """Run `args` to its end: (exit code, wall s, CPU s, RSS, stdout, stderr). Started by bench.launch, which
    gives its wall, its CPU and its own peak RSS (wait4's rusage, never this larger process's: see there);
    RSS, when sampled, also by RssSampler (the whole tree, e.g. xdist workers). The process is killed when this is
    interrupted (an exception, Ctrl-C, the SIGTERM handler's SystemExit)."""
    with tempfile.NamedTemporaryFile(prefix="healthsuite-launch-", suffix=".json", delete=False) as handle:
        figures = Path(handle.name)
    proc = subprocess.Popen([sys.executable, "-S", "-m", "bench.launch", str(figures), "--", *args],
                            cwd=PROJECT, env=environ, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    sampler = RssSampler(proc.pid).start() if sample_rss else None
    output: dict[str, str] = {}
    readers = [threading.Thread(target=lambda name=name, pipe=pipe: output.__setitem__(name, pipe.read()))
               for name, pipe in (("out", proc.stdout), ("err", proc.stderr))]
    for reader in readers:
        reader.start()
    watchdog = threading.Timer(timeout_s, lambda: os.killpg(proc.pid, signal.SIGKILL))
    watchdog.start()
    try:
        proc.wait()
    finally:
        watchdog.cancel()
        if proc.returncode is None:  # interrupted: stop it (and, for pytest, the probes it has in flight)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        rss = sampler.stop() if sampler is not None else {}
        for reader in readers:
            reader.join()
    try:
        measured = json.loads(figures.read_text() or "{}")
    finally:
        figures.unlink(missing_ok=True)
    if not measured:
        raise RuntimeError(f"bench.launch measured nothing (exit {proc.returncode}):\n{output.get('err', '')[-2000:]}")
    if rss:
        rss["max_process_mb"] = round(max(rss["max_process_mb"] * 1024, measured["max_rss_kb"]) / 1024, 1)
    return (proc.returncode, measured["wall_s"], measured["cpu_s"], rss, output.get("out", ""),
            output.get("err", ""))


def run_checks(env_file: Path, reports: Path, workers: int) -> dict[str, Any]:
    args = [sys.executable, "-m", "pytest", str(PROJECT / "checks"), "--env", str(env_file), "-q",
            *AS_INSTALLED_ARGS, "--diagnosis", DIAGNOSES, "--reports-dir", str(reports)]
    if workers:
        args += ["-n", str(workers), "--keep-workers"]  # real workers: what this table measures
    code, wall, _, rss, out, err = run_process(args, as_installed_environ(), sample_rss=True, timeout_s=3600)
    latest = reports / "latest.json"
    if not latest.is_file():
        raise RuntimeError(f"the run wrote no report (exit {code}):\n{out[-2000:]}\n{err[-2000:]}")
    report = json.loads(latest.read_text())
    totals = [
        r["facts"]["timings"]["cumulative_ms"]["time_total"]
        for r in report["checks"]
        if r["diagnosis"] == "PERF1" and r.get("facts", {}).get("timings")
    ]
    probe_max = max(totals, default=0) / 1000
    return {
        "exit": code,
        "wall_s": round(wall, 2),
        "probe_sum_s": round(sum(totals) / 1000, 2),
        "probe_max_s": round(probe_max, 2),
        "overhead_s": round(wall - probe_max, 2),
        "checks": report["summary"]["total"],
        "failed": report["summary"]["failed"],
        "errors": report["summary"]["error"],
        "rss": rss,
    }


# --- a row: the repeats of one (size, workers), judged --------------------------------------------------------


def span(values: list[int]) -> list[int]:
    """[min, max]; [0, 0] for none."""
    return [min(values, default=0), max(values, default=0)]


def merge(spans: list[list[int]]) -> list[int]:
    return [min(s[0] for s in spans), max(s[1] for s in spans)]


def wall_target_s(size: int, probe_max_s: float) -> float:
    return probe_max_s * WALL_FACTOR if size >= LARGE else probe_max_s + WALL_MARGIN_S


def summarize(size: int, workers: int, repeats: list[dict[str, Any]]) -> dict[str, Any]:
    """The row of one (size, workers): medians of the times, the range of every count over the repeats
    (a count meets its target only when every repeat does), the peaks of RSS, and the verdicts."""
    walls = [r["wall_s"] for r in repeats]
    warm = walls[1:] or walls  # the first run has no previous report to order its probes by
    wall = round(statistics.median(warm), 2)
    probe_max = round(statistics.median(r["probe_max_s"] for r in repeats), 2)
    row: dict[str, Any] = {
        "endpoints": size,
        "workers": workers,
        "repeat": len(repeats),
        "wall_s": wall,
        "cold_wall_s": walls[0],
        "walls_s": walls,
        "overhead_s": round(wall - probe_max, 2),
        "probe_sum_s": round(statistics.median(r["probe_sum_s"] for r in repeats), 2),
        "probe_max_s": probe_max,
        "wall_target_s": round(wall_target_s(size, probe_max), 2),
        "http_connections_per_endpoint": merge([r["http"]["connections_per_endpoint"] for r in repeats]),
        "http_requests_per_endpoint": merge([r["http"]["requests_per_endpoint"] for r in repeats]),
        "http_connections": span([r["http"]["connections"] for r in repeats]),
        "http_requests": span([r["http"]["requests"] for r in repeats]),
        "port_connections": span([r["port_connections"] for r in repeats]),
        "dns_queries_max_per_name_type": span([r["dns"]["max_per_name_type"] for r in repeats]),
        "dns_queries": span([r["dns"]["total"] for r in repeats]),
        "pg_sessions": span([r["pg_sessions"] for r in repeats]),
        "redis_connections": span([r["redis_connections"] for r in repeats]),
        "rss_max_process_mb": max(r["rss"]["max_process_mb"] for r in repeats),
        "rss_tree_mb": max(r["rss"]["tree_mb"] for r in repeats),
        "checks": span([r["checks"] for r in repeats]),
        "failed": span([r["failed"] for r in repeats]),
        "errors": span([r["errors"] for r in repeats]),
        "exits": [r["exit"] for r in repeats],
    }
    one = [1, 1]
    verdicts = {
        "wall": wall < row["wall_target_s"],
        "cold": walls[0] < wall_target_s(size, repeats[0]["probe_max_s"]),
        "http": row["http_connections_per_endpoint"] == one
        and row["http_requests_per_endpoint"] == one
        and row["http_connections"][1] <= size
        and all(not r["http"]["undeclared_requests"] and not r["http"]["connections_without_request"] for r in repeats),
        "port": row["port_connections"] == one,
        "dns": all(r["dns"]["queries"] == {f"{DNS_NAME} A": 1} for r in repeats),
        "postgres": row["pg_sessions"] == one,
        "redis": row["redis_connections"] == one,
        "rss": row["rss_max_process_mb"] < RSS_LIMIT_MB,
    }
    row["verdicts"] = {name: "PASS" if ok else "MISS" for name, ok in verdicts.items()}
    row["repeats"] = repeats
    return row


# --- output ------------------------------------------------------------------------------------------------


def shown(values: list[int]) -> str:
    return str(values[0]) if values[0] == values[1] else f"{values[0]}-{values[1]}"


COLUMNS = [
    "endpoints", "workers", "wall s", "first run s", "overhead s", "probe sum s", "probe max s",
    "connections per endpoint", "requests per endpoint", "app connections", "port connections",
    "DNS queries max (total)", "PG sessions", "Redis connections", "peak RSS MB, largest", "peak RSS MB, tree",
    "checks (failed)",
]


def cells(row: dict[str, Any]) -> list[str]:
    v = row["verdicts"]
    return [
        str(row["endpoints"]),
        "serial" if row["workers"] == 0 else str(row["workers"]),
        f"{row['wall_s']:.2f} {v['wall']}",
        f"{row['cold_wall_s']:.2f} {v['cold']}",
        f"{row['overhead_s']:.2f}",
        f"{row['probe_sum_s']:.2f}",
        f"{row['probe_max_s']:.2f}",
        f"{shown(row['http_connections_per_endpoint'])} {v['http']}",
        shown(row["http_requests_per_endpoint"]),
        shown(row["http_connections"]),
        f"{shown(row['port_connections'])} {v['port']}",
        f"{shown(row['dns_queries_max_per_name_type'])} ({shown(row['dns_queries'])}) {v['dns']}",
        f"{shown(row['pg_sessions'])} {v['postgres']}",
        f"{shown(row['redis_connections'])} {v['redis']}",
        f"{row['rss_max_process_mb']:.0f} {v['rss']}",
        f"{row['rss_tree_mb']:.0f}",
        f"{shown(row['checks'])} ({shown(row['failed'])})",
    ]


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def serve(targets: Targets, sizes: list[int], directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    for size in sizes:
        env_file = directory / f"bench-{size}.yaml"
        env_file.write_text(targets.environment(size))
        print(f"pytest checks --env {env_file} --diagnosis {DIAGNOSES}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scale", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100", help="numbers of endpoints, comma-separated (e.g. 10,100,1000)")
    parser.add_argument("--workers", default="0,2", help="xdist workers per run: 0 = serial (e.g. 0,2)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per (size, workers): the first is reported apart "
                        "(no previous report to start the slowest probes first), the median of the others as `wall s`")
    parser.add_argument("--out", default=str(PROJECT / "reports" / "bench.json"))
    parser.add_argument("--serve", metavar="DIR", help="only start the targets, write DIR/bench-SIZE.yaml for each "
                        "size and wait (Ctrl-C stops): to profile a run by hand, e.g. under py-spy")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    rows: list[dict[str, Any]] = []
    # a `kill` stops the targets too (the throwaway servers and the HTTP target's process), as Ctrl-C does
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    with tempfile.TemporaryDirectory(prefix="healthsuite-bench-") as scratch:
        base = Path(scratch)
        targets = Targets(base)
        try:
            targets.start()
            if args.serve:
                return serve(targets, sizes, Path(args.serve))
            for size in sizes:
                env_file = base / f"bench-{size}.yaml"
                env_file.write_text(targets.environment(size))
                for workers in worker_counts:
                    repeats = []
                    for i in range(args.repeat):
                        # one reports directory per (size, workers): the first run is cold, the next ones start
                        # the probes slowest first from the previous run's report, as scheduled runs do
                        result = targets.run(size, env_file, base / f"reports-{size}-{workers}", workers)
                        repeats.append(result)
                        brief = {k: result[k] for k in ("wall_s", "probe_max_s", "overhead_s", "exit")}
                        print(json.dumps({"endpoints": size, "workers": workers, "repeat": i + 1, **brief,
                                          "http": result["http"], "port": result["port_connections"],
                                          "dns": result["dns"]["queries"], "pg": result["pg_sessions"],
                                          "redis": result["redis_connections"], "rss": result["rss"]}), flush=True)
                    rows.append(summarize(size, workers, repeats))
        finally:
            targets.stop()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), "targets": TARGETS, "runs": rows}, indent=2) + "\n")
    print()
    print(markdown(rows))
    print()
    for name, target in TARGETS.items():
        print(f"  {name}: {target}")
    print(f"wrote {out}")
    return 0
