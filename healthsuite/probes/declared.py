"""What a declared check (healthsuite.model.declared) observes, through the suite's own probes.

Each kind reads with the probe the shipped checks use, through the run's caches, so a declared check
and a shipped one that read the same thing share one exchange: `http` a request (probes.http, keyed by
the request), `sql` a statement on the database's one read-only session (probes.pgreader) or a `mode=ro`
SQLite file (probes.sqlite), `redis` one read command (probes.redis' bounded client), `dns` one query
(probes.resolver), `tls` one handshake (probes.tls, shared with NET5), `tcp` one connect (probes.tcp,
shared with AV4), `file` a stat and, with a pattern, the lines read from the end of the file (probes.logs).

`observe()` returns the names the check's conditions read, in base units (seconds, bytes): e.g. for
`http` `status`, `headers` (lower-case names), `json`, `body`, `time.total` and its phases like
`curl -w` (cumulative: `time.dns`, `time.connect`, `time.tls`, `time.first_byte`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..model.declared import DeclaredCheck
from ..model.environment import PostgresDatabase, RedisCache, SqliteDatabase
from ..model.netaddr import format_address, parse_address
from ..model.regexes import Budget, PatternRefused, RegexTooSlow, bounded_search, compile_pattern
from . import deadline, logs, tcp, tls
from . import sqlite as sqlite_probe
from .errors import ProbeError
from .http import HttpRequest, JsonRefused
from .postgres import parts_of as postgres_parts
from .redis import address_of as redis_address
from .redis import client as redis_client
from .redis import failure as redis_failure
from .redis import ready as redis_ready

if TYPE_CHECKING:
    from .session import ProbeSession

MISSING_FILE_AGE = None


@dataclass(frozen=True)
class DeclaredObservation:
    """What one declared check's probe saw: the names its conditions read, a summary for people, and the
    transport error that kept it from seeing anything (then the check fails on that, never a pass)."""

    kind: str
    values: Mapping[str, object] = field(default_factory=dict)
    summary: str = ""
    error: ProbeError | None = None
    facts: Mapping[str, object] = field(default_factory=dict)


# --- where each kind goes ---------------------------------------------------------------------------------


def http_request(probes: ProbeSession, check: DeclaredCheck) -> HttpRequest:
    """The request of an `http` probe, resolved like a page's (probes.ProbeSession.http_request)."""
    env = probes.env
    http = check.http
    assert http is not None
    if http.url is not None:
        url = env.resolve(http.url, env.where(check, "http.url"))
    else:
        base = http.base or (next(iter(env.model.base_urls)) if len(env.model.base_urls) == 1 else "app")
        url = env.resolve(env.model.base_urls[base], f"base_urls.{base} in {env.path.name}").rstrip("/") + (
            http.path or "/"
        )
    headers = {**env.model.http.headers, **http.headers}
    resolved = {k.lower(): env.resolve(v, env.where(check, f"http.headers.{k}")) for k, v in headers.items()}
    body = b""
    if http.body is not None:
        body = http.body.encode() if isinstance(http.body, str) else json.dumps(http.body).encode()
        if not isinstance(http.body, str):
            resolved.setdefault("content-type", "application/json")
    return HttpRequest(
        method=http.method,
        url=url,
        headers=tuple(sorted(resolved.items())),
        follow_redirects=http.follow_redirects,
        timeout_s=http.timeout_s or env.model.timeouts.http_s,
        body=body,
    )


def database_of(probes: ProbeSession, check: DeclaredCheck) -> PostgresDatabase | SqliteDatabase:
    assert check.sql is not None
    return next(d for d in probes.env.model.databases if d.name == check.sql.database)


def cache_of(probes: ProbeSession, check: DeclaredCheck) -> RedisCache:
    assert check.redis is not None
    caches = probes.env.model.caches
    return next(c for c in caches if c.name == check.redis.cache) if check.redis.cache else caches[0]


def tls_address(probes: ProbeSession, check: DeclaredCheck) -> tuple[str, int, str]:
    """(host, port, server name) of a `tls` probe."""
    env = probes.env
    probe = check.tls
    assert probe is not None
    if probe.host is None:
        return probes.https_address(
            probe.url, probe.base, probe.server_name, lambda key: env.where(check, f"tls.{key}")
        )
    host = env.resolve(probe.host, env.where(check, "tls.host"))
    name = env.resolve(probe.server_name, env.where(check, "tls.server_name")) if probe.server_name else host
    return host, probe.port, name


