"""Checks a team declares in its environment file (`declared_checks:`), built from the probes the suite has.

Each declared check names its diagnosis (a shipped one, or one of the team's own from `diagnoses_file`),
has exactly one probe block (`http`, `sql`, `redis`, `dns`, `tls`, `tcp` or `file`) and what must hold of
what that probe observed, in the condition language (healthsuite.model.conditions):

    declared_checks:
      - name: queue-stuck-jobs
        diagnosis: QUEUE-1
        http: {path: /queue/stats}
        expect:
          - status == 200
          - json.stuck == 0 and json.oldest_pending_s < 5m

The model reads the structure; `problems()` judges the rest once the file is read (one probe block, every
condition parsed against the names its probe observes, the SQL read-only, the Redis command on the
allow-list, the databases, caches, logs and base URLs it names declared), each problem with the key path
of the entry that is wrong, so the message names its line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from . import regexes
from .netaddr import parse_address
from .sqlsafety import hot_query_problem
from .targets import Target
from .types import Model, Name, Seconds, SecretText, Text

if TYPE_CHECKING:
    from .conditions import Condition

PROBE_KINDS = ("http", "sql", "redis", "dns", "tls", "tcp", "file")
# the names each probe kind's conditions read, as the check hands them over (base units: seconds, bytes)
ROOTS: dict[str, tuple[str, ...]] = {
    "http": ("status", "headers", "json", "body", "time"),
    "sql": ("value", "rows", "count"),
    "redis": ("value",),
    "dns": ("answers", "count", "rcode", "ttl", "time"),
    "tls": ("days_left", "issuer", "subject", "names", "protocol", "verified"),
    "tcp": ("connected", "time"),
    "file": ("exists", "age", "size", "matches", "lines"),
}
INFO_ROOTS = ("info",)  # redis INFO: its fields by name
# names whose values are plain numbers (days, counts): a unit beside them is a mistake, not a conversion
UNITLESS = {"days_left": "a number of days (write `days_left > 14`, not 14d)",
            "count": "a number of rows or answers", "matches": "a number of lines", "lines": "a number of lines",
            "status": "an HTTP status code"}
_UNIT_BESIDE = re.compile(r"\b(?P<name>days_left|count|matches|lines|status)\s*(?:==|!=|<=|>=|<|>)\s*"
                          r"-?\d+(?:\.\d+)?\s*(?P<unit>ms|s|m|h|d|B|KB|MB|GB|KiB|MiB|GiB|%)(?![A-Za-z0-9_])")

# Redis: the read commands a declared check may send, with how many arguments each takes (least, most);
# each answers in one bounded round trip and changes nothing
REDIS_COMMANDS: dict[str, tuple[int, int]] = {
    "PING": (0, 1), "GET": (1, 1), "EXISTS": (1, 16), "TTL": (1, 1), "PTTL": (1, 1), "TYPE": (1, 1),
    "STRLEN": (1, 1), "LLEN": (1, 1), "SCARD": (1, 1), "HLEN": (1, 1), "ZCARD": (1, 1), "XLEN": (1, 1),
    "HGET": (2, 2), "DBSIZE": (0, 0), "INFO": (0, 1),
}
_WHY_NOT = {
    "KEYS": "walks the whole keyspace and blocks the server while it does",
    "SCAN": "is a cursor of many round trips, not one bounded answer",
    "FLUSHALL": "deletes every key", "FLUSHDB": "deletes every key of the database",
    "DEL": "deletes keys", "UNLINK": "deletes keys", "SET": "writes", "EXPIRE": "changes a key's TTL",
    "CONFIG": "reads or changes the server's configuration (often renamed or forbidden on managed Redis)",
    "DEBUG": "can crash or stall the server", "SHUTDOWN": "stops the server", "MONITOR": "never ends",
    "SUBSCRIBE": "never ends", "EVAL": "runs a script, which may write", "CLIENT": "acts on other clients",
}
DNS_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "NS")
_SECRET_HEADER = re.compile(r"authorization|token|secret|password|api[-_]?key|cookie|session", re.IGNORECASE)


class HttpProbe(Model):
    """One HTTP request: `path` under one of `base_urls`, or an absolute `url`."""

    path: str | None = Field(None, description="Path under the base URL, e.g. /queue/stats.")
    url: Text | None = Field(None, description="Absolute URL (instead of base + path).")
    base: Name | None = Field(None, description="Key of base_urls (default: the only one, or `app`).")
    method: Literal["GET", "HEAD", "POST"] = Field(
        "GET", description="POST sends `body` and makes the check mutating (refused unless allow_mutating)."
    )
    headers: dict[str, SecretText] = Field({}, description="Extra request headers; values are treated as secrets.")
    body: str | dict[str, Any] | list[Any] | None = Field(
        None, description="POST only: the body, a string as written or a mapping/list sent as JSON."
    )
    follow_redirects: bool = Field(False, description="Follow redirects (default: judge the first answer).")
    timeout_s: Seconds | None = Field(None, description="Overrides timeouts.http_s.")


class SqlProbe(Model):
    """One read-only query on a declared database (PostgreSQL or SQLite)."""

    database: Name = Field(description="The name of an entry under `databases`.")
    query: str = Field(description="One SELECT (or VALUES, WITH ... SELECT), parsed when the file loads.")
    max_rows: int = Field(100, ge=1, le=1000, description="Rows read at most (`rows`, `count`).")


class RedisProbe(Model):
    """One read command on a declared Redis."""

    cache: Name | None = Field(None, description="The name of an entry under `caches` (default: the only one).")
    command: str | list[str] = Field(
        description=f"One read command and its arguments, e.g. `LLEN queue:jobs`: {', '.join(REDIS_COMMANDS)}."
    )


class DnsProbe(Model):
    """One DNS query through the environment's resolver (dns.nameservers)."""

    name: Text = Field(description="The name to resolve, e.g. queue.example.com.")
    type: Literal["A", "AAAA", "CNAME", "MX", "TXT", "NS"] = Field("A", description="The record type.")
    timeout_s: Seconds | None = Field(None, description="Overrides timeouts.dns_s.")


