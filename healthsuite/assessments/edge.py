"""Judge the HTTP-level edge observations: HTTPS redirect (NET6), CORS (NET7), reverse proxy (NET8),
ports (AV4), provider status (AV5), response time (PERF1), deployed version (DEP2)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from ..catalogue.diagnoses import Catalogue
from ..model.environment import CorsPolicy, PoolStatus, VersionSource
from ..probes.http import HttpObservation
from ..probes.tcp import TcpObservation
from . import BODY_EXCERPT, json_at, status_meaning
from .failure import Finding

REDIRECTS = (301, 302, 303, 307, 308)
SAFELISTED_METHODS = ("GET", "HEAD", "POST")  # a browser needs no Allow-Methods for these
PROXY_FAILURES = (502, 504)


def https_redirect(url: str, obs: HttpObservation, server_name: str, catalogue: Catalogue) -> Finding:
    """NET6 (second half): plain HTTP answers a redirect to an https:// URL of the same host."""
    expected = f"{url} answers a redirect (301/308) to https://{server_name}/..."
    if obs.error is not None:
        return Finding(
            ok=False,
            observed=f"{url}: {obs.error.kind_name} ({obs.error.detail})",
            expected=expected,
            meaning="plain HTTP is not answered at all, so visitors typing the bare domain get an error "
            "instead of the HTTPS site",
            causes=("Port 80 is closed or not forwarded to the proxy.",),
            remediation=("If port 80 is deliberately closed (HSTS preload), set `http_redirect: false` for it.",),
            facts={"http_url": url, "http_error": obs.error.kind},
        )
    location = obs.headers.get("location", "")
    target = urlsplit(location)
    ok = (
        obs.status in REDIRECTS
        and target.scheme == "https"
        and (target.hostname or "").lower() == server_name.lower().rstrip(".")
    )
    observed = f"{url} -> HTTP {obs.status}" + (f", Location {location}" if location else ", no Location")
    meaning = ""
    if not ok:
        if obs.status not in REDIRECTS:
            meaning = "plain HTTP serves content instead of redirecting: visitors and cookies travel unencrypted"
        elif target.scheme != "https":
            meaning = "the redirect does not lead to HTTPS"
        else:
            meaning = f"the redirect leads to another host ({target.hostname}), not {server_name}"
    return Finding(
        ok=ok,
        observed=observed,
        expected=expected,
        meaning=meaning,
        remediation=(
            "Redirect port 80 to HTTPS in the proxy: `return 301 https://$host$request_uri;` (nginx), or enable "
            "\"Always Use HTTPS\" at the CDN.",
        )
        if not ok
        else (),
        facts={"http_url": url, "http_status": obs.status, "location": location},
    )


def _listed(header: str) -> set[str]:
    return {part.strip().lower() for part in header.split(",") if part.strip()}


def _preflight_problems(policy: CorsPolicy, origin: str, obs: HttpObservation) -> list[str]:
    if obs.error is not None:
        return [f"the preflight failed: {obs.error.kind_name} ({obs.error.detail})"]
    problems = []
    assert obs.status is not None
    if not 200 <= obs.status < 300 and "access-control-allow-origin" not in obs.headers:
        return [f"the preflight answered HTTP {obs.status}, without CORS headers"]
    if not 200 <= obs.status < 300:
        problems.append(f"the preflight answered HTTP {obs.status}")
    allow_origin = obs.headers.get("access-control-allow-origin")
    credentials = obs.headers.get("access-control-allow-credentials", "").lower() == "true"
    if allow_origin is None:
        problems.append("no Access-Control-Allow-Origin header (CORS is not configured for this path)")
    elif allow_origin == "*":
        if policy.credentials:
            problems.append("Access-Control-Allow-Origin is `*`, which browsers refuse on credentialed requests")
        elif not policy.allow_any_origin:
            problems.append("Access-Control-Allow-Origin is `*` (any origin), not the origin")
    elif allow_origin != origin:
        problems.append(f"Access-Control-Allow-Origin is {allow_origin!r}, not {origin!r}")
    methods = _listed(obs.headers.get("access-control-allow-methods", ""))
    method = policy.request_method.upper()
    wildcard_ok = not policy.credentials and "*" in methods
    if method.lower() not in methods and not wildcard_ok and not (not methods and method in SAFELISTED_METHODS):
        problems.append(f"Access-Control-Allow-Methods ({', '.join(sorted(methods)) or 'absent'}) lacks {method}")
    allowed_headers = _listed(obs.headers.get("access-control-allow-headers", ""))
    missing = [h for h in policy.request_headers if h.lower() not in allowed_headers]
    if missing and not (not policy.credentials and "*" in allowed_headers):
        problems.append(f"Access-Control-Allow-Headers lacks {', '.join(missing)}")
    if policy.credentials and not credentials:
        problems.append("Access-Control-Allow-Credentials is not `true`, so cookies and auth headers are dropped")
    return problems


