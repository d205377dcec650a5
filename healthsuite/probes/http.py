"""One HTTP(S) request and what came back: status, headers, a bounded body, timing, or the error."""

from __future__ import annotations

import json
import re
import ssl
import sys
import threading
import time
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import accumulate
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

from . import deadline, http1
from .errors import ProbeError, classify
from .lazy import lazy
from .lookup import Lookup, first_address, is_ip
from .retry import Attempt

if TYPE_CHECKING:
    import httpx

    from . import http_deadline as _http_deadline
else:
    httpx = lazy("httpx")
    # lazy like httpx (it imports httpcore), and held like it: both keep the modules of their first import
    _http_deadline = lazy("healthsuite.probes.http_deadline")

USER_AGENT = "healthsuite/0.1 (+runbook checks)"

JSON_MAX_BYTES = 8 * 1024 * 1024  # a body parsed as JSON: each `{}` of it is ~100 bytes once parsed
JSON_MAX_DEPTH = 200  # arrays and objects nested in one another
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")  # as signed bytes: +1, -1
_STRING = re.compile(rb'"[^"]*"')


class JsonRefused(ValueError):
    """A body not parsed as JSON because it is over a limit (JSON_MAX_BYTES, JSON_MAX_DEPTH, Python's
    digits of an integer, or cut at http.max_body_bytes when read)."""


def _nested_deeper_than(data: bytes, limit: int) -> bool:
    """Whether the arrays and objects of `data` nest deeper than `limit`, found without parsing (the
    parser recurses once a level): strings taken out, each opening bracket +1 and closing one -1."""
    brackets = _STRING.sub(b"", data.replace(b"\\\\", b"").replace(b'\\"', b""))
    steps = array("b", brackets.translate(_STEPS, delete=_NOT_BRACKETS))
    return max(accumulate(steps), default=0) > limit


def loads_bounded(data: bytes | str) -> Any:
    """JSON from a target, parsed in bounded memory and depth: JsonRefused (a ValueError) naming the
    limit when it is over one, ValueError when it is not JSON. Every body parsed as JSON comes here."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > JSON_MAX_BYTES:
        raise JsonRefused(f"the body is {len(raw):,} bytes, over the {JSON_MAX_BYTES:,} parsed as JSON")
    if _nested_deeper_than(raw, JSON_MAX_DEPTH):
        raise JsonRefused(f"the body is nested deeper than {JSON_MAX_DEPTH} levels")
    try:
        return json.loads(raw)
    except RecursionError:  # not reached under JSON_MAX_DEPTH; a ValueError all the same
        raise JsonRefused(f"the body is nested deeper than {JSON_MAX_DEPTH} levels") from None
    except ValueError as exc:  # an integer Python will not convert (sys.get_int_max_str_digits(), 4,300)
        if "integer string conversion" not in str(exc):
            raise
        raise JsonRefused(f"the body holds an integer of more than {sys.get_int_max_str_digits():,} digits, "
                          "over the limit Python converts") from None


@dataclass(frozen=True)
class HttpRequest:
    """What is requested; also the probe-cache key (so header values stay in memory only)."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    follow_redirects: bool = False
    timeout_s: float = 10.0
    body: bytes = b""  # sent as the request body (a POST's JSON); empty: none


@dataclass(frozen=True, slots=True)
class Timings:
    """Milliseconds from the start of the request, cumulative like curl -w: `dns` = time_namelookup,
    `connect` = time_connect, `tls` = time_appconnect, `first_byte` = time_starttransfer,
    `total` = time_total. None: the phase did not happen (no DNS for an IP, no TLS for http://)."""

    dns: float | None
    connect: float | None
    tls: float | None
    first_byte: float | None
    total: float

    def phases(self) -> dict[str, float | None]:
        """Each phase's own duration: dns, connect, tls, server (wait for the first byte), transfer."""
        marks = [("dns", self.dns), ("connect", self.connect), ("tls", self.tls), ("server", self.first_byte)]
        phases: dict[str, float | None] = {}
        previous = 0.0
        for name, mark in marks:
            phases[name] = None if mark is None else round(mark - previous, 1)
            previous = mark if mark is not None else previous
        phases["transfer"] = round(self.total - previous, 1)
        return phases

    def as_dict(self) -> dict[str, object]:
        return {
            "phases_ms": self.phases(),
            "cumulative_ms": {
                "time_namelookup": self.dns,
                "time_connect": self.connect,
                "time_appconnect": self.tls,
                "time_starttransfer": self.first_byte,
                "time_total": self.total,
            },
        }

    def summary(self) -> str:
        parts = [f"{name} {value:.0f}" for name, value in self.phases().items() if value is not None]
        return " + ".join(parts) + f" = {self.total:.0f} ms"


