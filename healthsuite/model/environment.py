"""The environment file model: what an SRE describes about one environment.

One YAML file per environment (`environments/production.yaml`, ...). Every key is declared here;
an unknown key or a wrong type is an error that names the file, the key path and the fix
(see `envfile`). The JSON Schema in `environments/schema.json` is generated from this model
(`python -m healthsuite.environment.schema`) so editors validate the YAML as it is typed.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from ..catalogue.advice import PLATFORMS, Platform
from ..catalogue.diagnoses import AREAS, CATEGORIES, Area, Severity, load_catalogue
from .addresses import header_secret_problem, http_url_problem, postgres_dsn_problem, redis_url_problem
from .auth import AuthSettings
from .backup import BackupSet
from .data import DataMapping, is_column
from .declared import DeclaredCheck
from .deploy import DeploymentSettings
from .edge import ProxyUpstream
from .flows import BookingSettings, PaymentSettings
from .heartbeat import Heartbeat
from .integrations import Integrations
from .latency import LatencyTarget
from .logs import HostResources, LogSource
from .maintenance import MAX_WINDOWS, MaintenanceWindow
from .metrics import MetricsEndpoint
from .netaddr import parse_address
from .notify import RemindersSetting, Webhook
from .providers import shipped_ranges
from .regexes import problem_of as regex_problem
from .retries import RetrySettings
from .schema import SchemaDeclaration
from .sqlite import SqliteSettings
from .targets import HttpTarget as HttpTarget  # re-exported: the models of every area use them
from .targets import Target as Target
from .templates import Template
from .types import (
    TEMPLATE_DOC,
    Model,
    Name,
    Seconds,
    SecretTemplate,
    SecretText,
    Text,
    problem_error,
    refuse_literal_secret,
    rule_error,
    template_validator,
)


def _usable_dsn(value: SecretTemplate) -> SecretTemplate:
    problem_error(postgres_dsn_problem(value))
    return value


def _usable_redis_url(value: SecretTemplate) -> SecretTemplate:
    if value.is_literal and not value.raw.startswith(("redis://", "rediss://", "unix://")):
        raise rule_error(f"{value.raw!r} is not a redis URL", "write redis://host:6379/0")
    problem_error(redis_url_problem(value))
    return value


def headers_without_literal_credentials(value: dict[str, Template]) -> dict[str, Template]:
    """A field validator of a `headers:` mapping: credentials are `${VARIABLE}` references."""
    for name, header in value.items():
        problem_error(header_secret_problem(name, header), at=(name,))
    return value


def _refuse_unknown_diagnoses(ids: Iterable[str], at: tuple[str, ...] = ()) -> None:
    """A rule error naming the first ID that is not in the catalogue (a team's NAMESPACE-NAME is judged
    once its diagnoses file is read)."""
    catalogue = load_catalogue()
    for diagnosis_id in ids:
        if "-" in diagnosis_id:
            continue  # a team's own diagnosis (diagnoses_file): judged once that file is read
        if diagnosis_id not in catalogue.diagnoses:
            close = difflib.get_close_matches(diagnosis_id.upper(), list(catalogue.diagnoses), n=1)
            guess = f"did you mean {close[0]}? " if close else ""
            raise rule_error(
                f"unknown diagnosis {diagnosis_id!r}",
                f"{guess}use an ID of docs/DIAGNOSES.md, e.g. AV3",
                at=(*at, diagnosis_id),
            )


def _threshold_problem(name: str, value: float) -> str | None:
    """The sane range of a threshold, read from its name: `_pct` 0-100, times and windows positive."""
    if value != value or value in (float("inf"), float("-inf")):
        return "is not a number"
    if name == "min_tls_version":
        return None if value in (1.0, 1.1, 1.2, 1.3) else "must be one of 1.0, 1.1, 1.2, 1.3"
    if name == "slack_h":
        return None if 0 <= value <= 24 * 366 else "must be from 0 to 8,784"
    if name == "webpki_rules":
        return None if value in (0.0, 1.0) else "is a switch: 0 (off) or 1 (on)"
    if name == "samples":
        return None if value == int(value) and 1 <= value <= 1000 else "must be a whole number from 1 to 1000"
    if name.endswith("_pct"):
        return None if 0 <= value <= 100 else "is a percentage: it must lie from 0 to 100"
    limits = {"_ms": 3_600_000, "_s": 3600, "_h": 24 * 366, "_days": 3660, "_min": 60 * 24 * 366, "_mb": 10**9}
    for suffix, most in limits.items():
        if name.endswith(suffix) and name.startswith(("max_", "min_")):  # a limit: 0 is the strictest one
            return None if 0 <= value <= most else f"must be from 0 to {most:,}"
        if name.endswith(suffix):  # a window, a timeout, an age: it takes time
            return None if 0 < value <= most else f"must be more than 0 and at most {most:,}"
    return None if 0 <= value <= 10**12 else "must be 0 or more"


class BodyCondition(Model):
    """One condition on a response body. `path` is a dot path into JSON (`checks.database.status`);
    without it the condition applies to the body text."""

    path: str | None = Field(None, description="Dot path into the JSON body, e.g. status or checks.db.status.")
    equals: str | int | float | bool | None = None
    one_of: list[str | int | float | bool] | None = None
    matches: str | None = Field(None, description="A regular expression searched in the value.")
    contains: str | None = None
    exists: bool | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> BodyCondition:
        ops = [op for op in ("equals", "one_of", "matches", "contains", "exists") if op in self.model_fields_set]
        if len(ops) != 1:
            raise rule_error(
                f"a body condition needs exactly one operator, found {len(ops)} ({', '.join(ops) or 'none'})",
                "write one of equals, one_of, matches, contains, exists, e.g. {path: status, equals: ok}",
            )
        if self.matches is not None:
            refused = regex_problem(self.matches)
            if refused is not None:
                raise rule_error(f"`matches` is {refused[0]}" if refused[0].startswith("not ") else
                                 f"`matches`: {refused[0]}", refused[1])
        return self

    def describe(self) -> str:
        subject = f"body.{self.path}" if self.path else "body"
        if "equals" in self.model_fields_set:
            return f"{subject} == {self.equals!r}"
        if self.one_of is not None:
            return f"{subject} in {self.one_of!r}"
        if self.matches is not None:
            return f"{subject} matches /{self.matches}/"
        if self.contains is not None:
            return f"{subject} contains {self.contains!r}"
        return f"{subject} {'exists' if self.exists else 'is absent'}"


class Page(HttpTarget):
    kind_label: ClassVar[str] = "page"
    collection: ClassVar[str] = "pages"


class HealthEndpoint(HttpTarget):
    body: list[BodyCondition] = Field([], description="Conditions the health body must meet (AV2).")

    kind_label: ClassVar[str] = "health endpoint"
    collection: ClassVar[str] = "health"


class ApiEndpoint(HttpTarget):
    kind_label: ClassVar[str] = "endpoint"
    collection: ClassVar[str] = "endpoints"


class PostgresDatabase(Target):
    engine: Literal["postgresql"]
    dsn: SecretText = Field(description="libpq URL, e.g. postgresql://monitor:${PGPASSWORD}@db:5432/app.")
    timeout_s: Seconds | None = Field(None, description="Overrides timeouts.database_s.")
    allow_sql: list[str] = Field(
        [],
        description="Functions and views (name or schema.name) the file's SQL may call although the server's "
        "catalogue cannot vouch for them: the database's own, or VOLATILE ones outside the built-in readers. "
        "Only list what you know only reads.",
    )
    schema_: SchemaDeclaration = Field(
        SchemaDeclaration(), alias="schema", description="Tables, relations, invariants, migrations, indexes."
    )
    data: DataMapping = Field(DataMapping(), description="Tables and columns of the data diagnoses (PAY4, SEC1, ...).")
    idle_sessions: Literal["ignore", "include"] = Field(
        "ignore",
        description="DB6: plain idle sessions (state idle, as a connection pool keeps them) fail past DB6's "
        "max_idle_s only with include; sessions idle in transaction always count.",
    )

    kind_label: ClassVar[str] = "database"
    collection: ClassVar[str] = "databases"

    _dsn = field_validator("dsn")(_usable_dsn)


# a DSN that literally names the bootstrap superuser (URL user, `user=` keyword or query parameter)
_BOOTSTRAP_ROLE = re.compile(r"^\s*postgres(?:ql)?://postgres[:@]|(?:^|\s)user\s*=\s*'?postgres'?(?:\s|$)|[?&]user=postgres(?:&|$)")


def _declared_sql(database: PostgresDatabase | SqliteDatabase, checks: list[DeclaredCheck]) -> str:
    """What SQL of the file runs against `database` (invariants, hot queries, mapping expressions, declared
    `sql:` checks), named for a message; empty when none."""
    kinds = []
    if isinstance(database, PostgresDatabase):
        if database.schema_.invariants:
            kinds.append("invariants")
        if database.schema_.hot_queries:
            kinds.append("hot queries")
        for _, dataset in database.data:
            if dataset is not None and any(
                isinstance(value, str) and not is_column(value)
                for key, value in dataset if key in dataset.expression_fields
            ):
                kinds.append("data-mapping expressions")
                break
    if any(check.sql is not None and check.sql.database == database.name for check in checks):
        kinds.append("declared sql checks")
    return ", ".join(kinds)


class SqliteDatabase(Target):
    engine: Literal["sqlite"]
    path: Text = Field(description="Database file; relative paths are relative to the environment file.")
    timeout_s: Seconds | None = Field(None, description="Overrides timeouts.database_s (busy timeout).")
    schema_: SchemaDeclaration = Field(
        SchemaDeclaration(), alias="schema", description="Indexes and hot queries (PERF5, PERF6) of the file."
    )
    settings: SqliteSettings = Field(SqliteSettings(), description="Journal mode, foreign keys, size (DB15).")

    kind_label: ClassVar[str] = "database"
    collection: ClassVar[str] = "databases"


Database = Annotated[PostgresDatabase | SqliteDatabase, Field(discriminator="engine")]


class RedisCache(Target):
    engine: Literal["redis"] = "redis"
    url: SecretText = Field(description="redis:// or rediss:// URL without a password, e.g. redis://cache:6379/0.")
    username: Text | None = None
    password: SecretText | None = Field(None, description="Written as ${VARIABLE}.")
    timeout_s: Seconds | None = Field(None, description="Overrides timeouts.cache_s.")

    kind_label: ClassVar[str] = "cache"
    collection: ClassVar[str] = "caches"

    _url = field_validator("url")(_usable_redis_url)
    _password = field_validator("password")(refuse_literal_secret())


# --- the network edge (NET1-NET8, AV4, AV5, DEP2) ----------------------------------------------------

Address = Annotated[
    Template,
    PlainValidator(template_validator(Template)),
    PlainSerializer(lambda t: t.raw, return_type=str),
    WithJsonSchema({"type": "string", "description": "host:port ([v6]:port); " + TEMPLATE_DOC}),
]


def _literal_address(value: Template, default_port: int | None = None) -> Template:
    if value.is_literal:
        try:
            parse_address(value.raw, default_port)
        except ValueError as exc:
            raise rule_error(str(exc), "write host:port, e.g. db.internal:5432 or [2001:db8::1]:5432") from None
    return value


class Hostname(Target):
    """A DNS name resolved through the environment's resolver (NET1-NET4)."""

    host: Text = Field(description="The name to resolve, e.g. www.example.com.")
    records: list[Literal["A", "AAAA"]] = Field(
        ["A", "AAAA"], min_length=1, description="Address types queried; NET1 passes when any of them answers."
    )
    expect_in: list[str] = Field(
        [],
        description="NET2: every answer lies in one of these: a provider name (e.g. cloudflare, see dns.providers), "
        "a CIDR range or an IP address.",
    )
    cname: Text | None = Field(None, description="NET3: the name must be a CNAME to this target (e.g. the apex).")
    max_resolution_ms: float | None = Field(None, gt=0, description="NET4 limit for this name (default: thresholds).")
    timeout_s: Seconds | None = Field(None, description="Overrides timeouts.dns_s.")

    kind_label: ClassVar[str] = "hostname"
    collection: ClassVar[str] = "hostnames"

    @field_validator("expect_in")
    @classmethod
    def _known_expectations(cls, value: list[str]) -> list[str]:
        for index, entry in enumerate(value):
            if re.fullmatch(r"[a-z][a-z0-9_-]*", entry):
                continue  # a provider name; checked against dns.providers by the environment
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise rule_error(
                    f"expect_in entry {entry!r} is neither a provider name, a CIDR range nor an IP address",
                    "write e.g. cloudflare, 104.16.0.0/13 or 203.0.113.7",
                    at=(index,),
                ) from None
        return value


