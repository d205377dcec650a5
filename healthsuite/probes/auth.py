"""Sign-in and tokens (AUTH1-AUTH4) and refresh tokens in Redis (AUTH7).

Tokens minted here are secrets (the one from the configured secret above all): each is registered
with the run's redactor before it is sent, and no observation keeps one. Redis is only read, with
SCAN (never KEYS), TTL and TYPE, bounded in keys and time.
"""

from __future__ import annotations

import secrets
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..environment.loaded import LoadedEnvironment
from ..environment.redaction import Redactor
from ..model.auth import OidcDiscovery, ProtectedEndpoint, RefreshTokens, TokenVerify
from ..model.environment import HttpTarget, RedisCache
from ..model.types import SecretTemplate
from . import deadline, redis
from .errors import ProbeError
from .http import HttpObservation, HttpRequest
from .lazy import lazy
from .lookup import is_ip
from .session import ProbeSession

if TYPE_CHECKING:
    import jwt
else:
    jwt = lazy("jwt")

MALFORMED_TOKEN = "healthsuite.malformed.token"  # three segments, none of them base64 JSON
MIN_HMAC_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}  # RFC 7518 §3.2


# --- HTTP requests ---------------------------------------------------------------------------------


def _send(probes: ProbeSession, request: HttpRequest) -> HttpObservation:
    # TODO(owner): switch to the public ProbeSession.fetch(request) once it exists
    return probes.send(request)


def request_for(
    env: LoadedEnvironment,
    target: HttpTarget,
    *,
    global_headers: bool = True,
    token: str | None = None,
    cookie: str | None = None,
    url: str | None = None,
    follow_redirects: bool | None = None,
) -> HttpRequest:
    """The target's request with any token of the environment's own headers removed, and `token`
    sent as `Authorization: Bearer` (or as the `cookie`) when given."""
    headers: dict[str, str] = {}
    if global_headers:
        for key, value in env.model.http.headers.items():
            headers[key.lower()] = env.resolve(value, f"http.headers.{key} in {env.path.name}")
    for key, value in target.headers.items():
        headers[key.lower()] = env.resolve(value, env.where(target, f"headers.{key}"))
    if cookie is None:
        headers.pop("authorization", None)
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
    else:
        kept = [
            part.strip()
            for part in headers.pop("cookie", "").split(";")
            if part.strip() and part.strip().partition("=")[0] != cookie
        ]
        if token is not None:
            kept.append(f"{cookie}={token}")
        if kept:
            headers["cookie"] = "; ".join(kept)
    return HttpRequest(
        method=target.method,
        url=url or env.url_of(target),
        headers=tuple(sorted(headers.items())),
        follow_redirects=target.follow_redirects if follow_redirects is None else follow_redirects,
        timeout_s=target.timeout_s or env.model.timeouts.http_s,
    )


def loopback(url: str) -> bool:
    """A stand-in on this machine (http is accepted there)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    return is_ip(host) and (host.startswith("127.") or host == "::1")


# --- AUTH1: the discovery document ------------------------------------------------------------------


@dataclass(frozen=True)
class DiscoveryObservation:
    document: HttpObservation
    jwks: HttpObservation | None = None  # fetched when asked and the document names an http(s) jwks_uri

    @property
    def error(self) -> ProbeError | None:
        return self.document.error


JWKS_HINT = "jwks_uri"  # what the next run learns from this one (ProbeSession.learn)


def fetchable_jwks(jwks_uri: object) -> bool:
    """A key-set URL that is fetched: https, or http to a stand-in on this machine."""
    return isinstance(jwks_uri, str) and (
        jwks_uri.startswith("https://") or (jwks_uri.startswith("http://") and loopback(jwks_uri))
    )


def jwks_request(env: LoadedEnvironment, target: OidcDiscovery, jwks_uri: str) -> HttpRequest:
    return request_for(env, target, global_headers=False, url=jwks_uri)


def discovery(probes: ProbeSession, target: OidcDiscovery) -> DiscoveryObservation:
    """The discovery document, then its `jwks_uri`; neither carries the environment's own headers."""
    env = probes.env
    document = _send(probes, request_for(env, target, global_headers=False))
    jwks = None
    if target.fetch_jwks and document.status == 200:
        try:
            jwks_uri = document.json().get("jwks_uri")
        except (ValueError, AttributeError):
            jwks_uri = None
        if fetchable_jwks(jwks_uri):
            assert isinstance(jwks_uri, str)
            probes.learn(target, JWKS_HINT, jwks_uri)
            jwks = _send(probes, jwks_request(env, target, jwks_uri))
    return DiscoveryObservation(document, jwks)


