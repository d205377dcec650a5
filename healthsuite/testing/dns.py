"""A small recursive-resolver stand-in on loopback, for the suite's tests and the demo (NET1-NET4).

It answers from an in-memory table whose records and faults can be switched while it runs, from
any thread:

    server = DnsServer({"app.demo.test": [("A", "127.0.0.1")], "www.demo.test": [("CNAME", "app.demo.test")]})
    server.start()                                   # UDP and TCP on 127.0.0.1:<free port>
    server.address                                   # "127.0.0.1:PORT", for dns.nameservers
    server.set_fault("app.demo.test", "nxdomain")    # also servfail, refused, no_answer, slow, drop
    server.set_fault("www.demo.test", "slow", delay_s=0.6)
    server.set_records("www.demo.test", [("A", "203.0.113.7")])
    server.reset()                                   # the records it started with, no faults
    server.stop()

It behaves like a recursive resolver for the names it holds: a CNAME is followed inside the table and
the target's records of the asked type join the answer; an unknown name is NXDOMAIN; a known name
without the asked type is NOERROR with an empty answer. A fault on a CNAME's target breaks the names
pointing at it too, as it would behind a real resolver.

Plain Python on dnslib (no pytest): it ships with the package's `demo` extra.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any

from dnslib import AAAA, CNAME, QTYPE, RCODE, RR, TXT, A, DNSError, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer
from dnslib.server import TCPServer as _DnslibTCPServer
from dnslib.server import UDPServer as _DnslibUDPServer

from healthsuite.testing.ports import LOOPBACK

__all__ = ["DnsServer", "DnsFault", "FAULT_KINDS", "RECORD_TYPES", "ANY_NAME", "DEMO_ZONE", "DEMO_FAULTS", "break_demo"]

_log = logging.getLogger(__name__)

Record = tuple[str, str]  # ("A", "127.0.0.1"), ("AAAA", "::1"), ("CNAME", "app.demo.test"), ("TXT", "...")
RECORD_TYPES = ("A", "AAAA", "CNAME", "TXT")
FAULT_KINDS: dict[str, str] = {
    "nxdomain": "answers NXDOMAIN: the name does not exist",
    "servfail": "answers SERVFAIL: the resolver cannot get an answer",
    "refused": "answers REFUSED: the resolver will not answer for this name",
    "no_answer": "answers NOERROR with an empty answer (the name exists, the record type does not)",
    "slow": "answers normally after delay_s seconds",
    "drop": "never answers: the client times out",
}
ANY_NAME = "*"  # set_fault(ANY_NAME, ...) breaks every name: a resolver outage
MAX_CHAIN = 8

# The demo's names (environments/demo.yaml `hostnames`), and one fault per DNS diagnosis for
# `python -m healthsuite.demo break NET1` (see `break_demo`).
DEMO_ZONE: dict[str, list[tuple[str, str]]] = {
    "booking.demo.test": [("A", "127.0.0.1")],
    "www.booking.demo.test": [("CNAME", "booking.demo.test")],
}
DEMO_FAULTS: dict[str, str] = {
    "NET1": "booking.demo.test answers NXDOMAIN (and www, its CNAME, with it)",
    "NET2": "booking.demo.test points at 203.0.113.7, outside 127.0.0.0/8",
    "NET3": "www.booking.demo.test is an A record instead of a CNAME to booking.demo.test",
    "NET4": "every answer is delayed by 1.5 s",
}


def _name(text: str) -> str:
    return str(text).strip().rstrip(".").lower()


@dataclass(frozen=True)
class DnsFault:
    """How one name misbehaves. `delay_s` delays any kind (a slow SERVFAIL is `servfail` + delay)."""

    kind: str
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown DNS fault {self.kind!r}; one of {', '.join(FAULT_KINDS)}")
        if self.delay_s < 0:
            raise ValueError("delay_s must be >= 0")


def _validate(name: str, records: Iterable[Record]) -> list[Record]:
    result: list[Record] = []
    for rtype, value in records:
        rtype = rtype.upper()
        if rtype == "A":
            value = str(ipaddress.IPv4Address(value))
        elif rtype == "AAAA":
            value = str(ipaddress.IPv6Address(value))
        elif rtype == "CNAME":
            value = _name(value)
            if not value:
                raise ValueError(f"{name}: an empty CNAME target")
        elif rtype != "TXT":
            raise ValueError(f"{name}: record type {rtype!r} is not served; one of {', '.join(RECORD_TYPES)}")
        result.append((rtype, value))
    types = {t for t, _ in result}
    if "CNAME" in types and (len(types) > 1 or len(result) > 1):
        raise ValueError(f"{name}: a CNAME cannot sit beside other records (or another CNAME)")
    return result


def _rdata(rtype: str, value: str) -> Any:
    if rtype == "A":
        return A(value)
    if rtype == "AAAA":
        return AAAA(value)
    if rtype == "CNAME":
        return CNAME(value + ".")
    return TXT(value)


class _QuietUDPServer(_DnslibUDPServer):  # type: ignore[misc]
    """dnslib's threaded UDP server, without socketserver's traceback on stderr for a late reply."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log.debug("DNS handler error for %s", client_address, exc_info=True)


