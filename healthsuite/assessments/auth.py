"""Judge sign-in and tokens: the OIDC discovery document (AUTH1), the sign-in endpoint (AUTH2), bad
tokens refused (AUTH3), a fresh token accepted (AUTH4), refresh tokens that expire (AUTH7).

No token or secret is ever part of a finding: only statuses, codes, claim names and key names."""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from ..catalogue.diagnoses import Catalogue
from ..model.auth import REDIRECTS, ProtectedEndpoint, RefreshTokens, SignIn, TokenVerify
from ..probes.auth import BadTokensObservation, DiscoveryObservation, TtlScan, VerifyObservation, loopback
from ..probes.http import HttpObservation
from . import BODY_EXCERPT, status_meaning
from .failure import Finding

REQUIRED_FIELDS = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
MAX_CLOCK_SKEW_S = 30
_CODE = re.compile(r"\b[A-Z]{2,4}\d{3}\b")


def error_codes(obs: HttpObservation, catalogue: Catalogue) -> list[str]:
    """Application error codes of runbook 000 in a body: `AUTH001 (Invalid JWT token)`."""
    if obs.error is not None or not obs.body:
        return []
    found = dict.fromkeys(c for c in _CODE.findall(obs.text()) if c in catalogue.application_error_codes)
    return [f"{code} ({catalogue.application_error_codes[code].meaning})" for code in found]


def _answer(obs: HttpObservation, catalogue: Catalogue) -> str:
    """`HTTP 401 (AUTH001 (Invalid JWT token))`, or the transport error."""
    if obs.error is not None:
        return f"{obs.error.kind_name} ({obs.error.detail})"
    codes = error_codes(obs, catalogue)
    return f"HTTP {obs.status}" + (f" ({', '.join(codes)})" if codes else "")


def _resolutions(obs: HttpObservation, catalogue: Catalogue) -> tuple[str, ...]:
    found = dict.fromkeys(c for c in _CODE.findall(obs.text()) if c in catalogue.application_error_codes)
    return tuple(f"{code}: {catalogue.application_error_codes[code].resolution}." for code in found)


def _excerpt(obs: HttpObservation) -> str:
    return f", body {obs.text(BODY_EXCERPT)!r}" if obs.body else ""


# --- AUTH1 ----------------------------------------------------------------------------------------------