class TlsProbe(Model):
    """One TLS handshake (the certificate chain as presented, verified apart)."""

    url: Text | None = Field(None, description="https://host[:port] (instead of base or host).")
    base: Name | None = Field(None, description="Key of base_urls whose host is checked.")
    host: Text | None = Field(None, description="A host name or address (with `port`).")
    port: int = Field(443, ge=1, le=65535, description="With `host`.")
    server_name: Text | None = Field(None, description="Name sent as SNI and verified (default: the host).")
    timeout_s: Seconds | None = Field(None, description="Overrides timeouts.http_s.")


class TcpProbe(Model):
    """One TCP connect."""

    address: Text = Field(description="host:port, e.g. 127.0.0.1:5672.")
    timeout_s: Seconds | None = Field(None, description="Overrides timeouts.connect_s.")


class FileProbe(Model):
    """A file's existence, age and size, and lines matching a pattern (in a recent window, read from the end)."""

    path: Text | None = Field(None, description="The file; relative paths are relative to the environment file.")
    log: Name | None = Field(
        None, description="Instead of path: an entry under `logs`, whose format dates the lines for `window_min`."
    )
    pattern: str | None = Field(None, description="A regular expression: `matches` counts the lines it is found in.")
    window_min: float | None = Field(
        None, gt=0, le=7 * 24 * 60, description="With `log`: only lines of the last N minutes (default: the log's)."
    )
    max_bytes: int = Field(
        8 * 1024 * 1024, ge=4096, le=4 * 1024 * 1024 * 1024, description="Read at most this much from the end."
    )


