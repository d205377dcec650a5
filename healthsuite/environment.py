"""The environment file model: what an SRE describes about one environment.

One YAML file per environment (`environments/production.yaml`, ...). Every key is declared here;
an unknown key or a wrong type is an error that names the file, the key path and the fix
(see `envfile`). The JSON Schema in `environments/schema.json` is generated from this model
(`python -m healthsuite.schema`) so editors validate the YAML as it is typed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .catalogue import AREAS, Area, Severity, load_catalogue
from .templates import Template


class SecretTemplate(Template):
    """A template whose resolved value is a secret: masked in every output."""


def _template_validator(cls: type[Template]) -> Any:
    def validate(value: Any) -> Template:
        if isinstance(value, Template):
            return value
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise PydanticCustomError("string_type", "Input should be a valid string")
        return cls(str(value))

    return validate


_TEMPLATE_DOC = "May reference variables: ${NAME} or ${NAME:-default}."
Text = Annotated[
    Template,
    PlainValidator(_template_validator(Template)),
    PlainSerializer(lambda t: t.raw, return_type=str),
    WithJsonSchema({"type": "string", "description": _TEMPLATE_DOC}),
]
SecretText = Annotated[
    SecretTemplate,
    PlainValidator(_template_validator(SecretTemplate)),
    PlainSerializer(lambda t: t.raw, return_type=str),
    WithJsonSchema({"type": "string", "description": "A secret: write it as ${VARIABLE}, never literally."}),
]
Name = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$",
        description="Lower-case name used in check ids: letters, digits, '-', '_', '.'.",
    ),
]
Seconds = Annotated[float, Field(gt=0, le=600)]
HttpStatusCode = Annotated[int, Field(ge=100, le=599)]


def rule_error(problem: str, fix: str) -> PydanticCustomError:
    """A validation error that carries its own fix (shown after the problem)."""
    return PydanticCustomError("healthsuite_rule", "{problem}", {"problem": problem, "fix": fix})


def _no_literal_secret(value: SecretTemplate | None) -> SecretTemplate | None:
    if value is not None and value.is_literal and value.raw:
        raise rule_error(
            "a secret is written literally in the file",
            "reference it instead: ${VARIABLE_NAME}, and set that variable where the checks run",
        )
    return value


def _no_literal_url_password(value: SecretTemplate) -> SecretTemplate:
    try:
        password = urlsplit(value.raw).password
    except ValueError:
        password = None
    if password and "${" not in password:
        raise rule_error(
            "the URL carries a literal password",
            "write the password as a variable, e.g. postgresql://monitor:${PGPASSWORD}@host/db",
        )
    return value


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


class Target(Model):
    """Something a check probes. `severity` overrides the diagnosis severity for this target only."""

    name: Name
    severity: Severity | None = Field(None, description="Severity of this target's checks (overrides the default).")
    smoke: bool = Field(False, description="Part of the post-deploy smoke set (DEP1, marker `smoke`).")

    kind_label: ClassVar[str] = "target"  # e.g. "page"; used in messages
    collection: ClassVar[str] = "targets"  # the environment-file key that lists this kind


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
            try:
                re.compile(self.matches)
            except re.error as exc:
                raise rule_error(f"`matches` is not a valid regular expression ({exc})", "fix the pattern") from None
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


class HttpTarget(Target):
    """An HTTP(S) URL: `path` under one of `base_urls`, or an absolute `url`."""

    path: str | None = Field(None, description="Path under the base URL, e.g. /api/health.")
    url: Text | None = Field(None, description="Absolute URL (instead of base + path).")
    base: Name | None = Field(None, description="Key of base_urls (default: the only one, or `app`).")
    method: Literal["GET", "HEAD"] = "GET"
    headers: dict[str, SecretText] = Field({}, description="Extra request headers; values are treated as secrets.")
    expect_status: HttpStatusCode | list[HttpStatusCode] = Field(200, description="Expected status code(s).")
    content_type: str | None = Field(None, description="Expected media type, e.g. text/html (parameters ignored).")
    follow_redirects: bool = Field(False, description="Follow redirects (default: report them, as curl -I does).")
    timeout_s: Seconds | None = Field(None, description="Overrides timeouts.http_s for this target.")

    kind_label: ClassVar[str] = "endpoint"

    @model_validator(mode="after")
    def _path_or_url(self) -> HttpTarget:
        if (self.path is None) == (self.url is None):
            raise rule_error("give either `path` (under a base URL) or `url`, not both or neither", "e.g. path: /")
        if self.path is not None and not self.path.startswith("/"):
            raise rule_error(f"path {self.path!r} must start with '/'", f"write /{self.path}")
        if self.url is not None and self.url.is_literal and not self.url.raw.startswith(("http://", "https://")):
            raise rule_error(f"url {self.url.raw!r} is not an http(s) URL", "write https://host/path")
        return self

    @property
    def expected_statuses(self) -> tuple[int, ...]:
        return tuple(self.expect_status) if isinstance(self.expect_status, list) else (self.expect_status,)


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

    kind_label: ClassVar[str] = "database"
    collection: ClassVar[str] = "databases"

    _dsn_password = field_validator("dsn")(_no_literal_url_password)


class SqliteDatabase(Target):
    engine: Literal["sqlite"]
    path: Text = Field(description="Database file; relative paths are relative to the environment file.")
    timeout_s: Seconds | None = Field(None, description="Overrides timeouts.database_s (busy timeout).")

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

    _url_password = field_validator("url")(_no_literal_url_password)
    _password = field_validator("password")(_no_literal_secret)

    @field_validator("url")
    @classmethod
    def _redis_scheme(cls, value: SecretTemplate) -> SecretTemplate:
        if value.is_literal and not value.raw.startswith(("redis://", "rediss://", "unix://")):
            raise rule_error(f"{value.raw!r} is not a redis URL", "write redis://host:6379/0")
        return value


class Timeouts(Model):
    http_s: Seconds = Field(10.0, description="HTTP request timeout (connect + read).")
    database_s: Seconds = Field(5.0, description="Database connect and statement timeout.")
    cache_s: Seconds = Field(3.0, description="Cache connect and command timeout.")


class HttpSettings(Model):
    verify_tls: bool = Field(True, description="Verify certificates and host names (keep it on).")
    ca_bundle: Text | None = Field(None, description="PEM file of extra CAs to trust (relative to this file).")
    headers: dict[str, SecretText] = Field({}, description="Headers sent with every request; values are secrets.")
    max_body_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576, description="Bodies are read up to this size.")


class Contact(Model):
    primary: str = Field(description="Who to call first: name, address or pager.")
    secondary: str | None = None
    channel: str | None = Field(None, description="e.g. #incident-db")


class Environment(Model):
    """One environment: production, staging, a local docker stack, the demo."""

    name: Name = Field(description="Environment name (default: the file name without .yaml).")
    kind: Literal["production", "staging", "development", "demo", "test"] = Field(
        description="production never allows mutating checks."
    )
    description: str | None = None
    allow_mutating: bool = Field(False, description="Allow checks that write (never in production).")
    secrets_file: Text | None = Field(
        None, description="Optional KEY=VALUE file read for ${VAR} (the process environment wins)."
    )
    base_urls: dict[Name, Text] = Field({}, description="Named base URLs, e.g. app: https://www.example.com")
    http: HttpSettings = HttpSettings()
    timeouts: Timeouts = Timeouts()
    pages: list[Page] = Field([], description="Pages that must answer with a status and content type (AV1).")
    health: list[HealthEndpoint] = Field([], description="Health endpoints and their body conditions (AV2).")
    endpoints: list[ApiEndpoint] = Field([], description="API endpoints that must not answer 5xx (AV3).")
    databases: list[Database] = Field([], description="PostgreSQL and SQLite databases (DB1).")
    caches: list[RedisCache] = Field([], description="Redis instances (CACHE1).")
    thresholds: dict[str, dict[str, float]] = Field(
        {}, description="Per-diagnosis thresholds, e.g. DB3: {max_connections_pct: 70}."
    )
    severity_overrides: dict[str, Severity] = Field({}, description="Per-diagnosis severity, e.g. AV3: high.")
    escalation: dict[Area, Contact] = Field(
        {}, description=f"Who to call, by escalation area ({', '.join(AREAS)})."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Environment:
        if self.kind == "production" and self.allow_mutating:
            raise rule_error(
                "a production environment cannot allow mutating checks",
                "remove allow_mutating (mutating checks run only against staging or local stacks)",
            )
        for collection in ("pages", "health", "endpoints", "databases", "caches"):
            seen: set[str] = set()
            for target in getattr(self, collection):
                if target.name in seen:
                    raise rule_error(
                        f"{collection}: the name {target.name!r} is used twice", "give every entry its own name"
                    )
                seen.add(target.name)
        for target in self.http_targets():
            if target.path is not None and self.base_name(target) not in self.base_urls:
                known = ", ".join(self.base_urls) or "none declared"
                raise rule_error(
                    f"{target.collection}: {target.name!r} uses base {self.base_name(target)!r}, "
                    f"which base_urls does not declare (known: {known})",
                    "add it under base_urls or set `base:` to a declared one",
                )
        return self

    @field_validator("thresholds")
    @classmethod
    def _known_thresholds(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        catalogue = load_catalogue()
        for diagnosis_id, limits in value.items():
            entry = catalogue.diagnoses.get(diagnosis_id)
            if entry is None:
                raise rule_error(f"unknown diagnosis {diagnosis_id!r}", "use an ID of docs/DIAGNOSES.md, e.g. DB3")
            unknown = sorted(set(limits) - set(entry.thresholds))
            if unknown:
                known = ", ".join(entry.thresholds) or "none"
                raise rule_error(
                    f"{diagnosis_id} has no threshold {', '.join(unknown)}", f"its thresholds are: {known}"
                )
        return value

    @field_validator("severity_overrides")
    @classmethod
    def _known_diagnoses(cls, value: dict[str, Severity]) -> dict[str, Severity]:
        catalogue = load_catalogue()
        for diagnosis_id in value:
            if diagnosis_id not in catalogue.diagnoses:
                raise rule_error(f"unknown diagnosis {diagnosis_id!r}", "use an ID of docs/DIAGNOSES.md, e.g. AV3")
        return value

    # --- queries -----------------------------------------------------------------------------

    def http_targets(self) -> Iterator[HttpTarget]:
        yield from self.pages
        yield from self.health
        yield from self.endpoints

    def base_name(self, target: HttpTarget) -> str:
        if target.base is not None:
            return target.base
        if len(self.base_urls) == 1:
            return next(iter(self.base_urls))
        return "app"

    def threshold(self, diagnosis_id: str, name: str) -> float:
        entry = load_catalogue().diagnosis(diagnosis_id)
        return self.thresholds.get(diagnosis_id, {}).get(name, entry.thresholds[name])

    def smoke_targets(self) -> list[Target]:
        return [t for t in (*self.pages, *self.health, *self.databases, *self.caches) if t.smoke]