def _url_problem(name: str, value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return f"{name} is {'absent' if value is None else repr(value)}"
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and loopback(value):
        return None  # a local stand-in
    return f"{name} {value!r} is not an https URL"


def _jwks_problem(obs: HttpObservation) -> str | None:
    if obs.error is not None:
        return f"jwks_uri {obs.url}: {obs.error.kind_name} ({obs.error.detail})"
    if obs.status != 200:
        return f"jwks_uri {obs.url} answers HTTP {obs.status}"
    try:
        keys = obs.json().get("keys")
    except (ValueError, AttributeError):
        return f"jwks_uri {obs.url} is not a JSON key set{_excerpt(obs)}"
    if not isinstance(keys, list) or not keys:
        return f"jwks_uri {obs.url} lists no keys"
    if not all(isinstance(k, dict) and k.get("kty") for k in keys):
        return f"jwks_uri {obs.url}: a key has no `kty`"
    return None


def discovery(obs: DiscoveryObservation, issuer: str | None, issuer_source: str, catalogue: Catalogue) -> Finding:
    """AUTH1: 200 JSON with issuer, authorization/token endpoints and jwks_uri (https; http only on
    loopback), the expected issuer, and (when fetched) a key set with keys."""
    document = obs.document
    expected = "HTTP 200, JSON with https issuer, authorization_endpoint, token_endpoint, jwks_uri"
    if issuer:
        expected += f"; issuer {issuer!r} ({issuer_source})"
    if obs.jwks is not None:
        expected += "; jwks_uri lists signing keys"
    facts: dict[str, object] = {"url": document.url, "status": document.status}
    if document.status != 200:
        meaning, causes = status_meaning(document.status, catalogue)
        return Finding(
            ok=False,
            observed=f"{document.url}: {document.summary()}{_excerpt(document)}",
            expected=expected,
            meaning=meaning or "the discovery document is not served: sign-in with this provider cannot start",
            causes=causes,
            facts=facts,
        )
    try:
        data = document.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return Finding(
            ok=False,
            observed=f"{document.url}: HTTP 200 but not a JSON object (content-type "
            f"{document.content_type or 'none'}){_excerpt(document)}",
            expected=expected,
            meaning="the URL answers, but not with a discovery document (a wrong URL, or a portal page)",
            facts=facts,
        )
    problems = [p for name in REQUIRED_FIELDS if (p := _url_problem(name, data.get(name)))]
    found_issuer = data.get("issuer")
    if issuer and isinstance(found_issuer, str) and found_issuer.rstrip("/") != issuer.rstrip("/"):
        problems.append(f"issuer is {found_issuer!r}, not {issuer!r} ({issuer_source})")
    if obs.jwks is not None and (problem := _jwks_problem(obs.jwks)):
        problems.append(problem)
    facts.update({name: data.get(name) for name in REQUIRED_FIELDS})
    if obs.jwks is not None:
        facts["jwks_status"] = obs.jwks.status
    if problems:
        return Finding(
            ok=False,
            observed=f"{document.url}: " + "; ".join(problems),
            expected=expected,
            meaning="clients cannot use this provider: tokens cannot be obtained or their signatures checked",
            causes=("The provider's configuration, or the stand-in/proxy serving the document, is wrong.",),
            facts=facts,
        )
    keys = ""
    if obs.jwks is not None:
        try:
            keys = f", jwks {len(obs.jwks.json()['keys'])} key(s)"
        except (ValueError, KeyError, TypeError):
            keys = ""
    return Finding(
        ok=True,
        observed=f"{document.url}: HTTP 200, issuer {found_issuer!r}, all four endpoints https{keys}",
        expected=expected,
        facts=facts,
    )


# --- AUTH2 ----------------------------------------------------------------------------------------------


def sign_in(target: SignIn, obs: HttpObservation, redirect_to: str | None, catalogue: Catalogue) -> Finding:
    """AUTH2: 200 or a redirect (never 5xx or 404); a redirect's Location is reported, and checked
    against `redirect_to` when declared."""
    location = obs.headers.get("location", "")
    allowed = target.expected_statuses
    expected = f"HTTP {' or '.join(str(s) for s in allowed)}"
    if redirect_to:
        expected += f"; a redirect leads to {redirect_to}..."
    observed = f"HTTP {obs.status}" + (f" -> Location {location}" if location else "")
    codes = error_codes(obs, catalogue)
    if codes:
        observed += f" ({', '.join(codes)})"
    facts = {"status": obs.status, "location": location or None}
    if obs.status not in allowed:
        meaning, causes = status_meaning(obs.status, catalogue)
        if obs.status == 404:
            meaning = "nothing answers at the sign-in route: a wrong path, or the auth routes were not deployed"
        elif obs.status is not None and obs.status >= 500:
            meaning = f"{meaning} The sign-in route throws: nobody can sign in.".strip()
        return Finding(
            ok=False,
            observed=observed + (_excerpt(obs) if not codes else ""),
            expected=expected,
            meaning=meaning,
            causes=causes,
            remediation=_resolutions(obs, catalogue),
            facts=facts,
        )
    if redirect_to and obs.status in REDIRECTS and not location.startswith(redirect_to):
        return Finding(
            ok=False,
            observed=observed,
            expected=expected,
            meaning="sign-in sends people somewhere else than the identity provider",
            causes=("The OAuth provider configuration (issuer, authorization URL) of the deployment is wrong.",),
            facts=facts,
        )
    return Finding(ok=True, observed=observed, expected=expected, facts=facts)


# --- AUTH3 ----------------------------------------------------------------------------------------------


def bad_tokens_refused(target: ProtectedEndpoint, obs: BadTokensObservation, catalogue: Catalogue) -> Finding:
    """AUTH3: every bad token gets the refusal status (401). A 2xx is a security failure (critical);
    a 5xx is the runbook's classic bug (a token that cannot be parsed crashes the request)."""
    refusal = target.expected_statuses
    lines = [f"{case.label} -> {_answer(case.response, catalogue)}" for case in obs.cases]
    accepted = [c for c in obs.cases if c.response.status is not None and 200 <= c.response.status < 300]
    crashed = [c for c in obs.cases if c.response.status is not None and c.response.status >= 500]
    other = [c for c in obs.cases if c not in accepted and c not in crashed and c.response.status not in refusal]
    expected = (
        f"HTTP {' or '.join(map(str, refusal))} to no token, a malformed, a wrongly signed, an expired and an "
        f"unsigned token (sent as {obs.sent_as}; the expired one signed with {obs.expired_signed_with})"
    )
    facts = {
        "cases": {c.key: c.response.status if c.response.error is None else c.response.error.kind for c in obs.cases},
        "sent_as": obs.sent_as,
    }
    if not (accepted or crashed or other):
        return Finding(ok=True, observed="; ".join(lines), expected=expected, facts=facts)
    meanings: list[str] = []
    causes: list[str] = []
    remediation: list[str] = []
    if accepted:
        meanings.append(
            f"SECURITY: the endpoint accepts a {', '.join(c.label for c in accepted)}: anyone can call it "
            "without valid credentials"
        )
        if any(c.key == "unsigned" for c in accepted):
            causes.append("The JWT library accepts `alg: none`: pin the algorithms when decoding.")
        if any(c.key == "expired" for c in accepted):
            causes.append("The expiry (`exp`) is not checked.")
        if any(c.key in ("wrong_secret", "malformed") for c in accepted):
            causes.append("The token is decoded without verifying its signature.")
        remediation.append(
            "Restrict the endpoint now (take it offline or put it behind the proxy's auth) and call the "
            "security lead; then fix the verification (signature, `exp`, pinned algorithm)."
        )
    if crashed:
        meanings.append(
            f"a {', '.join(c.label for c in crashed)} crashes the request (5xx) instead of getting 401: the "
            "token parsing errors are not handled (runbook 000 AUTH001)"
        )
        remediation.append("Catch the JWT library's decode errors in the auth middleware and answer 401 (AUTH001).")
    if other:
        meanings.append(
            f"{', '.join(c.label for c in other)} got {', '.join(_answer(c.response, catalogue) for c in other)}, "
            f"not {' or '.join(map(str, refusal))}"
        )
        if any(c.response.status in REDIRECTS for c in other):
            remediation.append(
                "A redirect (to a login page) is how browsers are refused, not API clients: if this endpoint is "
                "meant to redirect, add that status to its expect_status."
            )
    return Finding(
        ok=False,
        observed="; ".join(lines),
        expected=expected,
        meaning="; ".join(meanings),
        causes=tuple(causes),
        remediation=tuple(remediation),
        facts=facts,
        severity="critical" if accepted else None,
    )


# --- AUTH4 ----------------------------------------------------------------------------------------------


def _clock_skew_s(obs: VerifyObservation) -> float | None:
    date = obs.response.headers.get("date")
    if not date:
        return None
    try:
        return parsedate_to_datetime(date).timestamp() - obs.sent_at
    except (TypeError, ValueError):
        return None


def fresh_token_accepted(target: TokenVerify, obs: VerifyObservation, catalogue: Catalogue) -> Finding:
    """AUTH4: the verify endpoint accepts a token minted with the configured secret."""
    response = obs.response
    token = (
        f"a {obs.algorithm} token with claims {', '.join(obs.claim_names) or 'none'} and exp in "
        f"{obs.lifetime_s:g} s, signed with the configured secret, sent as {obs.sent_as}"
    )
    expected = f"HTTP {' or '.join(map(str, target.expected_statuses))} for {token}"
    skew = _clock_skew_s(obs)
    facts: dict[str, object] = {
        "status": response.status,
        "algorithm": obs.algorithm,
        "claims": list(obs.claim_names),
        "sent_as": obs.sent_as,
        "clock_skew_s": None if skew is None else round(skew),
    }
    note = (
        f" (note: the secret is shorter than RFC 7518 recommends for {obs.algorithm})" if obs.short_secret else ""
    )
    observed = f"HTTP {response.status}"
    codes = error_codes(response, catalogue)
    if codes:
        observed += f" ({', '.join(codes)})"
    if response.status in target.expected_statuses:
        return Finding(ok=True, observed=f"{observed} for {token}{note}", expected=expected, facts=facts)
    causes: list[str] = []
    if skew is not None and abs(skew) > MAX_CLOCK_SKEW_S:
        causes.append(
            f"The server's clock is {skew:+.0f} s off this host's (its Date header): fresh tokens can look "
            "expired or not yet valid."
        )
    status = response.status or 0
    if status in (401, 403):
        meaning = (
            "the backend refuses a token made with the secret the suite holds: the backend's JWT secret "
            "differs (rotated, or set per service), or a claim (aud, iss, sub) is not the one it expects"
        )
    elif status >= 500:
        meaning = "verifying a valid token crashes the backend: its JWT configuration is broken or missing"
    elif status == 404:
        meaning = "nothing answers at the verify route: a wrong path"
    else:
        meaning = status_meaning(response.status, catalogue)[0]
    return Finding(
        ok=False,
        observed=f"{observed} for {token}{_excerpt(response) if not codes else ''}{note}",
        expected=expected,
        meaning=meaning,
        causes=tuple(causes),
        remediation=_resolutions(response, catalogue),
        facts=facts,
    )


# --- AUTH7 ----------------------------------------------------------------------------------------------


def _seconds(value: int | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if value >= 2 * size:
            return f"{value / size:.0f} {unit}"
    return f"{value} s"


def refresh_tokens_expire(target: RefreshTokens, scan: TtlScan) -> Finding:
    """AUTH7: no key matching the pattern has TTL -1. A bounded scan says where it stopped."""
    scope = f"{scan.examined} key(s) matching {scan.pattern!r} on {scan.address}"
    if scan.stopped:
        scope += f" (scan stopped {scan.stopped}: the rest were not examined)"
    expected = f"every key matching {scan.pattern!r} has a TTL (none at -1)"
    facts: dict[str, object] = {
        "examined": scan.examined,
        "complete": scan.complete,
        "without_ttl": scan.without_ttl,
        "shortest_ttl_s": scan.shortest_ttl_s,
        "longest_ttl_s": scan.longest_ttl_s,
        "elapsed_ms": round(scan.elapsed_s * 1000, 1),
    }
    if scan.without_ttl:
        examples = ", ".join(f"{key} ({kind})" for key, kind in scan.examples)
        return Finding(
            ok=False,
            observed=f"{scan.without_ttl} of {scope} have no TTL (TTL -1), e.g. {examples}",
            expected=expected,
            meaning="these refresh tokens never expire: a stolen one works forever, and the keys pile up "
            "until Redis runs out of memory (CACHE2)",
            remediation=(
                f"List them without blocking Redis: `redis-cli -h <host> -p <port> --scan --pattern '{scan.pattern}'` "
                f"and `redis-cli -h <host> -p <port> ttl {scan.examples[0][0] if scan.examples else 'KEY'}` "
                "(avoid KEYS on a production Redis).",
                "Give the existing ones a lifetime (`EXPIRE <key> <seconds>`, the refresh-token lifetime), "
                "and store new ones with `SET key value EX <seconds>`.",
            ),
            facts={**facts, "examples": [key for key, _ in scan.examples]},
        )
    if scan.examined == 0:
        observed = f"no key matches {scan.pattern!r} on {scan.address} (nothing to expire; check the pattern)"
    else:
        observed = (
            f"all {scope} have a TTL (shortest {_seconds(scan.shortest_ttl_s)}, "
            f"longest {_seconds(scan.longest_ttl_s)})"
        )
    return Finding(ok=True, observed=observed, expected=expected, facts=facts)


def no_such_cache(target: RefreshTokens, caches: list[str]) -> Finding:
    """AUTH7 cannot run: `cache` names no declared cache (or none given while several are declared)."""
    wanted = f"cache {target.cache!r}" if target.cache else "a cache (several are declared: name one)"
    return Finding(
        ok=False,
        observed=f"auth.refresh_tokens names {wanted}; declared caches: {', '.join(caches) or 'none'}",
        expected="auth.refresh_tokens.cache names one of the declared `caches`",
        meaning="the refresh-token keys cannot be read: the environment file does not say where they live",
        remediation=("Set auth.refresh_tokens.cache to the name of the Redis entry under `caches`.",),
    )