def tcp_address(probes: ProbeSession, check: DeclaredCheck) -> tuple[str, int]:
    assert check.tcp is not None
    return parse_address(probes.env.resolve(check.tcp.address, probes.env.where(check, "tcp.address")))


def dns_query(probes: ProbeSession, check: DeclaredCheck) -> tuple[str, tuple[tuple[str, int], ...], float]:
    env = probes.env
    assert check.dns is not None
    host = env.resolve(check.dns.name, env.where(check, "dns.name")).rstrip(".").lower()
    return host, probes.nameservers(), check.dns.timeout_s or env.model.timeouts.dns_s


def advice_values(probes: ProbeSession, check: DeclaredCheck) -> tuple[str, dict[str, str]]:
    """(engine, values) the remediation's placeholders are filled with (healthsuite.catalogue.advice): the host,
    port, database, user, name or file this check reads."""
    env = probes.env
    kind = check.kind
    if kind == "http":
        parts = urlsplit(http_request(probes, check).url)
        return "", {"host": parts.hostname or "", "port": str(parts.port or (443 if parts.scheme == "https" else 80)),
                    "name": parts.hostname or ""}
    if kind == "sql":
        database = database_of(probes, check)
        if isinstance(database, PostgresDatabase):
            dsn = env.try_resolve(database.dsn)
            return "postgres", postgres_parts(dsn) if dsn else {}
        return "sqlite", {"file": str(env.resolve_path(database.path))}
    if kind == "redis":
        url = env.try_resolve(cache_of(probes, check).url)
        where = urlsplit(url) if url else None
        return "", {"host": where.hostname or "localhost", "port": str(where.port or 6379)} if where else {}
    if kind == "dns":
        host = dns_query(probes, check)[0]
        return "", {"host": host, "name": host}
    if kind == "tls":
        host, port, name = tls_address(probes, check)
        return "", {"host": host, "port": str(port), "name": name}
    if kind == "tcp":
        host, port = tcp_address(probes, check)
        return "", {"host": host, "port": str(port)}
    return "", {"file": str(file_path(probes, check))}


# --- observing --------------------------------------------------------------------------------------------


def observe(probes: ProbeSession, check: DeclaredCheck) -> DeclaredObservation:
    """The check's observation: probed once per run (identical exchanges shared through the caches)."""
    kind = check.kind
    if kind == "http":
        return _http(probes, check)
    if kind == "sql":
        return _sql(probes, check)
    if kind == "redis":
        url, username, password, timeout = probes.redis_settings(cache_of(probes, check))
        args = check.redis_args()
        return probes.cache.get(("declared.redis", url, username, password, timeout, args),
                                lambda: redis_command(url, username, password, timeout, args))
    if kind == "dns":
        return _dns(probes, check)
    if kind == "tls":
        return _tls(probes, check)
    if kind == "tcp":
        host, port = tcp_address(probes, check)
        timeout = check.tcp.timeout_s if check.tcp and check.tcp.timeout_s else probes.env.model.timeouts.connect_s
        seen = probes.read(f"TCP {host}:{port}", probes.cache.get(
            ("tcp", host, port, timeout), lambda: probes.retried(lambda: tcp.connect(host, port, timeout, probes.names),
                                                                 check)))
        facts: dict[str, object] = {"address": seen.address}
        if seen.error is not None:
            facts["failure_kind"] = seen.error.kind
        return DeclaredObservation("tcp", {"connected": seen.connected, "time": {"connect": seen.elapsed_s}},
                                   f"TCP {seen.summary()}", facts=facts)
    return _file(probes, check)


def _http(probes: ProbeSession, check: DeclaredCheck) -> DeclaredObservation:
    request = http_request(probes, check)
    seen = probes.send(request, target=check)
    if seen.error is not None:
        return DeclaredObservation("http", summary=seen.summary(), error=seen.error)
    values: dict[str, object] = {"status": seen.status, "headers": dict(seen.headers), "body": seen.text()}
    refused = ""
    try:
        values["json"] = seen.json()
    except JsonRefused as exc:
        refused = f"; not read as JSON: {exc}"  # `json...` is missing, and the summary says why
    except ValueError:
        pass  # not JSON: `json...` is missing
    timings = seen.timings
    if timings is not None:
        marks = {"dns": timings.dns, "connect": timings.connect, "tls": timings.tls,
                 "first_byte": timings.first_byte, "total": timings.total}
        values["time"] = {name: ms / 1000 for name, ms in marks.items() if ms is not None}
    facts: dict[str, object] = {"url": request.url, "status": seen.status}
    if refused:
        facts["json_refused"] = refused.removeprefix("; not read as JSON: ")
    if timings is not None:
        facts.update(timings.as_dict())
    summary = f"{request.method} {request.url}: {seen.summary()}{refused}"
    return DeclaredObservation("http", values, summary, facts=facts)


