"""A presented certificate chain, described and verified (NET5's judgement of what the handshake got).

`verify` checks the chain by the rules the HTTP checks (Python's ssl), curl and nginx apply: OpenSSL's
own verifier with its default strictness (purpose TLS server, host name as `X509_check_host` matches
it), against the system trust store and the environment's CA bundle. A chain OpenSSL refuses gets
the one problem a person fixes first, naming the certificate. A chain OpenSSL accepts is then held to
the stricter rules on purpose, each reported as its own named problem with the fix: a leaf without
subjectAltName (browsers refuse it: "browsers"), and the WebPKI rules a public CA must meet, e.g. a CA
certificate without keyUsage, as plain `openssl req -x509` makes it ("webpki"; the rest found by
cryptography's WebPKI verifier). `describe_chain` gives each certificate's subject, issuer, names
and dates.
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

from healthsuite.probes.lazy import lazy, preload

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509 import oid, verification
    from OpenSSL import _util as openssl_util
    from OpenSSL import crypto
else:
    x509 = lazy("cryptography.x509")
    hashes = lazy("cryptography.hazmat.primitives.hashes")
    oid = lazy("cryptography.x509.oid")
    verification = lazy("cryptography.x509.verification")
    crypto = lazy("OpenSSL.crypto")
    openssl_util = lazy("OpenSSL._util")

VERIFY_PROBLEMS = (
    "", "expired", "not_yet_valid", "hostname", "self_signed", "untrusted", "invalid_ca", "other", "browsers", "webpki"
)
# the problems of a chain that OpenSSL clients (curl, Python, nginx, the HTTP checks) accept all the same:
# "browsers" refuse it (a leaf without subjectAltName), "webpki" only breaks rules a public CA must meet
CLIENTS_ACCEPT = ("browsers", "webpki")
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


def ready() -> None:
    """cryptography and pyOpenSSL imported, before a handshake's deadline starts (probes.lazy.preload)."""
    preload(x509, hashes, oid, verification, crypto, openssl_util)


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


def _common_names(cert: x509.Certificate) -> list[str]:
    return [str(attr.value) for attr in cert.subject.get_attributes_for_oid(oid.NameOID.COMMON_NAME)]


