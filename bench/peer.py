"""A peer comparison: healthsuite against Prometheus blackbox_exporter on the same endpoints, in the same run.

`python -m bench.peer [--sizes 100,1000,5000] [--limits default,64] [--repeat 3]`

Starts, on loopback: one HTTP target (bench/target.py in a process of its own) whose endpoints `/e/n0` ..
`/e/n{N-1}` answer in 50 ms, and blackbox_exporter from its binary (the Debian package's
/usr/bin/prometheus-blackbox-exporter, installed by scripts/install.sh; never its system service) on a
free port with a config of its own: module `http_2xx`, the http prober, healthsuite's default HTTP timeout,
status 200, IPv4, no redirects. For every size N and every limits setting it measures, `--repeat` times:

- healthsuite: `pytest checks --env FILE` on an environment of N `pages:` (AV1, AV3 and PERF1 each, one
  GET per page), in a subprocess as a user runs it (with byte-code caches). `default` declares no `http:`
  limits, so the package's defaults hold (max_concurrency 16, max_per_host 6: 6 in flight against this one
  host); `K` declares `http: {max_concurrency: K, max_per_host: K}`. Wall time, CPU and peak RSS as
  bench/launch.py measures them (wait4's rusage of the run alone) and bench/run.py's RssSampler; the
  summary of the report it wrote.
- blackbox_exporter, a daemon started before (as it is used): N `GET /probe?module=http_2xx&target=...`
  with exactly as many in flight as healthsuite had, driven by `curl --parallel --parallel-max K --config
  FILE` (one process, an event loop in C, writing the bodies to a tmpfs: its own CPU stays a small fraction
  of the probes'); every answer must carry `probe_success 1`. Wall time of the N probes, the daemon's CPU
  over them (/proc/PID/stat) and its peak RSS (VmHWM, reset before each run through /proc/PID/clear_refs).
- what the target received, counted at the server (`/__reset` before, `/__counts` after): requests per
  endpoint, one expected from each side.

Once per (N, limits) the same curl drives the N endpoints directly, without blackbox, to show what the
driver and the target cost by themselves against the ideal ceil(N / K) x 50 ms. Once per N, pytest alone
runs as many empty tests as healthsuite runs checks (3 N, one parametrized function, the same Python, the
same installed plugins and flags, healthsuite's plugin left out): what one pytest item costs, with no
check, no exchange and no report of healthsuite's, in wall time and peak RSS. No tool whose checks are
pytest items can run below it.

Each row: healthsuite's wall (median of the repeats, and the first run apart), blackbox's (median), their
ratio, PASS or MISS against the targets (TARGETS), the checks run and failed, both peak RSS and CPU, and
the requests per endpoint. Prints a markdown table and writes reports/bench-peer.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from healthsuite.model.environment import HttpSettings, Timeouts
from healthsuite.testing.asgi_server import LOOPBACK

from .run import AS_INSTALLED_ARGS, PROJECT, HttpTarget, as_installed_environ, machine, run_process, span

BLACKBOX = os.environ.get("HEALTHSUITE_BLACKBOX", "/usr/bin/prometheus-blackbox-exporter")
ENDPOINT_DELAY_MS = 50
HTTP_TIMEOUT_S = float(Timeouts.model_fields["http_s"].default)  # healthsuite's default, given to blackbox too
DEFAULT_MAX_CONCURRENCY = int(HttpSettings.model_fields["max_concurrency"].default)
DEFAULT_MAX_PER_HOST = int(HttpSettings.model_fields["max_per_host"].default)

# The targets
RATIO_LIMIT = 1.5  # healthsuite wall <= 1.5 x blackbox's ...
RATIO_FROM = 1000  # ... from 1000 endpoints on
RSS_LIMIT_MB = 120.0  # healthsuite's peak RSS (the largest process) < 120 MB (issue 27; was 150) ...
RSS_AT = 5000  # ... at 5000 endpoints
TARGETS = {
    "ratio": f"healthsuite wall <= {RATIO_LIMIT:g} x blackbox_exporter's, from {RATIO_FROM} endpoints",
    "rss": f"healthsuite peak RSS < {RSS_LIMIT_MB:g} MB at {RSS_AT} endpoints",
    "http": "each side: 1 request per endpoint, none to an undeclared path",
}


# --- the limits compared ------------------------------------------------------------------------------------


def limits_settings(label: str) -> dict[str, Any]:
    """`default`: no `http:` limits in the environment (the package's defaults); `K`: both limits set to K."""
    if label == "default":
        concurrency, per_host, declared = DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_PER_HOST, False
    else:
        try:
            concurrency = per_host = int(label)
        except ValueError:
            raise ValueError(f"limits {label!r}: write `default` or a number, e.g. 64") from None
        if not 1 <= concurrency <= 256:
            raise ValueError(f"limits {label!r}: between 1 and 256 (healthsuite's bounds)")
        declared = True
    return {
        "label": label,
        "declared": declared,
        "max_concurrency": concurrency,
        "max_per_host": per_host,
        "in_flight": min(concurrency, per_host),  # one host: the per-host limit binds
    }


def endpoint_paths(size: int) -> list[str]:
    return [f"/e/n{i}" for i in range(size)]


def environment(size: int, app_port: int, limits: dict[str, Any]) -> str:
    pages = "\n".join(
        f"  - {{name: n{i}, path: /e/n{i}, expect_status: 200, content_type: application/json}}" for i in range(size)
    )
    http = (
        f"http: {{max_concurrency: {limits['max_concurrency']}, max_per_host: {limits['max_per_host']}}}\n"
        if limits["declared"]
        else ""  # the defaults, as a user who sets nothing gets them
    )
    return f"""name: peer
kind: test
base_urls:
  app: http://{LOOPBACK}:{app_port}
{http}pages:
{pages}
"""


# --- the processes ------------------------------------------------------------------------------------------


class PeerTarget(HttpTarget):
    """bench/target.py with its endpoints answering in ENDPOINT_DELAY_MS; counts as bench/run.py's."""

    def start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.target", "--delay-ms", str(ENDPOINT_DELAY_MS)],
            cwd=PROJECT, stdout=subprocess.PIPE, text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.strip():
            raise RuntimeError(f"bench.target exited ({self._process.wait()}) before printing its port")
        self.port = int(line)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def blackbox_version() -> str:
    answer = subprocess.run([BLACKBOX, "--version"], capture_output=True, text=True, timeout=30)
    return ((answer.stdout or answer.stderr).strip().splitlines() or ["?"])[0]


BLACKBOX_CONFIG = f"""modules:
  http_2xx:
    prober: http
    timeout: {HTTP_TIMEOUT_S:g}s
    http:
      valid_status_codes: [200]
      preferred_ip_protocol: ip4
      follow_redirects: false
"""


class Blackbox:
    """blackbox_exporter from its binary, on a free loopback port, with a config file in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = 0
        self.log = directory / "blackbox.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self) -> Blackbox:
        config = self.directory / "blackbox.yml"
        config.write_text(BLACKBOX_CONFIG)
        check = subprocess.run([BLACKBOX, f"--config.file={config}", "--config.check"],
                               capture_output=True, text=True, timeout=30)
        if check.returncode:
            raise RuntimeError(f"blackbox_exporter refuses its config: {check.stderr[-2000:]}")
        for _attempt in range(3):  # a free port may be taken between free_port() and the listen
            self.port = free_port()
            with open(self.log, "ab") as log:
                self._process = subprocess.Popen(
                    [BLACKBOX, f"--config.file={config}", f"--web.listen-address={LOOPBACK}:{self.port}"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                )
            if self._ready():
                return self
            self.stop()
        raise RuntimeError(f"blackbox_exporter did not start; see its log:\n{self.log.read_text()[-2000:]}")

    def _ready(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"http://{LOOPBACK}:{self.port}/-/healthy", timeout=2) as answer:
                    if answer.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def probe_url(self, target_url: str) -> str:
        return f"http://{LOOPBACK}:{self.port}/probe?module=http_2xx&target={quote(target_url, safe='')}"

    def reset_peak(self) -> bool:
        """Zero the process's VmHWM (`5` to /proc/PID/clear_refs, Linux 4.0+), so that the next reading is
        this run's peak; False when the kernel refuses (the peak is then the daemon's since its start)."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            return True
        except OSError:
            return False

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.pid}/status").read_text()
        fields = {key: value for key, _, value in (line.partition(":") for line in status.splitlines())}
        return round(int(fields.get("VmHWM", fields["VmRSS"]).split()[0]) / 1024, 1)

    def cpu_s(self) -> float:
        """User + system CPU of the daemon (all its threads) since its start."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14, 15


# --- running a subprocess: wall, CPU, and nothing left behind ------------------------------------------------


def run_healthsuite(env_file: Path, reports: Path) -> dict[str, Any]:
    args = [sys.executable, "-m", "pytest", str(PROJECT / "checks"), "--env", str(env_file), "-q",
            *AS_INSTALLED_ARGS, "--reports-dir", str(reports)]
    environ = as_installed_environ()
    latest = reports / "latest.json"  # kept between runs: the next one starts the slowest probes first from it
    before = latest.stat().st_mtime_ns if latest.is_file() else None
    code, wall, cpu, rss, out, err = run_process(args, environ, sample_rss=True)
    if not latest.is_file() or latest.stat().st_mtime_ns == before:
        raise RuntimeError(f"the healthsuite run wrote no report (exit {code}):\n{out[-2000:]}\n{err[-2000:]}")
    report = json.loads(latest.read_text())
    summary = report["summary"]
    timing = report.get("run", {}).get("time", {})
    return {
        "exit": code,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "rss_mb": rss["max_process_mb"],
        "rss": rss,
        "checks": summary["total"],
        "run": summary["total"] - summary["skipped"],
        "passed": summary["passed"],
        "failed": summary["failed"],
        "errors": summary["error"],
        "skipped": summary["skipped"],
        # where the run's own report says the time went (healthsuite.outputs.timing)
        "phases_s": {key: timing.get(key) for key in ("startup_s", "exchanges_s", "after_exchanges_s")},
    }


def curl_supports_parallel() -> bool:
    if shutil.which("curl") is None:
        return False
    helptext = subprocess.run(["curl", "--help", "all"], capture_output=True, text=True, timeout=30).stdout
    return "--parallel-max" in helptext


def curl_version() -> str:
    return subprocess.run(["curl", "--version"], capture_output=True, text=True, timeout=30).stdout.split("\n")[0]


def output_root() -> str | None:
    """Where curl writes its bodies: a tmpfs. One file per transfer: on this machine's ext4 a file's creation
    costs 0.8 ms of system CPU (curl's openat), which made the driver alone 0.9 s slower per 1000 requests."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None


def drive(urls: list[str], in_flight: int, directory: Path) -> tuple[float, float, list[str]]:
    """GET every URL with `in_flight` at once, in one curl process: (wall s, curl's CPU s, the bodies in order).

    `--parallel-immediate` opens connections at once rather than waiting to multiplex (HTTP/1.1 here); curl
    keeps its connections alive, so blackbox_exporter sees about `in_flight` connections for all the probes.
    `directory` should be on a tmpfs (output_root)."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    config = directory / "urls.curlrc"
    config.write_text("".join(f'url = "{url}"\noutput = "{directory / str(i)}"\n' for i, url in enumerate(urls)))
    args = ["curl", "--parallel", "--parallel-immediate", "--parallel-max", str(in_flight), "--silent",
            "--show-error", "--no-progress-meter", "--max-time", str(HTTP_TIMEOUT_S + 5), "--config", str(config)]
    code, wall, cpu, _, _, err = run_process(args)
    if code:
        raise RuntimeError(f"curl exited {code}: {err[-2000:]}")
    bodies = []
    for i in range(len(urls)):
        try:
            bodies.append((directory / str(i)).read_text())
        except OSError:
            bodies.append("")
    shutil.rmtree(directory)
    return wall, cpu, bodies


def probe_succeeded(body: str) -> bool:
    return "\nprobe_success 1\n" in f"\n{body}"


# --- the measurement ----------------------------------------------------------------------------------------


def requests_seen(target: PeerTarget, paths: list[str]) -> dict[str, Any]:
    seen = target.counts(paths)
    return {key: seen[key] for key in ("requests_per_endpoint", "requests", "undeclared_requests", "connections")}


def run_blackbox(target: PeerTarget, blackbox: Blackbox, size: int, in_flight: int, scratch: Path) -> dict[str, Any]:
    paths = endpoint_paths(size)
    urls = [blackbox.probe_url(f"http://{LOOPBACK}:{target.port}{path}") for path in paths]
    target.reset()
    peak_reset = blackbox.reset_peak()
    cpu_before = blackbox.cpu_s()
    wall, driver_cpu, bodies = drive(urls, in_flight, scratch / "curl-out")
    cpu = blackbox.cpu_s() - cpu_before
    failures = [paths[i] for i, body in enumerate(bodies) if not probe_succeeded(body)]
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "driver_cpu_s": round(driver_cpu, 2),
        "rss_mb": blackbox.peak_rss_mb(),
        "rss_peak_reset": peak_reset,
        "probes": size,
        "probe_failures": len(failures),
        "failed_paths": failures[:10],
        "http": requests_seen(target, paths),
    }


CHECKS_PER_PAGE = 3  # AV1, AV3, PERF1
EMPTY_TESTS = """import pytest


@pytest.mark.parametrize("n", range({count}))
def test_empty(n: int) -> None:
    assert n >= 0
"""


def run_pytest_alone(size: int, scratch: Path) -> dict[str, Any]:
    """pytest's own floor: as many empty tests as healthsuite runs checks for `size` pages, in a directory of
    their own (its own empty ini: no project's options), as installed, healthsuite's plugin left out."""
    directory = scratch / f"pytest-alone-{size}"
    directory.mkdir(exist_ok=True)
    (directory / "pytest.ini").write_text("[pytest]\n")
    count = CHECKS_PER_PAGE * size
    (directory / "test_empty.py").write_text(EMPTY_TESTS.format(count=count))
    args = [sys.executable, "-m", "pytest", str(directory / "test_empty.py"), "-q", "--rootdir", str(directory),
            *AS_INSTALLED_ARGS, "-p", "no:healthsuite.plugin"]
    code, wall, cpu, rss, out, err = run_process(args, as_installed_environ(), sample_rss=True)
    if code != 0 or f"{count} passed" not in out:
        raise RuntimeError(f"pytest alone did not pass its {count} empty tests (exit {code}):\n"
                           f"{out[-2000:]}\n{err[-2000:]}")
    return {"tests": count, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "rss_mb": rss["max_process_mb"]}


def run_direct(target: PeerTarget, size: int, in_flight: int, scratch: Path) -> dict[str, Any]:
    """The driver alone: curl straight at the endpoints, K at once; ideal = ceil(N / K) x the endpoint delay."""
    paths = endpoint_paths(size)
    target.reset()
    wall, cpu, bodies = drive([f"http://{LOOPBACK}:{target.port}{path}" for path in paths], in_flight,
                              scratch / "curl-out")
    wrong = sum(1 for path, body in zip(paths, bodies, strict=True)
                if body != json.dumps({"endpoint": path.rsplit("/", 1)[-1]}))
    ideal = math.ceil(size / in_flight) * ENDPOINT_DELAY_MS / 1000
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "ideal_s": round(ideal, 2),
        "overhead_s": round(wall - ideal, 2),
        "wrong_answers": wrong,
        "http": requests_seen(target, paths),
    }


def run_pair(target: PeerTarget, blackbox: Blackbox, size: int, limits: dict[str, Any], env_file: Path,
             reports: Path, scratch: Path) -> dict[str, Any]:
    """One repeat: the healthsuite run, then the blackbox_exporter probes, each counted at the target."""
    target.reset()
    healthsuite = run_healthsuite(env_file, reports)
    healthsuite["http"] = requests_seen(target, endpoint_paths(size))
    peer = run_blackbox(target, blackbox, size, limits["in_flight"], scratch)
    return {"healthsuite": healthsuite, "blackbox": peer}


def merge(spans: list[list[int]]) -> list[int]:
    return [min(s[0] for s in spans), max(s[1] for s in spans)]


def http_ok(runs: list[dict[str, Any]], size: int) -> bool:
    return all(r["http"]["requests_per_endpoint"] == [1, 1] and r["http"]["requests"] == size
               and not r["http"]["undeclared_requests"] for r in runs)


def summarize(size: int, limits: dict[str, Any], repeats: list[dict[str, Any]],
              direct: dict[str, Any], alone: dict[str, Any] | None = None) -> dict[str, Any]:
    hs = [r["healthsuite"] for r in repeats]
    bb = [r["blackbox"] for r in repeats]
    hs_wall = round(statistics.median(r["wall_s"] for r in hs), 2)
    bb_wall = round(statistics.median(r["wall_s"] for r in bb), 2)
    ratio = round(hs_wall / bb_wall, 2) if bb_wall > 0 else math.inf
    row: dict[str, Any] = {
        "endpoints": size,
        "limits": limits["label"],
        "max_concurrency": limits["max_concurrency"],
        "max_per_host": limits["max_per_host"],
        "in_flight": limits["in_flight"],
        "repeat": len(repeats),
        "ratio": ratio,
        "healthsuite": {
            "wall_s": hs_wall,
            "first_wall_s": hs[0]["wall_s"],
            "walls_s": [r["wall_s"] for r in hs],
            "cpu_s": round(statistics.median(r["cpu_s"] for r in hs), 2),
            "rss_mb": max(r["rss_mb"] for r in hs),
            "phases_s": {key: round(statistics.median(r["phases_s"][key] or 0.0 for r in hs), 2)
                         for key in ("startup_s", "exchanges_s", "after_exchanges_s")},
            "checks": span([r["checks"] for r in hs]),
            "run": span([r["run"] for r in hs]),
            "failed": span([r["failed"] + r["errors"] for r in hs]),
            "skipped": span([r["skipped"] for r in hs]),
            "exits": [r["exit"] for r in hs],
            "requests_per_endpoint": merge([r["http"]["requests_per_endpoint"] for r in hs]),
        },
        "blackbox": {
            "wall_s": bb_wall,
            "walls_s": [r["wall_s"] for r in bb],
            "cpu_s": round(statistics.median(r["cpu_s"] for r in bb), 2),
            "driver_cpu_s": round(statistics.median(r["driver_cpu_s"] for r in bb), 2),
            "rss_mb": max(r["rss_mb"] for r in bb),
            "rss_peak_reset": all(r["rss_peak_reset"] for r in bb),
            "probe_failures": max(r["probe_failures"] for r in bb),
            "requests_per_endpoint": merge([r["http"]["requests_per_endpoint"] for r in bb]),
        },
        "driver_alone": direct,
        "pytest_alone": alone,
    }
    verdicts = {
        "ratio": ("PASS" if ratio <= RATIO_LIMIT else "MISS") if size >= RATIO_FROM else "-",
        "rss": ("PASS" if row["healthsuite"]["rss_mb"] < RSS_LIMIT_MB else "MISS") if size >= RSS_AT else "-",
        "http": "PASS" if http_ok(hs, size) and http_ok(bb, size) else "MISS",
    }
    row["verdicts"] = verdicts
    row["repeats"] = repeats
    return row


def collect(sizes: list[int], limits: list[str], repeat: int) -> list[dict[str, Any]]:
    """Start the target and blackbox_exporter, measure every (size, limits) `repeat` times, stop them: the rows."""
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    settings = [limits_settings(label) for label in limits]
    if not os.access(BLACKBOX, os.X_OK):
        raise RuntimeError(f"{BLACKBOX} is missing: run `bash scripts/install.sh` (or set HEALTHSUITE_BLACKBOX)")
    if not curl_supports_parallel():
        raise RuntimeError("curl with --parallel (7.66+) is needed to drive blackbox_exporter")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="healthsuite-peer-") as name, \
            tempfile.TemporaryDirectory(prefix="healthsuite-peer-curl-", dir=output_root()) as bodies:
        scratch, curl_dir = Path(name), Path(bodies)
        target = PeerTarget()
        blackbox = Blackbox(scratch)
        try:
            target.start()
            blackbox.start()
            for size in sizes:
                alone = run_pytest_alone(size, scratch)
                progress({"endpoints": size, "pytest_alone": alone})
                for limit in settings:
                    env_file = scratch / f"peer-{size}-{limit['label']}.yaml"
                    env_file.write_text(environment(size, target.port, limit))
                    reports = scratch / f"reports-{size}-{limit['label']}"
                    direct = run_direct(target, size, limit["in_flight"], curl_dir)
                    progress({"endpoints": size, "limits": limit["label"], "driver_alone": direct})
                    repeats = []
                    load_before = os.getloadavg()  # another job on the machine shows here: its CPU skews both sides
                    for i in range(repeat):
                        pair = run_pair(target, blackbox, size, limit, env_file, reports, curl_dir)
                        repeats.append(pair)
                        hs, bb = pair["healthsuite"], pair["blackbox"]
                        progress({"endpoints": size, "limits": limit["label"], "repeat": i + 1,
                                  "healthsuite": {k: hs[k] for k in ("wall_s", "cpu_s", "rss_mb", "run", "failed",
                                                                     "errors", "exit", "http")},
                                  "blackbox": {k: bb[k] for k in ("wall_s", "cpu_s", "driver_cpu_s", "rss_mb",
                                                                  "probe_failures", "http")}})
                    row = summarize(size, limit, repeats, direct, alone)
                    row["loadavg_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
                    rows.append(row)
        finally:
            blackbox.stop()
            target.stop()
    return rows


def progress(record: dict[str, Any]) -> None:
    print(json.dumps(record), file=sys.stderr, flush=True)


# --- output -------------------------------------------------------------------------------------------------


def shown(values: list[int]) -> str:
    return str(values[0]) if values[0] == values[1] else f"{values[0]}-{values[1]}"


COLUMNS = [
    "endpoints", "in flight (limits)", "healthsuite wall s", "first run s", "blackbox wall s",
    "ratio hs/bb", "checks run (failed)", "peak RSS MB hs", "peak RSS MB bb", "CPU s hs / bb / curl",
    "requests per endpoint hs / bb", "curl alone s (ideal)", "hs start-up / exchanges / after s",
    "pytest alone: empty tests, s / MB",
]


def verdict(value: str, judged: str) -> str:
    """`value PASS` / `value MISS`; the value alone where the target does not apply (`-`)."""
    return value if judged == "-" else f"{value} {judged}"


def cells(row: dict[str, Any]) -> list[str]:
    hs, bb, direct, v = row["healthsuite"], row["blackbox"], row["driver_alone"], row["verdicts"]
    limits = "defaults" if row["limits"] == "default" else "set"
    failures = f", {bb['probe_failures']} probes failed" if bb["probe_failures"] else ""
    return [
        str(row["endpoints"]),
        f"{row['in_flight']} ({limits}: {row['max_concurrency']} / {row['max_per_host']} per host)",
        f"{hs['wall_s']:.2f}",
        f"{hs['first_wall_s']:.2f}",
        f"{bb['wall_s']:.2f}{failures}",
        verdict(f"{row['ratio']:.2f}", v["ratio"]),
        f"{shown(hs['run'])} ({shown(hs['failed'])})",
        verdict(f"{hs['rss_mb']:.0f}", v["rss"]),
        f"{bb['rss_mb']:.0f}",
        f"{hs['cpu_s']:.2f} / {bb['cpu_s']:.2f} / {bb['driver_cpu_s']:.2f}",
        f"{shown(hs['requests_per_endpoint'])} / {shown(bb['requests_per_endpoint'])} {v['http']}",
        f"{direct['wall_s']:.2f} ({direct['ideal_s']:.2f})",
        " / ".join(f"{hs['phases_s'][key]:.2f}" for key in ("startup_s", "exchanges_s", "after_exchanges_s")),
        pytest_alone_cell(row.get("pytest_alone")),
    ]


def pytest_alone_cell(alone: dict[str, Any] | None) -> str:
    return "-" if not alone else f"{alone['tests']}: {alone['wall_s']:.2f} / {alone['rss_mb']:.0f}"


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peer", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000", help="numbers of endpoints, comma-separated")
    parser.add_argument("--limits", default="default,64", help="`default` (no `http:` limits declared: "
                        f"{DEFAULT_MAX_CONCURRENCY} / {DEFAULT_MAX_PER_HOST} per host) or K (both limits K), "
                        "comma-separated; blackbox_exporter gets as many probes in flight")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side per (size, limits)")
    parser.add_argument("--out", default=str(PROJECT / "reports" / "bench-peer.json"))
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
        limits = [label.strip() for label in args.limits.split(",")]
        for label in limits:
            limits_settings(label)
    except ValueError as exc:
        parser.error(str(exc))
    if args.repeat < 1 or any(size < 1 for size in sizes):
        parser.error("--repeat and every size must be at least 1")
    # a `kill` stops what the bench started too (the target, blackbox_exporter, a run in flight), as Ctrl-C does
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        rows = collect(sizes, limits, args.repeat)
    except RuntimeError as exc:
        print(f"bench.peer: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "machine": machine(),
        "targets": TARGETS,
        "endpoint_delay_ms": ENDPOINT_DELAY_MS,
        "http_timeout_s": HTTP_TIMEOUT_S,
        "blackbox": {"binary": BLACKBOX, "version": blackbox_version(), "config": BLACKBOX_CONFIG},
        "driver": {"curl": curl_version(), "bodies_on": output_root() or tempfile.gettempdir()},
        "runs": rows,
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(markdown(rows))
    print()
    for name, target in TARGETS.items():
        print(f"  {name}: {target}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