def cors(policy: CorsPolicy, allowed: Mapping[str, HttpObservation], foreign: HttpObservation) -> Finding:
    """NET7: each declared origin is allowed with its method and headers; a foreign origin is not."""
    problems: list[str] = []
    seen: list[str] = []
    for origin, obs in allowed.items():
        found = _preflight_problems(policy, origin, obs)
        problems += [f"{origin}: {p}" for p in found]
        shown = obs.headers.get("access-control-allow-origin", "no allow-origin") if obs.error is None else "error"
        seen.append(f"{origin} -> {obs.status or obs.error and obs.error.kind_name}, allow-origin {shown}")
    foreign_origin = policy.foreign_origin
    leaks_foreign = False
    if foreign.error is None:
        allow_origin = foreign.headers.get("access-control-allow-origin")
        credentials = foreign.headers.get("access-control-allow-credentials", "").lower() == "true"
        if allow_origin == foreign_origin:
            leaks_foreign = True
            problems.append(
                f"the foreign origin {foreign_origin} is echoed back: the server reflects any origin"
                + (" and allows credentials, so any site can make authenticated requests" if credentials else "")
            )
        elif allow_origin == "*" and (credentials or not policy.allow_any_origin):
            leaks_foreign = True
            problems.append(
                "the foreign origin gets `*`" + (" with credentials allowed" if credentials else "")
            )
        seen.append(f"foreign {foreign_origin} -> allow-origin {allow_origin or 'none'}")
    expected = (
        f"preflight ({policy.request_method}) from {', '.join(allowed)} answers 2xx with that origin"
        f"{' and credentials' if policy.credentials else ''}; a foreign origin is not allowed"
    )
    meaning = ""
    if problems:
        meaning = (
            "any website can call this API from a visitor's browser"
            if leaks_foreign
            else "browsers block the site's own calls to this API (a CORS error in the console)"
        )
    return Finding(
        ok=not problems,
        observed="; ".join(problems) if problems else "; ".join(seen),
        expected=expected,
        meaning=meaning,
        facts={
            "preflights": {
                origin: {k: v for k, v in obs.headers.items() if k.startswith("access-control-")} | {
                    "status": obs.status
                }
                for origin, obs in {**allowed, foreign_origin: foreign}.items()
            }
        },
    )


# NET8 with a declared upstream: the proxied path, then the upstream called directly, first (the advice
# fills in the placeholders; the catalogue's own step, which cannot name the upstream, is then said already)
UPSTREAM_STEP = (
    "Call the proxied path (`curl -sv <url>`), then its upstream directly from the proxy's host, bypassing the "
    "proxy (`curl -sv <upstream_url>`); if nothing accepts the connection there (`nc -zv <upstream_host> "
    "<upstream_port>`), start the backend (AV4)."
)