def plain(value: Any) -> Any:
    """A database value as the conditions compare it: numbers as numbers, intervals in seconds, times
    and identifiers as text."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, float, str)):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return str(value)


def _rows(columns: tuple[str, ...], rows: tuple[tuple[Any, ...], ...] | list[tuple[Any, ...]],
          truncated: bool, elapsed_s: float, label: str) -> DeclaredObservation:
    mappings = [{name: plain(v) for name, v in zip(columns, row, strict=False)} for row in rows]
    value = plain(rows[0][0]) if rows and rows[0] else None
    more = " (more rows than max_rows: only those were read)" if truncated else ""
    shown = json.dumps(value, default=str) if rows else "no row"
    summary = f"{label}: {len(rows)} row(s){more} in {elapsed_s * 1000:.0f} ms; first value {shown}"
    facts: dict[str, object] = {"columns": list(columns), "rows": len(rows), "truncated": truncated}
    return DeclaredObservation("sql", {"value": value, "rows": mappings, "count": len(rows)}, summary, facts=facts)


def _sql(probes: ProbeSession, check: DeclaredCheck) -> DeclaredObservation:
    assert check.sql is not None
    database = database_of(probes, check)
    query, limit = check.sql.query, check.sql.max_rows
    if isinstance(database, PostgresDatabase):
        reader = probes.postgres(database)
        result = reader.query(bounded_sql(query, limit), label=f"declared {check.name}", max_rows=limit + 1,
                              user_sql=(query,))
        error = result.error
        if error is None and result.rows and result.rows[0][0]:
            error = ProbeError("other", "postgres", reader.address,
                               f"the first {limit + 1} rows are over {MAX_RESULT_BYTES} bytes as text: "
                               "none was read (select fewer or smaller columns)")
        if error is not None:
            return DeclaredObservation("sql", summary=f"{error.kind_name}: {error.detail}", error=error)
        rows = tuple(row[2:] for row in result.rows if row[1] is not None)
        return _rows(result.columns[2:], rows[:limit], len(rows) > limit, result.elapsed_s,
                     f"PostgreSQL {reader.address}")
    env = probes.env
    path = env.resolve_path(database.path, env.where(database, "path"))
    timeout = database.timeout_s or env.model.timeouts.database_s
    return probes.cache.get(("declared.sqlite", path, timeout, query, limit),
                            lambda: sqlite_rows(path, timeout, query, limit))


# the most a declared PostgreSQL statement's rows may weigh (as text) to be read at all
MAX_RESULT_BYTES = 16 * 1024 * 1024


def bounded_sql(query: str, limit: int) -> str:
    """`query` as the server runs it: at most `limit` + 1 rows are computed, and they reach this process
    only if they weigh at most MAX_RESULT_BYTES as text. Columns: (over the bound, row number or NULL
    when there is no row, then the query's own)."""
    statement = query.strip().rstrip(";").rstrip()
    return (
        "WITH hs_rows AS MATERIALIZED (SELECT row_number() OVER () AS hs_n, hs_q.* FROM "
        f"(SELECT * FROM (\n{statement}\n) AS hs_u LIMIT {limit + 1}) AS hs_q), "
        "hs_size AS (SELECT coalesce(sum(octet_length(hs_r::text)), 0) AS bytes FROM hs_rows AS hs_r) "
        f"SELECT hs_size.bytes > {MAX_RESULT_BYTES}, hs_rows.* FROM hs_size "
        f"LEFT JOIN hs_rows ON hs_size.bytes <= {MAX_RESULT_BYTES} ORDER BY hs_rows.hs_n"
    )


def sqlite_rows(path: Path, timeout_s: float, query: str, limit: int) -> DeclaredObservation:
    started = time.perf_counter()

    def read(conn: sqlite3.Connection) -> tuple[tuple[str, ...], list[tuple[Any, ...]], bool]:
        cursor = conn.execute(query)
        columns = tuple(d[0] for d in cursor.description or ())
        rows = cursor.fetchmany(limit + 1)
        return columns, rows[:limit], len(rows) > limit

    result = sqlite_probe.read_only(path, timeout_s, read)
    if isinstance(result, ProbeError):
        return DeclaredObservation("sql", summary=f"{result.kind_name}: {result.detail}", error=result)
    columns, rows, truncated = result
    return _rows(columns, rows, truncated, time.perf_counter() - started, f"SQLite {path}")


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_text(v) for v in value]
    return value


