"""What each check will read, planned before the checks run, so that the probe pool runs it.

A check names its plan in its decorator, `@check("AV1", plan=plans.get)`: a function of the run's
probes, the check's target and its thresholds that returns the exchanges the check's body will read
(`Planned`: the host it goes to, a key, and the call). After collection the pool runs every planned
exchange of the selected checks, bounded per host; identical exchanges (the same key) planned by
several checks run once. The check's body then calls the very same probe functions and finds their
results in the run's caches (ProbeCache, each database's statement cache), so planning never
changes what is observed. A check waits only for its own exchanges.

Exchanges that chain stay within their target: AUTH1's key set is read after its discovery document
(one job), and PERF2's samples are jobs of one group, at most the target's `concurrency` at once,
that stop as soon as the verdict can no longer change.

Arguments that depend on thresholds are computed by one function used by both the plan and the
check (`provider_timeout_s`, `latency_limits`, ...), so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .assessments.latency import LatencyLimits, latency_decided
from .model.auth import OidcDiscovery, ProtectedEndpoint, RefreshTokens, TokenVerify
from .model.environment import (
    CorsPolicy,
    Hostname,
    HttpTarget,
    PostgresDatabase,
    RedisCache,
    ServicePort,
    SqliteDatabase,
    Target,
    TlsEndpoint,
)
from .model.flows import BookingSubmission, PaymentInitialize, PaymentProvider, PaymentWebhook
from .model.integrations import CalendarApi, ErrorTracker, ExternalDependency
from .model.latency import LatencyTarget
from .model.netaddr import parse_address
from .probes import auth, flows, integrations, latency, redis_stats
from .probes.pgreader import PgReader
from .probes.session import ProbeSession

Call = Callable[[], object]
Threshold = Callable[[str], float]  # a threshold of the check's diagnosis, by name


@dataclass(frozen=True)
class Planned:
    """One exchange a check will read."""

    host: str  # the per-host limit applies by this name ("database:main" for a database's one session)
    key: Hashable  # identical exchanges, planned by several checks, run once
    call: Call
    group: str = ""  # with group_limit: a bound of the check's own within its host (PERF2's concurrency)
    group_limit: int = 0
    host_limit: int = 0  # 0: the environment's max_per_host; a database's one session takes 1 at a time
    # exchanges to make once this one has finished, for the same checks: PERF2's further samples, only
    # while they can still change the verdict (an exchange shared with other checks keeps every `then`)
    then: Callable[[], Sequence[Planned]] | None = None
    repeat: bool = False  # a repeated sample: it starts only when no first exchange is waiting for room


Plan = Callable[[ProbeSession, Any, Threshold], Sequence[Planned]]


def target_key(target: Target) -> str:
    """`endpoints/slow`: how a target is named in the pool and in the report's probe latencies."""
    return target.key


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


# --- the plain observations --------------------------------------------------------------------------------


def get(probes: ProbeSession, target: HttpTarget, threshold: Threshold) -> list[Planned]:
    """The target's own request (`probes.http`): AV1, AV2, AV3, PERF1, NET8, AV5, DEP2, DB4, BK2, AUTH2, PERF3."""
    request = probes.http_request(target)
    return [Planned(_host(request.url), ("http", request), lambda: probes.http(target))]


def dns(probes: ProbeSession, target: Hostname, threshold: Threshold) -> list[Planned]:
    return [Planned("dns", ("dns", target_key(target)), lambda: probes.dns(target))]


def tls(probes: ProbeSession, target: TlsEndpoint, threshold: Threshold) -> list[Planned]:
    host = probes.tls_address(target)[0]
    return [Planned(host, ("tls", target_key(target)), lambda: probes.tls(target))]


def tls_and_redirect(probes: ProbeSession, target: TlsEndpoint, threshold: Threshold) -> list[Planned]:
    """NET6: the handshake, and the plain-HTTP request that must answer a redirect."""
    planned = tls(probes, target, threshold)
    if target.http_redirect:
        url = probes.plain_http_url(target)
        planned.append(Planned(_host(url), ("http.url", url), lambda: probes.fetch_url(url)))
    return planned