def proxy_upstream(obs: HttpObservation, catalogue: Catalogue, upstream: str = "") -> Finding:
    """NET8: the proxy reached its upstream: no 502 (bad gateway) or 504 (gateway timeout). `upstream`: the
    declared one (host:port, "" when none): a failure names it in its facts (a `ports` entry at that address
    that refuses is its cause, healthsuite.catalogue.causes) and calls it directly in its steps."""
    ok = obs.status not in PROXY_FAILURES
    meaning, causes = status_meaning(obs.status, catalogue) if not ok else ("", ())
    facts: dict[str, object] = {"status": obs.status, "via": obs.headers.get("via", ""),
                                "server": obs.headers.get("server", "")}
    if upstream and not ok:
        facts["upstream"] = upstream
    return Finding(
        ok=ok,
        observed=obs.summary(),
        expected="an answer from the upstream (not 502 Bad Gateway or 504 Gateway Timeout)",
        meaning=meaning,
        causes=causes,
        remediation=(UPSTREAM_STEP,) if upstream and not ok else (),
        facts=facts,
    )


def port_open(obs: TcpObservation) -> Finding:
    """AV4: the port accepted a TCP connection (a refused or silent port fails through `reached`)."""
    return Finding(
        ok=obs.connected,
        observed=obs.summary(),
        expected=f"{obs.address} accepts a TCP connection within the timeout",
        facts={"address": obs.address, "peer": obs.peer, "elapsed_ms": round(obs.elapsed_s * 1000, 1)},
    )


def platform_status(obs: HttpObservation) -> Finding:
    """AV5: a Statuspage-format status API (`/api/v2/status.json`) reports indicator `none`."""
    expected = "status.indicator == none (no incident)"
    try:
        document = obs.json()
        status = document["status"]
        indicator = str(status["indicator"])
        description = str(status.get("description", ""))
    except (ValueError, KeyError, TypeError):
        return Finding(
            ok=False,
            observed=f"{obs.summary()}, not a Statuspage status document: {obs.text(BODY_EXCERPT)!r}",
            expected=expected,
            meaning="the provider's status could not be read, so a platform incident cannot be ruled out",
            remediation=("Check the status page URL (Statuspage format: https://<page>/api/v2/status.json).",),
        )
    page = document.get("page", {}) if isinstance(document.get("page"), dict) else {}
    ok = indicator == "none"
    return Finding(
        ok=ok,
        observed=f"indicator {indicator!r}: {description}" + (f" ({page.get('name')})" if page.get("name") else ""),
        expected=expected,
        meaning=""
        if ok
        else "the hosting provider reports an incident: the run's other failures are likely part of it; "
        "check its status page before debugging the application",
        facts={"indicator": indicator, "description": description, "page": page.get("url", "")},
    )


_PHASE_HINTS = {
    "dns": "resolving the name: check the resolver and NET4",
    "connect": "opening the TCP connection: network path, firewall or an overloaded host",
    "tls": "the TLS handshake: CPU-starved proxy, OCSP or a long certificate chain",
    "server": "waiting for the first byte: the application or its database is slow (PERF3, DB5, DB6)",
    "transfer": "transferring the body: a large response or limited bandwidth",
}


def response_time(obs: HttpObservation, limit_ms: float) -> Finding:
    """PERF1: total time under the limit; the message carries the curl -w breakdown."""
    timings = obs.timings
    total = timings.total if timings is not None else obs.elapsed_s * 1000
    ok = total <= limit_ms
    observed = f"total {total:.0f} ms" + (f" ({timings.summary()})" if timings is not None else "")
    meaning = ""
    if not ok and timings is not None:
        phases = {k: v for k, v in timings.phases().items() if v is not None}
        slowest = max(phases, key=lambda k: phases[k])
        meaning = f"most of the time ({phases[slowest]:.0f} ms) is spent {_PHASE_HINTS[slowest]}"
    return Finding(
        ok=ok,
        observed=observed,
        expected=f"total under {limit_ms:g} ms",
        meaning=meaning,
        facts={"timings": timings.as_dict() if timings is not None else {"time_total": total}, "status": obs.status},
    )


