"""What a check in `checks/` uses: the `check` decorator and the `expect` helper.

    from healthsuite import assessments, plans
    from healthsuite.checkapi import check

    @check("AV1", plan=plans.get)
    def test_page_answers(page, probes, expect):
        response = expect.reached(probes.http(page))
        expect.finding(assessments.page(page, response, expect.catalogue))

`check("AV1", plan=plans.get)` attaches the diagnosis, its category and its severity as markers,
from the catalogue, and names what the check reads (the probe pool runs it before the check asks).
`expect.reached` turns a probe's transport error into a failure with the catalogue's sentence for
that kind of error; `expect.finding` records observed/expected for the reports and fails with the
composed message when the finding is not ok.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import urlsplit

import pytest

from .assessments.failure import FailureBlock, Finding, compose, failure_block, probe_failure
from .catalogue.advice import AdviceContext, url_values
from .catalogue.diagnoses import Area, Catalogue, Severity, load_catalogue
from .environment.loaded import LoadedEnvironment
from .model.auth import RefreshTokens
from .model.declared import DeclaredCheck
from .model.deploy import EnvFilePair
from .model.environment import (
    Contact,
    CorsPolicy,
    Hostname,
    HttpTarget,
    PostgresDatabase,
    ProxiedPath,
    RedisCache,
    ServicePort,
    SqliteDatabase,
    Target,
    TlsEndpoint,
)
from .model.logs import LogSource
from .model.netaddr import parse_address
from .model.templates import Template
from .plans import Plan
from .probes.errors import ProbeError
from .probes.http import HttpObservation
from .probes.postgres import address_of as postgres_address
from .probes.postgres import parts_of as postgres_parts
from .probes.redis import address_of as redis_address
from .probes.session import ProbeSession

F = TypeVar("F", bound=Callable[..., Any])

SEVERITY_MARKS = ("critical", "high", "medium", "low")
RECORDED = ("observed", "expected", "facts", "advice", "severity")  # the properties Expect records


def check(
    diagnosis: str,
    *,
    plan: Plan | None = None,
    smoke: bool = False,
    mutating: bool = False,
    needs: str | None = None,
) -> Callable[[F], F]:
    """Mark a check with its diagnosis ID, category and default severity (from the catalogue).

    `plan=plans.get`: what the check will read (healthsuite.plans), run by the probe pool before the
    check asks for it; a check that reads over the network names one. `needs="schema.tables"`: the
    check runs only for targets where that key of the environment file is declared (non-empty);
    without any, it is skipped saying so."""
    entry = load_catalogue().diagnosis(diagnosis)  # an unknown ID fails at import, naming it

    def decorate(function: F) -> F:
        function.healthsuite_diagnosis = diagnosis  # type: ignore[attr-defined]
        if needs is not None:
            function.healthsuite_needs = needs  # type: ignore[attr-defined]
        if plan is not None:
            function.healthsuite_plan = plan  # type: ignore[attr-defined]
        marks = [
            pytest.mark.diagnosis(diagnosis, id=diagnosis),
            getattr(pytest.mark, entry.category),
            getattr(pytest.mark, entry.severity),
        ]
        if smoke:
            marks.append(pytest.mark.smoke)
        if mutating:
            marks.append(pytest.mark.mutating)
        for mark in marks:
            function = mark(function)
        return function

    return decorate


def declared_checks(*, plan: Plan) -> Callable[[F], F]:
    """Mark the check function of the environment's declared checks (checks/test_declared.py): each of
    its items carries its own diagnosis, category and severity markers (the plugin adds them when it
    parametrizes `declared_check`), so the function itself carries none; `plan` reads what each declared."""

    def decorate(function: F) -> F:
        function.healthsuite_plan = plan  # type: ignore[attr-defined]
        function.healthsuite_declared = True  # type: ignore[attr-defined]
        return function

    return decorate


class _HasError(Protocol):
    """An observation: a probe's result, `error` set when it met a transport failure (read-only, so a
    frozen dataclass's field matches)."""

    @property
    def error(self) -> ProbeError | None: ...


H = TypeVar("H", bound=_HasError)


def plan_of(item: pytest.Item) -> Plan | None:
    """The plan a check item's function names (None: it reads nothing over the network)."""
    return getattr(getattr(item, "function", None), "healthsuite_plan", None)


