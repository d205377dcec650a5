"""`python -m healthsuite init --base-url URL [--dsn DSN] [--redis URL] ...`: look at what is live, read
only, and write a starting environment file that validates, passes against the system it was made
from, and marks every value it read there `# guessed: confirm`.

    python -m healthsuite init --base-url https://staging.example.com \\
        --dsn 'postgresql://monitor:${PGPASSWORD}@db.internal:5432/app' --redis redis://cache.internal:6379/0

A usage problem (a bad argument, an unreachable URL, a DSN that does not connect, an existing output
file) is one line naming what failed and the fix, exit status 4; never a traceback."""

from __future__ import annotations

import argparse
import os
import re
import ssl
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from ..assessments.redis import MIN_LOOKUPS
from ..catalogue.diagnoses import load_catalogue
from ..environment import yamltext
from ..environment.loader import load_environment
from ..environment.problems import EnvironmentFileError
from ..environment.redaction import Redactor
from ..model.addresses import http_url_problem, postgres_dsn_problem
from ..model.netaddr import format_address, parse_address
from ..model.templates import MissingVariable, Template
from ..probes import tls
from ..probes.lookup import Names, is_ip
from . import GUESSED, cache, comment, database, web
from .render import Told, intended, render, shape

USAGE_ERROR = 4
INTERNAL_ERROR = 3
KINDS = ("production", "staging", "development", "demo", "test")
PG_PASSWORD_VARIABLE = "PGPASSWORD"
REDIS_PASSWORD_VARIABLE = "REDIS_PASSWORD"
_KEYWORD_PASSWORD = re.compile(r"\bpassword\s*=\s*(?:'(?:[^'\\]|\\.)*'|[^\s']\S*)")
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
SCHEMA_JSON = Path(__file__).resolve().parents[2] / "environments" / "schema.json"


class UsageProblem(Exception):
    """What failed (the option and its value, never a secret) and the fix."""

    def __init__(self, what: str, problem: str, fix: str) -> None:
        self.what, self.problem, self.fix = what, problem, fix
        super().__init__(f"{what}: {problem}")

    def line(self, redactor: Redactor) -> str:
        return f"healthsuite init: error: {redactor.redact(f'{self.what}: {self.problem}')} (fix: {self.fix})"


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line is the suite's usage error: one line with the fix, exit 4."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"healthsuite init: error: {message} (fix: see python -m healthsuite init --help)\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m healthsuite init",
        description="Write a starting environment file from what is live, read only: the pages that answer, "
        "the health endpoint's JSON fields, the database's tables, foreign keys, largest tables and their "
        f"indexes, Redis's memory settings. Every value read there is marked `{GUESSED}`.",
        epilog="Secrets are never written: a password in --dsn or --redis becomes ${PGPASSWORD} / "
        "${REDIS_PASSWORD} in the file, and the command says which variables to set. A value given as "
        "'${VAR}' (single-quoted) is read from the environment and written as the reference. "
        "Exit status: 0 written, 4 usage error (nothing written), 3 internal error.",
    )
    p.add_argument("--base-url", required=True, metavar="URL", help="the site, e.g. https://staging.example.com")
    p.add_argument("--dsn", metavar="DSN", help="PostgreSQL, e.g. postgresql://monitor:${PGPASSWORD}@db:5432/app")
    p.add_argument("--redis", metavar="URL", help="Redis, e.g. redis://cache:6379/0 (password: $REDIS_PASSWORD "
                   "or in the URL)")
    p.add_argument("--name", help="environment name (default: from the base URL's host)")
    p.add_argument("--kind", choices=KINDS, help="default: guessed from the name, marked for you to confirm")
    p.add_argument("--output", metavar="FILE", help="default: environments/NAME.yaml")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.add_argument("--ca-bundle", metavar="PEM", help="extra CAs to trust (written as http.ca_bundle)")
    p.add_argument("--nameserver", action="append", default=[], metavar="ADDR[:PORT]",
                   help="a resolver to ask for every name (e.g. 10.0.0.2, 127.0.0.1:5353); repeatable; written as "
                   "dns.nameservers, which the checks then use for every name of the file")
    p.add_argument("--resolve", action="append", default=[], metavar="NAME:ADDRESS",
                   help="connect to ADDRESS for NAME, as curl --resolve (the name is still sent and verified), "
                   "e.g. app.example.test:10.0.0.5; repeatable; written as dns.hosts")
    p.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                   help="deadline of every exchange (default 5)")
    return p