class _QuietTCPServer(_DnslibTCPServer):  # type: ignore[misc]
    def handle_error(self, request: Any, client_address: Any) -> None:
        _log.debug("DNS handler error for %s", client_address, exc_info=True)


class _TableResolver(BaseResolver):  # type: ignore[misc]
    """dnslib's resolver hook: answers from the DnsServer's table (one instance, many threads)."""

    def __init__(self, owner: DnsServer) -> None:
        self.owner = owner

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        return self.owner._answer(request)


class DnsServer:
    """A DNS server on 127.0.0.1 (UDP and TCP, one port) answering from a switchable table."""

    def __init__(
        self,
        records: Mapping[str, Iterable[Record]] | None = None,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        ttl: int = 60,
    ) -> None:
        self.host = host
        self.port = port  # 0 until start() when no port is given
        self.ttl = ttl
        self._lock = threading.Lock()
        self._initial = {_name(n): _validate(n, r) for n, r in (records or {}).items()}
        self._records: dict[str, list[Record]] = {n: list(r) for n, r in self._initial.items()}
        self._faults: dict[str, DnsFault] = {}
        self._servers: list[Any] = []
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self.queries: Counter[str] = Counter()  # "www.demo.test A" -> how many were asked

    # --- the table ------------------------------------------------------------------------------

    def set_records(self, name: str, records: Iterable[Record]) -> None:
        """Replace the records of `name` (an empty list: the name exists with no records)."""
        checked = _validate(name, records)
        with self._lock:
            self._records[_name(name)] = checked

    def remove(self, name: str) -> None:
        """Delete `name`: it answers NXDOMAIN from now on."""
        with self._lock:
            self._records.pop(_name(name), None)

    def records(self) -> dict[str, list[Record]]:
        with self._lock:
            return {n: list(r) for n, r in self._records.items()}

    def set_fault(self, name: str, kind: str, *, delay_s: float | None = None) -> None:
        """Make `name` (or every name: `ANY_NAME`) misbehave; see FAULT_KINDS. `slow` defaults to 2 s."""
        fault = DnsFault(kind, delay_s if delay_s is not None else (2.0 if kind == "slow" else 0.0))
        with self._lock:
            self._faults[_name(name)] = fault  # ANY_NAME stays "*"

    def clear_fault(self, name: str) -> None:
        with self._lock:
            self._faults.pop(_name(name), None)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def faults(self) -> dict[str, dict[str, Any]]:
        """The faults in force, as JSON-ready data: {"www.demo.test": {"kind": "slow", "delay_s": 0.6}}."""
        with self._lock:
            return {n: asdict(f) for n, f in self._faults.items()}

    def reset(self) -> None:
        """Back to the records it was created with, and no faults."""
        with self._lock:
            self._faults.clear()
            self._records = {n: list(r) for n, r in self._initial.items()}

    # --- answering ------------------------------------------------------------------------------

    def _answer(self, request: DNSRecord) -> DNSRecord:
        qname = _name(str(request.q.qname))
        qtype = str(QTYPE[request.q.qtype])
        with self._lock:
            self.queries[f"{qname} {qtype}"] += 1
            records = {n: list(r) for n, r in self._records.items()}
            faults = dict(self._faults)
        reply, visited = self._lookup(request, records, qname, qtype)
        # the faults met along the CNAME chain, each with how many CNAME hops led to it
        met = [(0, faults[ANY_NAME])] if ANY_NAME in faults else []
        met += [(hops, faults[n]) for hops, n in enumerate(visited) if n in faults]
        failing = next(((hops, f) for hops, f in met if f.kind != "slow"), None)
        until = met.index(failing) + 1 if failing is not None else len(met)  # faults past a failing one: unseen
        delay = sum(f.delay_s for _, f in met[:until])
        if delay and self._stopping.wait(delay):
            raise DNSError("the server is stopping")  # dnslib drops the request: no reply
        if failing is None:
            return reply
        hops, fault = failing
        if fault.kind == "drop":
            raise DNSError(f"fault: drop {qname} {qtype}")  # dnslib logs it and sends nothing
        answer = request.reply()
        answer.header.rcode = {"nxdomain": RCODE.NXDOMAIN, "servfail": RCODE.SERVFAIL, "refused": RCODE.REFUSED}.get(
            fault.kind, RCODE.NOERROR
        )
        if fault.kind in ("nxdomain", "no_answer"):  # a resolver keeps the CNAMEs that led to the broken name
            for rr in reply.rr[:hops]:
                answer.add_answer(rr)
        return answer

    def _lookup(
        self, request: DNSRecord, records: dict[str, list[Record]], qname: str, qtype: str
    ) -> tuple[DNSRecord, list[str]]:
        """The fault-free reply, following CNAMEs inside the table, and the names it visited."""
        reply = request.reply()
        name, visited = qname, [qname]
        for _ in range(MAX_CHAIN):
            if name not in records:
                reply.header.rcode = RCODE.NXDOMAIN  # with the CNAMEs that led here, as resolvers answer
                return reply, visited
            entries = records[name]
            cnames = [v for t, v in entries if t == "CNAME"]
            if cnames and qtype != "CNAME":
                reply.add_answer(RR(name + ".", QTYPE.CNAME, rdata=_rdata("CNAME", cnames[0]), ttl=self.ttl))
                name = cnames[0]
                visited.append(name)
                continue
            for rtype, value in entries:
                if rtype == qtype:
                    reply.add_answer(RR(name + ".", getattr(QTYPE, rtype), rdata=_rdata(rtype, value), ttl=self.ttl))
            return reply, visited
        reply.header.rcode = RCODE.SERVFAIL  # a CNAME loop, as a real resolver reports it
        return reply, visited

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """`127.0.0.1:PORT`, as an environment file's dns.nameservers entry."""
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return bool(self._servers)

    def _bind(self, port: int) -> list[Any]:
        logger = DNSLogger("request,reply,truncated,error", prefix=False, logf=_log.debug)
        resolver = _TableResolver(self)
        udp = DNSServer(resolver, address=self.host, port=port, logger=logger, server=_QuietUDPServer)
        try:
            bound = int(udp.server.server_address[1])
            tcp = DNSServer(resolver, address=self.host, port=bound, logger=logger, server=_QuietTCPServer)
        except BaseException:
            udp.server.server_close()
            raise
        self.port = bound
        return [udp, tcp]

    def start(self) -> DnsServer:
        """Listen on UDP and TCP (the same port: a free one unless `port` was given). Idempotent."""
        if self._servers:
            return self
        self._stopping.clear()
        for attempt in range(20):
            try:
                servers = self._bind(self.port)
                break
            except OSError:  # the TCP side of the port the kernel gave UDP is taken: try another
                if self.port or attempt == 19:
                    raise
        for server in servers:
            thread = threading.Thread(
                target=server.server.serve_forever, kwargs={"poll_interval": 0.1},
                name=f"dns-{'tcp' if server.server.socket_type == socket.SOCK_STREAM else 'udp'}-{self.port}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        self._servers = servers
        _log.info("DNS server listening on %s (udp, tcp), %d names", self.address, len(self._records))
        return self

    def stop(self) -> None:
        """Stop answering and close both sockets; waiting (slow) requests are dropped. Idempotent."""
        servers, self._servers = self._servers, []
        threads, self._threads = self._threads, []
        self._stopping.set()
        for server in servers:
            server.server.shutdown()
            server.server.server_close()
        for thread in threads:
            thread.join(timeout=5)

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<DnsServer {self.address} {state}, {len(self._records)} names, {len(self._faults)} faults>"


def break_demo(server: DnsServer, diagnosis: str) -> str:
    """Inject the demo's fault for one DNS diagnosis (a key of DEMO_FAULTS); `server.reset()` heals it."""
    if diagnosis == "NET1":
        server.set_fault("booking.demo.test", "nxdomain")
    elif diagnosis == "NET2":
        server.set_records("booking.demo.test", [("A", "203.0.113.7")])
    elif diagnosis == "NET3":
        server.set_records("www.booking.demo.test", [("A", "127.0.0.1")])
    elif diagnosis == "NET4":
        server.set_fault(ANY_NAME, "slow", delay_s=1.5)
    else:
        raise ValueError(f"no DNS fault for {diagnosis!r}; one of {', '.join(DEMO_FAULTS)}")
    return DEMO_FAULTS[diagnosis]
