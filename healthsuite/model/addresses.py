"""What a check will dereference, checked at load: URLs (scheme, host, port), PostgreSQL DSNs (read
by libpq's own parser through psycopg), Redis URLs (read by redis-py's own parser), and secrets
written literally where a secret hides (a DSN's `password=`, a URL's query, a header, a body).

The common, unambiguous forms of a DSN (`postgresql://user:pass@host:5432/db?sslmode=require`,
`host=h port=5432 dbname=db user=u`) and of a Redis URL (`redis://:pass@host:6379/0`) are read here
without the drivers, to the same parts (tests/environment/test_quick_addresses.py holds them to the
drivers' parsers): importing psycopg and redis-py took about 0.15 s of CPU on the main thread before the
first exchange, while the probes import them on their own threads anyway. Anything else, and every
problem, is read by the drivers' parsers, so their messages are the ones a person sees.

A value may reference variables (`${PGHOST}`); those parts are read twice with two different
numeric stand-ins, so a part that differs between the two reads came from a variable and is
judged only when the variable is resolved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from healthsuite.model.templates import Template, is_one_reference

Problem = tuple[str, str]  # (problem, fix)

# query parameters, header names and body keys whose value is a credential
_SECRET_NAME = re.compile(
    r"(^|[-_.])(pass(word|wd)?|pwd|secret|token|api[-_]?key|apikey|access[-_]?key|auth|authorization|"
    r"credentials?|sig(nature)?|session|cookie|private[-_]?key|client[-_]?secret)($|[-_.])",
    re.IGNORECASE,
)
_SECRET_SCHEME = re.compile(r"^\s*(bearer|basic|token|digest|apikey)\s+\S", re.IGNORECASE)
_STAND_INS = ("10001", "10002")
_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def _reads(template: Template) -> tuple[str, str]:
    """The text read with each of the two stand-ins for every variable."""
    return tuple(  # type: ignore[return-value]
        template.resolve({name: stand_in for name in template.variables}) for stand_in in _STAND_INS
    )


def _from_variable(first: object, second: object) -> bool:
    return first != second


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def http_url_problem(
    template: Template,
    *,
    https_only: bool = False,
    example: str = "https://www.example.com",
    judge_secrets: bool = True,
) -> Problem | None:
    """Why a URL cannot be requested, or None. A URL that is one variable is judged when resolved."""
    if is_one_reference(template.raw):
        return None
    first, second = _reads(template)
    schemes = ("https",) if https_only else ("http", "https")
    try:
        parts, other = urlsplit(first), urlsplit(second)
        port = parts.port
    except ValueError as exc:
        problem = str(exc)
        if "Port" in problem or "port" in problem:
            return (
                f"{template.raw!r} has a port that is not a number from 1 to 65535",
                "write the port as a number, e.g. https://host:8443/, or leave it out",
            )
        return f"{template.raw!r} is not a URL ({problem})", f"write e.g. {example}"
    if not _from_variable(parts.scheme, other.scheme) and parts.scheme not in schemes:
        wanted = " or ".join(f"{s}://" for s in schemes)
        return f"{template.raw!r} is not an {'/'.join(schemes)} URL (it needs {wanted})", f"write e.g. {example}"
    if not parts.hostname:
        return f"{template.raw!r} has no host name", f"write e.g. {example}"
    if port == 0:
        return f"{template.raw!r} has port 0", f"write e.g. {example}:8443, or leave the port out"
    if any(c.isspace() for c in template.raw):
        return f"{template.raw!r} contains a space", "percent-encode it (%20) or remove it"
    if not judge_secrets:
        return None
    if parts.password and not _from_variable(parts.password, other.password):
        return (
            "the URL carries a literal password",
            "write the password as a variable, e.g. https://user:${API_PASSWORD}@host/",
        )
    return _query_secret(parts.query, other.query)


def _query_secret(query: str, other_query: str) -> Problem | None:
    theirs = dict(parse_qsl(other_query, keep_blank_values=True))
    for key, value in parse_qsl(query, keep_blank_values=True):
        if value and is_secret_name(key) and theirs.get(key) == value:
            return (
                f"the query string carries a literal {key}=...",
                f"reference it instead: ?{key}=${{{key.upper().replace('-', '_')}}}, and set that variable "
                "where the checks run",
            )
    return None


# the parts of a DSN read without libpq: plain characters only (no percent-escapes, quotes, backslashes,
# lists of hosts or IPv6 brackets), and keywords every libpq since PostgreSQL 10 knows
_PLAIN = r"[A-Za-z0-9._~-]+"
_PG_KEYWORDS = frozenset({
    "host", "port", "dbname", "user", "password", "sslmode", "application_name", "connect_timeout",
    "target_session_attrs",
})
_PG_URI = re.compile(
    rf"postgres(?:ql)?://(?:(?P<user>{_PLAIN})(?::(?P<password>{_PLAIN}))?@)?(?P<host>[A-Za-z0-9.-]+)"
    rf"(?::(?P<port>[0-9]{{1,5}}))?(?:/(?P<dbname>{_PLAIN}))?(?:\?(?P<query>[a-z_]+={_PLAIN}(?:&[a-z_]+={_PLAIN})*))?"
)
_PG_KEYWORD_VALUE = re.compile(rf"[ ]*[a-z_]+={_PLAIN}(?:[ ]+[a-z_]+={_PLAIN})*[ ]*")
_REDIS_URL = re.compile(
    rf"rediss?://(?:(?P<username>{_PLAIN})?(?::(?P<password>{_PLAIN}))?@)?(?P<host>[A-Za-z0-9.-]+)"
    r"(?::(?P<port>[0-9]{1,5}))?(?:/(?P<db>[0-9]{1,5}))?"
)


def quick_conninfo(dsn: str) -> dict[str, str] | None:
    """What libpq's PQconninfoParse (psycopg's conninfo_to_dict) reads from a DSN of the common forms,
    or None where only libpq can tell."""
    uri = _PG_URI.fullmatch(dsn)
    if uri is not None:
        parts = {key: value for key, value in uri.groupdict().items() if key != "query" and value is not None}
        pairs = [pair.split("=", 1) for pair in uri["query"].split("&")] if uri["query"] else []
    elif _PG_KEYWORD_VALUE.fullmatch(dsn):
        parts, pairs = {}, [pair.split("=", 1) for pair in dsn.split()]
    else:
        return None
    for key, value in pairs:
        if key not in _PG_KEYWORDS or key in parts:  # unknown to libpq, or written twice: libpq decides
            return None
        parts[key] = value
    return parts


def quick_redis_url(url: str) -> dict[str, Any] | None:
    """What redis-py's parse_url reads from a URL of the common forms (its host, port, db, username and
    password; not its connection class), or None where only redis-py can tell."""
    found = _REDIS_URL.fullmatch(url)
    if found is None or (found["port"] is not None and int(found["port"]) > 65535):
        return None
    parts: dict[str, Any] = {"host": found["host"].lower()}
    for key in ("username", "password"):
        if found[key]:
            parts[key] = found[key]
    for key in ("port", "db"):
        if found[key] is not None:
            parts[key] = int(found[key])
    return parts


def _conninfo_pair(first: str, second: str) -> tuple[Mapping[str, Any], Mapping[str, Any]] | str:
    """Both reads of a DSN, or why libpq cannot read it."""
    one, two = quick_conninfo(first), quick_conninfo(second)
    if one is not None and two is not None:
        return one, two
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        return conninfo_to_dict(first), conninfo_to_dict(second)
    except ProgrammingError as exc:
        return str(exc).strip().replace(first, "the DSN").replace(second, "the DSN")


def postgres_dsn_problem(template: Template, *, judge_secrets: bool = True) -> Problem | None:
    """Why libpq would refuse a DSN, or why it must not be written so; None when it is usable."""
    if is_one_reference(template.raw.strip()):
        return None
    example = "postgresql://monitor:${PGPASSWORD}@db.internal:5432/app (or host=db.internal dbname=app user=monitor)"
    first, second = _reads(template)
    scheme = first.partition("://")[0] if "://" in first else None
    if scheme is not None and scheme not in ("postgresql", "postgres"):
        return f"{scheme}:// is not a PostgreSQL connection string", f"write {example}"
    read = _conninfo_pair(first, second)
    if isinstance(read, str):
        return f"libpq cannot read the DSN: {read}", f"write {example}"
    one, two = read
    for port in str(one.get("port", "")).split(",") if one.get("port") else ():
        if not (port.isdigit() and 1 <= int(port) <= 65535):
            return f"the DSN's port {port!r} is not a number from 1 to 65535", "write e.g. port=5432 or host:5432"
    if judge_secrets and "password" in one and not _from_variable(one.get("password"), two.get("password")):
        return (
            "the DSN carries a literal password (password=...)",
            "write the password as a variable: password=${PGPASSWORD} or postgresql://monitor:${PGPASSWORD}@host/db "
            "(or leave it out and use ~/.pgpass)",
        )
    sslmode = one.get("sslmode")
    if sslmode is not None and not _from_variable(sslmode, two.get("sslmode")) and sslmode not in _SSLMODES:
        return f"sslmode {sslmode!r} is not one libpq knows", f"use one of: {', '.join(_SSLMODES)}"
    return None


def redis_url_problem(template: Template, *, judge_secrets: bool = True) -> Problem | None:
    """Why redis-py would refuse the URL, or why it must not be written so; None when usable."""
    if is_one_reference(template.raw.strip()):
        return None
    first, second = _reads(template)
    one, two = quick_redis_url(first), quick_redis_url(second)
    if one is None or two is None:  # not a common form: redis-py's own parser, and its words
        from redis.connection import parse_url

        try:
            one, two = parse_url(first), parse_url(second)  # type: ignore[no-untyped-call]
        except ValueError as exc:
            return f"redis-py cannot read the URL: {exc}", "write redis://cache.internal:6379/0 (rediss:// for TLS)"
    if judge_secrets and "password" in one and not _from_variable(one.get("password"), two.get("password")):
        return (
            "the URL carries a literal password",
            "leave it out of the URL and write `password: ${REDIS_PASSWORD}` beside it",
        )
    if not one.get("host") and not one.get("path") and not _from_variable(one.get("host"), two.get("host")):
        return "the URL has no host", "write redis://cache.internal:6379/0"
    return None


def header_secret_problem(name: str, template: Template) -> Problem | None:
    """A credential written literally as a header value: `Authorization: Bearer abc`, `X-Api-Key: abc`."""
    if not template.is_literal or not template.raw:
        return None
    if is_secret_name(name) or _SECRET_SCHEME.match(template.raw):
        return (
            f"the header {name} carries a literal credential",
            f"reference it instead: {name}: {_scheme_of(template.raw)}${{{_variable_for(name)}}}, and set that "
            "variable where the checks run",
        )
    return None


def _scheme_of(value: str) -> str:
    match = _SECRET_SCHEME.match(value)
    return f"{match.group(1)} " if match else ""


def _variable_for(name: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_") or "SECRET"


def body_secret_problem(body: Any, trail: tuple[str | int, ...] = ()) -> tuple[tuple[str | int, ...], Problem] | None:
    """A literal credential in a JSON body: `{"password": "hunter2"}`; (key path, problem) or None."""
    if isinstance(body, Mapping):
        for key, value in body.items():
            where = (*trail, str(key))
            if isinstance(value, str) and value and is_secret_name(str(key)) and "${" not in value:
                return where, (
                    f"{key} is a literal credential in the body",
                    "remove it: the body is sent as written and kept in reports; a check that needs a "
                    "credential takes it from a `${VARIABLE}` header",
                )
            found = body_secret_problem(value, where)
            if found is not None:
                return found
    elif isinstance(body, list):
        for index, item in enumerate(body):
            found = body_secret_problem(item, (*trail, index))
            if found is not None:
                return found
    return None
