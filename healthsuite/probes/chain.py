"""A presented certificate chain, described and verified (NET5's judgement of what the handshake got).

`verify` checks the chain as a current client does (cryptography's X.509 verifier with WebPKI rules,
against the system trust store and the environment's CA bundle) and names what is wrong and in which
certificate; `describe_chain` gives each certificate's subject, issuer, names and dates.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from ..lazy import lazy

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509 import oid, verification
else:
    x509 = lazy("cryptography.x509")
    hashes = lazy("cryptography.hazmat.primitives.hashes")
    oid = lazy("cryptography.x509.oid")
    verification = lazy("cryptography.x509.verification")

VERIFY_PROBLEMS = ("", "expired", "not_yet_valid", "hostname", "self_signed", "untrusted", "other")
FALLBACK_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"
_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


@dataclass(frozen=True)
class CertificateInfo:
    position: str  # "leaf", "intermediate 1", "intermediate 2", ..., "root" (as presented)
    subject: str  # RFC 4514, e.g. "CN=www.example.com"
    issuer: str
    sans: tuple[str, ...]  # DNS names and IP addresses
    not_before: datetime  # aware, UTC
    not_after: datetime  # aware, UTC
    self_signed: bool
    sha256: str  # fingerprint, hex

    def days_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400

    def describe(self) -> str:
        """`leaf certificate (subject CN=..., issuer CN=..., SANs a, b)`: which one, unambiguously."""
        sans = f"SANs {', '.join(self.sans)}" if self.sans else "no SANs"
        return f"{self.position} certificate (subject {self.subject}, issuer {self.issuer}, {sans})"


def ip_of(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return None


# --- trust store ----------------------------------------------------------------------------------


def _load_pem_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM file that parses; one odd root must not cost the whole store."""
    certs = []
    with warnings.catch_warnings():  # a few system roots predate RFC 5280 (negative serials): still roots
        warnings.simplefilter("ignore")
        for block in _PEM_BLOCK.findall(data):
            try:
                certs.append(x509.load_pem_x509_certificate(block))
            except ValueError:
                continue
    return certs


@lru_cache(maxsize=1)
def system_roots() -> tuple[x509.Certificate, ...]:
    """The system trust store (what `ssl.get_default_verify_paths()` names), read once per process."""
    paths = ssl.get_default_verify_paths()
    files: list[Path] = []
    if paths.cafile and Path(paths.cafile).is_file():
        files.append(Path(paths.cafile))
    elif paths.capath and Path(paths.capath).is_dir():
        files.extend(sorted(p for p in Path(paths.capath).iterdir() if p.is_file()))
    if not files and Path(FALLBACK_CA_FILE).is_file():
        files.append(Path(FALLBACK_CA_FILE))
    seen: dict[bytes, x509.Certificate] = {}
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        for cert in _load_pem_certificates(data):
            seen.setdefault(cert.fingerprint(hashes.SHA256()), cert)
    return tuple(seen.values())


# --- the presented chain --------------------------------------------------------------------------