class DeclaredCheck(Target):
    """A check declared in the environment file: a diagnosis, one probe, and what must hold."""

    diagnosis: str = Field(description="A diagnosis ID: one of the team's own (diagnoses_file) or a shipped one.")
    description: str | None = Field(None, description="What the check looks at, for people.")
    http: HttpProbe | None = None
    sql: SqlProbe | None = None
    redis: RedisProbe | None = None
    dns: DnsProbe | None = None
    tls: TlsProbe | None = None
    tcp: TcpProbe | None = None
    file: FileProbe | None = None
    expect: str | list[str] = Field(
        description="A condition, or a list of conditions that must all hold (docs/CONDITIONS.md), e.g. "
        "`status == 200 and json.stuck == 0`."
    )

    kind_label: ClassVar[str] = "declared check"
    collection: ClassVar[str] = "declared_checks"

    @property
    def kinds(self) -> list[str]:
        return [kind for kind in PROBE_KINDS if getattr(self, kind) is not None]

    @property
    def kind(self) -> str:
        """The probe kind (exactly one, once `problems()` found none)."""
        return self.kinds[0]

    @property
    def probe(self) -> Any:
        return getattr(self, self.kind)

    @property
    def expressions(self) -> tuple[str, ...]:
        return (self.expect,) if isinstance(self.expect, str) else tuple(self.expect)

    @property
    def mutating(self) -> bool:
        return self.http is not None and self.http.method == "POST"

    def redis_args(self) -> tuple[str, ...]:
        """The Redis command and its arguments, the command upper-case."""
        assert self.redis is not None
        words = self.redis.command.split() if isinstance(self.redis.command, str) else list(self.redis.command)
        return (words[0].upper(), *words[1:]) if words else ()

    def roots(self) -> tuple[str, ...]:
        if self.redis is not None and self.redis_args()[:1] == ("INFO",):
            return INFO_ROOTS
        return ROOTS[self.kind]

    def conditions(self) -> tuple[Condition, ...]:
        """The parsed conditions (parsed once per process; `problems()` reported any that do not parse)."""
        return parsed(self.expressions, self.roots())


@lru_cache(maxsize=4096)
def parsed(expressions: tuple[str, ...], roots: tuple[str, ...]) -> tuple[Condition, ...]:
    from .conditions import parse_condition  # noqa: PLC0415 - only a file that declares checks loads it

    return tuple(parse_condition(text, roots) for text in expressions)


Problem = tuple[tuple[str | int, ...], str, str]  # (key path in the file, problem, fix)


def _expect_at(check: DeclaredCheck, index: int) -> tuple[str | int, ...]:
    return ("expect",) if isinstance(check.expect, str) else ("expect", index)


def _condition_problems(check: DeclaredCheck) -> Iterator[Problem]:
    from .conditions import ConditionError, parse_condition  # noqa: PLC0415 - only a file that declares checks

    roots = check.roots()
    if not check.expressions:
        yield ("expect",), "no condition", "write at least one, e.g. `status == 200`"
    for index, text in enumerate(check.expressions):
        at = _expect_at(check, index)
        try:
            parse_condition(text, roots)
        except ConditionError as exc:
            fix = exc.fix
            if exc.part == "info" and check.redis is not None:
                fix = "`info` is what INFO answers: send command INFO, or judge `value` (the command's answer)"
            yield at, f"`{text}`: {exc}", fix
            continue
        unit = _UNIT_BESIDE.search(text)
        if unit is not None and unit.group("name") in roots:
            name = unit.group("name")
            yield at, (
                f"`{text}`: column {unit.start('unit') + 1} (`{unit.group('unit')}`): {name} is {UNITLESS[name]}, "
                "so a unit beside it would be converted and compared wrongly"
            ), f"write the number alone, e.g. `{name} {text[unit.end('name'):unit.start('unit')].strip()}`"