@dataclass(frozen=True, slots=True)  # one per request, kept for the run: no __dict__ each
class HttpObservation:
    method: str
    url: str
    status: int | None = None
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    truncated: bool = False
    elapsed_s: float = 0.0
    http_version: str = ""
    timings: Timings | None = None  # the curl -w breakdown of this request
    peer: str = ""  # the address connected to (after DNS)
    error: ProbeError | None = None
    # every attempt, when a transport failure made it try again (probes.retry); empty: one attempt
    attempts: tuple[Attempt, ...] = ()

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-case ('' when absent)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def text(self, limit: int | None = None) -> str:
        text = self.body.decode("utf-8", errors="replace")
        return text if limit is None or len(text) <= limit else text[:limit] + "..."

    def json(self) -> Any:
        """The body as JSON; raises ValueError when it is not."""
        if self.truncated:
            raise JsonRefused(f"the body is larger than the {len(self.body):,} bytes read (http.max_body_bytes)")
        return loads_bounded(self.body)

    def summary(self) -> str:
        if self.error is not None:
            return f"{self.error.kind_name}: {self.error.detail}"
        location = f" -> {self.headers['location']}" if "location" in self.headers else ""
        return f"HTTP {self.status} {self.reason}{location} in {self.elapsed_s * 1000:.0f} ms".replace("  ", " ")


def tls_context(verify: bool, ca_bundle: str | None) -> ssl.SSLContext:
    """The system trust store plus an optional extra CA bundle; one that checks nothing when
    verification is off."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


# what httpx.Client sends with every request, as it would send it (ours: USER_AGENT)
DEFAULT_HEADERS = (("accept", "*/*"), ("accept-encoding", "gzip, deflate"), ("connection", "keep-alive"),
                   ("user-agent", USER_AGENT))


class HttpClient:
    """The run's HTTP client: the TLS context and the lookup of probes.http1's exchanges (every request
    that follows no redirect), and httpx's client for those that follow redirects, built on first use
    (httpx is imported only by a run that needs it)."""

    def __init__(self, tls: ssl.SSLContext, lookup: Lookup = first_address) -> None:
        tls.set_alpn_protocols(["http/1.1"])  # as httpcore offers it without HTTP/2
        self.tls = tls
        self.lookup = lookup
        self._following: httpx.Client | None = None
        self._lock = threading.Lock()

    @property
    def following(self) -> httpx.Client:
        """httpx's client: its connections bounded by the exchange's deadline (probes.http_deadline), no
        proxy or netrc from the environment (trust_env=False), every host of a redirect resolved by
        `lookup`."""
        with self._lock:
            if self._following is None:
                transport = _http_deadline.transport(self.tls, self.lookup)
                self._following = httpx.Client(transport=transport, trust_env=False,
                                               headers={"user-agent": USER_AGENT})
            return self._following

    def close(self) -> None:
        with self._lock:
            if self._following is not None:
                self._following.close()
                self._following = None


def make_client(verify: ssl.SSLContext, lookup: Lookup = first_address) -> HttpClient:
    """No keep-alive: every request opens its own connection, so each carries its full timing breakdown
    (as curl does). Every host name, a redirect's too, goes to the address `lookup` gives (the run's
    probes.lookup.Names)."""
    return HttpClient(verify, lookup)


@contextmanager
def _exchange(client: HttpClient, request: HttpRequest, timeout_s: float,
              extensions: dict[str, Any]) -> Iterator[httpx.Response]:
    """One redirect-following request's response, streamed (its body not read yet); closed on leaving."""
    with client.following.stream(
        request.method, request.url, headers=dict(request.headers), follow_redirects=True,
        content=request.body or None, timeout=httpx.Timeout(timeout_s), extensions=extensions,
    ) as response:
        yield response


