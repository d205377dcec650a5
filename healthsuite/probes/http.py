"""One HTTP(S) request and what came back: status, headers, a bounded body, timing, or the error."""

from __future__ import annotations

import json
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from .errors import ProbeError, classify

USER_AGENT = "healthsuite/0.1 (+runbook checks)"


@dataclass(frozen=True)
class HttpRequest:
    """What is requested; also the probe-cache key (so header values stay in memory only)."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    follow_redirects: bool = False
    timeout_s: float = 10.0


@dataclass(frozen=True)
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
    error: ProbeError | None = None

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
            raise ValueError("the body was larger than the read limit")
        return json.loads(self.body)

    def summary(self) -> str:
        if self.error is not None:
            return f"{self.error.kind_name}: {self.error.detail}"
        location = f" -> {self.headers['location']}" if "location" in self.headers else ""
        return f"HTTP {self.status} {self.reason}{location} in {self.elapsed_s * 1000:.0f} ms".replace("  ", " ")


def tls_context(verify: bool, ca_bundle: str | None) -> ssl.SSLContext | bool:
    """The system trust store plus an optional extra CA bundle; `False` when verification is off."""
    if not verify:
        return False
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


def make_client(verify: ssl.SSLContext | bool) -> httpx.Client:
    # trust_env=False: no proxy or netrc from the environment changes what is probed
    return httpx.Client(verify=verify, trust_env=False, headers={"user-agent": USER_AGENT}, http2=False)


def fetch(client: httpx.Client, request: HttpRequest, max_body_bytes: int) -> HttpObservation:
    """Send one request; the whole exchange, body included, is bounded by the timeout."""
    parts = urlsplit(request.url)
    address = f"{parts.scheme}://{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    started = time.perf_counter()
    deadline = started + request.timeout_s
    try:
        with client.stream(
            request.method,
            request.url,
            headers=dict(request.headers),
            follow_redirects=request.follow_redirects,
            timeout=httpx.Timeout(request.timeout_s),
        ) as response:
            chunks: list[bytes] = []
            size = 0
            truncated = False
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > max_body_bytes:
                    truncated = True
                    break
                if time.perf_counter() > deadline:
                    raise httpx.ReadTimeout(f"the body was still arriving after {request.timeout_s:g} s")
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
            )
    except Exception as exc:  # noqa: BLE001 - every failure becomes an observation, never a pass
        return HttpObservation(
            method=request.method,
            url=request.url,
            elapsed_s=time.perf_counter() - started,
            error=classify(exc, "http", address),
        )