def diagnosis_of(item: pytest.Item) -> str | None:
    """The diagnosis ID a check item carries (None for a test that is not a check)."""
    # set by @check: no mark lookup (`obj` rather than pytest's `function`, which raises and catches an
    # AttributeError on every call; a method's attributes are its function's)
    known = getattr(getattr(item, "obj", None), "healthsuite_diagnosis", None)
    if known is not None:
        return str(known)
    mark = item.get_closest_marker("diagnosis")
    return str(mark.args[0]) if mark is not None else None


def closest_mark_name(item: pytest.Item, names: tuple[str, ...]) -> str | None:
    """The name of the first mark among `names` that the item or a node above it carries, closest
    first: `next(m.name for m in item.iter_markers() if m.name in names)`, without its chain of
    generators (it runs for every check)."""
    node: pytest.Item | pytest.Collector | None = item
    while node is not None:
        for mark in node.own_markers:
            if mark.name in names:
                return mark.name
        node = node.parent
    return None


def declared(target: Target, key: str) -> bool:
    """Whether a dotted environment-file key (`schema.tables`, `data.payments`) is declared on a target."""
    value: object = target
    for part in key.split("."):
        value = getattr(value, "schema_" if part == "schema" else part, None)
        if value is None:
            return False
    return bool(value) if isinstance(value, (list, dict, str)) else True


