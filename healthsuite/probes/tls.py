"""A real TLS handshake with pyOpenSSL, and the presented chain judged with cryptography (NET5, NET6).

CONTRACT: `handshake()` never raises; a connection that never got to a handshake sets `error`; a
handshake that completed but whose chain does not verify sets `verify_problem`/`verify_error` and
still reports the chain.

What `openssl s_client -connect host:443 -servername host` shows a person, as data: the handshake
accepts any certificate and old protocol versions (TLS 1.0+, `@SECLEVEL=0`) so that an expired,
mismatched or self-signed certificate and a TLS 1.1-only server are *reported*, not just refused;
verification then runs separately, with cryptography's WebPKI verifier, against the system trust
store plus the environment's CA bundle.
"""

from __future__ import annotations

import ipaddress
import re
import selectors
import socket
import ssl
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from ..lazy import lazy
from . import deadline
from .errors import ProbeError, classify
from .lookup import first_address

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509 import oid, verification
    from OpenSSL import SSL
else:
    x509 = lazy("cryptography.x509")
    hashes = lazy("cryptography.hazmat.primitives.hashes")
    oid = lazy("cryptography.x509.oid")
    verification = lazy("cryptography.x509.verification")
    SSL = lazy("OpenSSL.SSL")

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


@dataclass(frozen=True)
class TlsObservation:
    host: str  # connected to
    port: int
    server_name: str  # sent as SNI and verified
    protocol: str = ""  # e.g. "TLSv1.3"
    cipher: str = ""
    chain: tuple[CertificateInfo, ...] = ()  # as presented, leaf first
    verify_problem: str = ""  # one of VERIFY_PROBLEMS; "" when the chain verified
    verify_error: str = ""  # a sentence naming the problem and the certificate
    elapsed_s: float = 0.0
    error: ProbeError | None = None
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))  # the time verified against
    trust_store: str = ""  # what was trusted: "system trust store" or "system trust store or the CA bundle X"
    trusted_by: str = ""  # where the accepted root came from (verified chains only)

    @property
    def verified(self) -> bool:
        return self.error is None and not self.verify_problem and bool(self.chain)

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
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
    ip = _ip(name)
    if ip is not None:
        return any(_ip(san) == ip for san in sans)
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