_SHA = re.compile(r"[0-9a-f]{7,40}")


def versions_match(deployed: str, expected: str) -> bool:
    """Equal, or git commit ids where one is an abbreviation (>= 7 hex digits) of the other."""
    a, b = deployed.strip(), expected.strip()
    if a == b:
        return True
    a, b = a.lower(), b.lower()
    return bool(_SHA.fullmatch(a) and _SHA.fullmatch(b) and (a.startswith(b) or b.startswith(a)))


def deployed_version(target: VersionSource, obs: HttpObservation, expected: str, source: str) -> Finding:
    """DEP2: the version read from a JSON field or a header equals the expected one."""
    where = f"header {target.header}" if target.header else f"body.{target.json_path}"
    deployed: str | None
    if target.header:
        deployed = obs.headers.get(target.header.lower())
    else:
        try:
            value = json_at(obs.json(), target.json_path or "")
        except ValueError:
            return Finding(
                ok=False,
                observed=f"{obs.summary()}, the body is not JSON: {obs.text(BODY_EXCERPT)!r}",
                expected=f"{where} == {expected!r} (from {source})",
                meaning="the version endpoint does not answer JSON: a wrong path or an error page",
            )
        deployed = None if value is None or isinstance(value, (dict, list)) else str(value)
        if value is not None and deployed is None:
            deployed = json.dumps(value)[:BODY_EXCERPT]
    if deployed is None:
        return Finding(
            ok=False,
            observed=f"{obs.summary()}, {where} is absent",
            expected=f"{where} == {expected!r} (from {source})",
            meaning="the deployed version cannot be read: the build does not publish it where declared",
        )
    ok = versions_match(deployed, expected)
    return Finding(
        ok=ok,
        observed=f"{where} = {deployed!r}",
        expected=f"{expected!r} (from {source})",
        meaning=""
        if ok
        else "another build is serving: the deploy did not finish or roll out, a CDN or service-worker cache "
        "serves old assets, or traffic still reaches old instances",
        facts={"deployed": deployed, "expected": expected, "expected_from": source},
    )


def _number(document: object, path: str) -> float | None:
    value = json_at(document, path)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def pool_usage(target: PoolStatus, obs: HttpObservation, max_checked_out_pct: float, max_overflow: float) -> Finding:
    """DB4: the application's pool has checked out under the threshold of its size, and no overflow."""
    expected = f"checked out under {max_checked_out_pct:g} % of the pool, overflow at most {max_overflow:g}"
    try:
        document = obs.json()
    except ValueError:
        return Finding(
            ok=False,
            observed=f"{obs.summary()}, the body is not JSON: {obs.text(BODY_EXCERPT)!r}",
            expected=expected,
            meaning="the pool status cannot be read: a wrong path, or the endpoint is failing",
        )
    size = _number(document, target.size_path)
    checked_out = _number(document, target.checked_out_path)
    overflow = _number(document, target.overflow_path)
    missing = [
        path
        for path, value in (
            (target.size_path, size),
            (target.checked_out_path, checked_out),
            (target.overflow_path, overflow),
        )
        if value is None
    ]
    if missing or size is None or checked_out is None or overflow is None:
        return Finding(
            ok=False,
            observed=f"no number at body.{', body.'.join(missing)} in {obs.text(BODY_EXCERPT)!r}",
            expected=expected,
            meaning="the pool status has another shape: set size_path, checked_out_path and overflow_path",
        )
    pct = 100 * checked_out / size if size else 100.0
    ok = pct < max_checked_out_pct and overflow <= max_overflow
    return Finding(
        ok=ok,
        observed=f"{checked_out:g} of {size:g} connections checked out ({pct:.0f} %), overflow {overflow:g}",
        expected=expected,
        meaning=""
        if ok
        else "the application is about to wait for database connections: requests queue and time out",
        facts={"pool_size": size, "checked_out": checked_out, "overflow": overflow, "checked_out_pct": round(pct, 1)},
    )