def _dns_sans(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    return list(ext.get_values_for_type(x509.DNSName))


def matches_host(cert: x509.Certificate, name: str) -> bool:
    """OpenSSL's X509_check_host / X509_check_ip as Python's ssl calls them: an IP only by an IP SAN; a
    name by the DNS SANs, or by the CN when there is no DNS SAN at all (what curl and Python accept)."""
    if ip_of(name) is not None:
        return covers(_sans(cert), name)
    dns = _dns_sans(cert)
    return covers(dns, name) if dns else covers(_common_names(cert), name)


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


# the extensions cryptography names by OID in its messages
_EXTENSION_WORDS = {
    "2.5.29.14": "subjectKeyIdentifier",
    "2.5.29.15": "keyUsage",
    "2.5.29.17": "subjectAltName",
    "2.5.29.19": "basicConstraints",
    "2.5.29.30": "nameConstraints",
    "2.5.29.32": "certificatePolicies",
    "2.5.29.35": "authorityKeyIdentifier",
    "2.5.29.37": "extendedKeyUsage",
    "1.3.6.1.5.5.7.1.1": "authorityInfoAccess",
}


def _tidy(verifier_says: str) -> str:
    """cryptography's wording, minus its plumbing: `... (encountered processing <Certificate(subject=<Name(CN=x)>,
    ...)>)` becomes `... (certificate CN=x)`, `2.5.29.15` becomes `keyUsage (2.5.29.15)`."""
    text = verifier_says.removeprefix("validation failed: ")
    text = re.sub(r"Python extension validator failed: \w+: ", "", text)
    processing = r"\(encountered processing <Certificate\(subject=<Name\((.*?)\)>, \.\.\.\)>\)"
    text = re.sub(processing, r"(certificate \1)", text)
    return re.sub(
        r"\b(\d+(?:\.\d+){3,})\b",
        lambda m: f"{_EXTENSION_WORDS[m[1]]} ({m[1]})" if m[1] in _EXTENSION_WORDS else m[1],
        text,
    )


# --- OpenSSL's verdict ----------------------------------------------------------------------------

_NO_PARTIAL_WILDCARDS = 0x4  # X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, Python's ssl default host flags


@dataclass(frozen=True)
class _Verdict:
    """What X509_verify_cert said: the verified path (leaf first, trust anchor last), or OpenSSL's
    error words, the depth it reports and the certificate there."""

    path: tuple[x509.Certificate, ...] = ()
    error: str = ""
    depth: int = 0
    culprit: x509.Certificate | None = None


@lru_cache(maxsize=1)
def _openssl_roots() -> tuple[crypto.X509, ...]:
    return tuple(crypto.X509.from_cryptography(cert) for cert in system_roots())


def _openssl_verify(
    certs: Sequence[x509.Certificate], bundle: Sequence[x509.Certificate], server_name: str, now: datetime
) -> _Verdict:
    """X509_verify_cert as an OpenSSL TLS client runs it (Python's ssl, curl): default flags, purpose
    TLS server, the host (or IP) checked by OpenSSL, at `now`. Raises UnicodeError on a name that
    cannot be IDNA-encoded."""
    lib, ffi = openssl_util.lib, openssl_util.ffi
    store = crypto.X509Store()
    for root in (*_openssl_roots(), *(crypto.X509.from_cryptography(cert) for cert in bundle)):
        store.add_cert(root)  # OpenSSL ignores a duplicate
    param = ffi.gc(lib.X509_VERIFY_PARAM_new(), lib.X509_VERIFY_PARAM_free)
    lib.X509_VERIFY_PARAM_set_time(param, int(now.timestamp()))
    ip = ip_of(server_name)
    if ip is not None:
        packed = ip.packed
        lib.X509_VERIFY_PARAM_set1_ip(param, packed, len(packed))
    else:
        host = server_name.rstrip(".").encode("idna")
        lib.X509_VERIFY_PARAM_set1_host(param, host, len(host))
        lib.X509_VERIFY_PARAM_set_hostflags(param, _NO_PARTIAL_WILDCARDS)
    if lib.X509_STORE_set1_param(store._store, param) != 1 or lib.X509_STORE_set_purpose(
        store._store, lib.X509_PURPOSE_SSL_SERVER
    ) != 1:
        raise RuntimeError("OpenSSL refused the verification parameters")
    context = crypto.X509StoreContext(
        store, crypto.X509.from_cryptography(certs[0]), [crypto.X509.from_cryptography(c) for c in certs[1:]]
    )
    try:
        path = context.get_verified_chain()
    except crypto.X509StoreContextError as exc:
        _code, depth, words = exc.errors
        return _Verdict(error=str(words), depth=int(depth), culprit=exc.certificate.to_cryptography())
    return _Verdict(path=tuple(cert.to_cryptography() for cert in path))


# --- naming a certificate and its fix -------------------------------------------------------------


def _fingerprint(cert: x509.Certificate) -> bytes:
    return cert.fingerprint(hashes.SHA256())


@dataclass(frozen=True)
class _Names:
    """Names any certificate a verdict mentions: a presented one by its position, one from the
    trust store by its source."""

    chain: tuple[CertificateInfo, ...]
    certs: Sequence[x509.Certificate]
    bundle_prints: frozenset[bytes]
    ca_bundle: str | None

    def __call__(self, cert: x509.Certificate) -> str:
        print_ = _fingerprint(cert)
        for info, presented in zip(self.chain, self.certs, strict=False):
            if _fingerprint(presented) == print_:
                return info.describe()
        source = f"the CA bundle {self.ca_bundle}" if print_ in self.bundle_prints else "the system trust store"
        subject = cert.subject.rfc4514_string() or "(empty subject)"
        return f"CA certificate of {source} (subject {subject})"


def _openssl_subject(cert: x509.Certificate) -> str:
    """`-subj` syntax: `/CN=Private CA` (RDNs in the certificate's order)."""
    parts = []
    for rdn in cert.subject.rdns:
        for attr in rdn:
            value = str(attr.value).replace("/", r"\/")
            parts.append(f"{attr.rfc4514_attribute_name}={value}")
    return "/" + "/".join(parts) if parts else "/CN=..."


CA_EXTENSIONS = "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"


def ca_fix(cert: x509.Certificate) -> str:
    """How to make this CA certificate again with the extensions a CA needs, keeping what it signed valid."""
    if _is_self_signed(cert):
        return (
            f"make it again from the same key and subject, which keeps every certificate it signed valid: "
            f"`openssl req -x509 -key ca.key -subj '{_openssl_subject(cert)}' -days 3650 {CA_EXTENSIONS} "
            "-out ca.pem` (the `-addext` options are what a plain `openssl req -x509` leaves out), "
            "and give clients the new file"
        )
    return (
        "have its issuer sign it again with an extension file holding `basicConstraints=critical,CA:TRUE` and "
        "`keyUsage=critical,keyCertSign,cRLSign` (`openssl x509 -req -in ca.csr -CA parent.pem -CAkey parent.key "
        "-extfile ca.ext ...`), and serve the new one in the chain"
    )


def _extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.Extension[x509.ExtensionType] | None:
    try:
        return cert.extensions.get_extension_for_class(kind)
    except (x509.ExtensionNotFound, ValueError):
        return None


def _not_a_ca(cert: x509.Certificate) -> str:
    """Why OpenSSL refuses `cert` as a CA, in words."""
    if cert.version == x509.Version.v1:
        return "is a version 1 certificate (no extensions) that is not self-signed, so it cannot be a CA"
    constraints = _extension(cert, x509.BasicConstraints)
    usage = _extension(cert, x509.KeyUsage)
    if constraints is None:
        return "has no basicConstraints extension, so it is not a CA (signing certificates needs CA:TRUE)"
    if not isinstance(constraints.value, x509.BasicConstraints) or not constraints.value.ca:
        return "has basicConstraints CA:FALSE: it is not a CA, and must not sign certificates"
    if usage is not None and isinstance(usage.value, x509.KeyUsage) and not usage.value.key_cert_sign:
        return "has a keyUsage without keyCertSign: its key may not sign certificates"
    return "is not accepted as a CA"


# --- the verdict in words -------------------------------------------------------------------------


def _classify_failure(
    chain: tuple[CertificateInfo, ...],
    certs: Sequence[x509.Certificate],
    server_name: str,
    roots: Sequence[x509.Certificate],
    now: datetime,
    verdict: _Verdict,
    where: str,
    name: _Names,
) -> tuple[str, str]:
    """The one problem a person fixes first, as (kind, sentence): dates, the name, a self-signed or
    unknown issuer, then what else OpenSSL refused, naming the certificate."""
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
    if not matches_host(certs[0], server_name):
        if leaf.sans:
            covered = ", ".join(leaf.sans)
        elif ip_of(server_name) is not None:
            covered = "no subjectAltName at all (an IP address is matched by an IP address SAN only)"
        else:
            cns = ", ".join(_common_names(certs[0])) or "no CN"
            covered = f"no subjectAltName at all, and its CN ({cns}) is not this name either"
        return "hostname", f"the {leaf.describe()} does not cover {server_name}: it covers {covered}"
    if leaf.self_signed and leaf.sha256 not in root_prints:
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
    culprit = verdict.culprit if verdict.culprit is not None else certs[0]
    who = name(culprit)
    if verdict.error == "invalid CA certificate":
        return "invalid_ca", (
            f"the {who} {_not_a_ca(culprit)} (OpenSSL: \"invalid CA certificate\"); every client refuses the "
            f"chain: {ca_fix(culprit)}"
        )
    if verdict.error in ("unsuitable certificate purpose", "unsupported certificate purpose"):
        what = "certificate" if verdict.depth == 0 else "CA certificate"
        return "other", (
            f"the {who} is not for TLS servers: its extendedKeyUsage does not allow TLS server authentication "
            f"(serverAuth); reissue the {what} with `extendedKeyUsage=serverAuth` (OpenSSL: \"{verdict.error}\")"
        )
    if verdict.error == "unable to get local issuer certificate" and culprit.issuer in root_subjects:
        return "untrusted", (
            f"the issuer of the {who} ({culprit.issuer.rfc4514_string()}) is in the {where} by name, but that "
            "CA did not sign it: a CA made again with a new key, or a certificate signed by another CA of the "
            "same name"
        )
    return "other", f"the chain does not verify against the {where}: the {who}: {verdict.error} (OpenSSL)"


def _webpki_deviations(path: Sequence[x509.Certificate], name: _Names) -> list[tuple[str, str]]:
    """What a chain OpenSSL accepts still breaks on purpose, as (kind, sentence naming the certificate,
    the extension and the fix): a leaf with its name only in the CN, CA certificates without the
    extensions the WebPKI requires of a CA."""
    found: list[tuple[str, str]] = []
    leaf = path[0]
    if not _sans(leaf):
        names = ", ".join(_common_names(leaf)) or "its name"
        found.append(("browsers", (
            f"the {name(leaf)} has no subjectAltName extension: curl and Python accept its name from the CN, "
            "browsers do not (Chrome since version 58, Firefox since 48); reissue it with "
            f"`-addext subjectAltName=DNS:{names}` (`openssl req`), or a line `subjectAltName=DNS:{names}` in the "
            "`-extfile` of `openssl x509 -req`"
        )))
    for cert in path[1:]:  # CA certificates, the trust anchor included
        who = name(cert)
        if cert.version == x509.Version.v1:
            found.append(("webpki", (
                f"the {who} is a version 1 certificate: no extensions at all, so neither basicConstraints CA:TRUE "
                f"nor keyUsage (OpenSSL accepts a self-signed v1 root, the WebPKI rules do not); {ca_fix(cert)}"
            )))
            continue
        constraints = _extension(cert, x509.BasicConstraints)
        if constraints is None:
            found.append(("webpki", (
                f"the {who} has no basicConstraints extension (a CA needs basicConstraints=critical,CA:TRUE; "
                f"OpenSSL lets a trust anchor without it pass); {ca_fix(cert)}"
            )))
        elif not constraints.critical:
            found.append(("webpki", (
                f"the {who} has a basicConstraints extension that is not marked critical (a CA needs "
                f"basicConstraints=critical,CA:TRUE); {ca_fix(cert)}"
            )))
        if _extension(cert, x509.KeyUsage) is None:
            found.append(("webpki", (
                f"the {who} has no keyUsage extension (a CA needs keyUsage=critical,keyCertSign,cRLSign; "
                f"`openssl req -x509` adds none unless told with `-addext`); {ca_fix(cert)}"
            )))
    return found


def _server_auth(_policy: verification.Policy, _cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
    allowed = (oid.ExtendedKeyUsageOID.SERVER_AUTH, oid.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE)
    if eku is not None and not any(usage in eku for usage in allowed):
        raise ValueError("its extendedKeyUsage does not allow TLS server authentication (serverAuth)")


@lru_cache(maxsize=1)
def _leaf_policy() -> verification.ExtensionPolicy:
    """WebPKI rules for the leaf, except two criticality rules that browsers and OpenSSL do not enforce
    (a critical subjectAltName next to a non-empty subject, a critical extendedKeyUsage)."""
    return (
        verification.ExtensionPolicy.webpki_defaults_ee()
        .require_present(x509.SubjectAlternativeName, verification.Criticality.AGNOSTIC, None)
        .may_be_present(x509.ExtendedKeyUsage, verification.Criticality.AGNOSTIC, _server_auth)
    )


def _webpki_refusal(
    certs: Sequence[x509.Certificate], roots: Sequence[x509.Certificate], server_name: str, now: datetime
) -> str:
    """What cryptography's WebPKI verifier refuses in a chain OpenSSL accepted ("" when nothing):
    the WebPKI rules this module does not name itself (authority key identifiers, algorithms, ...)."""
    ip = ip_of(server_name)
    try:
        subject = x509.IPAddress(ip) if ip is not None else x509.DNSName(server_name.rstrip(".").lower())
        builder = verification.PolicyBuilder().store(verification.Store(list(roots))).time(now)
        builder = builder.extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(), ee_policy=_leaf_policy()
        )
        builder.build_server_verifier(subject).verify(certs[0], list(certs[1:]))
    except verification.VerificationError as exc:
        return _tidy(str(exc))
    except Exception:  # a rule cryptography cannot even apply: OpenSSL's verdict stands, nothing to add
        return ""
    return ""


def trust_description(ca_bundle: str | None) -> str:
    return f"system trust store or the CA bundle {ca_bundle}" if ca_bundle else "system trust store"


ACCEPTED_BY = "OpenSSL clients (curl, Python, nginx, and this suite's HTTP checks) accept the chain"


def verify(
    certs: Sequence[x509.Certificate],
    chain: tuple[CertificateInfo, ...],
    server_name: str,
    ca_bundle: str | None,
    now: datetime,
) -> tuple[str, str, str]:
    """(verify_problem, verify_error, trusted_by): ("", "", source) when the chain verifies and meets the
    stricter rules too; a problem of CLIENTS_ACCEPT, its sentence and the source when only they are broken."""
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
    bundle_prints = frozenset(_fingerprint(cert) for cert in bundle)
    name = _Names(chain, certs, bundle_prints, ca_bundle)
    try:
        verdict = _openssl_verify(certs, bundle, server_name, now)
    except UnicodeError as exc:
        return "other", f"{server_name!r} cannot be verified as a host name: {exc}", ""
    if not verdict.path:
        problem, sentence = _classify_failure(chain, certs, server_name, roots, now, verdict, where, name)
        return problem, sentence, ""
    anchor = _fingerprint(verdict.path[-1])
    trusted_by = f"the CA bundle {ca_bundle}" if anchor in bundle_prints else "the system trust store"
    deviations = _webpki_deviations(verdict.path, name)
    if not deviations:
        refusal = _webpki_refusal(certs, roots, server_name, now)
        if refusal:
            deviations.append(("webpki", f"cryptography's WebPKI verifier refuses it: {refusal}"))
    if not deviations:
        return "", "", trusted_by
    kind = "browsers" if any(kind == "browsers" for kind, _ in deviations) else "webpki"
    rules = "browsers' rules" if kind == "browsers" and len(deviations) == 1 else "stricter rules"
    sentences = "; and ".join(sentence for _, sentence in deviations)
    return kind, f"{ACCEPTED_BY}, but it breaks {rules}: {sentences}", trusted_by