def redis_command(
    url: str, username: str | None, password: str | None, timeout_s: float, args: tuple[str, ...]
) -> DeclaredObservation:
    """One command of the allow-list (healthsuite.model.declared.REDIS_COMMANDS), bounded like PING."""
    address = redis_address(url)
    started = time.perf_counter()
    label = " ".join(args[:1])
    redis_ready()
    with deadline.exchange(timeout_s, f"redis {label} {address}"):
        conn = redis_client(url, username, password, timeout_s)
        try:
            if args[0] == "INFO":
                answer: Any = conn.info(*args[1:])
            else:
                answer = _text(conn.execute_command(*args))  # type: ignore[no-untyped-call]
        except Exception as exc:  # noqa: BLE001 - every failure becomes an observation
            error = redis_failure(exc, address)
            if "noperm" in error.detail.lower():
                error = ProbeError("permission_denied", "redis", address, error.detail)
            return DeclaredObservation("redis", summary=f"{error.kind_name}: {error.detail}", error=error)
        finally:
            conn.close()
    elapsed = time.perf_counter() - started
    facts: dict[str, object] = {"address": address, "command": label}
    if args[0] == "INFO":
        fields = {str(k): _text(v) for k, v in answer.items()}
        summary = f"redis {address} INFO: {len(fields)} fields in {elapsed * 1000:.0f} ms"
        return DeclaredObservation("redis", {"info": fields, "value": fields}, summary, facts=facts)
    shown = json.dumps(answer, default=str)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return DeclaredObservation("redis", {"value": answer},
                               f"redis {address} {' '.join(args)}: {shown} in {elapsed * 1000:.0f} ms", facts=facts)


def _dns(probes: ProbeSession, check: DeclaredCheck) -> DeclaredObservation:
    assert check.dns is not None
    host, nameservers, timeout = dns_query(probes, check)
    rdtype = check.dns.type
    # A and AAAA: the run's one address lookup of the name, the one NET1 and every connection see
    seen = probes.cache.get(("dns", host, (rdtype,), nameservers, timeout),
                            lambda: probes.lookup(host, (rdtype,), timeout))
    answer = seen.answers.get(rdtype)
    where = f"{host} {rdtype} via {seen.resolver}"
    if answer is None:
        return DeclaredObservation("dns", summary=f"{where}: no query made")
    if answer.failure_kind:
        error = ProbeError(answer.failure_kind, "dns", seen.resolver, answer.detail or answer.outcome_name)
        return DeclaredObservation("dns", summary=f"{where}: {answer.outcome_name}", error=error)
    values: dict[str, object] = {
        "answers": list(answer.values), "count": len(answer.values), "rcode": answer.rcode or answer.outcome_name,
        "time": answer.elapsed_s,
    }
    if answer.ttl is not None:
        values["ttl"] = answer.ttl
    detail = f" ({answer.detail})" if answer.detail else ""
    summary = f"{where}: {answer.summary()}{detail} in {answer.elapsed_s * 1000:.0f} ms"
    return DeclaredObservation("dns", values, summary, facts=seen.facts())


def _tls(probes: ProbeSession, check: DeclaredCheck) -> DeclaredObservation:
    host, port, name = tls_address(probes, check)
    timeout = (check.tls.timeout_s if check.tls else None) or probes.env.model.timeouts.http_s
    ca_bundle = probes.ca_bundle()
    seen = probes.cache.get(("tls", host, port, name, ca_bundle, timeout), lambda: probes.retried(
        lambda: tls.handshake(host, port, name, ca_bundle, timeout, lookup=probes.names), check))
    probes.read(f"TLS {host}:{port} ({name})", seen)
    where = f"TLS {format_address(host, port)} (SNI {name})"
    if seen.error is not None:
        return DeclaredObservation("tls", summary=f"{where}: {seen.error.kind_name}: {seen.error.detail}",
                                   error=seen.error)
    if not seen.chain:
        error = ProbeError("tls", "tls", seen.address, "no certificate was presented")
        return DeclaredObservation("tls", summary=f"{where}: no certificate", error=error)
    leaf = seen.chain[0]
    days = round(min(c.days_left(seen.checked_at) for c in seen.chain), 2)
    values: dict[str, object] = {
        "days_left": days, "issuer": leaf.issuer, "subject": leaf.subject, "names": list(leaf.sans),
        "protocol": seen.protocol, "verified": seen.verified,
    }
    problem = f"; {seen.verify_error}" if seen.verify_error else ""
    summary = f"{where}: {seen.protocol}, {leaf.describe()}, {days:g} days left (earliest of the chain){problem}"
    return DeclaredObservation("tls", values, summary, facts={"address": seen.address, "days_left": days})