class DnsSettings(Model):
    nameservers: list[Address] = Field(
        [],
        description="Resolvers to ask, as ip or ip:port ([v6]:port), for every name the file connects to (HTTP, TLS, "
        "TCP, NET1-NET4, declared checks). Default: the system resolver (/etc/resolv.conf).",
    )
    hosts: dict[str, str] = Field(
        {},
        description="Pins, as curl's --resolve: host name -> the IP address every HTTP, TLS and TCP probe connects "
        "to for it, on any port; the name is still sent (Host, SNI) and verified. NET1-NET4 still ask the resolver.",
    )
    providers: dict[Name, list[str]] = Field(
        {},
        description="Address ranges by provider name for NET2 expect_in; adds to or replaces the shipped ones "
        "(cloudflare).",
    )

    @field_validator("nameservers")
    @classmethod
    def _nameserver_addresses(cls, value: list[Template]) -> list[Template]:
        for index, entry in enumerate(value):
            if not entry.is_literal:
                continue  # checked when resolved
            try:
                host, _ = parse_address(entry.raw, 53)
                ipaddress.ip_address(host)
            except ValueError as exc:
                problem = str(exc) if "port" in str(exc) else f"{entry.raw!r} is not an IP address"
                raise rule_error(
                    problem, "write a resolver's IP: 10.0.0.2, 10.0.0.2:5353 or [2001:db8::53]:53", at=(index,)
                ) from None
        return value

    @field_validator("hosts")
    @classmethod
    def _pins(cls, value: dict[str, str]) -> dict[str, str]:
        pins: dict[str, str] = {}
        for name, address in value.items():
            host = name.strip().rstrip(".").lower()
            label = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
            if len(host) > 253 or not re.fullmatch(rf"{label}(\.{label})*", host):
                raise rule_error(f"{name!r} is not a host name", "write a name: app.example.test: 10.0.0.5", at=(name,))
            try:
                ip = ipaddress.ip_address(str(address).strip().strip("[]"))
            except ValueError:
                raise rule_error(
                    f"{address!r} is not an IP address", "write the address to connect to: 10.0.0.5 or ::1",
                    at=(name,),
                ) from None
            pins[host] = str(ip)
        return pins

    @field_validator("providers")
    @classmethod
    def _cidrs(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, ranges in value.items():
            for entry in ranges:
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise rule_error(
                        f"providers.{name}: {entry!r} is not a CIDR range", "write e.g. 104.16.0.0/13"
                    ) from None
        return value


class TlsEndpoint(Target):
    """A TLS service whose certificate and protocol are checked (NET5, NET6)."""

    url: Text | None = Field(None, description="https://host[:port] to check (instead of base).")
    base: Name | None = Field(None, description="Key of base_urls whose host is checked (instead of url).")
    server_name: Text | None = Field(None, description="Name sent as SNI and verified (default: the URL's host).")
    http_redirect: bool = Field(True, description="NET6: plain HTTP must redirect to HTTPS.")
    http_url: Text | None = Field(None, description="Plain-HTTP URL expected to redirect (default: http://host/).")
    timeout_s: Seconds | None = Field(None, description="Overrides timeouts.http_s.")

    kind_label: ClassVar[str] = "TLS endpoint"
    collection: ClassVar[str] = "tls"

    @model_validator(mode="after")
    def _url_or_base(self) -> TlsEndpoint:
        if (self.url is None) == (self.base is None):
            raise rule_error("give either `url` or `base`, not both or neither", "e.g. base: app")
        if self.url is not None:
            problem_error(http_url_problem(self.url, https_only=True, example="https://host[:port]"), at=("url",))
        if self.http_url is not None and self.http_url.is_literal and not self.http_url.raw.startswith("http://"):
            raise rule_error(
                f"http_url {self.http_url.raw!r} is not a plain-HTTP URL", "write http://host/", at=("http_url",)
            )
        if self.http_url is not None:
            problem_error(http_url_problem(self.http_url, example="http://host/"), at=("http_url",))
        return self


class CorsPolicy(HttpTarget):
    """A CORS preflight expectation (NET7): `OPTIONS` from each allowed origin, and from a foreign one."""

    origins: list[Text] = Field(min_length=1, description="Origins that must be allowed, e.g. https://www.example.com.")
    request_method: str = Field("GET", description="Access-Control-Request-Method sent; it must be allowed.")
    request_headers: list[str] = Field([], description="Access-Control-Request-Headers sent; they must be allowed.")
    credentials: bool = Field(False, description="Requests carry credentials: Allow-Credentials must be true.")
    allow_any_origin: bool = Field(False, description="A public API: `*` is acceptable (never with credentials).")
    foreign_origin: str = Field(
        "https://foreign-origin.healthsuite.invalid", description="An origin that must not be allowed."
    )

    kind_label: ClassVar[str] = "CORS policy"
    collection: ClassVar[str] = "cors"

    @field_validator("origins", "foreign_origin")
    @classmethod
    def _origin(cls, value: Any) -> Any:
        for origin in value if isinstance(value, list) else [value]:
            text = origin.raw if isinstance(origin, Template) else origin
            if not re.fullmatch(r"https?://[^/\s]+", text):
                raise rule_error(f"{text!r} is not an origin", "write scheme://host[:port] without a path")
        return value

    @model_validator(mode="after")
    def _no_wildcard_with_credentials(self) -> CorsPolicy:
        if self.allow_any_origin and self.credentials:
            raise rule_error(
                "allow_any_origin with credentials: browsers refuse `*` on credentialed requests",
                "drop one of them",
            )
        return self


class ProxiedPath(HttpTarget):
    """A path served through the reverse proxy; 502/504 mean it cannot reach its upstream (NET8)."""

    upstream: ProxyUpstream | None = Field(
        None,
        description="Where the proxy forwards this path: host:port (backend:8000), the upstream's health URL, or "
        "{address, health}. Links a `ports` entry at that address (AV4) to the 502/504 and names it in NET8's advice.",
    )

    kind_label: ClassVar[str] = "proxied path"
    collection: ClassVar[str] = "proxies"


class ServicePort(Target):
    """A TCP port that must accept connections (AV4)."""

    address: Address = Field(description="host:port, e.g. 127.0.0.1:5432.")
    timeout_s: Seconds | None = Field(None, description="Connect timeout (default: timeouts.connect_s).")

    kind_label: ClassVar[str] = "port"
    collection: ClassVar[str] = "ports"

    _address = field_validator("address")(_literal_address)


class PoolStatus(HttpTarget):
    """The application's connection-pool status endpoint (DB4), read as JSON."""

    size_path: str = Field("pool_size", description="Dot path of the pool size in the JSON body.")
    checked_out_path: str = Field("checked_out", description="Dot path of the checked-out connections.")
    overflow_path: str = Field("overflow", description="Dot path of the overflow count.")

    kind_label: ClassVar[str] = "pool status endpoint"
    collection: ClassVar[str] = "pools"


class StatusPage(HttpTarget):
    """A hosting provider's status API in Statuspage format (`status.indicator`), for AV5."""

    hosts: list[str] = Field(
        [],
        description="Host names the provider serves (exact, or *.example.com for any name under it): while it "
        "reports an incident, failures of checks against them are marked as likely part of it "
        "(default: the hosts of base_urls).",
    )

    kind_label: ClassVar[str] = "status page"
    collection: ClassVar[str] = "status_pages"


class VersionSource(HttpTarget):
    """Where the deployed version is read (DEP2): a JSON field or a response header."""

    json_path: str | None = Field(None, description="Dot path into the JSON body, e.g. version or build.sha.")
    header: str | None = Field(None, description="Response header carrying the version, e.g. x-app-version.")
    expected: Text | None = Field(
        None,
        description="Expected version when neither --expected-version nor HEALTHSUITE_EXPECTED_VERSION is given, "
        "e.g. ${GIT_SHA}.",
    )

    kind_label: ClassVar[str] = "version source"
    collection: ClassVar[str] = "versions"

    @model_validator(mode="after")
    def _one_source(self) -> VersionSource:
        if (self.json_path is None) == (self.header is None):
            raise rule_error("give either `json_path` or `header`", "e.g. json_path: version")
        return self


class Timeouts(Model):
    http_s: Seconds = Field(10.0, description="HTTP request timeout (connect + read).")
    database_s: Seconds = Field(5.0, description="Database connect and statement timeout.")
    cache_s: Seconds = Field(3.0, description="Cache connect and command timeout.")
    dns_s: Seconds = Field(3.0, description="DNS query timeout (all tries of one name and type).")
    connect_s: Seconds = Field(3.0, description="TCP connect timeout of port checks (AV4).")


class HttpSettings(Model):
    verify_tls: bool = Field(True, description="Verify certificates and host names (keep it on).")
    ca_bundle: Text | None = Field(None, description="PEM file of extra CAs to trust (relative to this file).")
    headers: dict[str, SecretText] = Field({}, description="Headers sent with every request; values are secrets.")
    _headers = field_validator("headers")(headers_without_literal_credentials)
    max_body_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576, description="Bodies are read up to this size.")
    max_concurrency: int = Field(
        64,
        ge=1,
        le=256,
        description="Probes in flight at once, over all targets (under -n N: 1/N per worker): a bound on the "
        "tool's threads and sockets, not politeness (max_per_host is that), so distinct hosts never wait for "
        "each other at one environment's scale.",
    )
    max_per_host: int = Field(
        6,
        ge=1,
        le=256,
        description="Probes in flight at once against one host, to keep production unflooded (under -n N: 1/N "
        "per worker, at least 1).",
    )