def cors(probes: ProbeSession, target: CorsPolicy, threshold: Threshold) -> list[Planned]:
    """NET7: one preflight per allowed origin, and one from a foreign origin."""
    host = _host(probes.env.url_of(target))
    origins = [*probes.cors_origins(target), target.foreign_origin]
    return [
        Planned(host, ("cors", target_key(target), origin), lambda o=origin: probes.cors_preflight(target, o))  # type: ignore[misc]
        for origin in origins
    ]


def tcp(probes: ProbeSession, target: ServicePort, threshold: Threshold) -> list[Planned]:
    host = parse_address(probes.env.resolve(target.address))[0]
    return [Planned(host, ("tcp", target_key(target)), lambda: probes.tcp(target))]


def _database_host(target: Target) -> str:
    return f"database:{target.name}"


def database(probes: ProbeSession, target: PostgresDatabase | SqliteDatabase, threshold: Threshold) -> list[Planned]:
    """DB1's `SELECT 1`."""
    return [Planned(_database_host(target), ("database", target_key(target)), lambda: probes.database(target),
                    host_limit=1)]


def redis_ping(probes: ProbeSession, target: RedisCache, threshold: Threshold) -> list[Planned]:
    return [Planned(f"redis:{target.name}", ("redis.ping", target_key(target)), lambda: probes.redis_ping(target))]


def redis_info(probes: ProbeSession, target: RedisCache, threshold: Threshold) -> list[Planned]:
    """CACHE2, PERF7: one INFO."""
    return [Planned(f"redis:{target.name}", ("redis.info", target_key(target)),
                    lambda: redis_stats.observe(probes, target))]


def observe(probes: ProbeSession, target: Target, threshold: Threshold) -> list[Planned]:
    """DEP1: the basic observation of any smoke target."""
    if isinstance(target, HttpTarget):
        return get(probes, target, threshold)
    if isinstance(target, RedisCache):
        return redis_ping(probes, target, threshold)
    if isinstance(target, (PostgresDatabase, SqliteDatabase)):
        return database(probes, target, threshold)
    return []


R = TypeVar("R")
DatabaseRead = Callable[[PgReader, PostgresDatabase, Threshold], R]


def on_database(read: DatabaseRead[Any]) -> Plan:
    """A plan that runs `read(reader, target, threshold)` on the database's one session: the check
    calls the same `read`, whose statements are then in the session's cache."""

    def plan(probes: ProbeSession, target: PostgresDatabase, threshold: Threshold) -> list[Planned]:
        return [
            Planned(
                _database_host(target),
                ("database.read", read, target_key(target)),
                lambda: read(probes.postgres(target), target, threshold),
                host_limit=1,
            )
        ]

    return plan


# --- requests checks build themselves ---------------------------------------------------------------------


def booking_submit(probes: ProbeSession, target: BookingSubmission, threshold: Threshold) -> list[Planned]:
    """BK1, BK3: the one POST of the test payload."""
    return [Planned(_host(probes.env.url_of(target)), ("booking", target_key(target)),
                    lambda: flows.submit_booking(probes, target))]


def provider_timeout_s(target: PaymentProvider, threshold: Threshold) -> float:
    return target.timeout_s or threshold("timeout_s")


def provider(probes: ProbeSession, target: PaymentProvider, threshold: Threshold) -> list[Planned]:
    """PAY1: the provider's API with the secret key."""
    timeout_s = provider_timeout_s(target, threshold)
    host = _host(probes.env.resolve(target.url))
    return [Planned(host, ("provider", target_key(target)), lambda: flows.provider_api(probes, target, timeout_s))]