def target_of(item: pytest.Item) -> Target | None:
    """The environment target a check item was parametrized with."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    return next((v for v in params.values() if isinstance(v, Target)), None)


def describe_target(env: LoadedEnvironment, target: Target) -> str:
    """`page 'home': GET https://...`, `PostgreSQL database 'main' at db:5432/app (user monitor)`."""
    if isinstance(target, HttpTarget):
        return f"{target.kind_label} {target.name!r}: {target.method} {env.display_url(target)}"
    if isinstance(target, PostgresDatabase):
        dsn = env.try_resolve(target.dsn)
        return f"PostgreSQL database {target.name!r} at {postgres_address(dsn) if dsn else target.dsn.raw}"
    if isinstance(target, SqliteDatabase):
        return f"SQLite database {target.name!r} at {target.path.raw}"
    if isinstance(target, RedisCache):
        url = env.try_resolve(target.url)
        return f"Redis {target.name!r} at {redis_address(url) if url else target.url.raw}"
    if isinstance(target, Hostname):
        return f"hostname {target.name!r}: {env.try_resolve(target.host) or target.host.raw}"
    if isinstance(target, ServicePort):
        return f"port {target.name!r}: {env.try_resolve(target.address) or target.address.raw}"
    if isinstance(target, TlsEndpoint):
        if target.url is not None:
            where = env.try_resolve(target.url) or target.url.raw
        else:
            base = env.model.base_urls.get(target.base or "")
            where = (env.try_resolve(base) or base.raw) if base is not None else str(target.base)
        return f"TLS endpoint {target.name!r}: {where}"
    if isinstance(target, DeclaredCheck):
        return f"declared check {target.name!r}: {_declared_where(env, target)}"
    return f"{target.kind_label} {target.name!r}"


def _declared_where(env: LoadedEnvironment, check: DeclaredCheck) -> str:
    """What a declared check probes, for people: `GET https://...`, `sql on database 'main'`, ..."""
    from .probes import declared as observed  # noqa: PLC0415 - only environments that declare checks load it

    probes = ProbeSession(env)
    try:
        kind = check.kind
        if kind == "http":
            request = observed.http_request(probes, check)
            return f"{request.method} {env.redactor.redact(request.url)}"
        if kind == "sql":
            return f"{check.sql.query if check.sql else ''} on database {observed.database_of(probes, check).name!r}"
        if kind == "redis":
            return f"{' '.join(check.redis_args())} on cache {observed.cache_of(probes, check).name!r}"
        if kind == "dns":
            host, _, _ = observed.dns_query(probes, check)
            return f"{check.dns.type if check.dns else 'A'} {host}"
        if kind == "tls":
            host, port, name = observed.tls_address(probes, check)
            return f"TLS {host}:{port} (SNI {name})"
        if kind == "tcp":
            host, port = observed.tcp_address(probes, check)
            return f"TCP {host}:{port}"
        return f"file {observed.file_path(probes, check)}"
    except Exception:  # noqa: BLE001 - an unset variable: the probe block as written
        return f"{check.kind} probe"


def _dig_at(env: LoadedEnvironment) -> str:
    """`dig`'s arguments for the environment's declared resolver (`@127.0.0.1 -p 5353 `), or "" (the system's)."""
    if not env.model.dns.nameservers:
        return ""
    host, port = parse_address(env.resolve(env.model.dns.nameservers[0]), 53)
    return f"@{host} " + (f"-p {port} " if port != 53 else "")


def advice_context(env: LoadedEnvironment, target: Target | None, finding: Finding) -> AdviceContext:
    """The target's engine and real values (a URL's scheme, host, port and path), the environment's name
    and platforms, and what was observed (a transport error's kind, the HTTP status), for tailoring the
    advice."""
    facts = finding.facts or {}
    kind = str(facts.get("failure_kind", ""))
    status = facts.get("status")
    values: dict[str, str] = {}
    engine = ""
    try:
        if isinstance(target, PostgresDatabase):
            engine = "postgres"
            dsn = env.try_resolve(target.dsn)
            values = postgres_parts(dsn) if dsn else {}
        elif isinstance(target, SqliteDatabase):
            engine = "sqlite"
            values = {"file": str(env.resolve_path(target.path))}
        elif isinstance(target, (RedisCache, RefreshTokens)):
            cache = target if isinstance(target, RedisCache) else _cache_of(env, target)
            url = env.try_resolve(cache.url) if cache is not None else None
            parts = urlsplit(url) if url else None
            if parts is not None:
                values = {"host": parts.hostname or "localhost", "port": str(parts.port or 6379)}
            if isinstance(target, RefreshTokens):
                values["pattern"] = target.pattern
        elif isinstance(target, LogSource):
            values = {"file": str(env.resolve_path(target.path))}
        elif isinstance(target, EnvFilePair):
            values = {"example": str(env.resolve_path(target.example)),
                      "deployed": str(env.resolve_path(target.deployed))}
        elif isinstance(target, TlsEndpoint):
            probes = ProbeSession(env)
            host, port, name = probes.tls_address(target)
            values = {"host": host, "port": str(port), "name": name, "http_url": probes.plain_http_url(target)}
        elif isinstance(target, HttpTarget):
            values = url_values(env.url_of(target))
            if isinstance(target, CorsPolicy) and target.origins:
                values["origin"] = env.resolve(target.origins[0])
            if isinstance(target, ProxiedPath) and target.upstream is not None:
                values.update(_upstream_values(env, target))
        elif isinstance(target, Hostname):
            values = {"host": env.resolve(target.host), "name": env.resolve(target.host),
                      "at_resolver": _dig_at(env)}
        elif isinstance(target, ServicePort):
            host, port = parse_address(env.resolve(target.address))
            values = {"host": host, "port": str(port)}
        elif isinstance(target, DeclaredCheck):
            from .probes import declared as observed  # noqa: PLC0415 - only environments that declare checks

            probes = ProbeSession(env)
            engine, values = observed.advice_values(probes, target)
            if target.kind == "http":
                values = {**values, **url_values(observed.http_request(probes, target).url)}
        elif isinstance(url := getattr(target, "url", None), Template):  # payments.provider: an API's base URL
            values = url_values(env.resolve(url))
    except Exception:  # noqa: BLE001 - an unresolvable value: the placeholder stays, as written
        pass
    values["env"] = env.name
    return AdviceContext(
        engine=engine,
        failure_kind=kind,
        values={k: v for k, v in values.items() if v},
        platforms=env.model.platforms(),
        status=status if isinstance(status, int) and not isinstance(status, bool) else None,
    )


def _upstream_values(env: LoadedEnvironment, proxied: ProxiedPath) -> dict[str, str]:
    """A proxied path's declared upstream: `upstream` (host:port), `upstream_host`, `upstream_port` and
    `upstream_url` (its health URL, else http://host:port/), for NET8's advice."""
    if proxied.upstream is None:
        return {}
    address, url = proxied.upstream.resolved(env.resolve)
    host, port = parse_address(address)
    return {"upstream": address, "upstream_host": host, "upstream_port": str(port), "upstream_url": url}


def _cache_of(env: LoadedEnvironment, tokens: RefreshTokens) -> RedisCache | None:
    """The cache AUTH7 reads: the one named, else the only one declared."""
    caches = env.model.caches
    if tokens.cache is not None:
        return next((c for c in caches if c.name == tokens.cache), None)
    return caches[0] if caches else None


class Expect:
    """Bound to one check item: its diagnosis, effective severity, target and environment."""

    def __init__(self, item: pytest.Item, env: LoadedEnvironment, contacts: Mapping[Area, Contact]) -> None:
        self.item = item
        self.env = env
        self.catalogue: Catalogue = env.catalogue  # the shipped diagnoses and the team's own (diagnoses_file)
        diagnosis = diagnosis_of(item)
        if diagnosis is None:
            raise pytest.UsageError(f"{item.nodeid}: the `expect` fixture needs a check decorated with @check(ID)")
        self.entry = self.catalogue.diagnosis(diagnosis)
        self.severity = cast(Severity, closest_mark_name(item, SEVERITY_MARKS) or self.entry.severity)
        self.target = target_of(item)
        self._contacts = contacts
        self._answers: list[HttpObservation] = []  # HTTP answers this check saw (their error codes are decoded)

    def threshold(self, name: str) -> float:
        """This diagnosis's threshold: the environment's `thresholds`, else the catalogue default."""
        return self.env.model.threshold(self.entry.id, name)

    def target_label(self) -> str:
        return describe_target(self.env, self.target) if self.target is not None else self.env.name

    def _record(self, finding: Finding, severity: Severity, block: FailureBlock | None = None) -> None:
        redact = self.env.redactor.redact
        props = [p for p in self.item.user_properties if p[0] not in RECORDED]
        props += [
            ("severity", severity),
            ("observed", redact(finding.observed)),
            ("expected", sys.intern(redact(finding.expected))),  # the same for every target of a kind
        ]
        if finding.facts:
            props.append(("facts", redact(json.dumps(finding.facts, default=str, sort_keys=True))))
        if block is not None:  # a failure's advice as data: the report's causes, remediation, escalation
            advice = {"causes": block.causes, "remediation": block.steps, "escalation": block.escalation}
            props.append(("advice", redact(json.dumps(advice))))
        self.item.user_properties[:] = props

    def finding(self, finding: Finding) -> None:
        """Record observed/expected (and facts); fail with the composed message unless the finding is ok.

        A failing finding may carry its own severity (NET5's expiry windows): the report, JUnit and the
        message then show that one, while `-m` selection keeps the check's."""
        __tracebackhide__ = True
        if not finding.ok:
            finding = self._decode_error_codes(finding)
        severity = finding.severity if (finding.severity and not finding.ok) else self.severity
        if finding.ok:
            self._record(finding, severity)
        else:
            context = advice_context(self.env, self.target, finding)
            block = failure_block(
                self.entry,
                finding,
                severity=severity,
                catalogue=self.catalogue,
                contacts=self._contacts,
                context=context,
                runbook_base_url=self.env.model.runbook_base_url,
            )
            self._record(finding, severity, block)
            message = compose(
                self.entry, finding, severity=severity, target=self.target_label(), catalogue=self.catalogue,
                contacts=self._contacts, block=block,
            )
            pytest.fail(self.env.redactor.redact(message), pytrace=False)

    def _decode_error_codes(self, finding: Finding) -> Finding:
        """A failing finding explained by the application error codes (BK3) of the answers it saw."""
        from .assessments.flows import error_code_finding_parts  # noqa: PLC0415 - only failing checks need it

        for answer in self._answers:
            meaning, steps = error_code_finding_parts(answer, self.catalogue)
            if meaning and meaning not in finding.meaning:
                finding = replace(
                    finding,
                    meaning=f"{finding.meaning.rstrip('.')}; {meaning}" if finding.meaning else meaning,
                    remediation=(*steps, *finding.remediation),
                )
        return finding

    def reached(self, observation: H, expected: str | None = None) -> H:
        """The observation, unless its probe met a transport error: then the check fails."""
        __tracebackhide__ = True
        if isinstance(observation, HttpObservation) and observation.error is None:
            self._answers.append(observation)
        if observation.error is not None:
            self.finding(probe_failure(observation.error, self.catalogue, expected or self.entry.verifies))
        return observation