def expected_issuer(env: LoadedEnvironment, target: OidcDiscovery) -> tuple[str | None, str]:
    """The issuer the document must name, and where that expectation comes from."""
    if target.issuer is not None:
        return env.resolve(target.issuer, env.where(target, "issuer")), "declared"
    url = env.url_of(target)
    suffix = "/.well-known/openid-configuration"
    if url.endswith(suffix):
        return url[: -len(suffix)], "the discovery URL"
    return None, ""


# --- tokens -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenSettings:
    """How tokens are made and sent to one endpoint; the secret stays out of every observation."""

    secret: str | None
    secret_source: str  # for messages: where the secret was read, or why a random one is used
    algorithm: str
    claims: Mapping[str, str]
    cookie: str | None


def _claims(env: LoadedEnvironment, target: HttpTarget, claims: Mapping[str, Any], key: str) -> dict[str, str]:
    return {name: env.resolve(value, env.where(target, f"{key}.{name}")) for name, value in claims.items()}


def verify_settings(env: LoadedEnvironment, target: TokenVerify) -> TokenSettings:
    """AUTH4: the configured secret; an unset variable raises MissingVariable (the check skips)."""
    secret = env.resolve(target.secret, env.where(target, "secret"))
    return TokenSettings(
        secret=secret,
        secret_source=f"{target.secret.raw} ({env.where(target, 'secret')})",
        algorithm=target.algorithm,
        claims=_claims(env, target, target.claims, "claims"),
        cookie=target.cookie,
    )


def protected_settings(env: LoadedEnvironment, target: ProtectedEndpoint) -> TokenSettings:
    """AUTH3: the endpoint's own settings, else auth.verify's. An unset secret is not a skip: the bad
    tokens need no secret, and the expired one is then signed with a random one (and the message says so)."""
    verify = env.model.auth.verify if env.model.auth is not None else None
    template: SecretTemplate | None = target.secret
    owner: HttpTarget | None = target if target.secret is not None else None
    if template is None and verify is not None:
        template, owner = verify.secret, verify
    secret = env.try_resolve(template) if template is not None else None
    if template is None or owner is None:
        source = "a random secret (no secret is declared: set auth.verify.secret or auth.protected.secret)"
    elif secret is None:
        source = f"a random secret ({', '.join(template.missing(env.variables))} is not set)"
    else:
        source = f"the configured secret {template.raw} ({env.where(owner, 'secret')})"
    if target.claims is not None:
        claims = _claims(env, target, target.claims, "claims")
    elif verify is not None:
        claims = _claims(env, verify, verify.claims, "claims")
    else:
        claims = {"sub": "healthsuite-check"}
    algorithm = target.algorithm or (verify.algorithm if verify is not None else "HS256")
    return TokenSettings(secret, source, algorithm, claims, target.cookie)