def _verify(
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
    ip = _ip(server_name)
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


# --- the handshake --------------------------------------------------------------------------------


def _client_context() -> SSL.Context:
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    # observe, do not refuse: old protocols and weak ciphers are reported by NET6, bad certificates by NET5
    context.set_min_proto_version(SSL.TLS1_VERSION)
    context.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
    context.set_verify(SSL.VERIFY_NONE)
    context.set_options(getattr(SSL, "OP_LEGACY_SERVER_CONNECT", 0))
    return context


def _sni(server_name: str) -> bytes | None:
    if not server_name or _ip(server_name) is not None:
        return None  # RFC 6066: no IP literals in SNI
    try:
        return server_name.rstrip(".").encode("idna")
    except UnicodeError:
        return server_name.encode("ascii", "replace")


_HANDSHAKE_HINTS = (
    ("wrong version number", "the port answers, but not with TLS: plain HTTP on an HTTPS port?"),
    ("packet length too long", "the port answers, but not with TLS: plain HTTP on an HTTPS port?"),
    ("protocol version", "no protocol version in common: the server offers only versions older than TLS 1.0"),
    ("handshake failure", "no cipher suite or signature algorithm in common with the server"),
    ("unrecognized name", "the server has no certificate for this name (SNI)"),
)


def _ssl_reasons(exc: SSL.Error) -> str:
    """`[('SSL routines', '', 'tlsv1 alert protocol version')]` -> `tlsv1 alert protocol version`."""
    args = exc.args[0] if exc.args else None
    if isinstance(args, list) and args and all(isinstance(item, tuple) for item in args):
        return "; ".join(str(item[-1]) for item in args if item and item[-1]) or str(exc)
    return str(exc) or type(exc).__name__


def _handshake_failure(exc: SSL.Error) -> str:
    reasons = _ssl_reasons(exc)
    hint = next((hint for needle, hint in _HANDSHAKE_HINTS if needle in reasons.lower()), "")
    return f"TLS handshake failed: {reasons}" + (f" ({hint})" if hint else "")


# OpenSSL's words for an answer that is not a TLS record at all: the port speaks another protocol
_NOT_TLS = ("wrong version number", "unknown protocol", "packet length too long", "record layer failure",
            "http request", "https proxy request")


def _not_tls(exc: SSL.Error) -> bool:
    return any(needle in _ssl_reasons(exc).lower() for needle in _NOT_TLS)


class _HandshakeTimeout(TimeoutError):
    pass


def _do_handshake(connection: SSL.Connection, sock: socket.socket, until: float, timeout_s: float) -> None:
    """Drive a non-blocking handshake until it completes or the deadline passes."""
    while True:
        try:
            connection.do_handshake()
            return
        except SSL.WantReadError:
            wait_read = True
        except SSL.WantWriteError:
            wait_read = False
        remaining = until - time.monotonic()
        if remaining <= 0:
            raise _HandshakeTimeout(f"the TLS handshake did not complete within {timeout_s:g} s (timed out)")
        with selectors.DefaultSelector() as selector:  # not select.select: fds above 1024 exist in big runs
            selector.register(sock, selectors.EVENT_READ if wait_read else selectors.EVENT_WRITE)
            ready = selector.select(remaining)
        if not ready:
            raise _HandshakeTimeout(f"the TLS handshake did not complete within {timeout_s:g} s (timed out)")


def handshake(
    host: str, port: int, server_name: str, ca_bundle: str | None, timeout_s: float, now: datetime | None = None
) -> TlsObservation:
    """Connect, handshake (SNI = server_name), verify chain + hostname against the system trust store
    plus `ca_bundle`, at `now` (default: the current time). Name lookup, connect and handshake
    together end at the exchange's deadline, `timeout_s` (probes.deadline)."""
    with deadline.exchange(timeout_s, f"tls {format_address(host, port)}") as exchange:
        return _handshake(host, port, server_name, ca_bundle, exchange, now)


def _handshake(
    host: str, port: int, server_name: str, ca_bundle: str | None, exchange: deadline.Exchange, now: datetime | None
) -> TlsObservation:
    started = time.monotonic()
    timeout_s = exchange.timeout_s
    address = format_address(host, port)

    def failed(exc: BaseException) -> TlsObservation:
        error = classify(exc, "tls", address)
        if exchange.expired:
            error = ProbeError("timeout", "tls", address, f"{exchange.sentence()} ({error.detail})")
        return TlsObservation(
            host=host, port=port, server_name=server_name, elapsed_s=time.monotonic() - started,
            error=error, trust_store=trust_description(ca_bundle),
        )

    try:
        ip = first_address(host, port, exchange.clamp())
        sock = socket.create_connection((ip, port), timeout=exchange.clamp())
    except OSError as exc:
        return failed(exc)
    exchange.watch(sock)
    try:
        sock.setblocking(False)
        connection = SSL.Connection(_client_context(), sock)
        sni = _sni(server_name)
        if sni is not None:
            connection.set_tlsext_host_name(sni)
        connection.set_connect_state()
        _do_handshake(connection, sock, exchange.at, timeout_s)
        elapsed = time.monotonic() - started
        presented = connection.get_peer_cert_chain(as_cryptography=True) or []
        if not presented:
            peer = connection.get_peer_certificate(as_cryptography=True)
            presented = [peer] if peer is not None else []
        protocol = connection.get_protocol_version_name()
        cipher = connection.get_cipher_name() or ""
        try:
            connection.shutdown()  # close_notify, best effort: the server logs a clean close
        except SSL.Error:
            pass
    except SSL.SysCallError as exc:
        if exchange.expired:
            return failed(_HandshakeTimeout("the TLS handshake was still going on"))
        return failed(ConnectionResetError(f"the connection closed during the TLS handshake ({_ssl_reasons(exc)})"))
    except SSL.Error as exc:
        if exchange.expired:
            return failed(_HandshakeTimeout("the TLS handshake was still going on"))
        kind = "protocol" if _not_tls(exc) else "tls"
        return TlsObservation(
            host=host, port=port, server_name=server_name, elapsed_s=time.monotonic() - started,
            error=ProbeError(kind, "tls", address, _handshake_failure(exc)), trust_store=trust_description(ca_bundle),
        )
    except OSError as exc:  # includes _HandshakeTimeout
        return failed(exc)
    except Exception as exc:  # never raise: an unexpected library error is still an observation
        return failed(exc)
    finally:
        sock.close()
    moment = datetime.now(UTC) if now is None else now if now.tzinfo else now.replace(tzinfo=UTC)
    if not presented:
        return TlsObservation(
            host=host, port=port, server_name=server_name, protocol=protocol, cipher=cipher,
            verify_problem="other", verify_error="the server presented no certificate", elapsed_s=elapsed,
            checked_at=moment, trust_store=trust_description(ca_bundle),
        )
    try:
        chain = describe_chain(presented)
        problem, sentence, trusted_by = _verify(presented, chain, server_name, ca_bundle, moment)
    except Exception as exc:  # a certificate cryptography cannot parse: report it, do not raise
        return failed(ValueError(f"the presented certificate cannot be read: {exc}"))
    return TlsObservation(
        host=host, port=port, server_name=server_name, protocol=protocol, cipher=cipher,
        chain=chain, verify_problem=problem, verify_error=sentence, elapsed_s=elapsed, error=None,
        checked_at=moment, trust_store=trust_description(ca_bundle), trusted_by=trusted_by,
    )