class _Trace:
    """httpcore trace events -> milliseconds since the start (the first occurrence of each)."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.marks: dict[str, float] = {}

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        self.marks.setdefault(event, (time.perf_counter() - self.started) * 1000)

    def get(self, event: str) -> float | None:
        value = self.marks.get(event)
        return None if value is None else round(value, 1)

    def phases(self, responded: bool) -> http1.Marks:
        """The phases httpcore completed, as probes.http1 marks its own (`responded`: the headers are in)."""
        headers = self.get("http11.receive_response_headers.complete")
        return http1.Marks(self.started, connect=self.get("connection.connect_tcp.complete"),
                           tls=self.get("connection.start_tls.complete"),
                           sent=self.get("http11.send_request_body.complete"),
                           first_byte=headers if headers is not None or not responded else 0.0)


def _unfinished_phase(marks: http1.Marks, https: bool) -> str:
    """What was still going on when an exchange ran out of time, from the phases it completed."""
    if marks.connect is None:
        return "connecting"
    if https and marks.tls is None:
        return "in the TLS handshake"
    if marks.first_byte is None:
        return "the response headers were still arriving" if marks.sent is not None else "sending the request"
    return "the body was still arriving"


def fetch(client: HttpClient, request: HttpRequest, max_body_bytes: int) -> HttpObservation:
    """Send one request; the whole exchange (name lookup, connect, TLS, headers, body) ends at its
    deadline, `request.timeout_s`, whatever the server does (probes.deadline).

    Like `curl --resolve`, the host name is resolved first by the client's lookup (timed: the DNS
    phase; a pin, or the environment's resolver, once per run) and the connection goes to that
    address, with the name kept for the Host header, SNI and certificate checks; the exchange itself
    is probes.http1's. When redirects are followed, httpx makes the request and its transport
    resolves each host with the same lookup (a redirect may lead to another host), and the DNS time
    is part of the connect phase."""
    parts = urlsplit(request.url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    address = f"{parts.scheme}://{host}:{port}"
    if request.follow_redirects:
        return _fetch_following(client, request, max_body_bytes, parts, address)
    marks = http1.Marks()
    dns_ms: float | None = None
    peer = host
    with deadline.exchange(request.timeout_s, f"http {request.method} {address}{parts.path}") as exchange:
        try:
            if parts.scheme not in ("http", "https") or not host:
                raise http1.LocalProtocolError(f"Request URL is missing an 'http://' or 'https://' protocol: "
                                               f"{request.url[:200]}")
            if not is_ip(host):
                peer = client.lookup(host, port, exchange.clamp())
                dns_ms = marks.now()
            sent = dict(DEFAULT_HEADERS)
            sent.update((k.lower(), v) for k, v in request.headers)
            host_header = sent.pop("host", parts.netloc.rpartition("@")[2])
            answer = http1.exchange(
                method=request.method,
                target=http1.request_target(parts.path, parts.query),
                address=peer,
                port=port,
                headers=[("host", host_header), *sent.items()],
                body=request.body,
                tls=client.tls if https else None,
                server_name=host,
                max_body_bytes=max_body_bytes,
                within=exchange,
                marks=marks,
            )
            total = marks.now()
            return HttpObservation(
                method=request.method,
                url=request.url,
                status=answer.status,
                reason=answer.reason,
                headers=answer.headers,
                body=answer.body,
                truncated=answer.truncated,
                elapsed_s=total / 1000,
                http_version=answer.http_version,
                timings=Timings(dns=dns_ms, connect=marks.connect, tls=marks.tls, first_byte=marks.first_byte,
                                total=total),
                peer=peer,
            )
        except Exception as exc:  # noqa: BLE001 - every failure becomes an observation, never a pass
            if exchange.expired:
                phase = _unfinished_phase(marks, https)
                error = ProbeError("timeout", "http", address, f"{exchange.sentence()} ({phase})")
            else:
                error = classify(exc, "http", address)
            return HttpObservation(
                method=request.method, url=request.url, elapsed_s=time.perf_counter() - marks.started, error=error
            )
    raise AssertionError("unreachable")  # pragma: no cover - the exchange returns or fails above


def _fetch_following(client: HttpClient, request: HttpRequest, max_body_bytes: int, parts: SplitResult,
                     address: str) -> HttpObservation:
    """fetch, following redirects through httpx; `parts` is the first request's URL, split, and `address`
    its scheme://host:port."""
    started = time.perf_counter()
    trace = _Trace(started)
    extensions: dict[str, Any] = {"trace": trace}
    responded = False
    client.following  # noqa: B018 - httpx imported and its client built before the deadline starts
    with deadline.exchange(request.timeout_s, f"http {request.method} {address}{parts.path}") as exchange:
        try:
            with _exchange(client, request, exchange.clamp(), extensions) as response:
                responded = True
                chunks: list[bytes] = []
                size = 0
                truncated = False
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > max_body_bytes:
                        truncated = True
                        break
                    exchange.clamp()
                body = b"".join(chunks)[:max_body_bytes]
                return HttpObservation(
                    method=request.method,
                    url=request.url,
                    status=response.status_code,
                    reason=response.reason_phrase,
                    headers={k.lower(): v for k, v in response.headers.items()},
                    body=body,
                    truncated=truncated,
                    elapsed_s=time.perf_counter() - started,
                    http_version=response.http_version,
                    timings=Timings(
                        dns=None,
                        connect=trace.get("connection.connect_tcp.complete"),
                        tls=trace.get("connection.start_tls.complete"),
                        first_byte=trace.get("http11.receive_response_headers.complete"),
                        total=round((time.perf_counter() - started) * 1000, 1),
                    ),
                    peer=parts.hostname or "",
                )
        except Exception as exc:  # noqa: BLE001 - every failure becomes an observation, never a pass
            if exchange.expired:
                phase = _unfinished_phase(trace.phases(responded), parts.scheme == "https")
                error = ProbeError("timeout", "http", address, f"{exchange.sentence()} ({phase})")
            else:
                error = classify(exc, "http", address)
            return HttpObservation(
                method=request.method, url=request.url, elapsed_s=time.perf_counter() - started, error=error
            )
    raise AssertionError("unreachable")  # pragma: no cover - the exchange returns or fails above