def _sans(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return ()
    names: list[str] = list(ext.get_values_for_type(x509.DNSName))
    names.extend(str(ip) for ip in ext.get_values_for_type(x509.IPAddress))
    return tuple(names)


def _is_self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except Exception:  # InvalidSignature, ValueError, TypeError (unsupported key): not self-signed
        return False
    return True


def describe_chain(certs: Sequence[x509.Certificate]) -> tuple[CertificateInfo, ...]:
    """Name each presented certificate by position: leaf, intermediate N, and a self-signed last one root."""
    infos = []
    for index, cert in enumerate(certs):
        self_signed = _is_self_signed(cert)
        if index == 0:
            position = "leaf"
        elif index == len(certs) - 1 and self_signed:
            position = "root"
        else:
            position = f"intermediate {index}"
        infos.append(
            CertificateInfo(
                position=position,
                subject=cert.subject.rfc4514_string() or "(empty subject)",
                issuer=cert.issuer.rfc4514_string() or "(empty issuer)",
                sans=_sans(cert),
                not_before=cert.not_valid_before_utc,
                not_after=cert.not_valid_after_utc,
                self_signed=self_signed,
                sha256=cert.fingerprint(hashes.SHA256()).hex(),
            )
        )
    return tuple(infos)


# --- verification ---------------------------------------------------------------------------------


def covers(sans: Sequence[str], name: str) -> bool:
    """Whether a certificate's SANs cover `name` (RFC 6125: exact, or `*.` for exactly one left label)."""
    ip = ip_of(name)
    if ip is not None:
        return any(ip_of(san) == ip for san in sans)
    wanted = name.rstrip(".").lower()
    for san in sans:
        pattern = san.rstrip(".").lower()
        if pattern == wanted:
            return True
        if pattern.startswith("*.") and "." in wanted:
            label, rest = wanted.split(".", 1)
            if label and rest == pattern[2:]:
                return True
    return False


def _time_problem(info: CertificateInfo, now: datetime) -> tuple[str, str] | None:
    if now > info.not_after:
        days = -info.days_left(now)
        return "expired", (
            f"the {info.describe()} expired {days:.1f} days ago "
            f"(not after {info.not_after:%Y-%m-%d %H:%M} UTC)"
        )
    if now < info.not_before:
        days = (info.not_before - now).total_seconds() / 86400
        return "not_yet_valid", (
            f"the {info.describe()} is not valid yet: not before {info.not_before:%Y-%m-%d %H:%M} UTC, "
            f"in {days:.1f} days (a clock skew, or a certificate installed too early)"
        )
    return None


def _tidy(verifier_says: str) -> str:
    """cryptography's wording, minus its plumbing: `... (encountered processing <Certificate(subject=<Name(CN=x)>,
    ...)>)` becomes `... (certificate CN=x)`."""
    text = verifier_says.removeprefix("validation failed: ")
    text = re.sub(r"Python extension validator failed: \w+: ", "", text)
    processing = r"\(encountered processing <Certificate\(subject=<Name\((.*?)\)>, \.\.\.\)>\)"
    return re.sub(processing, r"(certificate \1)", text)


def _classify_failure(
    chain: tuple[CertificateInfo, ...],
    certs: Sequence[x509.Certificate],
    server_name: str,
    roots: Sequence[x509.Certificate],
    now: datetime,
    verifier_says: str,
    where: str,
) -> tuple[str, str]:
    """The one problem a person fixes first, in the order openssl reports them, as (kind, sentence)."""
    leaf = chain[0]
    root_subjects = {root.subject for root in roots}
    root_prints = {root.fingerprint(hashes.SHA256()).hex() for root in roots}
    # time first: the leaf, then every presented CA certificate the path can use (a presented
    # root that the store holds anyway is not used from the wire)
    for info in chain:
        if info.position == "root" and info.sha256 in root_prints:
            continue
        problem = _time_problem(info, now)
        if problem is not None:
            return problem
    if not covers(leaf.sans, server_name):
        covered = ", ".join(leaf.sans) if leaf.sans else "no name at all (no subjectAltName; the CN alone is ignored)"
        return "hostname", f"the {leaf.describe()} does not cover {server_name}: it covers {covered}"
    if leaf.self_signed:
        return "self_signed", (
            f"the {leaf.describe()} is self-signed: nobody vouches for it; no trusted CA ({where}) issued it"
        )
    top = certs[-1]
    top_info = chain[-1]
    if top.issuer not in root_subjects and not top_info.self_signed:
        return "untrusted", (
            f"the issuer of the {top_info.position} certificate ({top_info.issuer}) is not in the {where}, and "
            "the server does not send it: a private CA that is not declared, or an incomplete chain "
            "(a missing intermediate)"
        )
    if top_info.self_signed and top_info.sha256 not in root_prints:
        return "untrusted", (
            f"the chain ends at the {top_info.position} certificate ({top_info.subject}), which the "
            f"{where} does not hold: an untrusted (private or unknown) CA"
        )
    return "other", f"the chain does not verify against the {where}: {_tidy(verifier_says)}"


def _server_auth(_policy: verification.Policy, _cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
    allowed = (oid.ExtendedKeyUsageOID.SERVER_AUTH, oid.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE)
    if eku is not None and not any(usage in eku for usage in allowed):
        raise ValueError("its extendedKeyUsage does not allow TLS server authentication (serverAuth)")


@lru_cache(maxsize=1)
def _leaf_policy() -> verification.ExtensionPolicy:
    """WebPKI rules for the leaf, except two criticality rules that browsers and OpenSSL do not enforce
    (a critical subjectAltName next to a non-empty subject, a critical extendedKeyUsage): failing a
    certificate every client accepts would page someone for nothing. serverAuth is still required."""
    return (
        verification.ExtensionPolicy.webpki_defaults_ee()
        .require_present(x509.SubjectAlternativeName, verification.Criticality.AGNOSTIC, None)
        .may_be_present(x509.ExtendedKeyUsage, verification.Criticality.AGNOSTIC, _server_auth)
    )


def trust_description(ca_bundle: str | None) -> str:
    return f"system trust store or the CA bundle {ca_bundle}" if ca_bundle else "system trust store"


def verify(
    certs: Sequence[x509.Certificate],
    chain: tuple[CertificateInfo, ...],
    server_name: str,
    ca_bundle: str | None,
    now: datetime,
) -> tuple[str, str, str]:
    """(verify_problem, verify_error, trusted_by); ("", "", source) when the chain verifies."""
    where = trust_description(ca_bundle)
    roots = list(system_roots())
    bundle: list[x509.Certificate] = []
    if ca_bundle:
        try:
            bundle = _load_pem_certificates(Path(ca_bundle).read_bytes())
        except OSError as exc:
            return "other", f"the CA bundle {ca_bundle} (http.ca_bundle) cannot be read: {exc.strerror}", ""
        if not bundle:
            return "other", f"the CA bundle {ca_bundle} (http.ca_bundle) holds no PEM certificate", ""
    roots.extend(bundle)
    ip = ip_of(server_name)
    verifier_says = "no trusted roots at all"
    if roots:
        try:
            subject = x509.IPAddress(ip) if ip is not None else x509.DNSName(server_name.rstrip(".").lower())
        except ValueError as exc:
            return "other", f"{server_name!r} cannot be verified as a host name: {exc}", ""
        builder = verification.PolicyBuilder().store(verification.Store(roots)).time(now)
        builder = builder.extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(), ee_policy=_leaf_policy()
        )
        verifier = builder.build_server_verifier(subject)
        try:
            path = verifier.verify(certs[0], list(certs[1:]))
        except verification.VerificationError as exc:
            verifier_says = str(exc)
        else:
            anchor = path[-1].fingerprint(hashes.SHA256())
            in_bundle = any(cert.fingerprint(hashes.SHA256()) == anchor for cert in bundle)
            return "", "", f"the CA bundle {ca_bundle}" if in_bundle else "the system trust store"
    problem, sentence = _classify_failure(chain, certs, server_name, roots, now, verifier_says, where)
    return problem, sentence, ""


