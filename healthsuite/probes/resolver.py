"""DNS lookups with dnspython, through the resolver the environment names (NET1-NET4).

CONTRACT: `resolve()` never raises for DNS outcomes; NXDOMAIN, SERVFAIL, no answer and timeout are
outcomes of each query, named in `DnsAnswer.outcome`.

The types of one name are queried in parallel, as a browser's getaddrinfo asks A and AAAA at once:
the name's resolution time is the slowest query, and a dead resolver costs one timeout, not one
per type.
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import re
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..model.netaddr import format_address
from . import deadline
from .lazy import lazy, preload

if TYPE_CHECKING:
    import dns.exception
    import dns.inet
    import dns.message
    import dns.name
    import dns.nameserver
    import dns.query
    import dns.rdatatype
    import dns.resolver
else:
    dns = lazy("dns", "exception", "inet", "message", "name", "nameserver", "query", "rdatatype", "resolver")

OUTCOMES = ("answer", "nxdomain", "servfail", "no_answer", "timeout", "protocol", "error")
OUTCOME_NAMES = {
    "answer": "answer",
    "nxdomain": "NXDOMAIN",
    "servfail": "SERVFAIL",
    "no_answer": "no answer",
    "timeout": "timeout",
    "protocol": "not DNS",  # the server answered bytes that are not a DNS reply (or a malformed one)
    "error": "error",
}


@dataclass(frozen=True)
class DnsAnswer:
    """One query (one name, one type) and what came back."""

    rdtype: str  # "A", "AAAA" or "CNAME"
    outcome: str  # one of OUTCOMES
    values: tuple[str, ...] = ()  # addresses (A/AAAA) or targets (CNAME): lower-case, no trailing dot
    cname_chain: tuple[str, ...] = ()  # CNAME targets followed, in order, to reach the addresses (A/AAAA)
    elapsed_s: float = 0.0
    detail: str = ""  # the resolver's own words for a non-answer
    rcode: str = ""  # the response code when a server answered: NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ...
    ttl: int | None = None  # of the answer RRset

    @property
    def ok(self) -> bool:
        return self.outcome == "answer"

    @property
    def failure_kind(self) -> str:
        """The transport failure kind (probes.errors) of a query no server answered: timeout, protocol
        (an answer that is not DNS), refused; "" for an answer, or a DNS answer such as NXDOMAIN."""
        if self.outcome in ("timeout", "protocol"):
            return self.outcome
        if self.outcome == "error" and "connection refused" in self.detail:
            return "refused"
        return ""

    @property
    def outcome_name(self) -> str:
        """NXDOMAIN, SERVFAIL (or the rcode the server gave instead), no answer, timeout, error."""
        if self.outcome == "servfail" and self.rcode and self.rcode != "SERVFAIL":
            return self.rcode
        return OUTCOME_NAMES.get(self.outcome, self.outcome)

    def summary(self) -> str:
        """`A 127.0.0.1 (via app.demo.test)`, `AAAA: no answer`, `A: NXDOMAIN`."""
        if self.ok:
            via = f" (via {' -> '.join(self.cname_chain)})" if self.cname_chain else ""
            return f"{self.rdtype} {', '.join(self.values)}{via}"
        return f"{self.rdtype}: {self.outcome_name}"


@dataclass(frozen=True)
class DnsObservation:
    host: str  # as queried: lower-case, no trailing dot
    resolver: str  # "127.0.0.1:5353" or "system resolver (10.0.0.2:53)"
    answers: dict[str, DnsAnswer] = field(default_factory=dict)  # by rdtype, in query order

    @property
    def elapsed_s(self) -> float:
        """Wall time of the resolution: the types are queried in parallel, so the slowest one."""
        return max((a.elapsed_s for a in self.answers.values()), default=0.0)

    def slowest(self) -> DnsAnswer | None:
        return max(self.answers.values(), key=lambda a: a.elapsed_s, default=None)

    def address_answers(self) -> list[DnsAnswer]:
        return [self.answers[t] for t in ("A", "AAAA") if t in self.answers]

    def addresses(self) -> tuple[str, ...]:
        return tuple(v for t in ("A", "AAAA") if t in self.answers for v in self.answers[t].values)

    def failure_text(self, answers: Sequence[DnsAnswer] | None = None) -> str:
        """Why no address came back, as NET1 says it: `NXDOMAIN (A, AAAA)`, `timeout (A, AAAA): no
        answer within 3 s`, `no answer (A, AAAA): it is a CNAME to x, which has no A or AAAA record`
        (of `answers`, default every answer of the observation)."""
        groups: dict[str, list[DnsAnswer]] = {}
        for answer in self.answers.values() if answers is None else answers:
            if not answer.ok:
                groups.setdefault(answer.outcome_name, []).append(answer)
        parts = []
        for name, members in groups.items():
            types = ", ".join(a.rdtype for a in members)
            if members[0].outcome == "no_answer":
                chain = next((a.cname_chain for a in members if a.cname_chain), ())
                missing = " or ".join(a.rdtype for a in members)
                details = [f"it is a CNAME to {chain[-1]}, which has no {missing} record"] if chain else []
            else:
                redundant = {"", f"{self.host} does not exist", f"{self.resolver} answered {name}"}
                details = list(dict.fromkeys(a.detail for a in members if a.detail not in redundant))
            parts.append(f"{name} ({types})" + (f": {'; '.join(details)}" if details else ""))
        return "; ".join(parts) or ("no address record" if answers is None else "")

    def facts(self) -> dict[str, object]:
        """Structured data for the reports: the resolver, and per type the outcome, values and time."""
        return {
            "host": self.host,
            "resolver": self.resolver,
            "answers": {
                rdtype: {
                    "outcome": a.outcome,
                    "rcode": a.rcode,
                    "values": list(a.values),
                    "cname_chain": list(a.cname_chain),
                    "elapsed_ms": round(a.elapsed_s * 1000, 1),
                    **({"detail": a.detail} if a.detail else {}),
                }
                for rdtype, a in self.answers.items()
            },
            "elapsed_ms": round(self.elapsed_s * 1000, 1),
        }


def _text(name: object) -> str:
    return str(name).rstrip(".").lower()


def _nameserver_label(ns: str | dns.nameserver.Nameserver, default_port: int, ports: dict[str, int]) -> str:
    if isinstance(ns, dns.nameserver.Nameserver):
        return format_address(ns.answer_nameserver(), ns.answer_port())
    return format_address(ns, ports.get(ns, default_port))


def _make_resolver(nameservers: Sequence[tuple[str, int]], timeout_s: float) -> tuple[dns.resolver.Resolver, str]:
    """A resolver asking exactly `nameservers` (or the system's), with no search domains and no cache.

    Raises ValueError (a nameserver that is not an IP address) or NoResolverConfiguration."""
    if nameservers:
        for host, _ in nameservers:
            if not dns.inet.is_address(host):
                raise ValueError(
                    f"nameserver {host!r} is not an IP address: dns.nameservers takes resolver addresses "
                    "(ip or ip:port, [v6]:port), not names"
                )
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [_strict_nameserver()(host, port) for host, port in nameservers]
        label = ", ".join(format_address(host, port) for host, port in nameservers)
    else:
        resolver = dns.resolver.Resolver()  # /etc/resolv.conf
        listed = ", ".join(
            _nameserver_label(ns, resolver.port, resolver.nameserver_ports) for ns in resolver.nameservers
        )
        label = f"system resolver ({listed or 'no nameservers'})"
    resolver.search = []
    resolver.use_search_by_default = False
    resolver.cache = None
    resolver.timeout = timeout_s
    resolver.lifetime = timeout_s
    return resolver, label


class NotDnsError(Exception):
    """A server answered, but not with a DNS reply to the query (garbage bytes, a malformed message)."""


@functools.cache
def _strict_nameserver() -> type[dns.nameserver.Do53Nameserver]:
    """dnspython's Do53 nameserver, except that an answer which is not a DNS reply is an error of that
    server (`NotDnsError`, wrapped in a FormError so the resolver drops the server) instead of being
    skipped until the query times out: a server answering garbage is `protocol`, not `timeout`."""

    class StrictDo53(dns.nameserver.Do53Nameserver):
        def query(self, request: Any, timeout: float, source: Any, source_port: int, max_size: bool,
                  one_rr_per_rrset: bool = False, ignore_trailing: bool = False) -> Any:
            try:
                if max_size:
                    return dns.query.tcp(
                        request, self.address, timeout=timeout, port=self.port, source=source,
                        source_port=source_port, one_rr_per_rrset=one_rr_per_rrset, ignore_trailing=ignore_trailing,
                    )
                # a connected socket: the ICMP "port unreachable" of a closed port is ECONNREFUSED (refused),
                # which an unconnected socket never sees (it would wait for the timeout)
                with socket.socket(dns.inet.af_for_address(self.address), socket.SOCK_DGRAM) as sock:
                    sock.setblocking(False)
                    if source:
                        sock.bind((source, source_port))
                    sock.connect((self.address, self.port))
                    return dns.query.udp(
                        request, self.address, timeout=timeout, port=self.port, sock=sock,
                        raise_on_truncation=True, one_rr_per_rrset=one_rr_per_rrset,
                        ignore_trailing=ignore_trailing, ignore_errors=False, ignore_unexpected=True,
                    )
            except (dns.exception.Timeout, dns.message.Truncated, OSError, EOFError):
                raise
            except (dns.exception.DNSException, ValueError) as exc:  # ShortHeader, FormError, BadResponse, ...
                text = f"{type(exc).__name__}: {exc}".rstrip(": ")
                raise dns.exception.FormError(text) from NotDnsError(text)  # type: ignore[no-untyped-call]

    return StrictDo53


def _system_label() -> str:
    try:
        return _make_resolver((), 1.0)[1]
    except Exception as exc:  # no /etc/resolv.conf, or one without nameservers
        return f"system resolver (unusable: {exc})"


def _rcode_of(error: object) -> str | None:
    """The rcode text dnspython puts in a NoNameservers error tuple when the server answered."""
    return error if isinstance(error, str) and error.isupper() else None


def _server_text(server: str | None, port: int) -> str:
    """dnspython names a server `Do53:127.0.0.1@5353` in its error tuples: `127.0.0.1:5353`."""
    match = re.fullmatch(r"Do53:(.+)@(\d+)", server or "")
    if match:
        return format_address(match.group(1), int(match.group(2)))
    return format_address(server, port) if server and ":" not in server else (server or f"port {port}")


def _not_dns(error: object) -> bool:
    return isinstance(error, dns.exception.FormError) and isinstance(error.__cause__, NotDnsError)


def _describe_server_error(server: str | None, port: int, error: object) -> str:
    where = _server_text(server, port)
    if isinstance(error, ConnectionRefusedError) or (isinstance(error, OSError) and error.errno == errno.ECONNREFUSED):
        return f"{where}: connection refused (no DNS server listens there)"
    if isinstance(error, str):
        return f"{where} answered {error}"
    if _not_dns(error):
        return f"{where} answered, but not in the DNS protocol ({error})"
    text = str(error).strip() or type(error).__name__
    return f"{where}: {text}"


def _ask(
    resolver: dns.resolver.Resolver, host: str, rdtype: str, timeout_s: float
) -> tuple[dns.resolver.Answer | None, str, str, str]:
    """(answer, outcome, rcode, detail): the answer when a server said NOERROR, else why not."""
    try:
        answer = resolver.resolve(
            dns.name.from_text(host), rdtype, search=False, raise_on_no_answer=False, lifetime=timeout_s
        )
    except dns.resolver.NXDOMAIN as exc:
        try:
            canonical = _text(exc.canonical_name)
        except Exception:
            canonical = host
        if canonical != host:
            return None, "nxdomain", "NXDOMAIN", f"{host} is a CNAME to {canonical}, which does not exist"
        return None, "nxdomain", "NXDOMAIN", f"{host} does not exist"
    except dns.resolver.NoNameservers as exc:
        errors = exc.kwargs.get("errors") or []
        detail = "; ".join(_describe_server_error(e[0], e[2], e[3]) for e in errors) or str(exc)
        rcodes = [r for r in (_rcode_of(e[3]) for e in errors) if r]
        if rcodes:
            return None, "servfail", rcodes[0], detail
        if any(_not_dns(e[3]) for e in errors):
            return None, "protocol", "", detail
        return None, "error", "", detail
    except dns.exception.Timeout:  # LifetimeTimeout: every try of the query together
        return None, "timeout", "", f"no answer within {timeout_s:g} s"
    except Exception as exc:  # YXDOMAIN, a malformed name or reply, a socket error: never raise
        return None, "error", "", f"{type(exc).__name__}: {exc}".strip()
    return answer, "answer", "NOERROR", ""


def _query(resolver: dns.resolver.Resolver, host: str, rdtype: str, timeout_s: float) -> DnsAnswer:
    started = time.perf_counter()
    answer, outcome, rcode, detail = _ask(resolver, host, rdtype, timeout_s)
    elapsed = time.perf_counter() - started
    if answer is None:
        return DnsAnswer(rdtype, outcome, elapsed_s=elapsed, detail=detail, rcode=rcode)
    chain = tuple(_text(rrset[0].target) for rrset in answer.chaining_result.cnames if len(rrset))
    rrset = answer.rrset
    if rrset is None or len(rrset) == 0:
        detail = f"{host} exists but has no {rdtype} record"
        if chain:
            detail += f" (it is a CNAME to {chain[-1]}, which has none)"
        return DnsAnswer(rdtype, "no_answer", cname_chain=chain, elapsed_s=elapsed, detail=detail, rcode=rcode)
    if rdtype == "CNAME":
        values = tuple(_text(rdata.target) for rdata in rrset)
    elif rdtype in ("A", "AAAA"):
        values = tuple(sorted({_text(rdata.address) for rdata in rrset}, key=ipaddress.ip_address))
    else:  # MX, TXT, NS (a declared check's dns probe): the records as dig prints them, sorted
        values = tuple(sorted(rdata.to_text().rstrip(".").lower() if rdtype == "NS" else rdata.to_text()
                              for rdata in rrset))
    return DnsAnswer(rdtype, "answer", values, chain, elapsed, rcode=rcode, ttl=rrset.ttl)


def resolve(
    host: str, rdtypes: Sequence[str], nameservers: Sequence[tuple[str, int]], timeout_s: float
) -> DnsObservation:
    """Query each of `rdtypes` for `host`; `nameservers` empty means the system resolver.

    Each query is bounded by `timeout_s` (all tries together, dnspython's `lifetime`, which it
    enforces itself) and by the run's deadline; the queries run in parallel."""
    host = host.rstrip(".").lower()
    types = tuple(dict.fromkeys(t.upper() for t in rdtypes))
    label = ", ".join(format_address(h, p) for h, p in nameservers) if nameservers else _system_label()
    preload(dns)
    with deadline.exchange(timeout_s, f"dns {host}") as exchange:
        try:
            left = exchange.clamp()
            if exchange.run is not None:  # the run's deadline comes first; else its own, as declared
                timeout_s = left
        except deadline.DeadlineExceeded as exc:
            return DnsObservation(host, label, {t: DnsAnswer(t, "timeout", detail=str(exc)) for t in types})
        observation = _resolve(host, types, nameservers, timeout_s)
        if exchange.expired_by == "run":
            answers = {
                t: replace(a, detail=exchange.sentence()) if a.outcome == "timeout" else a
                for t, a in observation.answers.items()
            }
            observation = replace(observation, answers=answers)
        return observation


def _resolve(
    host: str, types: tuple[str, ...], nameservers: Sequence[tuple[str, int]], timeout_s: float
) -> DnsObservation:
    try:
        resolver, label = _make_resolver(nameservers, timeout_s)
    except Exception as exc:
        label = ", ".join(format_address(h, p) for h, p in nameservers) if nameservers else _system_label()
        detail = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        return DnsObservation(host, label, {t: DnsAnswer(t, "error", detail=detail) for t in types})
    if not types:
        return DnsObservation(host, label)
    with ThreadPoolExecutor(max_workers=len(types), thread_name_prefix="dns") as pool:
        futures = {t: pool.submit(_query, resolver, host, t, timeout_s) for t in types}
        return DnsObservation(host, label, {t: futures[t].result() for t in types})