# --- what the command line told ---------------------------------------------------------------------


def _resolve(option: str, raw: str, environ: Mapping[str, str]) -> str:
    """The value of an option given as a template (`'${VAR}'`), or as it is."""
    if "${" not in raw:
        return raw
    try:
        return Template(raw).resolve(environ)
    except ValueError as exc:
        raise UsageProblem(option, str(exc), "write ${NAME} or ${NAME:-default}") from None
    except MissingVariable as exc:
        raise UsageProblem(option, exc.reason().split(":")[0], f"export {exc.names[0]}=... and run again") from None


def _name_from(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    if not host or host == "localhost" or is_ip(host):
        return "local"
    label = host.removeprefix("www.").split(".")[0]
    return re.sub(r"[^a-z0-9_.-]+", "-", label).strip("-")[:63] or "local"


def nameservers_of(values: Sequence[str]) -> tuple[tuple[str, int], ...]:
    """--nameserver values as (ip, port); a usage problem for anything but an IP address."""
    found = []
    for value in values:
        try:
            host, port = parse_address(value.strip(), 53)
            if not is_ip(host):
                raise ValueError(f"{host!r} is not an IP address")
        except ValueError as exc:
            raise UsageProblem(f"--nameserver {value}", str(exc),
                               "give a resolver's IP address: 10.0.0.2, 127.0.0.1:5353 or [2001:db8::53]:53") from None
        found.append((host, port))
    return tuple(found)


_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*")


def pins_of(values: Sequence[str]) -> dict[str, str]:
    """--resolve NAME:ADDRESS values as {name: address}; a usage problem for anything else."""
    pins: dict[str, str] = {}
    for value in values:
        name, _, address = value.strip().partition(":")
        name = name.rstrip(".").lower()
        address = address.strip().strip("[]")
        if not _HOST_NAME.fullmatch(name) or len(name) > 253 or not is_ip(address):
            raise UsageProblem(f"--resolve {value}",
                               "not NAME:ADDRESS (a host name, then the IP address to connect to)",
                               "write e.g. --resolve app.example.test:127.0.0.1 (no port: it holds for every port)")
        pins[name] = address
    return pins


def _unreachable_fix(error_kind: str, detail: str, base_url: str, ca_bundle: str | None, names: Names,
                     timeout_s: float) -> str:
    """The fix of a base URL that got no HTTP answer, from what failed."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if error_kind == "dns":
        if names.nameservers:
            return (f"add {host} to the zone {names.resolver_label} serves, correct --base-url, or pin the name: "
                    f"--resolve {host}:ADDRESS")
        return (f"correct --base-url, or say where {host} goes: --nameserver ADDR[:PORT] (a resolver that knows it) "
                f"or --resolve {host}:ADDRESS")
    if error_kind != "tls":
        return "start the site or correct --base-url"
    if "mismatch" in detail.lower() or "not valid for" in detail.lower():
        seen = tls.handshake(host, port, host, ca_bundle, timeout_s, lookup=names)
        held = [n for n in (seen.chain[0].sans if seen.chain else ()) if not is_ip(n) and "*" not in n]
        if held and is_ip(host):
            name = held[0]
            return (f"the certificate is for {', '.join(held)}, not the address {host}: give --base-url "
                    f"{parts.scheme}://{name}:{port} with --resolve {name}:{host} (or --nameserver, a resolver "
                    f"that knows {name})")
        if held:
            return f"the certificate is for {', '.join(held)}, not {host}: give --base-url with one of those names"
        return "give --base-url with a name the site's certificate holds"
    if ca_bundle:
        return (f"the certificate does not verify against --ca-bundle {ca_bundle}: give the PEM of the CA that "
                "signed the site's certificate, or correct --base-url")
    return "give --ca-bundle PEM for a private CA, or correct --base-url"


def _kind_from(name: str) -> str:
    for needle, kind in (("prod", "production"), ("stag", "staging"), ("demo", "demo"), ("test", "test")):
        if needle in name:
            return kind
    return "development"


@dataclass(frozen=True)
class Dsn:
    connect: str  # what discovery connects with (resolved; may hold the password)
    written: str  # what the file holds: no literal password
    variables: tuple[str, ...]
    password: str | None
    database: str


def dsn_for_file(raw: str, environ: Mapping[str, str]) -> Dsn:
    """The DSN to connect with and the one to write: a literal password becomes ${PGPASSWORD}."""
    from psycopg import ProgrammingError  # noqa: PLC0415 - the driver only when a DSN is given
    from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: PLC0415

    connect = _resolve("--dsn", raw, environ)
    try:
        parts = conninfo_to_dict(connect)
        written_parts = conninfo_to_dict(raw)
    except ProgrammingError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageProblem(
            "--dsn", f"libpq cannot read the DSN ({reason})",
            "write postgresql://USER:PASSWORD@HOST:5432/DBNAME or host=HOST dbname=DBNAME user=USER",
        ) from None
    try:
        template = Template(raw)
    except ValueError as exc:
        raise UsageProblem("--dsn", str(exc), "write ${NAME} or ${NAME:-default}") from None
    password = str(parts["password"]) if parts.get("password") else None
    database_name = str(parts.get("dbname") or parts.get("user") or "main")
    literal_password = "password" in written_parts and "${" not in str(written_parts["password"])
    if not literal_password:
        found = postgres_dsn_problem(template)
        if found is not None:
            raise UsageProblem("--dsn", found[0], found[1])
        return Dsn(connect, raw, template.variables, password, database_name)
    reference = "${" + PG_PASSWORD_VARIABLE + "}"
    if "://" in raw:
        url = urlsplit(raw)
        query = [(k, v) for k, v in parse_qsl(url.query, keep_blank_values=True) if k != "password"]
        user = url.username if url.username is not None else str(written_parts.get("user") or "")
        netloc = url.netloc.rpartition("@")[2]
        written = urlunsplit(url._replace(netloc=f"{quote(unquote(user), safe='')}:{reference}@{netloc}",
                                          query=urlencode(query, safe="${}")))
    else:
        written = _KEYWORD_PASSWORD.sub(lambda _: f"password={reference}", raw)
        if _KEYWORD_PASSWORD.search(raw) is None or conninfo_to_dict(written).get("password") != reference:
            written = make_conninfo(**{**{k: str(v) for k, v in written_parts.items()}, "password": reference})
    return Dsn(connect, written, (*Template(written).variables,), password, database_name)


@dataclass(frozen=True)
class RedisTarget:
    connect: str  # without a password
    written: str
    username: str | None
    password: str | None
    password_written: str | None  # ${REDIS_PASSWORD}, or the reference given
    username_written: str | None = None  # the user name, or the reference given


def redis_for_file(raw: str, environ: Mapping[str, str]) -> RedisTarget:
    """The URL without its credentials; a literal password (in the URL, or $REDIS_PASSWORD) as
    ${REDIS_PASSWORD}, one given as a reference (`${VAR}`) as that reference."""
    resolved = _resolve("--redis", raw, environ)
    try:
        url, written = urlsplit(resolved), urlsplit(raw)
        url.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise UsageProblem("--redis", f"not a URL ({exc})", "write redis://HOST:6379/0 (rediss:// for TLS)") from None
    if url.scheme not in ("redis", "rediss") or not url.hostname:
        raise UsageProblem("--redis", "not a redis:// or rediss:// URL with a host",
                           "write redis://HOST:6379/0 (rediss:// for TLS)")
    query = [(k, v) for k, v in parse_qsl(url.query, keep_blank_values=True) if k != "password"]
    in_query = dict(parse_qsl(url.query)).get("password")
    password = unquote(url.password) if url.password else in_query or environ.get(REDIS_PASSWORD_VARIABLE) or None
    username = unquote(url.username) if url.username else None
    # a reference is written as given (the user name's, and the password's below)
    username_written = written.username if written.username and "${" in written.username else username
    host = url.netloc.rpartition("@")[2]
    connect = urlunsplit(url._replace(netloc=host, query=urlencode(query)))
    kept = urlunsplit(written._replace(netloc=written.netloc.rpartition("@")[2], query=urlencode(query, safe="${}")))
    # a password given as a reference (redis://:${MY_VAR}@host, ?password=${MY_VAR}) is written as given
    given = written.password if written.password is not None else dict(parse_qsl(written.query)).get("password")
    if given is not None and "${" in given:
        return RedisTarget(connect, kept, username, password, given, username_written)
    reference = "${" + REDIS_PASSWORD_VARIABLE + "}" if password else None
    return RedisTarget(connect, kept, username, password, reference, username_written)


# --- writing --------------------------------------------------------------------------------------


def _write(path: Path, text: str, force: bool) -> None:
    """Validate the text as the checks will read it, then put it at `path` whole: never over an
    existing file without --force (a hard link to a free name), never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".yaml", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        try:
            load_environment(Path(temporary), environ={})
        except EnvironmentFileError as exc:
            raise RuntimeError(f"the file init wrote does not validate (a bug of init):\n{exc}") from None
        if force:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise UsageProblem(f"--output {path}", "the file exists (written meanwhile)",
                                   "choose another --output, or add --force to overwrite it") from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def run(args: argparse.Namespace, environ: Mapping[str, str], redactor: Redactor) -> str:
    base_url = _resolve("--base-url", args.base_url, environ)
    found = http_url_problem(Template(base_url.replace("$", "$$")), example="https://www.example.com")
    if found is not None:
        raise UsageProblem(f"--base-url {args.base_url}", *found)
    name = args.name or _name_from(base_url)
    if not NAME.fullmatch(name):
        raise UsageProblem(f"--name {name}", "not a name (lower-case letters, digits, '-', '_', '.'; up to 63)",
                           "write e.g. --name staging")
    output = Path(args.output or f"environments/{name}.yaml")
    if output.exists() and not args.force:
        raise UsageProblem(f"--output {output}", "the file exists; init does not overwrite it",
                           "choose another --output, or add --force to overwrite it")
    if not 0 < args.timeout <= 60:
        raise UsageProblem(f"--timeout {args.timeout:g}", "must be more than 0 and at most 60 seconds",
                           "write e.g. --timeout 5")
    ca_bundle = None
    if args.ca_bundle:
        ca_bundle = str(Path(args.ca_bundle).expanduser().resolve())
        try:
            ssl.create_default_context().load_verify_locations(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise UsageProblem(f"--ca-bundle {args.ca_bundle}", f"not a readable PEM file of CAs ({exc})",
                               "give the PEM file of the CA that signed the site's certificate") from None
    nameservers = nameservers_of(args.nameserver)
    pins = pins_of(args.resolve)
    names = Names(pins=pins, nameservers=nameservers, timeout_s=args.timeout, pin_source="--resolve")
    dsn = dsn_for_file(args.dsn, environ) if args.dsn else None
    target = redis_for_file(args.redis, environ) if args.redis else None
    for secret in (dsn.password if dsn else None, target.password if target else None):
        redactor.add(secret)

    try:
        site = web.discover(base_url, ca_bundle, True, args.timeout, names)
    except web.SiteUnreachable as exc:
        error = exc.observation.error
        assert error is not None
        fix = _unreachable_fix(error.kind, error.detail, base_url, ca_bundle, names, args.timeout)
        raise UsageProblem(f"--base-url {args.base_url}", f"{error.kind_name}: {error.detail}", fix) from None
    if not site.pages and not site.health:
        raise UsageProblem(f"--base-url {args.base_url}",
                           f"no page answered 2xx/3xx ({', '.join(site.skipped[:4])})",
                           "give the URL where the site's pages are served")
    analyze_days = load_catalogue().diagnosis("DB14").thresholds["max_analyze_age_days"]
    schema = None
    if dsn is not None:
        try:
            schema = database.discover(dsn.connect, args.timeout, analyze_days * 86400)
        except database.DatabaseUnusable as exc:
            error = exc.error
            fixes = {
                "auth_failed": "give the role's password (in --dsn or $PGPASSWORD) or fix pg_hba.conf",
                "database_missing": "correct the database or role name in --dsn",
                "refused": "start PostgreSQL or correct the host and port of --dsn",
                "timeout": "check that the host is reachable, or raise --timeout",
                "dns": "correct the host of --dsn",
            }
            raise UsageProblem(f"--dsn {error.address}", f"{error.kind_name}: {error.detail}",
                               fixes.get(error.kind, "correct --dsn")) from None
    memory = None
    if target is not None:
        try:
            memory = cache.discover(target.connect, target.username, target.password, args.timeout)
        except cache.CacheUnusable as exc:
            error = exc.error
            fix = {"auth_failed": "give the password in the URL (redis://:PASSWORD@host:6379/0) or in $REDIS_PASSWORD",
                   "timeout": "check that the host is reachable and answers INFO, or raise --timeout",
                   "protocol": "check that --redis names a Redis server (its INFO answer was not one Redis sends)",
                   }.get(error.kind, "start Redis or correct --redis")
            raise UsageProblem(f"--redis {error.address}", f"{error.kind_name}: {error.detail}", fix) from None

    variables = sorted({*(dsn.variables if dsn else ()),
                        *(Template(target.password_written).variables if target and target.password_written else ()),
                        *(Template(target.username_written).variables
                          if target and target.username_written and "${" in target.username_written else ()),
                        *(Template(args.base_url).variables if "${" in args.base_url else ())})
    kind = args.kind or _kind_from(name)
    schema_ref = None
    if SCHEMA_JSON.is_file():  # beside the project's files relative (as the shipped ones), elsewhere absolute
        inside = output.resolve().is_relative_to(SCHEMA_JSON.parents[1])
        schema_ref = os.path.relpath(SCHEMA_JSON, output.resolve().parent) if inside else str(SCHEMA_JSON)
    told = Told(
        name=name, kind=kind, kind_given=args.kind is not None, base_url=args.base_url, ca_bundle=ca_bundle,
        nameservers=[format_address(h, p) if p != 53 else h for h, p in nameservers], pins=pins,
        dsn=dsn.written if dsn else None, database_name=_slug(dsn.database if dsn else "main"),
        redis_url=target.written if target else None, redis_username=target.username_written if target else None,
        redis_password=target.password_written if target else None, variables=variables, schema_ref=schema_ref,
    )
    text = render(told, site, schema, memory)
    meant, written = intended(told, site, schema, memory), shape(yamltext.load(text))
    if written != meant:
        raise RuntimeError(f"the file init wrote reads back as other keys than it means to write (a bug of init): "
                           f"{written} instead of {meant}")
    _write(output, text, args.force)
    return _summary(output, told, site, schema, memory, text)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-")[:63] or "main"


def _summary(
    output: Path, told: Told, site: web.Site, schema: database.Schema | None, memory: cache.Memory | None, text: str
) -> str:
    lines = [f"healthsuite init: wrote {output} (name {told.name}, kind {told.kind})"]
    pages = ", ".join(a.path for a in site.pages)
    health = ", ".join(f"{h.answer.path} ({len(h.fields)} field{'s' * (len(h.fields) != 1)})" for h in site.health)
    lines.append(f"  {site.requests} requests: pages {pages or 'none'}; health {health or 'none'}")
    if site.skipped:
        lines.append(f"  not kept (no 2xx/3xx answer): {', '.join(site.skipped)}")
    failing: list[str] = []
    if schema is not None:
        lines.append(
            f"  database {told.database_name}: {len(schema.tables)} tables, {len(schema.relations)} foreign keys, "
            f"large tables {', '.join(t.declared for t in schema.large_tables) or 'none'}, "
            f"{sum(map(len, schema.indexes.values()))} indexes"
            + (f", Alembic head {schema.migration_head}" if schema.migration_head else "")
        )
        if schema.unindexed_foreign_keys:
            failing.append(f"PERF6 ({schema.unindexed_foreign_keys} foreign keys in public lead no index)")
    if memory is not None:
        lines.append(f"  cache {told.cache_name}: {comment(memory.describe())}")  # INFO's text, escaped
        pct = memory.used_pct()
        cache2 = load_catalogue().diagnosis("CACHE2").thresholds["max_memory_pct"]
        if pct is not None and pct >= cache2:
            failing.append(f"CACHE2 (used memory {pct:.1f} % of the limit, at or over {cache2:g} %)")
        if (memory.info.number("rejected_connections") or 0) > 0:
            failing.append("CACHE2 (Redis has rejected connections since it started)")
        rate, lookups = memory.hit_rate()
        perf7 = load_catalogue().diagnosis("PERF7").thresholds["min_hit_rate_pct"]
        if rate is not None and lookups >= MIN_LOOKUPS and rate < perf7:
            failing.append(f"PERF7 (hit rate {rate:.1f} %, under {perf7:g} %)")
    refused = [*site.refused, *(r for h in site.health for r in h.refused), *(schema.refused if schema else ()),
               *(memory.refused if memory else ())]
    if refused:
        lines.append(f"  left out, not safe to write into the file ({len(refused)}): {'; '.join(refused[:20])}"
                     + (f"; and {len(refused) - 20} more" if len(refused) > 20 else ""))
    marks = text.count(GUESSED)
    lines.append(f"  {marks} values are marked `{GUESSED}`: confirm, correct or delete each, then the mark")
    if told.variables:
        lines.append(f"  set before running the checks: {', '.join(told.variables)}")
    elif told.dsn is not None:
        lines.append("  the DSN has no password: libpq reads $PGPASSWORD or ~/.pgpass where the checks run")
    if failing:
        lines.append(f"  what the checks will flag now (a finding, not a guess): {'; '.join(failing)}")
    lines.append(f"  next: pytest --env {output}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = parser().parse_args(argv)
    redactor = Redactor()
    try:
        print(run(args, os.environ if environ is None else environ, redactor))
    except UsageProblem as exc:
        print(exc.line(redactor), file=sys.stderr)
        return USAGE_ERROR
    except RuntimeError as exc:
        print(redactor.redact(f"healthsuite init: internal error: {exc}"), file=sys.stderr)
        return INTERNAL_ERROR
    except KeyboardInterrupt:
        print("healthsuite init: interrupted; nothing written", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a bug of init: one line, no traceback, never a secret
        detail = " ".join(str(exc).split())[:300]
        print(redactor.redact(f"healthsuite init: internal error: {type(exc).__name__}: {detail} (nothing written; "
                              "please report it with the command line, its secrets left out)"), file=sys.stderr)
        return INTERNAL_ERROR
    return 0
