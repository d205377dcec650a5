"""Probes of the booking flow and payments: the booking API POSTed its test payload (BK1, BK3), the
payment provider called with the secret key (PAY1) and asked for a test-mode transaction (PAY6), and
the application's webhook sent signed, unsigned and wrongly signed test events (PAY2, PAY3).

Secrets stay out of every observation: the key is read here, sent as a header and registered with
the redactor (by `env.resolve`), and a signature minted from it is registered before it is sent.
Observations carry what was sent (`valid`, `missing`, `wrong` signature; the key's mode) and never
the values. Every request goes through the session's HTTP client, bounded by a timeout.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, replace
from typing import Literal

from ..model.flows import BookingSubmission, PaymentInitialize, PaymentProvider, PaymentWebhook
from .errors import ProbeError
from .http import HttpObservation, HttpRequest
from .session import ProbeSession

Signature = Literal["valid", "missing", "wrong"]
KeyMode = Literal["test", "live", "unknown"]
PROBE_REFERENCE_PREFIX = "healthsuite-probe-"


def _send(session: ProbeSession, request: HttpRequest) -> HttpObservation:
    # the session's fetch: shared client, probe cache (an identical request is sent once per run)
    return session.send(request)


def _json_body(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8")


def _with_headers(request: HttpRequest, extra: dict[str, str], body: bytes) -> HttpRequest:
    """The request as a POST with `extra` headers (replacing same-named ones, any case) and a body."""
    lowered = {k.lower() for k in extra}
    headers = [(k, v) for k, v in request.headers if k.lower() not in lowered] + list(extra.items())
    return replace(request, method="POST", headers=tuple(sorted(headers)), body=body)


def probe_reference() -> str:
    """A reference no payment has: `healthsuite-probe-<random>`, so a test event or transaction is recognisable."""
    return PROBE_REFERENCE_PREFIX + secrets.token_hex(8)


def key_mode(key: str) -> KeyMode:
    """Paystack's key prefixes: sk_test_ (test mode), sk_live_ (live mode)."""
    if key.startswith("sk_test_"):
        return "test"
    if key.startswith("sk_live_"):
        return "live"
    return "unknown"


# --- BK1, BK3: the booking API -----------------------------------------------------------------------


def submit_booking(session: ProbeSession, target: BookingSubmission) -> HttpObservation:
    """POST the declared payload as JSON (runbook 000 §2: `curl -X POST .../api/book -d '{"test": true}'`).

    The same request is sent once per run: BK1 and BK3 judge the one answer."""
    base = session.http_request(target)
    extra = {"content-type": "application/json", "accept": "application/json"}
    return _send(session, _with_headers(base, extra, _json_body(target.payload)))


# --- PAY1, PAY6: the provider API --------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderCall:
    """A call to the provider: its answer and the mode of the key used (never the key)."""

    url: str
    response: HttpObservation
    key_mode: KeyMode

    @property
    def error(self) -> ProbeError | None:
        return self.response.error


def _provider_url(session: ProbeSession, provider: PaymentProvider, path: str) -> str:
    env = session.env
    return env.resolve(provider.url, env.where(provider, "url")).rstrip("/") + path


def _provider_key(session: ProbeSession, provider: PaymentProvider) -> str:
    """The secret key; an unset variable raises MissingVariable (the check is skipped naming it)."""
    env = session.env
    return env.resolve(provider.secret, env.where(provider, "secret"))


def provider_api(session: ProbeSession, provider: PaymentProvider, timeout_s: float) -> ProviderCall:
    """PAY1: `curl https://api.paystack.co/ -H "Authorization: Bearer $PAYSTACK_SECRET_KEY"`.

    Only the key goes to the provider: the environment's `http.headers` are for the application."""
    key = _provider_key(session, provider)
    url = _provider_url(session, provider, provider.path)
    headers = (("accept", "application/json"), ("authorization", f"Bearer {key}"))
    response = _send(session, HttpRequest("GET", url, headers=headers, timeout_s=timeout_s))
    return ProviderCall(url, response, key_mode(key))


