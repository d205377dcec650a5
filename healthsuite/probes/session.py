"""The probes of one run: each (observation, target) is probed once and shared by every check."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit

from ..environment.loaded import LoadedEnvironment
from ..model.environment import (
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
from ..model.netaddr import parse_address
from ..model.retries import RetryPolicy
from ..model.templates import Template
from . import deadline, http, redis, resolver, sqlite, tcp, tls
from .cache import ProbeCache
from .errors import ProbeError
from .http import HttpObservation, HttpRequest
from .lookup import ADDRESS_TYPES, Names
from .pgreader import PgReader
from .postgres import PostgresObservation
from .retry import Attempt, attempted

if TYPE_CHECKING:
    pass

DatabaseObservation = PostgresObservation | sqlite.SqliteObservation


class _Retriable(Protocol):
    """An observation a transport failure may have made twice: its error, and every attempt."""

    @property
    def error(self) -> ProbeError | None: ...
    @property
    def attempts(self) -> tuple[Attempt, ...]: ...


Retried = TypeVar("Retried", bound=_Retriable)


# a DNS check's other record types (CNAME), asked beside the run's shared address lookup
_OTHER_TYPES = ThreadPoolExecutor(max_workers=4, thread_name_prefix="healthsuite-dns-types")


class ProbeSession:
    """Opens nothing until a check asks; `close()` releases the HTTP connection pool."""

    def __init__(self, env: LoadedEnvironment, hints: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.env = env
        self.cache = ProbeCache()
        # what the previous run learned about where to probe (a key set's URL), by target key; and this run's
        self.hints: Mapping[str, Mapping[str, str]] = hints or {}
        self.learned: dict[str, dict[str, str]] = {}
        self._learned_lock = threading.Lock()
        self._client: http.HttpClient | None = None
        self._names: Names | None = None
        self._readers: dict[tuple[str, float], PgReader] = {}
        self._readers_lock = threading.Lock()
        # the diagnoses whose checks read each target (by target key), for retries.by_diagnosis
        self._diagnoses: dict[str, set[str]] = {}
        # the retried exchanges the check running on this thread read (see reading / read)
        self._reading = threading.local()

    def hint(self, target: Target, name: str) -> str | None:
        """What the previous run learned about `target` (None: nothing), to plan a follow-up exchange
        beside the one it follows (AUTH1's key set beside its discovery document)."""
        value = self.hints.get(target.key, {}).get(name)
        return value if isinstance(value, str) else None

    def learn(self, target: Target, name: str, value: str) -> None:
        """Keep what the next run may plan by (the report's `probe_hints`)."""
        with self._learned_lock:
            self.learned.setdefault(target.key, {})[name] = value

    def ca_bundle(self) -> str | None:
        """The file's extra CA bundle (http.ca_bundle), resolved; None when it declares none."""
        settings = self.env.model.http
        if settings.ca_bundle is None:
            return None
        return str(self.env.resolve_path(settings.ca_bundle, f"http.ca_bundle in {self.env.path.name}"))

    def nameservers(self) -> tuple[tuple[str, int], ...]:
        """dns.nameservers, resolved: (ip, port) each; empty: the system resolver."""
        env = self.env
        return tuple(
            parse_address(env.resolve(ns, f"dns.nameservers in {env.path.name}"), 53)
            for ns in env.model.dns.nameservers
        )

    @property
    def names(self) -> Names:
        """Where every name of the run goes (probes.lookup): dns.hosts, else dns.nameservers, else
        the system resolver; each name looked up once, through the probe cache."""
        names = self._names
        if names is None:
            env = self.env
            names = Names(
                pins=env.model.dns.hosts, nameservers=self.nameservers(), timeout_s=env.model.timeouts.dns_s,
                cache=self.cache, pin_source=f"dns.hosts in {env.path.name}",
            )
            self._names = names
        return names

    def _http_client(self) -> http.HttpClient:
        with self._readers_lock:  # prefetching threads may ask at the same time
            if self._client is None:
                self._client = http.make_client(
                    http.tls_context(self.env.model.http.verify_tls, self.ca_bundle()), self.names
                )
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        with self._readers_lock:
            for reader in self._readers.values():
                reader.close()
            self._readers.clear()

    # --- retries (model.retries, probes.retry) ------------------------------------------------------

    def note_reader(self, target: Target, diagnosis: str) -> None:
        """A check of `diagnosis` reads `target`: its exchanges get retries.by_diagnosis's attempts too."""
        with self._learned_lock:
            self._diagnoses.setdefault(target.key, set()).add(diagnosis)

    def retry_policy(self, target: Target | None = None) -> RetryPolicy:
        """The policy of `target`'s exchanges: the target's own `retries`, else the most attempts of the
        file's `retries` and of retries.by_diagnosis for every diagnosis that reads it (one exchange,
        retried once for all its checks)."""
        own = getattr(target, "retries", None)
        if isinstance(own, RetryPolicy):
            return own
        settings: RetryPolicy = self.env.model.retries
        policies = [settings]
        by_diagnosis = self.env.model.retries.by_diagnosis
        if target is not None and by_diagnosis:
            with self._learned_lock:
                diagnoses = sorted(self._diagnoses.get(target.key, ()))
            policies += [by_diagnosis[d] for d in diagnoses if d in by_diagnosis]
        return max(policies, key=lambda policy: policy.attempts)

    def start_reading(self) -> None:
        """From now on, keep the retried exchanges this thread reads (a check about to run)."""
        self._reading.seen = []

    def stop_reading(self) -> list[tuple[str, tuple[Attempt, ...]]]:
        """The exchanges read since start_reading that took more than one attempt: (what, attempts)."""
        seen: list[tuple[str, tuple[Attempt, ...]]] = getattr(self._reading, "seen", None) or []
        self._reading.seen = None
        return seen

    def read(self, exchange: str, observation: Retried) -> Retried:
        """`observation`, kept for the check running on this thread when it took more than one attempt."""
        seen = getattr(self._reading, "seen", None)
        if seen is not None and observation.attempts and all(what != exchange for what, _ in seen):
            seen.append((exchange, observation.attempts))
        return observation

    def retried(self, probe: Callable[[], Retried], target: Target | None) -> Retried:
        """`probe()`, again after a transport failure as `target`'s policy allows; every attempt kept."""
        observation, attempts = attempted(probe, lambda seen: seen.error, self.retry_policy(target))
        return dataclasses.replace(observation, attempts=attempts) if attempts else observation  # type: ignore[type-var]

    # --- requests, resolved from the environment file --------------------------------------------

    def http_request(self, target: HttpTarget) -> HttpRequest:
        env = self.env
        headers = {**env.model.http.headers, **target.headers}
        return http.HttpRequest(
            method=target.method,
            url=env.url_of(target),
            headers=tuple(
                sorted((k, env.resolve(v, env.where(target, f"headers.{k}"))) for k, v in headers.items())
            ),
            follow_redirects=target.follow_redirects,
            timeout_s=target.timeout_s or env.model.timeouts.http_s,
        )

    def tls_address(self, target: TlsEndpoint) -> tuple[str, int, str]:
        """(host, port, server name) of a TLS endpoint."""
        return self.https_address(target.url, target.base, target.server_name, lambda key: self.env.where(target, key))

    def https_address(
        self, url: Template | None, base: str | None, server_name: Template | None, where: Callable[[str], str]
    ) -> tuple[str, int, str]:
        """(host, port, server name) of `url`, else of base URL `base`; `where(key)` names a key for messages."""
        env = self.env
        if url is not None:
            resolved = env.resolve(url, where("url"))
        else:
            assert base is not None
            resolved = env.resolve(env.model.base_urls[base], f"base_urls.{base} in {env.path.name}")
        parts = urlsplit(resolved)
        host = parts.hostname or ""
        name = env.resolve(server_name, where("server_name")) if server_name else host
        return host, parts.port or 443, name

    def plain_http_url(self, target: TlsEndpoint) -> str:
        """Where plain HTTP is expected to answer a redirect to HTTPS (NET6)."""
        if target.http_url is not None:
            return self.env.resolve(target.http_url, self.env.where(target, "http_url"))
        host, _, _ = self.tls_address(target)
        return f"http://{'[' + host + ']' if ':' in host else host}/"

    # --- observations ----------------------------------------------------------------------------

    def _fetch(self, request: HttpRequest, target: Target | None = None) -> HttpObservation:
        seen = self.cache.get(
            ("http", request),
            lambda: with_shared_text(self.retried(
                lambda: http.fetch(self._http_client(), request, self.env.model.http.max_body_bytes), target
            )),
        )
        return self.read(f"{request.method} {request.url}", seen)

    def send(self, request: HttpRequest, *, cached: bool = True, target: Target | None = None) -> HttpObservation:
        """Any request a check builds itself (a POST with a body, a signed webhook event): probed once
        per run, or, with `cached=False`, sent anew (PERF2's deliberate samples, never retried: a
        sample that failed is part of the distribution)."""
        if cached:
            return self._fetch(request, target)
        return http.fetch(self._http_client(), request, self.env.model.http.max_body_bytes)

    def http(self, target: HttpTarget) -> HttpObservation:
        return self._fetch(self.http_request(target), target)

    def fetch_url(self, url: str, timeout_s: float | None = None) -> HttpObservation:
        """GET a URL the file does not list as a target (NET6's plain-HTTP URL); no redirect followed."""
        headers = tuple(
            sorted((k, self.env.resolve(v, f"http.headers.{k}")) for k, v in self.env.model.http.headers.items())
        )
        return self._fetch(
            http.HttpRequest("GET", url, headers=headers, timeout_s=timeout_s or self.env.model.timeouts.http_s)
        )

    def cors_origins(self, target: CorsPolicy) -> list[str]:
        return [self.env.resolve(o, self.env.where(target, f"origins[{i}]")) for i, o in enumerate(target.origins)]

    def cors_preflight(self, target: CorsPolicy, origin: str) -> HttpObservation:
        """The browser's preflight: OPTIONS with Origin and the Access-Control-Request-* headers."""
        base = self.http_request(target)
        headers = dict(base.headers)
        headers["origin"] = origin
        headers["access-control-request-method"] = target.request_method
        if target.request_headers:
            headers["access-control-request-headers"] = ", ".join(target.request_headers)
        return self._fetch(
            http.HttpRequest("OPTIONS", base.url, tuple(sorted(headers.items())), False, base.timeout_s), target
        )

    def dns(self, target: Hostname) -> resolver.DnsObservation:
        """A and/or AAAA (and CNAME when a shape is declared) of one name, through the file's resolver."""
        env = self.env
        host = env.resolve(target.host, env.where(target, "host")).rstrip(".").lower()
        rdtypes = tuple(target.records) + (("CNAME",) if target.cname is not None else ())
        timeout = target.timeout_s or env.model.timeouts.dns_s
        return self.cache.get(
            ("dns", host, rdtypes, self.names.nameservers, timeout), lambda: self.lookup(host, rdtypes, timeout)
        )

    def lookup(self, host: str, rdtypes: tuple[str, ...], timeout_s: float) -> resolver.DnsObservation:
        """`rdtypes` of `host` through the file's resolver. A and AAAA are the run's one address lookup
        of the name (probes.lookup.Names.addresses), the one every connection to it uses: NET1 and the
        HTTP, TLS and TCP probes see the same answer. Other types are asked here."""
        names = self.names
        answers: dict[str, resolver.DnsAnswer] = {}
        label = ""
        others = tuple(t for t in rdtypes if t not in ADDRESS_TYPES)
        # the other types are asked at the same time as the shared address lookup: one round trip, not two
        # (each is bounded by `timeout_s` itself)
        asking = (_OTHER_TYPES.submit(deadline.carried(resolver.resolve), host, others, names.nameservers, timeout_s)
                  if others else None)
        if any(t in ADDRESS_TYPES for t in rdtypes):
            shared = names.addresses(host, timeout_s)
            answers.update(shared.answers)
            label = shared.resolver
        if asking is not None:
            asked = asking.result()
            answers.update(asked.answers)
            label = label or asked.resolver
        return resolver.DnsObservation(host, label, {t: answers[t] for t in rdtypes if t in answers})

    def tls(self, target: TlsEndpoint) -> tls.TlsObservation:
        host, port, server_name = self.tls_address(target)
        timeout = target.timeout_s or self.env.model.timeouts.http_s
        ca_bundle = self.ca_bundle()
        seen = self.cache.get(
            ("tls", host, port, server_name, ca_bundle, timeout),
            lambda: self.retried(
                lambda: tls.handshake(host, port, server_name, ca_bundle, timeout, lookup=self.names), target
            ),
        )
        return self.read(f"TLS {host}:{port} ({server_name})", seen)

    def upstream(self, target: ProxiedPath) -> str:
        """A proxied path's declared upstream as host:port, "" when it declares none (NET8)."""
        return target.upstream.resolved(self.env.resolve)[0] if target.upstream is not None else ""

    def tcp(self, target: ServicePort) -> tcp.TcpObservation:
        env = self.env
        host, port = parse_address(env.resolve(target.address, env.where(target, "address")))
        timeout = target.timeout_s or env.model.timeouts.connect_s
        seen = self.cache.get(
            ("tcp", host, port, timeout),
            lambda: self.retried(lambda: tcp.connect(host, port, timeout, self.names), target),
        )
        return self.read(f"TCP {host}:{port}", seen)

    def postgres(self, target: PostgresDatabase) -> PgReader:
        """The run's one read-only connection to this database (opened on first use, shared by checks)."""
        env = self.env
        dsn = env.resolve(target.dsn, env.where(target, "dsn"))
        timeout = target.timeout_s or env.model.timeouts.database_s
        with self._readers_lock:
            reader = self._readers.get((dsn, timeout))
            if reader is None:
                reader = self._readers[(dsn, timeout)] = PgReader(dsn, timeout, target.allow_sql)
        return reader.open()

    def database(self, target: Target) -> DatabaseObservation:
        env = self.env
        if isinstance(target, PostgresDatabase):
            reader = self.postgres(target)
            return self.cache.get(("postgres.select1", reader.address, reader.timeout_s), reader.observation)
        if isinstance(target, SqliteDatabase):
            path = env.resolve_path(target.path, env.where(target, "path"))
            timeout = target.timeout_s or env.model.timeouts.database_s
            return self.cache.get(("sqlite.select1", path, timeout), lambda: sqlite.select_one(path, timeout))
        raise TypeError(f"not a database: {target!r}")

    def redis_settings(self, target: RedisCache) -> tuple[str, str | None, str | None, float]:
        """(url, username, password, timeout) of a declared Redis, for every probe that talks to it."""
        env = self.env
        url = env.resolve(target.url, env.where(target, "url"))
        username = env.resolve(target.username, env.where(target, "username")) if target.username else None
        password = env.resolve(target.password, env.where(target, "password")) if target.password else None
        return url, username, password, target.timeout_s or env.model.timeouts.cache_s

    def redis_ping(self, target: RedisCache) -> redis.RedisObservation:
        url, username, password, timeout = self.redis_settings(target)
        return self.cache.get(
            ("redis.ping", url, username, password, timeout),
            lambda: redis.ping(url, username, password, timeout),
        )

    def observe(self, target: Target) -> Any:
        """The basic observation of any target: a response, `SELECT 1`, or PING."""
        if isinstance(target, HttpTarget):
            return self.http(target)
        if isinstance(target, RedisCache):
            return self.redis_ping(target)
        return self.database(target)


# --- the cache's memory ---------------------------------------------------------------------------------

SHARED_TEXT_MAX_CHARS = 64  # a header name or short value, a reason phrase, an HTTP version, an address
SHARED_TEXT_MAX_ENTRIES = 4096
_SHARED_TEXT: dict[str, str] = {}


def shared_text(text: str) -> str:
    """`text`, or the equal string an earlier answer held: thousands of cached answers repeat the same
    header names and short values (`content-type: application/json`), each its own string otherwise."""
    if len(text) > SHARED_TEXT_MAX_CHARS:
        return text
    known = _SHARED_TEXT.get(text)
    if known is None:
        if len(_SHARED_TEXT) >= SHARED_TEXT_MAX_ENTRIES:
            return text
        known = _SHARED_TEXT.setdefault(text, text)
    return known


def with_shared_text(observation: HttpObservation) -> HttpObservation:
    """The observation the cache keeps for the run, its short strings shared with the other answers'."""
    return dataclasses.replace(
        observation,
        headers={shared_text(name): shared_text(value) for name, value in observation.headers.items()},
        reason=shared_text(observation.reason),
        http_version=shared_text(observation.http_version),
        peer=shared_text(observation.peer),
    )