def _redis_problems(check: DeclaredCheck) -> Iterator[Problem]:
    args = check.redis_args()
    allowed = ", ".join(REDIS_COMMANDS)
    if not args:
        yield ("redis", "command"), "no command", f"write one read command, e.g. `LLEN queue:jobs` ({allowed})"
        return
    name, rest = args[0], args[1:]
    if name not in REDIS_COMMANDS:
        why = _WHY_NOT.get(name, "is not one of the read commands a check may send")
        yield ("redis", "command"), f"{name} {why}", (
            f"use one of {allowed}: each answers in one bounded round trip and changes nothing"
        )
        return
    least, most = REDIS_COMMANDS[name]
    if not least <= len(rest) <= most:
        wanted = f"{least}" if least == most else f"{least} to {most}"
        example = f"{name} queue:jobs" if least else name
        yield ("redis", "command"), f"{name} takes {wanted} argument(s), got {len(rest)}", f"e.g. `{example}`"


def _probe_problems(check: DeclaredCheck, env: Any) -> Iterator[Problem]:
    kind = check.kind
    if kind == "http":
        http = check.http
        assert http is not None
        if (http.path is None) == (http.url is None):
            yield ("http",), "give either `path` (under a base URL) or `url`, not both or neither", "e.g. path: /health"
        elif http.path is not None and not http.path.startswith("/"):
            yield ("http", "path"), f"path {http.path!r} must start with '/'", f"write /{http.path}"
        elif http.url is not None and http.url.is_literal and not http.url.raw.startswith(("http://", "https://")):
            yield ("http", "url"), f"url {http.url.raw!r} is not an http(s) URL", "write https://host/path"
        if http.path is not None:
            base = http.base or (next(iter(env.base_urls)) if len(env.base_urls) == 1 else "app")
            if base not in env.base_urls:
                known = ", ".join(env.base_urls) or "none declared"
                yield ("http", "base" if http.base else "path"), (
                    f"uses base {base!r}, which base_urls does not declare (known: {known})"
                ), "add it under base_urls or set `base:` to a declared one"
        if http.body is not None and http.method != "POST":
            yield ("http", "body"), f"a body is sent with POST only (method is {http.method})", (
                "remove `body`, or write method: POST (a POST check is mutating)"
            )
        for header, value in http.headers.items():
            if _SECRET_HEADER.search(header) and value.is_literal and value.raw:
                yield ("http", "headers", header), f"the {header} header's value is written literally", (
                    "reference it instead: ${VARIABLE_NAME}, and set that variable where the checks run"
                )
    elif kind == "sql":
        sql = check.sql
        assert sql is not None
        names = [d.name for d in env.databases]
        if sql.database not in names:
            yield ("sql", "database"), f"names database {sql.database!r}, which `databases` does not declare", (
                f"use one of: {', '.join(names)}" if names else "declare it under `databases`"
            )
        problem = hot_query_problem(sql.query)
        if problem is not None:
            yield ("sql", "query"), f"the query {problem}", (
                "write one read-only SELECT (no locking clause, no INTO, no data-modifying WITH, no function with "
                "effects outside the transaction); checks only read"
            )
    elif kind == "redis":
        redis = check.redis
        assert redis is not None
        names = [c.name for c in env.caches]
        if redis.cache is None and len(names) != 1:
            yield ("redis",), f"names no cache, while `caches` declares {len(names)}", (
                f"add `cache:` with one of: {', '.join(names)}" if names else "declare the Redis under `caches`"
            )
        elif redis.cache is not None and redis.cache not in names:
            yield ("redis", "cache"), f"names cache {redis.cache!r}, which `caches` does not declare", (
                f"use one of: {', '.join(names)}" if names else "declare it under `caches`"
            )
        yield from _redis_problems(check)
    elif kind == "tls":
        tls = check.tls
        assert tls is not None
        given = [key for key in ("url", "base", "host") if getattr(tls, key) is not None]
        if len(given) != 1:
            yield ("tls",), f"give one of `url`, `base` or `host`, found {len(given)} ({', '.join(given) or 'none'})", (
                "e.g. base: app, or host: queue.internal with port: 443"
            )
        elif tls.base is not None and tls.base not in env.base_urls:
            yield ("tls", "base"), f"uses base {tls.base!r}, which base_urls does not declare", (
                "add it under base_urls or write `url: https://host`"
            )
        elif tls.url is not None and tls.url.is_literal and not tls.url.raw.startswith("https://"):
            yield ("tls", "url"), f"url {tls.url.raw!r} is not an https URL", "write https://host[:port]"
    elif kind == "tcp":
        tcp = check.tcp
        assert tcp is not None
        if tcp.address.is_literal:
            try:
                parse_address(tcp.address.raw)
            except ValueError as exc:
                yield ("tcp", "address"), str(exc), "write host:port, e.g. 127.0.0.1:5672 or [2001:db8::1]:5672"
    elif kind == "file":
        file = check.file
        assert file is not None
        if (file.path is None) == (file.log is None):
            yield ("file",), "give either `path` or `log` (an entry under `logs`), not both or neither", (
                "e.g. path: /var/lib/queue/heartbeat, or log: worker with pattern: 'job .* stuck'"
            )
        if file.log is not None and file.log not in [log.name for log in env.logs]:
            logs = ", ".join(log.name for log in env.logs)
            yield ("file", "log"), f"names log {file.log!r}, which `logs` does not declare", (
                f"use one of: {logs}" if logs else "declare it under `logs` (its path and format)"
            )
        if file.window_min is not None and file.log is None:
            yield ("file", "window_min"), "a window needs dated lines: it is read through a `logs` entry's format", (
                "write `log:` (an entry under `logs`) instead of `path:`, or remove window_min"
            )
        if file.pattern is not None:
            refused = regexes.problem_of(file.pattern)  # compiled now, its counts and size bounded
            if refused is not None:
                problem = f"`pattern` is {refused[0]}" if refused[0].startswith("not ") else f"`pattern`: {refused[0]}"
                yield ("file", "pattern"), problem, refused[1]


