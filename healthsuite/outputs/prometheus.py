"""Prometheus metrics of a run: `--prom-textfile PATH` and `--pushgateway URL`.

- `--prom-textfile /var/lib/prometheus/node-exporter/healthsuite.prom` (ini `healthsuite_prom_textfile`):
  at the end of a run the controller writes the metrics in the exposition format node_exporter's
  textfile collector reads, atomically (a temporary file in the same directory, then a rename), so
  the collector never reads half a file. The name must end in `.prom` (the collector reads no other).
- `--pushgateway http://pushgateway:9091` (ini `healthsuite_pushgateway`): the same metrics pushed to
  a Prometheus Pushgateway, job `healthsuite`, grouping key `environment` and `instance`
  (`--prom-instance`, ini `healthsuite_prom_instance`, default the host name). The push is bounded by
  PUSH_TIMEOUT_S; a failure is said in the terminal summary and never fails the run.

The metrics (every series has the `environment` label):

    healthsuite_check_success{diagnosis, category, severity, target, target_kind, check}  1 passed (after
        a retry too), 0 failed
        (an error, a --fail-on warning or a failure during maintenance is 0 too); a skipped check has no
        series here: it is counted in healthsuite_checks{outcome="skipped"}. One series per check: `target_kind` is the
        environment key of the target (pages, endpoints...: a page and an endpoint may share a name)
        and `check` the check function's name (two checks of one diagnosis on one target stay apart);
        should two checks still share every label, `check` carries the test's parameters too.
    healthsuite_check_maintenance{... the labels of healthsuite_check_success, window}  a check that failed
        inside a maintenance window (outcome maintenance): the window's end, Unix time; no series otherwise.
        The shipped alerting rules leave out a failure that has one (examples/prometheus).
    healthsuite_check_attempts{same labels}     the most attempts any exchange of the check took: 1, or more
        when a transport failure was retried (`retries:`); a check that passed so has outcome `retried`
    healthsuite_checks{outcome}                 checks by outcome (passed, failed, error, warned, maintenance,
                                                skipped, retried: passed after retry)
    healthsuite_probe_duration_seconds{target}  the longest exchange with each target (the report's probe_latency_s)
    healthsuite_run_timestamp_seconds           when the run finished (Unix time)
    healthsuite_run_duration_seconds            how long the run took
    healthsuite_run_exit_status                 pytest's exit status of the run (0 all passed, 1 a check
                                                failed, 2 interrupted, 3 internal error, 4 usage error)

A run that ends in a usage error (a bad option, marker or environment file, nothing selected, a
reports directory that cannot be written) still replaces the textfile and pushes: with its exit status
and no check series (`usage_error_registry`), so the last run's all-passing series do not stay green
while nothing is judged. Nothing is written or pushed by an xdist worker or under --collect-only.
prometheus_client is imported when the metrics are made, not before (healthsuite.probes.lazy).
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from ..probes.lazy import lazy
from .records import MAINTENANCE, OUTCOMES, RETRIED
from .result import RunResult

if TYPE_CHECKING:
    import prometheus_client
else:
    prometheus_client = lazy("prometheus_client")

PUSH_TIMEOUT_S = 5.0  # the whole push, name resolution included
JOB = "healthsuite"
CHECK_LABELS = ("environment", "diagnosis", "category", "severity", "target", "target_kind", "check")


def check_name(node_id: str) -> str:
    """`checks/test_availability.py::test_page_answers[home]` -> `test_page_answers`."""
    return node_id.rsplit("::", 1)[-1].split("[", 1)[0]


def _series_labels(env_name: str, entries: Iterable[Any]) -> Iterator[tuple[Any, tuple[str, ...]]]:
    """Each judged check with its labels, distinct for every check: where two checks would share all of
    them, `check` is the function name with the test's parameters (`test_x[page-shop]`)."""
    judged = [e for e in entries if e.outcome != "skipped"]
    keys = [(env_name, e.diagnosis, e.category, e.severity, e.target, getattr(e, "target_kind", ""),
             check_name(e.id)) for e in judged]
    seen = Counter(keys)
    for entry, key in zip(judged, keys, strict=True):
        if seen[key] > 1:
            key = (*key[:-1], entry.id.rsplit("::", 1)[-1])
        yield entry, key


