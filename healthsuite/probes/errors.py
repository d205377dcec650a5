"""What a probe met instead of an answer, named by kind.

A probe never raises and never passes on an error: it returns its observation with `error` set to a
`ProbeError`, whose `kind` picks the sentence, causes and remediation from the catalogue's
`failure_kinds`. The kinds: refused, timeout, dns, tls, protocol, reset, auth_failed,
database_missing, too_many_connections, not_a_database, other.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

from healthsuite.catalogue.diagnoses import Service

KINDS = (
    "refused", "timeout", "dns", "tls", "protocol", "reset", "auth_failed",
    "database_missing", "too_many_connections", "not_a_database", "permission_denied", "other",
)
KIND_NAMES = {
    "refused": "connection refused",
    "timeout": "timed out",
    "dns": "DNS resolution failed",
    "tls": "TLS failure",
    "protocol": "protocol error",
    "reset": "connection reset",
    "auth_failed": "authentication failed",
    "database_missing": "database does not exist",
    "too_many_connections": "too many connections",
    "not_a_database": "not a database",
    "permission_denied": "permission denied",
    "other": "probe error",
}


@dataclass(frozen=True)
class ProbeError:
    kind: str
    service: Service
    address: str  # host:port, URL or path; never a password
    detail: str  # the driver's own words

    @property
    def kind_name(self) -> str:
        return KIND_NAMES[self.kind]


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _first_line(exc: BaseException) -> str:
    """The error's text on one line; a driver's line breaks become sentence breaks ("Connection
    refused. Is the server running ..."), never words run together."""
    text = str(exc).strip() or type(exc).__name__
    joined = ""
    for line in (line.strip() for line in text.splitlines()):
        if not line:
            continue
        if joined:
            joined += " " if joined[-1] in ".:;,!?" else ". "
        joined += line
    return joined[:400]


_PATTERNS: tuple[tuple[str, str], ...] = (
    # ordered: the first pattern found in the lower-cased message wins
    ("password authentication failed", "auth_failed"),
    ("authentication failed", "auth_failed"),
    ("no password supplied", "auth_failed"),
    ("pg_hba.conf", "auth_failed"),
    ("wrongpass", "auth_failed"),
    ("noauth", "auth_failed"),
    ("invalid username-password", "auth_failed"),
    ("invalid password", "auth_failed"),
    ("authentication required", "auth_failed"),
    ("permission denied", "permission_denied"),
    ("must be superuser", "permission_denied"),
    ("insufficient privilege", "permission_denied"),
    ('role "', "auth_failed"),
    ("does not exist", "database_missing"),
    ("too many clients", "too_many_connections"),
    ("remaining connection slots are reserved", "too_many_connections"),
    ("max number of clients", "too_many_connections"),
    # libpq's SSLRequest answered with neither 'S' nor 'N': the port speaks another protocol
    ("invalid response to ssl negotiation", "protocol"),
    ("certificate", "tls"),
    ("ssl", "tls"),
    ("tls", "tls"),
    ("could not translate host name", "dns"),
    ("name or service not known", "dns"),
    ("temporary failure in name resolution", "dns"),
    ("nodename nor servname", "dns"),
    ("no address associated", "dns"),
    ("connection refused", "refused"),
    ("errno 111", "refused"),
    ("network is unreachable", "refused"),
    ("no route to host", "refused"),
    ("timeout", "timeout"),
    ("timed out", "timeout"),
    ("canceling statement due to statement timeout", "timeout"),
    ("server closed the connection unexpectedly", "reset"),
    ("connection reset", "reset"),
    ("connection closed", "reset"),
    ("server disconnected", "reset"),
    ("broken pipe", "reset"),
    ("file is not a database", "not_a_database"),
    ("database disk image is malformed", "not_a_database"),
    ("protocol", "protocol"),
    ("invalid response", "protocol"),
    ("expected authentication request", "protocol"),
    ("unexpected response", "protocol"),
)


def classify(exc: BaseException, service: Service, address: str) -> ProbeError:
    """Name the kind of a driver's exception, by type where the type says it, else by message."""
    chain = _chain(exc)
    for item in chain:
        if isinstance(item, ssl.SSLError):
            return ProbeError("tls", service, address, _first_line(item))
        if isinstance(item, socket.gaierror):
            return ProbeError("dns", service, address, _first_line(item))
        if isinstance(item, ConnectionRefusedError):
            return ProbeError("refused", service, address, _first_line(item))
        if isinstance(item, (socket.timeout, TimeoutError)):
            return ProbeError("timeout", service, address, _first_line(item))
        if isinstance(item, (ConnectionResetError, BrokenPipeError)):
            return ProbeError("reset", service, address, _first_line(item))
    detail = _first_line(exc)
    text = " ".join(_first_line(item) for item in chain).lower()
    type_names = " ".join(type(item).__name__.lower() for item in chain)
    if "timeout" in type_names:
        return ProbeError("timeout", service, address, detail)
    if "authentication" in type_names:
        return ProbeError("auth_failed", service, address, detail)
    if "server disconnected" in text or "connection closed by server" in text:
        return ProbeError("reset", service, address, detail)
    if "protocol" in type_names or "invalidresponse" in type_names:
        return ProbeError("protocol", service, address, detail)
    for needle, kind in _PATTERNS:
        if needle in text:
            return ProbeError(kind, service, address, detail)
    return ProbeError("other", service, address, detail)