def webhook(*signatures: flows.Signature) -> Plan:
    """PAY2 (`valid`), PAY3 (`missing`, `wrong`): one test event per signature, each its own exchange."""

    def plan(probes: ProbeSession, target: PaymentWebhook, threshold: Threshold) -> list[Planned]:
        host = _host(probes.env.url_of(target))
        return [
            Planned(host, ("webhook", target_key(target), signature),
                    lambda s=signature: flows.send_event(probes, target, s))  # type: ignore[misc]
            for signature in signatures
        ]

    return plan


def initialize_timeout_s(probes: ProbeSession, target: PaymentInitialize) -> float:
    provider = probes.env.model.payments.provider if probes.env.model.payments else None
    return target.timeout_s or (provider.timeout_s if provider else None) or probes.env.model.timeouts.http_s


def initialize(probes: ProbeSession, target: PaymentInitialize, threshold: Threshold) -> list[Planned]:
    """PAY6 (mutating: planned only when the environment allows it, like the check itself)."""
    payments = probes.env.model.payments
    provider = payments.provider if payments is not None else None
    if provider is None:
        return []
    timeout_s = initialize_timeout_s(probes, target)
    host = _host(probes.env.resolve(provider.url))
    return [Planned(host, ("initialize", target_key(target)),
                    lambda: flows.initialize_transaction(probes, provider, target, timeout_s))]


def discovery(probes: ProbeSession, target: OidcDiscovery, threshold: Threshold) -> list[Planned]:
    """AUTH1: the document, then its key set (chained: one job). When the previous run learned where
    the key set is (its `jwks_uri`), that is fetched beside the document: the document's own
    `jwks_uri` then finds it in the cache, unless it has moved (then it is fetched after the document)."""
    planned = [Planned(_host(probes.env.url_of(target)), ("discovery", target_key(target)),
                       lambda: auth.discovery(probes, target))]
    jwks_uri = probes.hint(target, auth.JWKS_HINT) if target.fetch_jwks else None
    if jwks_uri is not None and auth.fetchable_jwks(jwks_uri):
        request = auth.jwks_request(probes.env, target, jwks_uri)
        planned.append(Planned(_host(jwks_uri), ("http", request), lambda: probes.send(request)))
    return planned


def bad_tokens(probes: ProbeSession, target: ProtectedEndpoint, threshold: Threshold) -> list[Planned]:
    """AUTH3: the five bad tokens, each its own exchange."""
    settings = auth.protected_settings(probes.env, target)
    host = _host(probes.env.url_of(target))
    return [
        Planned(host, ("bad_token", target_key(target), case),
                lambda c=case: auth.bad_token(probes, target, settings, c))  # type: ignore[misc]
        for case in auth.BAD_TOKENS
    ]


def fresh_token(probes: ProbeSession, target: TokenVerify, threshold: Threshold) -> list[Planned]:
    """AUTH4 (an unset secret plans nothing: the check skips, naming it)."""
    settings = auth.verify_settings(probes.env, target)
    return [Planned(_host(probes.env.url_of(target)), ("fresh_token", target_key(target)),
                    lambda: auth.verify_fresh_token(probes, target, settings))]


def refresh_tokens(probes: ProbeSession, target: RefreshTokens, threshold: Threshold) -> list[Planned]:
    """AUTH7: the bounded SCAN of the refresh-token keys."""
    cache = auth.cache_of(probes.env, target)
    if cache is None:
        return []
    return [Planned(f"redis:{cache.name}", ("ttl_scan", target_key(target)),
                    lambda: auth.refresh_token_ttls(probes, target, cache))]


def calendar(probes: ProbeSession, target: CalendarApi, threshold: Threshold) -> list[Planned]:
    request = integrations.external_request(probes.env, target, target.token)
    return [Planned(_host(request.url), ("http", request), lambda: integrations.fetch_once(probes, request))]


def error_tracker(probes: ProbeSession, target: ErrorTracker, threshold: Threshold) -> list[Planned]:
    """EXT2: one page of new issues in the window."""
    window_h = threshold("window_h")
    host = _host(probes.env.resolve(target.url))
    return [Planned(host, ("issues", target_key(target)), lambda: integrations.new_issues(probes, target, window_h))]


