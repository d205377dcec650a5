"""Where a probe connects for a host name, like `curl --resolve`: a pin (dns.hosts), else the
environment's resolver (dns.nameservers), else the system resolver; each name looked up once per run.

Every HTTP request, TLS handshake and TCP connect of a run asks the run's `Names` for the address of
the host it names, and keeps the name for the Host header, SNI and certificate verification. With
dns.nameservers declared, a name's A and AAAA are asked of that resolver once per run, and the same
answer is NET1's (probes.session.ProbeSession.dns): every message of a run agrees about what a name
resolves to. A name that does not resolve raises `socket.gaierror` (kind `dns`) naming the resolver.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from ..model.netaddr import format_address
from . import resolver
from .cache import ProbeCache

_RESOLVERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="healthsuite-getaddrinfo")

# (host, port, timeout_s) -> the address to connect to; raises socket.gaierror when there is none
Lookup = Callable[[str, int, float], str]

ADDRESS_TYPES = ("A", "AAAA")


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def first_address(host: str, port: int, timeout_s: float) -> str:
    """The first address of `host` (IPv4 first), as the system resolver answers it.

    Runs getaddrinfo in a worker thread that is abandoned when slow, so a hung resolver costs the
    probe its timeout, never the run. Raises socket.gaierror (classified as kind `dns`)."""
    if is_ip(host):
        return host
    future = _RESOLVERS.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=timeout_s)
    except FutureTimeout:
        raise socket.gaierror(f"no answer from the system resolver for {host} within {timeout_s:g} s") from None
    infos.sort(key=lambda info: 0 if info[0] == socket.AF_INET else 1)
    return str(infos[0][4][0])


def _loopback(name: str) -> bool:
    """`localhost` and its subdomains are loopback whatever a resolver holds (RFC 6761)."""
    return name == "localhost" or name.endswith(".localhost")


class Names:
    """The run's answer to "where does this name go?": pins first, then the declared resolver (its
    A/AAAA answer, asked once per name and shared with NET1 through the probe cache), else the system
    resolver (getaddrinfo, once per name). Thread-safe (the probe cache is)."""

    def __init__(
        self,
        *,
        pins: Mapping[str, str] | None = None,
        nameservers: Sequence[tuple[str, int]] = (),
        timeout_s: float = 3.0,
        cache: ProbeCache | None = None,
        pin_source: str = "dns.hosts",
    ) -> None:
        self.pins = {name.rstrip(".").lower(): address for name, address in (pins or {}).items()}
        self.nameservers = tuple(nameservers)
        self.timeout_s = timeout_s
        self.cache = cache if cache is not None else ProbeCache()
        self.pin_source = pin_source

    @property
    def resolver_label(self) -> str:
        """`resolver 127.0.0.1:5353`, or `the system resolver`."""
        if self.nameservers:
            return "resolver " + ", ".join(format_address(h, p) for h, p in self.nameservers)
        return "the system resolver"

    def addresses(self, host: str, timeout_s: float | None = None) -> resolver.DnsObservation:
        """The A and AAAA answers of `host` from the declared resolver (the system's, through
        dnspython, when none is declared): asked once per run; later callers share the answer."""
        name = host.rstrip(".").lower()
        timeout = min(timeout_s, self.timeout_s) if timeout_s is not None else self.timeout_s
        return self.cache.get(
            ("dns.addresses", name, self.nameservers),
            lambda: resolver.resolve(name, ADDRESS_TYPES, self.nameservers, timeout),
        )

    def source(self, host: str) -> str:
        """What decides the address of `host`: `dns.hosts`, `resolver 127.0.0.1:5353`, ... (for messages)."""
        name = host.rstrip(".").lower()
        if is_ip(name.strip("[]")):
            return "an address"
        if name in self.pins:
            return f"pinned by {self.pin_source}"
        return self.resolver_label

    def address(self, host: str, port: int, timeout_s: float) -> str:
        """The address to connect to for `host` (an IP literal as it is). Raises socket.gaierror."""
        name = host.rstrip(".").lower()
        if is_ip(name.strip("[]")):
            return name.strip("[]")
        pinned = self.pins.get(name)
        if pinned is not None:
            return pinned
        if self.nameservers and not _loopback(name):
            seen = self.addresses(name, timeout_s)
            found = seen.addresses()
            if found:
                return found[0]
            raise socket.gaierror(f"{name}: {seen.failure_text()} [resolver {seen.resolver}]")
        found_or_error = self.cache.get(("getaddrinfo", name), lambda: _system(name, port, timeout_s))
        if found_or_error[0] is None:
            raise socket.gaierror(found_or_error[1])
        return found_or_error[0]

    def __call__(self, host: str, port: int, timeout_s: float) -> str:
        return self.address(host, port, timeout_s)


def _system(name: str, port: int, timeout_s: float) -> tuple[str | None, str]:
    try:
        return first_address(name, port, timeout_s), ""
    except socket.gaierror as exc:
        return None, str(exc) or f"{name} does not resolve"
    except OSError as exc:
        return None, f"{name}: {exc}"


def system_names() -> Names:
    """No declared resolver, no pins: the system resolver, each name once (for one-off probes)."""
    return Names()