def registry(env_name: str, entries: Iterable[Any], probe_latency_s: Mapping[str, float],
             finished: datetime, duration_s: float, exit_status: int) -> prometheus_client.CollectorRegistry:
    """The run's metrics. `entries` are the run's records (reports.CheckRecord or SpooledRecord)."""
    client = prometheus_client
    reg = client.CollectorRegistry(auto_describe=False)
    success = client.Gauge("healthsuite_check_success", "1 if the check passed, 0 if it failed, had an error "
                           "or was a --fail-on warning; skipped checks have no series", CHECK_LABELS, registry=reg)
    window = client.Gauge("healthsuite_check_maintenance", "The end (Unix time) of the maintenance window the check "
                          "failed in; only checks that failed inside one", (*CHECK_LABELS, "window"), registry=reg)
    attempts = client.Gauge("healthsuite_check_attempts", "The most attempts any exchange of the check took "
                            "(1: no retry; more: a transport failure was retried)", CHECK_LABELS, registry=reg)
    checks = client.Gauge("healthsuite_checks", "Checks of the run by outcome", ("environment", "outcome"),
                          registry=reg)
    probes = client.Gauge("healthsuite_probe_duration_seconds", "The longest exchange of the run with the target",
                          ("environment", "target"), registry=reg)
    timestamp = client.Gauge("healthsuite_run_timestamp_seconds", "When the run finished, Unix time",
                             ("environment",), registry=reg)
    duration = client.Gauge("healthsuite_run_duration_seconds", "How long the run took", ("environment",),
                            registry=reg)
    status = client.Gauge("healthsuite_run_exit_status", "pytest's exit status of the run", ("environment",),
                          registry=reg)
    entries = list(entries)
    counts: Counter[str] = Counter(entry.outcome for entry in entries)
    for entry, labels in _series_labels(env_name, entries):
        success.labels(*labels).set(1 if entry.outcome in ("passed", RETRIED) else 0)
        attempts.labels(*labels).set(getattr(entry, "attempts", 1))
        covered = getattr(entry, "maintenance", None)
        if entry.outcome == MAINTENANCE and covered:
            window.labels(*labels, covered.get("name", "")).set(_unix(covered.get("until", "")))
    for outcome in (*OUTCOMES, *sorted(set(counts) - set(OUTCOMES))):
        checks.labels(env_name, outcome).set(counts[outcome])
    for target, seconds in sorted(probe_latency_s.items()):
        probes.labels(env_name, target).set(float(seconds))
    timestamp.labels(env_name).set(finished.timestamp())
    duration.labels(env_name).set(duration_s)
    status.labels(env_name).set(exit_status)
    return reg


def _unix(text: str) -> float:
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


def write_textfile(path: Path, reg: prometheus_client.CollectorRegistry) -> None:
    """Atomically: prometheus_client writes `<path>.<pid>.<thread>` beside it, then renames it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prometheus_client.write_to_textfile(str(path), reg)


def push(url: str, reg: prometheus_client.CollectorRegistry, grouping_key: Mapping[str, str],
         timeout_s: float = PUSH_TIMEOUT_S) -> str:
    """Push (PUT: this group's metrics replace the last run's); "" or what went wrong. Bounded: the
    request has `timeout_s`, and the run goes on after `timeout_s` (plus a second) whatever happens
    (name resolution has no timeout of its own), leaving a daemon thread behind.

    A user and password in the URL go in an Authorization header (basic auth), never to the library as
    part of the URL: urllib would read `user:secret@host` as a host name and send it to the resolver."""
    outcome: list[str] = []
    parts = urlsplit(url)
    handler = prometheus_client.exposition.default_handler
    if parts.username is not None or parts.password is not None:
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
        netloc = parts.netloc.rsplit("@", 1)[1]
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

        def handler(url: str, method: str, timeout: float | None, headers: list[tuple[str, str]],
                    data: bytes) -> Callable[[], None]:
            return prometheus_client.exposition.basic_auth_handler(url, method, timeout, headers, data, user,
                                                                   password)

    def work() -> None:
        try:
            prometheus_client.push_to_gateway(url, job=JOB, registry=reg, grouping_key=dict(grouping_key),
                                              timeout=timeout_s, handler=handler)
            outcome.append("")
        except Exception as exc:  # noqa: BLE001 - a push never breaks the run
            outcome.append(f"{type(exc).__name__}: {exc}".replace(url, masked(url)))

    thread = threading.Thread(target=work, daemon=True, name="healthsuite-pushgateway")
    thread.start()
    thread.join(timeout_s + 1.0)
    return outcome[0] if outcome else f"no answer within {timeout_s:g} s"


def usage_error_registry(env_name: str, finished: datetime, exit_status: int) -> prometheus_client.CollectorRegistry:
    """The metrics of a run that judged nothing (a usage error): its exit status, no check series."""
    return registry(env_name, (), {}, finished, 0.0, exit_status)


def registry_of(result: RunResult) -> prometheus_client.CollectorRegistry:
    return registry(result.environment.name, result.entries, result.probe_latency_s, result.finished,
                    result.duration_s, result.exit_status)


def write_result(path: Path, result: RunResult) -> str:
    write_textfile(path, registry_of(result))
    return ""


def masked(url: str) -> str:
    """`url` as it may be shown: no user, password, query or fragment (a token often rides there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = ("***@" if parts.username or parts.password else "") + (f"[{host}]" if ":" in host else host)
    netloc += f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, netloc, parts.path, "***" if parts.query else "", ""))


def push_result(url: str, result: RunResult, instance: str) -> str:
    """Push `result`'s metrics; "" or what went wrong."""
    grouping = {"environment": result.environment.name, "instance": instance or socket.gethostname()}
    return push(url, registry_of(result), grouping)