def dependency_budget_ms(target: ExternalDependency, threshold: Threshold) -> float:
    return target.budget_ms or threshold("timeout_s") * 1000


def dependency(probes: ProbeSession, target: ExternalDependency, threshold: Threshold) -> list[Planned]:
    request = integrations.dependency_request(probes.env, target, dependency_budget_ms(target, threshold))
    return [Planned(_host(request.url), ("http", request), lambda: integrations.fetch_once(probes, request))]


def latency_limits(target: LatencyTarget, threshold: Threshold) -> LatencyLimits:
    return LatencyLimits(
        samples=int(target.samples or threshold("samples")),
        expected_statuses=target.expected_statuses,
        p95_ms=target.max_p95_ms or threshold("p95_ms"),
        mean_ms=target.max_mean_ms or threshold("mean_ms"),
        min_success_pct=threshold("min_success_rate_pct"),
    )


def sampler(probes: ProbeSession, target: LatencyTarget, threshold: Threshold) -> latency.LatencySampler:
    """PERF2's one sampler of the target (the plan's jobs take its samples; the check reads them)."""
    limits = latency_limits(target, threshold)
    return latency.latency_sampler(probes, target, limits.samples, latency_decided(limits))


def latency_samples(probes: ProbeSession, target: LatencyTarget, threshold: Threshold) -> list[Planned]:
    """PERF2: its first sample is the GET the other checks of that URL make (`get`'s key: one request);
    once it has answered, `then` plans the next ones, `concurrency` at first and one more as each
    answers, while the verdict can still change. They are repeats: they start after every first exchange
    waiting for room, within the target's concurrency and the host's limit."""
    taker = sampler(probes, target, threshold)
    host, name = _host(taker.request.url), target_key(target)

    def more(most: int) -> list[Planned]:
        taker.first()  # already answered: the shared request is in the probe cache
        return [
            Planned(host, ("sample", name, index), taker.take, group=f"latency:{target.name}",
                    group_limit=target.concurrency, then=lambda: more(1), repeat=True)
            for index in taker.claim(most)
        ]

    return [Planned(host, ("http", taker.request), taker.first, then=lambda: more(target.concurrency))]


# --- a team's declared checks (healthsuite.model.declared) -------------------------------------------------


def declared_check(probes: ProbeSession, target: Any, threshold: Threshold) -> list[Planned]:
    """A declared check's one exchange, keyed like the shipped checks' own so that the same request,
    handshake, connect or lookup is made once: `http` by its request (plans.get's key), `tls` and `tcp` by
    address (NET5's, AV4's), `sql` by statement on the database's one session, `redis` by command; a `file`
    probe reads a local file, which no pool bounds."""
    from .probes import declared  # noqa: PLC0415 - only environments that declare checks load it

    kind = target.kind
    if kind == "http":
        request = declared.http_request(probes, target)
        return [Planned(_host(request.url), ("http", request), lambda: declared.observe(probes, target))]
    if kind == "sql":
        database = declared.database_of(probes, target)
        return [Planned(_database_host(database), ("declared.sql", target_key(database), target.sql.query),
                        lambda: declared.observe(probes, target), host_limit=1)]
    if kind == "redis":
        cache = declared.cache_of(probes, target)
        return [Planned(f"redis:{cache.name}", ("declared.redis", target_key(cache), target.redis_args()),
                        lambda: declared.observe(probes, target))]
    if kind == "dns":
        host, nameservers, timeout = declared.dns_query(probes, target)
        return [Planned("dns", ("declared.dns", host, target.dns.type, nameservers, timeout),
                        lambda: declared.observe(probes, target))]
    if kind == "tls":
        host, port, name = declared.tls_address(probes, target)
        return [Planned(host, ("declared.tls", host, port, name), lambda: declared.observe(probes, target))]
    if kind == "tcp":
        host, port = declared.tcp_address(probes, target)
        return [Planned(host, ("declared.tcp", host, port), lambda: declared.observe(probes, target))]
    return []
