"""A real TLS handshake with pyOpenSSL, and the presented chain judged by probes/chain.py (NET5, NET6).

CONTRACT: `handshake()` never raises; a connection that never got to a handshake sets `error`; a
handshake that completed but whose chain does not verify sets `verify_problem`/`verify_error` and
still reports the chain.

What `openssl s_client -connect host:443 -servername host` shows a person, as data: the handshake
accepts any certificate and old protocol versions (TLS 1.0+, `@SECLEVEL=0`) so that an expired,
mismatched or self-signed certificate and a TLS 1.1-only server are *reported*, not just refused;
verification then runs separately (probes/chain.py), as an OpenSSL client verifies, against the system
trust store plus the environment's CA bundle, with the stricter browser and WebPKI rules reported apart.
"""

from __future__ import annotations

import selectors
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from . import deadline
from .chain import (
    CLIENTS_ACCEPT,
    CertificateInfo,
    describe_chain,
    ip_of,
    trust_description,
    verify,
)
from .chain import ready as chain_ready
from .errors import ProbeError, classify
from .lazy import lazy, preload
from .lookup import Lookup, first_address
from .retry import Attempt

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
    attempts: tuple[Attempt, ...] = ()  # every attempt, when a transport failure was retried (probes.retry)

    @property
    def verified(self) -> bool:
        # what OpenSSL clients (curl, Python, nginx) accept is verified; stricter rules are reported apart
        return self.error is None and bool(self.chain) and (not self.verify_problem or
                                                            self.verify_problem in CLIENTS_ACCEPT)

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


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
    if not server_name or ip_of(server_name) is not None:
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
    host: str, port: int, server_name: str, ca_bundle: str | None, timeout_s: float, now: datetime | None = None,
    lookup: Lookup = first_address,
) -> TlsObservation:
    """Connect, handshake (SNI = server_name), verify chain + hostname against the system trust store
    plus `ca_bundle`, at `now` (default: the current time). The connection goes to the address
    `lookup` gives for `host` (the run's pins and resolver); the name is what is sent and verified.
    Name lookup, connect and handshake together end at the exchange's deadline, `timeout_s`
    (probes.deadline)."""
    preload(SSL)
    chain_ready()
    with deadline.exchange(timeout_s, f"tls {format_address(host, port)}") as exchange:
        return _handshake(host, port, server_name, ca_bundle, exchange, now, lookup)


def _handshake(
    host: str, port: int, server_name: str, ca_bundle: str | None, exchange: deadline.Exchange, now: datetime | None,
    lookup: Lookup = first_address,
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
        ip = lookup(host, port, exchange.clamp())
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
        problem, sentence, trusted_by = verify(presented, chain, server_name, ca_bundle, moment)
    except Exception as exc:  # a certificate cryptography cannot parse: report it, do not raise
        return failed(ValueError(f"the presented certificate cannot be read: {exc}"))
    return TlsObservation(
        host=host, port=port, server_name=server_name, protocol=protocol, cipher=cipher,
        chain=chain, verify_problem=problem, verify_error=sentence, elapsed_s=elapsed, error=None,
        checked_at=moment, trust_store=trust_description(ca_bundle), trusted_by=trusted_by,
    )