def file_path(probes: ProbeSession, check: DeclaredCheck) -> Path:
    env = probes.env
    probe = check.file
    assert probe is not None
    if probe.log is not None:
        source = next(log for log in env.model.logs if log.name == probe.log)
        return env.resolve_path(source.path, env.where(source, "path"))
    assert probe.path is not None
    return env.resolve_path(probe.path, env.where(check, "file.path"))


def _file(probes: ProbeSession, check: DeclaredCheck) -> DeclaredObservation:
    probe = check.file
    assert probe is not None
    path = file_path(probes, check)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return DeclaredObservation("file", {"exists": False}, f"{path}: no such file", facts={"path": str(path)})
    except OSError as exc:
        error = ProbeError("permission_denied" if isinstance(exc, PermissionError) else "other", "file", str(path),
                           exc.strerror or str(exc))
        return DeclaredObservation("file", summary=f"{path}: {error.detail}", error=error)
    age = max(time.time() - stat.st_mtime, 0.0)
    values: dict[str, object] = {"exists": True, "age": round(age, 3), "size": stat.st_size}
    summary = f"{path}: {stat.st_size} bytes, modified {age:.0f} s ago"
    facts: dict[str, object] = {"path": str(path), "size": stat.st_size, "age_s": round(age, 1)}
    try:
        pattern = compile_pattern(probe.pattern) if probe.pattern else None
    except (re.error, OverflowError, PatternRefused) as exc:  # refused at load too (model.declared)
        error = ProbeError("other", "file", str(path), f"the pattern is refused: {exc}")
        return DeclaredObservation("file", summary=f"{path}: {error.detail}", error=error)
    if probe.log is not None:
        source = next(log for log in probes.env.model.logs if log.name == probe.log)
        if probe.window_min is not None:
            source = source.model_copy(update={"window_min": probe.window_min})
        source = source.model_copy(update={"max_bytes": min(source.max_bytes, probe.max_bytes)})
        window = logs.read_window(path, source, pattern=pattern)
        if window.error is not None:
            return DeclaredObservation("file", summary=f"{path}: {window.error.detail}", error=window.error)
        values.update(lines=window.tally.lines, matches=window.tally.matched)
        summary += f"; {window.tally.matched} of {window.tally.lines} lines of the last {source.window_min:g} min match"
        facts.update(window.facts(), matched=window.tally.matched, examples=window.tally.matched_examples)
    elif pattern is not None:
        try:
            lines, matched, examples = tail_matches(path, pattern, probe.max_bytes)
        except RegexTooSlow as slow:  # never a pass on lines that were not searched
            error = ProbeError("other", "file", str(path), str(slow))
            return DeclaredObservation("file", summary=f"{path}: {error.detail}", error=error)
        values.update(lines=lines, matches=matched)
        summary += f"; {matched} of the last {lines} lines match /{pattern.pattern}/"
        facts.update(matched=matched, examples=examples)
    return DeclaredObservation("file", values, summary, facts=facts)


def tail_matches(path: Path, pattern: re.Pattern[str], max_bytes: int) -> tuple[int, int, list[str]]:
    """(lines read, lines matching, first examples) of the last `max_bytes` of a file (never the whole
    of a large one); a line cut by the start of the read is left out."""
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        start = max(size - max_bytes, 0)
        handle.seek(start)
        data = handle.read(max_bytes)
    lines = data.split(b"\n")
    if start > 0:
        lines = lines[1:]
    read = matched = 0
    examples: list[str] = []
    budget = Budget()
    for raw in lines:
        if not raw.strip():
            continue
        read += 1
        line = raw.decode("utf-8", "replace").rstrip("\r")
        if bounded_search(pattern, line, budget):
            matched += 1
            if len(examples) < logs.EXAMPLES:
                examples.append(line[: logs.EXCERPT])
    return read, matched, examples