@dataclass(frozen=True)
class TransactionAttempt:
    """PAY6: a test-mode transaction initialize, or why it was refused before anything was sent."""

    url: str
    key_mode: KeyMode
    reference: str
    amount: int
    response: HttpObservation | None = None  # None: refused
    refused: str = ""


def initialize_transaction(
    session: ProbeSession, provider: PaymentProvider, target: PaymentInitialize, timeout_s: float
) -> TransactionAttempt:
    """PAY6: `POST /transaction/initialize` with a test email and amount, with a test-mode key only.

    A live (or unrecognised) key is refused here, before a request exists: a live transaction is
    a real charge attempt, whatever the environment allows. Once per run (its reference is random)."""
    return session.cache.get(
        ("pay6.initialize", target.name, provider.name, timeout_s),
        lambda: _initialize_transaction(session, provider, target, timeout_s),
    )


def _initialize_transaction(
    session: ProbeSession, provider: PaymentProvider, target: PaymentInitialize, timeout_s: float
) -> TransactionAttempt:
    key = _provider_key(session, provider)
    mode = key_mode(key)
    url = _provider_url(session, provider, target.path)
    reference = probe_reference()
    if mode != "test":
        where = session.env.where(provider, "secret")
        what = "a live-mode key (sk_live_...)" if mode == "live" else "not a Paystack test key"
        return TransactionAttempt(
            url,
            mode,
            reference,
            target.amount,
            refused=f"PAY6 refused: the key of {where} is {what}; a test transaction is only ever made "
            "with a test-mode secret key (sk_test_...). Point the environment at the test key to run it.",
        )
    document: dict[str, object] = {
        "email": target.email,
        "amount": target.amount,
        "reference": reference,
        "metadata": {"healthsuite": "PAY6 probe"},
    }
    if target.currency:
        document["currency"] = target.currency
    headers = (
        ("accept", "application/json"),
        ("authorization", f"Bearer {key}"),
        ("content-type", "application/json"),
    )
    request = HttpRequest("POST", url, headers=headers, timeout_s=timeout_s, body=_json_body(document))
    return TransactionAttempt(url, mode, reference, target.amount, response=_send(session, request))


# --- PAY2, PAY3: the application's webhook -------------------------------------------------------------


@dataclass(frozen=True)
class WebhookDelivery:
    """One test event sent to the webhook: which signature it carried (never its value) and the answer."""

    signature: Signature
    event: str
    reference: str
    response: HttpObservation

    @property
    def error(self) -> ProbeError | None:
        return self.response.error


def sign(key: str, body: bytes) -> str:
    """Paystack's `x-paystack-signature`: HMAC-SHA512 of the raw body with the secret key, in hex."""
    return hmac.new(key.encode("utf-8"), body, hashlib.sha512).hexdigest()


def send_event(session: ProbeSession, webhook: PaymentWebhook, signature: Signature) -> WebhookDelivery:
    """POST an inert test event (`healthsuite.test`, a `healthsuite-probe-` reference) to the webhook,
    once per run and signature (its reference is random: the event is made when it is sent).

    `valid`: signed with the configured key (an unset variable raises MissingVariable: the check is
    skipped); `wrong`: signed with a random key of the same shape; `missing`: no signature header."""
    return session.cache.get(
        ("webhook.event", webhook.name, session.env.url_of(webhook), signature),
        lambda: _send_event(session, webhook, signature),
    )


def _send_event(session: ProbeSession, webhook: PaymentWebhook, signature: Signature) -> WebhookDelivery:
    env = session.env
    reference = probe_reference()
    body = _json_body({"event": webhook.event, "data": {"reference": reference, "healthsuite_probe": True}})
    extra = {"content-type": "application/json"}
    if signature != "missing":
        if signature == "valid":
            payments = env.model.payments
            assert payments is not None
            template, where = payments.webhook_secret()
            key = env.resolve(template, f"{where} in {env.path.name}")
        else:
            key = "sk_test_" + secrets.token_hex(20)
        value = sign(key, body)
        env.redactor.add(value)  # a minted secret: masked before it can appear anywhere
        extra[webhook.signature_header] = value
    request = _with_headers(session.http_request(webhook), extra, body)
    return WebhookDelivery(signature, webhook.event, reference, _send(session, request))
