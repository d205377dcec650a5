"""Posting a notice's messages to its webhooks, bounded: every webhook at once, its messages one after
the other, the whole within NOTIFY_TIMEOUT_S; an answer read streamed and never past ANSWER_LIMIT bytes.
A failure to send is told, never raised: it does not change the run's exit status.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..environment.loaded import LoadedEnvironment
from ..model.notify import Webhook
from ..model.templates import MissingVariable

if TYPE_CHECKING:
    import httpx


NOTIFY_TIMEOUT_S = 5.0  # the whole sending, every webhook at once
ANSWER_LIMIT = 64 * 1024  # bytes of a webhook's answer ever read
USER_AGENT = f"healthsuite/{__version__} (notify)"


# --- sending ------------------------------------------------------------------------------------------


@dataclass
class Receiver:
    hook: Webhook
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    problem: str = ""  # why it cannot be sent to (an unset variable)


def receivers(env: LoadedEnvironment) -> list[Receiver]:
    """The declared webhooks, resolved; each resolved URL and header value is a secret from now on
    (the whole URL: a webhook's path is its credential)."""
    found = []
    for index, hook in enumerate(env.model.notify):
        receiver = Receiver(hook)
        try:
            receiver.url = env.resolve(hook.url, f"notify[{index}].url in {env.path.name}")
            receiver.headers = {
                key: env.resolve(value, f"notify[{index}].headers.{key} in {env.path.name}")
                for key, value in hook.headers.items()
            }
        except MissingVariable as exc:
            receiver.problem = exc.reason()
        for secret in (receiver.url, *(env.variables.get(n, "") for n in hook.url.variables)):
            env.redactor.add(secret)
        found.append(receiver)
    return found


def tls_verify(env: LoadedEnvironment) -> ssl.SSLContext | bool:
    """How the environment verifies TLS (http.verify_tls, http.ca_bundle), for a webhook or a ping."""
    settings = env.model.http
    if not settings.verify_tls:
        return False
    context = ssl.create_default_context()
    if settings.ca_bundle is not None:
        context.load_verify_locations(cafile=str(env.resolve_path(settings.ca_bundle)))
    return context


def read_bounded(chunks: Iterable[bytes], limit: int = ANSWER_LIMIT) -> bytes:
    """The first `limit` bytes of a streamed answer; nothing past them is read."""
    kept: list[bytes] = []
    size = 0
    for chunk in chunks:
        kept.append(chunk[: limit - size])
        size += len(kept[-1])
        if size >= limit:
            break
    return b"".join(kept)


@dataclass
class Delivery:
    """How the messages to one receiver went: `accepted` of them, in order, were answered 2xx."""

    accepted: int = 0
    http_status: int | None = None
    error: str = ""
    done: bool = False


def _deliver(client: httpx.Client, receiver: Receiver, bodies: Sequence[bytes], until: float, timeout_s: float,
             redact: Callable[[str], str], delivery: Delivery, lock: threading.Lock) -> None:
    """Post `bodies` one after the other, stopping at the first not accepted or when time is up."""
    import httpx

    headers = {"content-type": "application/json", "user-agent": USER_AGENT, "accept-encoding": "identity",
               **receiver.headers}
    for body in bodies:
        left = until - time.monotonic()
        if left <= 0:
            error = f"no answer within {timeout_s:g} s"
            break
        try:
            with client.stream("POST", receiver.url, content=body, headers=headers,
                               timeout=httpx.Timeout(min(timeout_s, left))) as response:
                status, reason = response.status_code, response.reason_phrase
                answer = b"" if 200 <= status < 300 else read_bounded(response.iter_raw())
        except httpx.TimeoutException:
            error = f"no answer within {timeout_s:g} s"
            break
        except (httpx.HTTPError, OSError, ValueError) as exc:
            error = redact(f"{type(exc).__name__}: {exc}")
            break
        with lock:
            delivery.http_status = status
        if not 200 <= status < 300:
            said = " ".join(answer[:400].decode("utf-8", "replace").split())[:200]
            error = redact(f"HTTP {status} {reason}" + (f": {said}" if said else ""))
            break
        with lock:
            delivery.accepted += 1
    else:
        error = ""
    with lock:
        delivery.error, delivery.done = error, True


def send(targets: Sequence[Receiver], bodies: Sequence[Sequence[bytes]], verify: ssl.SSLContext | bool,
         redact: Callable[[str], str], timeout_s: float = NOTIFY_TIMEOUT_S) -> list[dict[str, Any]]:
    """Post each receiver's messages (`bodies[i]` to `targets[i]`, in order), every receiver at once;
    after `timeout_s` those still out are reported as not answering and left behind (daemon threads,
    each bounded by its own timeouts too), and what they accept later is not counted. Each receiver's
    result says how many of its messages it accepted (`accepted`, the first ones)."""
    deliveries = [Delivery() for _ in targets]
    lock = threading.Lock()
    until = time.monotonic() + timeout_s

    def work(receiver: Receiver, messages: Sequence[bytes], delivery: Delivery) -> None:
        import httpx  # only a run that notifies pays for it

        try:
            with httpx.Client(verify=verify, trust_env=False, follow_redirects=False) as client:
                _deliver(client, receiver, messages, until, timeout_s, redact, delivery, lock)
        except Exception as exc:  # noqa: BLE001 - a notice never breaks the run
            with lock:
                delivery.error, delivery.done = redact(f"{type(exc).__name__}: {exc}"), True

    threads = []
    for receiver, messages, delivery in zip(targets, bodies, deliveries, strict=True):
        if receiver.problem:
            delivery.error, delivery.done = redact(receiver.problem), True
            continue
        thread = threading.Thread(target=work, args=(receiver, messages, delivery), daemon=True,
                                  name=f"healthsuite-notify-{receiver.hook.name}")
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(max(0.0, until - time.monotonic()))
    results = []
    for receiver, messages, delivery in zip(targets, bodies, deliveries, strict=True):
        with lock:
            seen = Delivery(delivery.accepted, delivery.http_status, delivery.error, delivery.done)
        error = seen.error if seen.done else f"no answer within {timeout_s:g} s"
        status = ("sent" if seen.accepted == len(messages) else "partly sent" if seen.accepted else "failed")
        result: dict[str, Any] = {"name": receiver.hook.name, "format": receiver.hook.format}
        if seen.http_status is not None:
            result["http_status"] = seen.http_status
        result.update(status=status, messages=len(messages), accepted=seen.accepted)
        if status != "sent":
            result["error"] = error
        results.append(result)
    return results
