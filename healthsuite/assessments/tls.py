"""Judge TLS observations (NET5 certificate, NET6 protocol).

NET5 names *which* certificate a figure belongs to (leaf, intermediate N, root as presented), with
its subject, issuer, SANs, not-after and days left: an expiry figure without the certificate it
belongs to sends people renewing the wrong one.

A chain fails NET5 at its own severity when OpenSSL clients refuse it (the HTTP checks, curl,
nginx: probes.chain verifies by their rules). What NET5 checks beyond them on purpose is a warning
that names the certificate, the extension and the fix: a leaf without subjectAltName (browsers refuse
it) fails one level below NET5's severity; the WebPKI rules a public CA must meet (keyUsage on a CA,
a critical basicConstraints...) fail two levels below when the environment asks for them
(`thresholds: {NET5: {webpki_rules: 1}}`), and are otherwise noted in the passing observation.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from ..catalogue.diagnoses import SEVERITIES, Severity
from ..probes.chain import CLIENTS_ACCEPT, CertificateInfo
from ..probes.tls import TlsObservation
from .failure import Finding

# the negotiated protocol names of OpenSSL, as comparable TLS versions
PROTOCOL_VERSIONS: dict[str, float] = {
    "SSLv2": 0.2,
    "SSLv3": 0.3,
    "TLSv1": 1.0,
    "TLSv1.1": 1.1,
    "TLSv1.2": 1.2,
    "TLSv1.3": 1.3,
}

_PROBLEM_LABELS = {
    "expired": "certificate expired",
    "not_yet_valid": "certificate not valid yet",
    "hostname": "host name mismatch",
    "self_signed": "self-signed certificate",
    "untrusted": "untrusted issuer",
    "invalid_ca": "invalid CA certificate",
    "other": "invalid certificate",
    "browsers": "refused by browsers",
    "webpki": "WebPKI rules not met",
}

# what each problem means for users, its specific causes and first steps (before the diagnosis's own)
_PROBLEMS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "expired": (
        "Clients refuse the connection: browsers show a full-page warning, API clients and webhooks fail.",
        (),
        (),
    ),
    "not_yet_valid": (
        "Clients refuse the connection until the certificate's start date.",
        (
            "The clock of the server or of the probe host is wrong (check NTP with `timedatectl`).",
            "A certificate was installed before its validity starts.",
        ),
        (),
    ),
    "hostname": (
        "Clients refuse the connection: the certificate is for other names.",
        (
            "The proxy serves its default certificate for this name (no server block or SNI mapping for it).",
            "The certificate was issued without this name: add it to the names on renewal.",
        ),
        ("Reissue the certificate with this name, e.g. `certbot --nginx -d <host>` with every name needed.",),
    ),
    "self_signed": (
        "Browsers warn and API clients refuse: nobody vouches for a self-signed certificate.",
        (
            "A placeholder (snakeoil) certificate is served: certbot never ran, or the proxy fell back to it.",
        ),
        (
            "Issue a real certificate (`certbot --nginx -d <host>`), or for an internal service one from the "
            "internal CA, declared in the environment's http.ca_bundle.",
        ),
    ),
    "untrusted": (
        "Clients that do not hold the issuing CA refuse the connection.",
        (
            "The server does not send its intermediate certificate (configure fullchain.pem, not cert.pem).",
            "The certificate comes from a private CA this environment file does not declare (http.ca_bundle).",
        ),
        (),
    ),
    "invalid_ca": (
        "Every client refuses the connection (curl, Python, browsers): a certificate the chain needs as a CA is "
        "not marked as one.",
        (
            "The CA was made with an OpenSSL configuration or `-addext` option that leaves out "
            "`basicConstraints=critical,CA:TRUE`, or says CA:FALSE.",
            "A server (leaf) certificate was used as the CA that signs the others.",
        ),
        (),
    ),
    "other": ("Clients refuse the connection: the certificate chain does not verify.", (), ()),
    "browsers": (
        "curl, Python and this suite's HTTP checks accept the chain through the certificate's CN; browsers read "
        "only the subjectAltName and refuse it: a warning for API clients, a full-page error for people.",
        ("The certificate request was made without a subjectAltName (`openssl req` adds none unless told).",),
        (),
    ),
    "webpki": (
        "Every OpenSSL client (curl, Python, nginx, this suite's HTTP checks) and browsers accept the chain: "
        "nothing is refused today. It breaks rules a public CA must meet (CA/Browser Forum Baseline "
        "Requirements, RFC 5280), which stricter verifiers (Go, Java, rustls, cryptography) may enforce.",
        ("A private CA made with a plain `openssl req -x509`, which adds no keyUsage extension.",),
        (),
    ),
}


def one_level_below(severity: Severity) -> Severity:
    """critical -> high -> medium -> low (low stays low)."""
    return SEVERITIES[min(SEVERITIES.index(severity) + 1, len(SEVERITIES) - 1)]


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _date(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _lifetime(info: CertificateInfo, now: datetime) -> str:
    days = info.days_left(now)
    when = f"expired {-days:.1f} days ago" if days < 0 else f"{days:.1f} days left"
    return f"not after {_date(info.not_after)}, {when}"


def _chain_facts(obs: TlsObservation) -> list[dict[str, Any]]:
    now = obs.checked_at
    return [
        {
            "position": info.position,
            "subject": info.subject,
            "issuer": info.issuer,
            "sans": list(info.sans),
            "not_before": info.not_before.isoformat(),
            "not_after": info.not_after.isoformat(),
            "days_left": round(info.days_left(now), 2),
            "self_signed": info.self_signed,
            "sha256": info.sha256,
        }
        for info in obs.chain
    ]


def _inspect_command(obs: TlsObservation, position: str) -> str:
    connect = f"echo | openssl s_client -connect {obs.address}"
    if not _is_ip(obs.server_name):
        connect += f" -servername {obs.server_name}"
    if position == "leaf":
        return (
            f"See what this server presents: `{connect} 2>/dev/null | openssl x509 -noout -subject -issuer -dates "
            "-ext subjectAltName`."
        )
    return f"See the whole chain this server sends: `{connect} -showcerts 2>/dev/null` (the {position} certificate)."


def _more_severe(first: Severity, second: Severity) -> Severity:
    return SEVERITIES[min(SEVERITIES.index(first), SEVERITIES.index(second))]


def certificate(
    obs: TlsObservation,
    *,
    warning_days: float,
    critical_days: float,
    severity: Severity,
    webpki_rules: bool = False,
) -> Finding:
    """NET5: verified chain and hostname, and the earliest-expiring presented certificate outside both
    windows. Inside the warning window the failure's severity is one level below `severity`; inside
    the critical window, expired or invalid, it is `severity`. Names which certificate.

    A chain OpenSSL clients accept but browsers refuse (a leaf without subjectAltName) fails one level
    below `severity`; one that breaks only the WebPKI rules fails two levels below with `webpki_rules`,
    and passes with a note without it."""
    trust = obs.trust_store or "system trust store"
    expected = (
        f"a certificate for {obs.server_name} valid now, chaining to a trusted root ({trust}), and no presented "
        f"certificate expiring within {warning_days:g} days (warning) or {critical_days:g} days (critical)"
    )
    if obs.error is not None:
        return Finding(ok=False, observed=f"{obs.error.kind_name}: {obs.error.detail}", expected=expected)
    if not obs.chain:
        return Finding(
            ok=False,
            observed=obs.verify_error or "the server presented no certificate",
            expected=expected,
            meaning=_PROBLEMS["other"][0],
            severity=severity,
            facts={"protocol": obs.protocol, "cipher": obs.cipher, "server_name": obs.server_name, "chain": []},
        )
    now = obs.checked_at
    leaf = obs.chain[0]
    earliest = min(obs.chain, key=lambda info: info.not_after)
    days = earliest.days_left(now)
    if days <= critical_days:
        window = "expired" if days < 0 else "critical"
    elif days <= warning_days:
        window = "warning"
    else:
        window = "ok"
    facts: dict[str, Any] = {
        "server_name": obs.server_name,
        "address": obs.address,
        "protocol": obs.protocol,
        "cipher": obs.cipher,
        "verify_problem": obs.verify_problem,
        "verify_error": obs.verify_error,
        "trusted_by": obs.trusted_by,
        "checked_at": now.isoformat(),
        "chain": _chain_facts(obs),
        "earliest": {
            "position": earliest.position,
            "subject": earliest.subject,
            "not_after": earliest.not_after.isoformat(),
            "days_left": round(days, 2),
        },
        "window": window,
    }
    earliest_text = f"{earliest.describe()} {_lifetime(earliest, now)}"
    not_leaf = ""
    if earliest is not leaf and (obs.verify_problem or window != "expired"):
        breaks = "The chain is broken since" if days < 0 else "The chain breaks when"
        not_leaf = (
            f"{breaks} the {earliest.position} certificate ({earliest.subject}) "
            f"{'expired' if days < 0 else 'expires'} on {_date(earliest.not_after)}, although the leaf is valid "
            f"until {_date(leaf.not_after)}: renewing "
            f"the leaf alone does not help unless the server sends a renewed {earliest.position} with it "
            "(the CA's current chain, e.g. fullchain.pem)."
        )
    inspect = _inspect_command(obs, earliest.position if not obs.verify_problem else "leaf")

    stricter = obs.verify_problem if obs.verify_problem in CLIENTS_ACCEPT else ""
    if obs.verify_problem and not stricter:
        meaning, causes, steps = _PROBLEMS.get(obs.verify_problem, _PROBLEMS["other"])
        observed = f"{_PROBLEM_LABELS.get(obs.verify_problem, 'invalid certificate')}: {obs.verify_error}"
        if obs.verify_problem not in ("expired", "not_yet_valid"):
            # the sentence already describes the leaf: do not repeat its subject, issuer and SANs
            shown = f"the leaf, {_lifetime(leaf, now)}" if earliest is leaf else earliest_text
            observed += f"; earliest expiry: {shown}"
        return Finding(
            ok=False,
            observed=observed,
            expected=expected,
            meaning=" ".join(part for part in (meaning, not_leaf) if part),
            causes=causes,
            remediation=(inspect, *steps),
            facts=facts,
            severity=severity,
        )

    # the stricter rules: a warning that names the certificate, the extension and the fix
    stricter_fails = stricter == "browsers" or (stricter == "webpki" and webpki_rules)
    stricter_severity: Severity = (
        one_level_below(severity) if stricter == "browsers" else one_level_below(one_level_below(severity))
    )
    stricter_text = f"{_PROBLEM_LABELS[stricter]}: {obs.verify_error}" if stricter else ""
    if stricter:
        facts["stricter_rules"] = {"problem": stricter, "failing": stricter_fails, "severity": stricter_severity,
                                   "webpki_rules": webpki_rules}

    if window == "ok" and not stricter_fails:
        observed = (
            f"valid chain for {obs.server_name} (trusted by {obs.trusted_by or trust}); earliest expiry: "
            f"{earliest_text}"
        )
        if stricter:
            observed += (
                f"; a note, not a failure (NET5's threshold webpki_rules is 0, set it to 1 to fail on these "
                f"rules): {stricter_text}"
            )
        return Finding(ok=True, observed=observed, expected=expected, facts=facts)

    if window == "ok":  # only the stricter rules fail
        meaning, causes, steps = _PROBLEMS[stricter]
        shown = f"the leaf, {_lifetime(leaf, now)}" if earliest is leaf else earliest_text
        return Finding(
            ok=False,
            observed=f"{stricter_text}; earliest expiry: {shown}",
            expected=expected,
            meaning=meaning,
            causes=causes,
            remediation=(inspect, *steps),
            facts=facts,
            severity=stricter_severity,
        )

    limit = critical_days if window != "warning" else warning_days
    deserved = severity if window != "warning" else one_level_below(severity)
    if stricter_fails:
        deserved = _more_severe(deserved, stricter_severity)
    if window == "expired":  # the chain verified through another path, yet the server still sends it
        observed = (
            f"{earliest.describe()} expired {-days:.1f} days ago (not after {_date(earliest.not_after)}); the chain "
            "verified through another path, but the server still sends it"
        )
    else:
        observed = (
            f"{earliest.describe()} expires in {days:.1f} days (not after {_date(earliest.not_after)}), inside the "
            f"{limit:g}-day {window} window"
        )
    if earliest is not leaf:
        observed += f"; the leaf ({leaf.subject}) has {leaf.days_left(now):.1f} days left"
    if stricter:
        observed += f"; also {stricter_text}" + ("" if stricter_fails else " (a note: webpki_rules is 0)")
    renew = "Renew it now: " if earliest is leaf else ""
    if window == "warning":
        meaning = (
            f"{renew}inside {critical_days:g} days this check fails as {severity}, and on "
            f"{_date(earliest.not_after)} clients start refusing the connection."
        )
    elif window == "expired":
        meaning = (
            "Clients that build their path through the expired certificate refuse the connection (older clients "
            "especially): remove it from the chain the server sends."
        )
    else:
        meaning = f"On {_date(earliest.not_after)} clients start refusing the connection" + (
            ": renew it today." if earliest is leaf else "."
        )
    meaning = meaning[0].upper() + meaning[1:]
    causes = ()
    if earliest is not leaf:
        causes = ("The server still sends an old intermediate certificate (a stale chain file after the CA "
                  "rotated its intermediates).",)
    return Finding(
        ok=False,
        observed=observed,
        expected=expected,
        meaning=" ".join(part for part in (meaning, not_leaf) if part),
        causes=causes,
        remediation=(inspect,),
        facts=facts,
        severity=deserved,
    )


def protocol(obs: TlsObservation, min_version: float) -> Finding:
    """NET6 (first half): the negotiated protocol is at least TLS `min_version` (1.2).

    The probe offers every version from TLS 1.0 to 1.3, so what the server picks is the newest it
    supports: below 1.2 means current browsers (which refuse older versions, RFC 8996) cannot connect."""
    expected = f"TLS {min_version:.1f} or newer negotiated"
    facts: dict[str, Any] = {"protocol": obs.protocol, "cipher": obs.cipher, "min_tls_version": min_version}
    if obs.error is not None:
        return Finding(
            ok=False, observed=f"no TLS handshake: {obs.error.kind_name}: {obs.error.detail}", expected=expected,
            facts=facts,
        )
    version = PROTOCOL_VERSIONS.get(obs.protocol)
    observed = f"negotiated {obs.protocol or 'an unknown protocol'}"
    if obs.cipher:
        observed += f" ({obs.cipher})"
    if version is None:
        return Finding(
            ok=False,
            observed=observed,
            expected=expected,
            meaning="The negotiated protocol version could not be told.",
            facts=facts,
        )
    ok = version >= min_version - 1e-9
    if ok:
        return Finding(ok=True, observed=observed, expected=expected, facts=facts)
    return Finding(
        ok=False,
        observed=observed + " although TLS 1.0 to 1.3 were offered",
        expected=expected,
        meaning=(
            f"The server supports nothing newer than {obs.protocol}: current browsers refuse TLS below 1.2 "
            "(RFC 8996), so they cannot connect at all, and the older versions have known weaknesses."
        ),
        causes=(
            "The proxy's `ssl_protocols` lists only old versions (e.g. `ssl_protocols TLSv1 TLSv1.1;`).",
            "An old OpenSSL, or a load balancer's legacy TLS policy, in front of the site.",
        ),
        remediation=(
            f"Check by hand: `echo | openssl s_client -connect {obs.address}"
            + ("" if _is_ip(obs.server_name) else f" -servername {obs.server_name}")
            + " -tls1_2` must complete a handshake.",
            "Set `ssl_protocols TLSv1.2 TLSv1.3;` in nginx (or the load balancer's TLS policy), test with "
            "`nginx -t` and reload with `nginx -s reload`.",
        ),
        facts=facts,
    )