class Contact(Model):
    primary: str = Field(description="Who to call first: name, address or pager.")
    phone: str | None = Field(None, description="The primary contact's phone number, e.g. +44 20 7946 0000.")
    pager: str | None = Field(None, description="The primary contact's pager or on-call handle, e.g. PagerDuty "
                              "service DB-ONCALL.")
    secondary: str | None = None
    secondary_phone: str | None = Field(None, description="The secondary contact's phone number.")
    secondary_pager: str | None = Field(None, description="The secondary contact's pager or on-call handle.")
    channel: str | None = Field(None, description="e.g. #incident-db")


TARGET_COLLECTIONS = (
    "pages", "health", "endpoints", "databases", "caches", "hostnames", "tls", "cors", "proxies", "ports",
    "status_pages", "versions", "pools", "metrics", "latency", "backups", "logs", "hosts", "declared_checks",
)


class Environment(Model):
    """One environment: production, staging, a local docker stack, the demo."""

    name: Name = Field(description="Environment name (default: the file name without .yaml).")
    kind: Literal["production", "staging", "development", "demo", "test"] = Field(
        description="production never allows mutating checks."
    )
    description: str | None = None
    platform: Platform | list[Platform] = Field(
        [],
        description=f"What the environment runs on ({', '.join(PLATFORMS)}): one or a list. Failure messages give "
        "a platform's own commands (wrangler, docker-compose, kubectl, pscale, systemctl) only when it is declared.",
    )
    allow_mutating: bool = Field(False, description="Allow checks that write (never in production).")
    secrets_file: Text | None = Field(
        None, description="Optional KEY=VALUE file read for ${VAR} (the process environment wins)."
    )
    base_urls: dict[Name, Text] = Field({}, description="Named base URLs, e.g. app: https://www.example.com")
    http: HttpSettings = HttpSettings()
    timeouts: Timeouts = Timeouts()
    retries: RetrySettings = Field(
        RetrySettings(),
        description="Attempts after a transport failure (refused, reset, timeout, TLS handshake, DNS for now) of "
        "HTTP(S), TLS and TCP exchanges: never after an answer. Default: 1 attempt, no retry.",
    )
    pages: list[Page] = Field([], description="Pages that must answer with a status and content type (AV1).")
    health: list[HealthEndpoint] = Field([], description="Health endpoints and their body conditions (AV2).")
    endpoints: list[ApiEndpoint] = Field([], description="API endpoints that must not answer 5xx (AV3).")
    databases: list[Database] = Field([], description="PostgreSQL and SQLite databases (DB1).")
    caches: list[RedisCache] = Field([], description="Redis instances (CACHE1).")
    dns: DnsSettings = DnsSettings()
    hostnames: list[Hostname] = Field([], description="DNS names to resolve (NET1-NET4).")
    tls: list[TlsEndpoint] = Field([], description="TLS endpoints: certificate and protocol (NET5, NET6).")
    cors: list[CorsPolicy] = Field([], description="CORS preflight expectations (NET7).")
    proxies: list[ProxiedPath] = Field([], description="Paths served through the reverse proxy (NET8).")
    ports: list[ServicePort] = Field([], description="TCP ports that must accept connections (AV4).")
    status_pages: list[StatusPage] = Field([], description="Provider status APIs, Statuspage format (AV5).")
    versions: list[VersionSource] = Field([], description="Where the deployed version is read (DEP2).")
    pools: list[PoolStatus] = Field([], description="Application connection-pool status endpoints (DB4).")
    booking: BookingSettings | None = Field(None, description="The booking flow: test submission, tenants (BK1, BK2).")
    payments: PaymentSettings | None = Field(None, description="Payment provider and webhook (PAY1-PAY3, PAY6).")
    auth: AuthSettings | None = Field(None, description="Sign-in, tokens, refresh tokens (AUTH1-AUTH4, AUTH7).")
    metrics: list[MetricsEndpoint] = Field([], description="Prometheus /metrics endpoints (PERF3).")
    latency: list[LatencyTarget] = Field([], description="Endpoints sampled for the latency SLO (PERF2).")
    integrations: Integrations = Field(Integrations(), description="Calendar, error tracker, dependencies (EXT1-3).")
    backups: list[BackupSet] = Field([], description="Backup folders (BAK1-BAK4).")
    logs: list[LogSource] = Field([], description="Log files (LOG1-LOG4).")
    hosts: list[HostResources] = Field([], description="Disk and memory of this host (PERF8).")
    deployment: DeploymentSettings = Field(
        DeploymentSettings(), description="Variables, env files, wrangler.toml, bundle (DEP3-DEP6)."
    )
    thresholds: dict[str, dict[str, float]] = Field(
        {}, description="Per-diagnosis thresholds, e.g. DB3: {max_connections_pct: 70}."
    )
    severity_overrides: dict[str, Severity] = Field({}, description="Per-diagnosis severity, e.g. AV3: high.")
    runbook_base_url: str | None = Field(
        None,
        description="Where people browse the runbooks (e.g. https://github.com/acme/ops/blob/main): failure "
        "messages and reports link each runbook section under it (default: the catalogue's, else repo paths).",
    )
    escalation: dict[Area, Contact] = Field(
        {}, description=f"Who to call, by escalation area ({', '.join(AREAS)})."
    )
    notify: list[Webhook] = Field(
        [],
        description="Webhooks that `pytest --notify` posts the run's escalation notice to: new critical and high "
        "failures and recoveries, once each, and reminders of those that persist (`reminders`).",
    )
    reminders: RemindersSetting = Field(
        None,
        description="How often `pytest --notify` tells a critical or high failure that persists again: off, or "
        "{critical: 15m, high: 2h}; a severity not named keeps the catalogue's cadence (critical 30 min, high 4 h).",
    )
    heartbeat: Heartbeat | None = Field(
        None,
        description="The ping URL a scheduled run reports to (Healthchecks.io's convention): `/start` when the "
        "checks start, `/<exit status>` with a summary when it ends. `--heartbeat URL` wins.",
    )
    diagnoses_file: str | list[str] | None = Field(
        None,
        description="The team's own diagnoses (a catalogue extension, docs/diagnoses.schema.json): a file or a list, "
        "relative to this file. Their IDs are NAMESPACE-NAME, e.g. QUEUE-1.",
    )
    declared_checks: list[DeclaredCheck] = Field(
        [],
        description="Checks declared here: a diagnosis, one probe block (http, sql, redis, dns, tls, tcp, file) and "
        "`expect:` conditions (docs/CONDITIONS.md).",
    )
    maintenance: list[MaintenanceWindow] = Field(
        [],
        max_length=MAX_WINDOWS,
        description="Maintenance windows: checks still run, and a failure inside a window is recorded as failed during "
        "maintenance and not announced; by diagnoses, categories, targets; one-off (from, to) or recurring (every, "
        "between, timezone).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Environment:
        if self.kind == "production" and self.allow_mutating:
            raise rule_error(
                "a production environment cannot allow mutating checks",
                "remove allow_mutating (mutating checks run only against staging or local stacks)",
                at=("allow_mutating",),
            )
        for collection in TARGET_COLLECTIONS:
            seen: dict[str, int] = {}
            for index, target in enumerate(getattr(self, collection)):
                if target.name in seen:
                    raise rule_error(
                        f"{collection}: the name {target.name!r} is used twice "
                        f"(first by {collection}[{seen[target.name]}])",
                        "give every entry its own name",
                        at=(collection, index, "name"),
                    )
                seen[target.name] = index
        for target in self.located_targets():
            if target.path is not None and self.base_name(target) not in self.base_urls:
                known = ", ".join(self.base_urls) or "none declared"
                raise rule_error(
                    f"{target.collection}: {target.name!r} uses base {self.base_name(target)!r}, "
                    f"which base_urls does not declare (known: {known})",
                    "add it under base_urls or set `base:` to a declared one",
                    at=self.location_of(target, "base" if target.base is not None else "path"),
                )
        for tls in self.tls:
            if tls.base is not None and tls.base not in self.base_urls:
                raise rule_error(
                    f"tls: {tls.name!r} uses base {tls.base!r}, which base_urls does not declare",
                    "add it under base_urls or write `url: https://host`",
                    at=self.location_of(tls, "base"),
                )
        tokens = self.auth.refresh_tokens if self.auth is not None else None
        if tokens is not None:
            names = [cache.name for cache in self.caches]
            if (tokens.cache is None and len(names) != 1) or (tokens.cache is not None and tokens.cache not in names):
                wanted = (
                    f"cache {tokens.cache!r}"
                    if tokens.cache
                    else "no cache, while `caches` does not declare exactly one"
                )
                raise rule_error(
                    f"auth.refresh_tokens names {wanted} (declared caches: {', '.join(names) or 'none'})",
                    "set auth.refresh_tokens.cache to the name of an entry under `caches`",
                    at=("auth", "refresh_tokens", "cache") if tokens.cache is not None else ("auth", "refresh_tokens"),
                )
        providers = self.provider_ranges()
        for host in self.hostnames:
            for entry in host.expect_in:
                if re.fullmatch(r"[a-z][a-z0-9_-]*", entry) and entry not in providers:
                    raise rule_error(
                        f"hostnames: {host.name!r} expects provider {entry!r}, which is not known "
                        f"(known: {', '.join(sorted(providers))})",
                        "add its ranges under dns.providers, or write CIDR ranges",
                        at=(*self.location_of(host, "expect_in"), host.expect_in.index(entry)),
                    )
        for index, database in enumerate(self.databases):
            declared = _declared_sql(database, self.declared_checks)
            if declared and isinstance(database, PostgresDatabase) and _BOOTSTRAP_ROLE.search(database.dsn.raw):
                raise rule_error(
                    f"databases: {database.name!r} runs the file's SQL ({declared}) as postgres, the superuser "
                    "initdb creates: its session could do whatever the SQL asks",
                    "connect as a role with CONNECT and SELECT only (docs/safety.md, Least privilege), "
                    "e.g. postgresql://monitor:${PGPASSWORD}@db:5432/app",
                    at=("databases", index, "dsn"),
                )
        return self

    @model_validator(mode="after")
    def _maintenance_selects(self) -> Environment:
        """Every window names known diagnoses, categories and targets (a team's own, NAMESPACE-NAME IDs
        and categories, are judged once its diagnoses_file is read: environment.extension)."""
        names: set[str] = set()
        for window in self.maintenance:
            if window.name in names:
                index = [w.name for w in self.maintenance].index(window.name)
                raise rule_error(f"maintenance: the name {window.name!r} is used twice (first by maintenance[{index}])",
                                 "give every window its own name", at=("maintenance", len(names), "name"))
            names.add(window.name)
        catalogue = load_catalogue()
        targets = self.target_names()
        for index, window in enumerate(self.maintenance):
            for position, diagnosis_id in enumerate(window.diagnoses):
                if "-" not in diagnosis_id and diagnosis_id not in catalogue.diagnoses:
                    close = difflib.get_close_matches(diagnosis_id.upper(), list(catalogue.diagnoses), n=1)
                    raise rule_error(
                        f"maintenance: window {window.name!r} names unknown diagnosis {diagnosis_id!r}",
                        (f"did you mean {close[0]}? " if close else "") + "use an ID of docs/DIAGNOSES.md, e.g. DB1",
                        at=("maintenance", index, "diagnoses", position),
                    )
            for position, category in enumerate(window.categories):
                if category not in CATEGORIES and self.diagnoses_file is None:
                    raise rule_error(
                        f"maintenance: window {window.name!r} names unknown category {category!r}",
                        f"use one of {', '.join(CATEGORIES)}", at=("maintenance", index, "categories", position),
                    )
            for position, target in enumerate(window.targets):
                if target not in targets:
                    close = difflib.get_close_matches(target, sorted(targets), n=1)
                    raise rule_error(
                        f"maintenance: window {window.name!r} names target {target!r}, which this file does not "
                        "declare",
                        (f"did you mean {close[0]}? " if close else "") + "use the `name:` of a declared target",
                        at=("maintenance", index, "targets", position),
                    )
        return self

    @field_validator("notify")
    @classmethod
    def _distinct_webhooks(cls, value: list[Webhook]) -> list[Webhook]:
        names = [hook.name for hook in value]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise rule_error(
                    f"the name {name!r} is used twice (first by notify[{names.index(name)}])",
                    "give every webhook its own name",
                    at=(index, "name"),
                )
        return value

    @field_validator("thresholds")
    @classmethod
    def _known_thresholds(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        catalogue = load_catalogue()
        for diagnosis_id, limits in value.items():
            entry = catalogue.diagnoses.get(diagnosis_id)
            if entry is None:
                with_limits = [key for key, known in catalogue.diagnoses.items() if known.thresholds]
                close = difflib.get_close_matches(diagnosis_id.upper(), with_limits, n=1)
                guess = f"did you mean {close[0]}? " if close else ""
                raise rule_error(
                    f"unknown diagnosis {diagnosis_id!r}",
                    f"{guess}diagnoses with thresholds: {', '.join(with_limits)}",
                    at=(diagnosis_id,),
                )
            unknown = sorted(set(limits) - set(entry.thresholds))
            if unknown:
                known = ", ".join(entry.thresholds) or "none"
                raise rule_error(
                    f"{diagnosis_id} has no threshold {', '.join(unknown)}",
                    f"its thresholds are: {known}",
                    at=(diagnosis_id, unknown[0]),
                )
            for name, limit in limits.items():
                problem = _threshold_problem(name, limit)
                if problem is not None:
                    raise rule_error(
                        f"{diagnosis_id}.{name} = {limit:g} {problem}",
                        f"give a value in that range (the default is {entry.thresholds[name]:g})",
                        at=(diagnosis_id, name),
                    )
        return value

    @field_validator("severity_overrides")
    @classmethod
    def _known_diagnoses(cls, value: dict[str, Severity]) -> dict[str, Severity]:
        _refuse_unknown_diagnoses(value)
        return value

    @field_validator("retries")
    @classmethod
    def _known_retry_diagnoses(cls, value: RetrySettings) -> RetrySettings:
        _refuse_unknown_diagnoses(value.by_diagnosis, at=("by_diagnosis",))
        return value

    @field_validator("base_urls")
    @classmethod
    def _requestable_base_urls(cls, value: dict[str, Template]) -> dict[str, Template]:
        for name, url in value.items():
            problem_error(http_url_problem(url, example="https://www.example.com"), at=(name,))
        return value

    @field_validator("runbook_base_url")
    @classmethod
    def _runbook_url(cls, value: str | None) -> str | None:
        if value is not None:
            problem_error(http_url_problem(Template(value), example="https://github.com/acme/ops/blob/main"))
        return value

    # --- queries -----------------------------------------------------------------------------

    def http_targets(self) -> Iterator[HttpTarget]:
        """The targets of the availability checks (AV3, PERF1): pages, health and API endpoints."""
        yield from self.pages
        yield from self.health
        yield from self.endpoints

    def located_targets(self) -> Iterator[HttpTarget]:
        """Every target located by base URL + path or by URL."""
        yield from self.http_targets()
        yield from self.cors
        yield from self.proxies
        yield from self.status_pages
        yield from self.versions
        yield from self.pools
        if self.booking is not None:
            if self.booking.submit is not None:
                yield self.booking.submit
            yield from self.booking.tenant_pages()
        if self.payments is not None and self.payments.webhook is not None:
            yield self.payments.webhook
        if self.auth is not None:
            auth = self.auth
            yield from (t for t in (auth.discovery, auth.sign_in, auth.protected, auth.verify) if t is not None)
        yield from self.metrics
        yield from self.latency
        yield from self.integrations.http_targets()

    def platforms(self) -> frozenset[str]:
        """The declared `platform:` values, as a set; a declared wrangler.toml (deployment.wrangler) is
        Cloudflare's."""
        declared = {self.platform} if isinstance(self.platform, str) else set(self.platform)
        return frozenset(declared | ({"cloudflare"} if self.deployment.wrangler is not None else set()))

    def provider_ranges(self) -> dict[str, list[str]]:
        """NET2 provider ranges: the shipped ones, then the file's dns.providers."""
        return {**shipped_ranges(), **self.dns.providers}

    def base_name(self, target: HttpTarget) -> str:
        if target.base is not None:
            return target.base
        if len(self.base_urls) == 1:
            return next(iter(self.base_urls))
        return "app"

    def threshold(self, diagnosis_id: str, name: str) -> float:
        entry = load_catalogue().diagnosis(diagnosis_id)
        return self.thresholds.get(diagnosis_id, {}).get(name, entry.thresholds[name])

    def location_of(self, target: Target, key: str) -> tuple[str | int, ...]:
        """The key path of a target's `key` in the file (for error lines): `("pages", 2, "base")`."""
        parts: list[str | int] = list(target.collection.split("."))
        holder: Any = self
        for part in parts:
            holder = getattr(holder, str(part), None)
        if isinstance(holder, list):
            parts.append(next(i for i, t in enumerate(holder) if t is target))
        return (*parts, key)

    def target_names(self) -> set[str]:
        """The names of every declared target (what a check's `target` can be)."""
        names = {t.name for collection in TARGET_COLLECTIONS for t in getattr(self, collection)}
        return names | {t.name for t in self.located_targets()}

    def smoke_targets(self) -> list[Target]:
        return [t for t in (*self.pages, *self.health, *self.databases, *self.caches) if t.smoke]