def problems(checks: Sequence[DeclaredCheck], env: Any, known: Mapping[str, object]) -> Iterator[Problem]:
    """Every problem of the declared checks of `env` (an Environment), by key path; `known`: the diagnoses
    of the catalogue merged with the team's own (healthsuite.environment.extension)."""
    from difflib import get_close_matches  # noqa: PLC0415 - only a file that declares checks pays for it

    for index, check in enumerate(checks):
        here: tuple[str | int, ...] = ("declared_checks", index)
        if check.diagnosis not in known:
            close = get_close_matches(check.diagnosis.upper(), list(known), n=1)
            own = sorted(k for k in known if "-" in k)
            hint = f"did you mean {close[0]}? " if close else ""
            listed = f"own diagnoses: {', '.join(own)}" if own else "no diagnoses_file declares own diagnoses"
            yield (*here, "diagnosis"), f"unknown diagnosis {check.diagnosis!r}", (
                f"{hint}use an ID of your diagnoses_file or of docs/DIAGNOSES.md ({listed})"
            )
        kinds = check.kinds
        if len(kinds) != 1:
            found = f"{len(kinds)} ({', '.join(kinds)})" if kinds else "none"
            yield here, f"a declared check has exactly one probe block, found {found}", (
                f"keep one of {', '.join(PROBE_KINDS)}; declare another check for the other probe"
            )
            continue
        located = list(_probe_problems(check, env))
        yield from (((*here, *loc), problem, fix) for loc, problem, fix in located)
        if check.redis is not None and any(loc[:2] == ("redis", "command") for loc, _, _ in located):
            continue  # the names depend on the command
        yield from (((*here, *loc), problem, fix) for loc, problem, fix in _condition_problems(check))