def mint(
    secret: str | None,
    algorithm: str,
    claims: Mapping[str, Any],
    *,
    issued_at: float,
    lifetime_s: float,
    redactor: Redactor,
) -> str:
    """A JWT, registered with the redactor before anyone can see it. `secret=None`: unsigned (alg none)."""
    payload = {**claims, "iat": int(issued_at), "exp": int(issued_at + lifetime_s)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short key is reported by AUTH4 itself, not as a warning
        if secret is None:
            token = jwt.encode(payload, None, algorithm="none")  # type: ignore[arg-type]  # PyJWT allows it
        else:
            token = jwt.encode(payload, secret, algorithm=algorithm)
    redactor.add(token)
    return token


@dataclass(frozen=True)
class VerifyObservation:
    """AUTH4: the verify endpoint's answer to a fresh token (the token itself is not kept)."""

    response: HttpObservation
    algorithm: str
    claim_names: tuple[str, ...]
    lifetime_s: float
    sent_as: str  # "Authorization: Bearer" or "cookie NAME"
    short_secret: bool  # under RFC 7518's minimum for the algorithm
    sent_at: float  # epoch seconds, for the server clock's skew

    @property
    def error(self) -> ProbeError | None:
        return self.response.error


def _sent_as(cookie: str | None) -> str:
    return f"cookie {cookie}" if cookie else "Authorization: Bearer"


def verify_fresh_token(probes: ProbeSession, target: TokenVerify, settings: TokenSettings) -> VerifyObservation:
    """AUTH4: a token minted now with the configured secret, sent once per run."""
    return probes.cache.get(
        ("auth.fresh_token", target.name, probes.env.url_of(target)),
        lambda: _verify_fresh_token(probes, target, settings),
    )


def _verify_fresh_token(probes: ProbeSession, target: TokenVerify, settings: TokenSettings) -> VerifyObservation:
    env = probes.env
    now = time.time()
    token = mint(
        settings.secret, settings.algorithm, settings.claims,
        issued_at=now, lifetime_s=target.lifetime_s, redactor=env.redactor,
    )
    response = _send(probes, request_for(env, target, token=token, cookie=settings.cookie))
    key_bytes = len((settings.secret or "").encode())
    return VerifyObservation(
        response=response,
        algorithm=settings.algorithm,
        claim_names=tuple(sorted(settings.claims)),
        lifetime_s=target.lifetime_s,
        sent_as=_sent_as(settings.cookie),
        short_secret=key_bytes < MIN_HMAC_KEY_BYTES.get(settings.algorithm, 32),
        sent_at=now,
    )


@dataclass(frozen=True)
class TokenCase:
    key: str  # no_token, malformed, wrong_secret, expired, unsigned
    label: str  # for people
    response: HttpObservation


@dataclass(frozen=True)
class BadTokensObservation:
    """AUTH3: what the protected endpoint answered to each bad token."""

    cases: tuple[TokenCase, ...]
    sent_as: str
    expired_signed_with: str

    @property
    def error(self) -> ProbeError | None:
        """A transport error only when no case got an answer (the endpoint is unreachable)."""
        errors = [case.response.error for case in self.cases]
        return errors[0] if errors and all(errors) else None


# AUTH3's cases: key -> what a person reads
BAD_TOKENS: dict[str, str] = {
    "no_token": "no token",
    "malformed": "malformed token",
    "wrong_secret": "token signed with a wrong secret",
    "expired": "expired token",
    "unsigned": "unsigned token (alg none)",
}


def _bad_token(settings: TokenSettings, case: str, redactor: Redactor) -> str | None:
    now = time.time()
    if case == "no_token":
        return None
    if case == "malformed":
        return MALFORMED_TOKEN
    if case == "wrong_secret":
        return mint(secrets.token_urlsafe(48), settings.algorithm, settings.claims, issued_at=now, lifetime_s=300,
                    redactor=redactor)
    if case == "expired":
        return mint(settings.secret or secrets.token_urlsafe(48), settings.algorithm, settings.claims,
                    issued_at=now - 7200, lifetime_s=3600, redactor=redactor)
    return mint(None, "none", settings.claims, issued_at=now, lifetime_s=300, redactor=redactor)


def bad_token(probes: ProbeSession, target: ProtectedEndpoint, settings: TokenSettings, case: str) -> TokenCase:
    """One of AUTH3's cases (BAD_TOKENS), sent once per run: its token is minted when it is sent."""
    env = probes.env

    def send() -> TokenCase:
        token = _bad_token(settings, case, env.redactor)
        # never followed: a redirect to a login page must be reported as such, not as the page's 200
        request = request_for(env, target, token=token, cookie=settings.cookie, follow_redirects=False)
        return TokenCase(case, BAD_TOKENS[case], _send(probes, request))

    return probes.cache.get(("auth.bad_token", target.name, env.url_of(target), case), send)


def bad_tokens(probes: ProbeSession, target: ProtectedEndpoint, settings: TokenSettings) -> BadTokensObservation:
    """No token, a malformed one, one signed with a wrong secret, an expired one (signed with the right
    secret when it is known), and an unsigned one (`alg: none`, the classic JWT library hole)."""
    cases = tuple(bad_token(probes, target, settings, case) for case in BAD_TOKENS)
    return BadTokensObservation(cases, _sent_as(settings.cookie), settings.secret_source)


# --- AUTH7: refresh tokens in Redis ------------------------------------------------------------------


def cache_of(env: LoadedEnvironment, target: RefreshTokens) -> RedisCache | None:
    """The declared cache the tokens live in (the only one when `cache` is not given)."""
    if target.cache is None:
        return env.model.caches[0] if len(env.model.caches) == 1 else None
    return next((c for c in env.model.caches if c.name == target.cache), None)


@dataclass(frozen=True)
class TtlScan:
    """AUTH7: the TTLs of the keys matching a pattern. Key names are shortened for display (a key may
    carry the token itself); values are never read."""

    address: str
    pattern: str
    examined: int = 0
    complete: bool = False  # the SCAN cursor came back to 0
    stopped: str = ""  # why it stopped early: "after N keys (max_keys)" or "after N s (max_scan_s)"
    without_ttl: int = 0
    examples: tuple[tuple[str, str], ...] = ()  # (shortened key name, type) of keys without TTL
    shortest_ttl_s: int | None = None
    longest_ttl_s: int | None = None
    vanished: int = 0  # expired or deleted between SCAN and TTL
    elapsed_s: float = 0.0
    error: ProbeError | None = None


def literal_prefix(pattern: str) -> str:
    """The part of a MATCH pattern before its first glob character."""
    for index, char in enumerate(pattern):
        if char in "*?[\\":
            return pattern[:index]
    return pattern


def shown_key(key: bytes | str, prefix: str, longest: int = 16) -> str:
    """The key name with long segments shortened: `refresh_token:usr-2:Xk3f9a...(43 chars)`."""
    text = key.decode("utf-8", errors="replace") if isinstance(key, bytes) else key
    head, rest = (prefix, text[len(prefix):]) if prefix and text.startswith(prefix) else ("", text)
    parts = [part if len(part) <= longest else f"{part[:6]}...({len(part)} chars)" for part in rest.split(":")]
    return head + ":".join(parts)


def refresh_token_ttls(probes: ProbeSession, target: RefreshTokens, cache: RedisCache, examples: int = 5) -> TtlScan:
    url, username, password, timeout = probes.redis_settings(cache)
    return probes.cache.get(
        ("auth.ttl_scan", url, username, password, timeout, target.pattern, target.max_keys, target.scan_count),
        lambda: scan_ttls(
            url, username, password, timeout,
            pattern=target.pattern, max_keys=target.max_keys, count=target.scan_count,
            max_scan_s=target.max_scan_s, examples=examples,
        ),
    )


def scan_ttls(
    url: str,
    username: str | None,
    password: str | None,
    timeout_s: float,
    *,
    pattern: str,
    max_keys: int,
    count: int,
    max_scan_s: float,
    examples: int = 5,
) -> TtlScan:
    """SCAN MATCH pattern COUNT count, the TTL of each key found (pipelined), TYPE of a few without one.

    One exchange: the scan stops after `max_scan_s`, each round trip within `timeout_s`, and the whole
    within both (probes.deadline)."""
    redis.ready()
    with deadline.exchange(max_scan_s + timeout_s, f"redis SCAN {redis.address_of(url)}"):
        return _scan_ttls(url, username, password, timeout_s, pattern=pattern, max_keys=max_keys, count=count,
                          max_scan_s=max_scan_s, examples=examples)


def _scan_ttls(
    url: str,
    username: str | None,
    password: str | None,
    timeout_s: float,
    *,
    pattern: str,
    max_keys: int,
    count: int,
    max_scan_s: float,
    examples: int,
) -> TtlScan:
    address = redis.address_of(url)
    prefix = literal_prefix(pattern)
    started = time.perf_counter()
    conn = redis.client(url, username, password, timeout_s)
    examined = without = vanished = 0
    shortest: int | None = None
    longest: int | None = None
    no_ttl: list[bytes | str] = []
    stopped = ""
    complete = False
    try:
        cursor = 0
        while True:
            cursor, found = conn.scan(cursor=cursor, match=pattern, count=count)
            keys = found[: max_keys - examined]
            if keys:
                pipe = conn.pipeline(transaction=False)
                for key in keys:
                    pipe.ttl(key)
                for key, ttl in zip(keys, pipe.execute(), strict=True):
                    examined += 1
                    if ttl == -2:
                        vanished += 1
                    elif ttl == -1:
                        without += 1
                        if len(no_ttl) < examples:
                            no_ttl.append(key)
                    else:
                        shortest = ttl if shortest is None else min(shortest, ttl)
                        longest = ttl if longest is None else max(longest, ttl)
            if len(keys) < len(found) or (examined >= max_keys and cursor != 0):
                stopped = f"after {examined} keys (max_keys)"
                break
            if cursor == 0:
                complete = True
                break
            if time.perf_counter() - started > max_scan_s:
                stopped = f"after {max_scan_s:g} s (max_scan_s)"
                break
        pipe = conn.pipeline(transaction=False)
        for key in no_ttl:
            pipe.type(key)
        types = [t.decode() if isinstance(t, bytes) else str(t) for t in pipe.execute()] if no_ttl else []
    except Exception as exc:  # noqa: BLE001 - every failure becomes an observation
        return TtlScan(address, pattern, elapsed_s=time.perf_counter() - started, error=redis.failure(exc, address))
    finally:
        conn.close()
    return TtlScan(
        address=address,
        pattern=pattern,
        examined=examined,
        complete=complete,
        stopped=stopped,
        without_ttl=without,
        examples=tuple(zip((shown_key(k, prefix) for k in no_ttl), types, strict=True)),
        shortest_ttl_s=shortest,
        longest_ttl_s=longest,
        vanished=vanished,
        elapsed_s=time.perf_counter() - started,
    )
