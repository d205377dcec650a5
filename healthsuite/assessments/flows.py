"""Judge the booking flow (BK1-BK3) and payments (PAY1-PAY3, PAY6), and decode runbook 000's
application error codes (AUTH001 ... API001) found in any response body.

`decode_error_codes` and `error_code_finding_parts` are shared: every failing check that saw an
HTTP answer can explain the code its body carries, with the runbook's meaning and resolution.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..catalogue.diagnoses import Catalogue, load_catalogue
from ..model.flows import BookingSubmission, PaymentWebhook
from ..probes.flows import ProviderCall, TransactionAttempt, WebhookDelivery
from ..probes.http import HttpObservation, loads_bounded
from . import BODY_EXCERPT, page, status_meaning
from .failure import Finding, probe_failure

# --- application error codes (runbook 000 "Application Error Codes") ----------------------------------

# the layer each code family names (catalogue BK3's first cause)
FAMILIES = {
    "AUTH": "authentication",
    "DB": "database",
    "PAY": "payments",
    "VAL": "input validation",
    "API": "external services",
}
CODE_FIELDS = ("code", "error_code", "errorCode", "error")  # JSON keys whose string value may be a code
_CODE_VALUE = re.compile(r"^[A-Z][A-Z_]{1,15}\d{3}$")
_FAMILY = re.compile(r"^([A-Z][A-Z_]*?)_?\d{3}$")
_MAX_DEPTH = 8


@dataclass(frozen=True)
class DecodedCode:
    """An application error code found in a response, with runbook 000's meaning and resolution."""

    code: str
    meaning: str
    resolution: str
    known: bool  # listed in the runbook's table (catalogue application_error_codes)
    where: str  # body.error.code, or "body text"

    def describe(self) -> str:
        return f"{self.code} ({self.meaning})"


def _token_pattern(catalogue: Catalogue) -> re.Pattern[str]:
    families = set(FAMILIES)
    for code in catalogue.application_error_codes:
        match = _FAMILY.match(code)
        if match:
            families.add(match[1])
    return re.compile(r"\b(?:" + "|".join(sorted(families, key=len, reverse=True)) + r")\d{3}\b")


def _decode(code: str, where: str, catalogue: Catalogue) -> DecodedCode:
    entry = catalogue.application_error_codes.get(code)
    if entry is not None:
        return DecodedCode(code, entry.meaning, entry.resolution, True, where)
    match = _FAMILY.match(code)
    family = FAMILIES.get(match[1]) if match else None
    layer = f"a {family} error" if family else "an application error"
    return DecodedCode(
        code,
        f"not in runbook 000's table of application error codes; by its prefix, {layer}",
        "Read the application logs around the failing request for this code",
        False,
        where,
    )


def _walk(value: Any, path: str, depth: int = 0) -> Iterator[tuple[str, str]]:
    """(code, where) for every code-like string under a code field of a JSON document."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}"
            if key in CODE_FIELDS and isinstance(item, str) and _CODE_VALUE.match(item.strip()):
                yield item.strip(), where
            else:
                yield from _walk(item, where, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value[:50]):
            yield from _walk(item, f"{path}.{index}", depth + 1)


def decode_error_codes(text_or_json: str | bytes | dict[str, Any] | list[Any] | None,
                       catalogue: Catalogue | None = None) -> list[DecodedCode]:
    """Every application error code in a response body, decoded, first seen first.

    JSON bodies: a string under `code`, `error_code`, `errorCode` or `error`, at any depth
    (`{"error": {"code": "DB001"}}` -> where `body.error.code`). Any body: a code of a known family
    (AUTH, DB, PAY, VAL, API + 3 digits) standing alone in the text (`Error DB001: ...`)."""
    catalogue = catalogue or load_catalogue()
    if text_or_json is None:
        return []
    document: Any = None
    if isinstance(text_or_json, (dict, list)):
        document, text = text_or_json, json.dumps(text_or_json)
    else:
        text = text_or_json.decode("utf-8", errors="replace") if isinstance(text_or_json, bytes) else text_or_json
        try:
            document = loads_bounded(text)
        except ValueError:
            document = None
    found: dict[str, DecodedCode] = {}
    for code, where in _walk(document, "body"):
        found.setdefault(code, _decode(code, where, catalogue))
    for match in _token_pattern(catalogue).finditer(text):
        found.setdefault(match[0], _decode(match[0], "body text", catalogue))
    return list(found.values())


def codes_in(obs: HttpObservation, catalogue: Catalogue) -> list[DecodedCode]:
    """The codes in an answer's body (none for a transport error or an empty body)."""
    if obs.error is not None or not obs.body:
        return []
    return decode_error_codes(obs.body, catalogue)


def _codes_meaning(codes: Sequence[DecodedCode]) -> str:
    parts = [f"{c.code} at {c.where}: {c.meaning} (resolution: {c.resolution})" for c in codes]
    label = "application error code" if len(codes) == 1 else "application error codes"
    return f"{label} " + "; ".join(parts) if parts else ""


def _codes_remediation(codes: Sequence[DecodedCode]) -> tuple[str, ...]:
    return tuple(
        f"{c.code}: {c.resolution}" + (" (runbook 000, Application Error Codes)." if c.known else ".") for c in codes
    )


def error_code_finding_parts(obs: HttpObservation, catalogue: Catalogue) -> tuple[str, tuple[str, ...]]:
    """(meaning, remediation) explaining the application error codes of a failing answer's body;
    ("", ()) when it carries none. Meant for any failing check that saw an HTTP answer (BK3)."""
    codes = codes_in(obs, catalogue)
    return _codes_meaning(codes), _codes_remediation(codes)


def _join(*parts: str) -> str:
    """Sentences of a meaning, joined with `; ` (without `.;`)."""
    return "; ".join(p.strip().rstrip(".") for p in parts if p and p.strip())


def _with_codes(finding: Finding, obs: HttpObservation, catalogue: Catalogue) -> Finding:
    """A failing finding with the body's codes decoded (first: they name the failing layer)."""
    if finding.ok:
        return finding
    meaning, steps = error_code_finding_parts(obs, catalogue)
    if not meaning:
        return finding
    return replace(
        finding,
        meaning=_join(finding.meaning, meaning),
        remediation=(*steps, *finding.remediation),
        facts={**finding.facts, "error_codes": [c.code for c in codes_in(obs, catalogue)]},
    )


def _excerpt(obs: HttpObservation) -> str:
    return f"; body {obs.text(BODY_EXCERPT)!r}" if obs.body else ""


def _answer(obs: HttpObservation) -> str:
    ctype = obs.headers.get("content-type")
    return obs.summary() + (f", content-type {ctype}" if ctype else "")


# --- BK1-BK3: the booking flow ---------------------------------------------------------------------------


def booking_submission(target: BookingSubmission, obs: HttpObservation, catalogue: Catalogue) -> Finding:
    """BK1: the test payload is answered with an accepted status (200, or 400 for validation), never 5xx;
    a failure names the status and decodes the body's application error code."""
    assert obs.status is not None
    accepted = target.expected_statuses
    ok = obs.status in accepted
    codes = codes_in(obs, catalogue)
    observed = f"POST {obs.url} -> {_answer(obs)}"
    if codes:
        observed += ", error code " + ", ".join(c.code for c in codes)
    if not ok:
        observed += _excerpt(obs)
    shown = " or ".join(f"{s} (validation error)" if s == 400 else str(s) for s in accepted)
    meaning, causes = status_meaning(obs.status, catalogue) if not ok else ("", ())
    if not ok and obs.status >= 500:
        meaning = f"the booking API fails on the test booking: {meaning or f'HTTP {obs.status}'}".rstrip(".")
    finding = Finding(
        ok=ok,
        observed=observed,
        expected=f"HTTP {shown}, never 5xx",
        meaning=meaning,
        causes=causes,
        facts={
            "status": obs.status,
            "error_codes": [c.code for c in codes],
            "elapsed_ms": round(obs.elapsed_s * 1000, 1),
        },
    )
    return _with_codes(finding, obs, catalogue)


def booking_error_codes(target: BookingSubmission, obs: HttpObservation, catalogue: Catalogue) -> Finding:
    """BK3: the booking API's answer to the test payload carries no application error code but the
    expected ones (VAL001: the payload failed validation); any other is decoded, e.g. DB002 behind a 400."""
    codes = codes_in(obs, catalogue)
    unexpected = [c for c in codes if c.code not in target.expected_codes]
    allowed = ", ".join(target.expected_codes)
    expected = "no application error code in the answer" + (f" other than {allowed}" if allowed else "")
    if not codes:
        observed = f"HTTP {obs.status}, no application error code in the body"
    else:
        observed = f"HTTP {obs.status} carrying " + ", ".join(f"{c.describe()} at {c.where}" for c in codes)
    meaning = ""
    if unexpected:
        meaning = _codes_meaning(unexpected)
        if obs.status is not None and obs.status < 500:
            meaning += f"; the API answered HTTP {obs.status}, so the failure is hidden behind an ordinary status"
    return Finding(
        ok=not unexpected,
        observed=observed + (_excerpt(obs) if unexpected else ""),
        expected=expected,
        meaning=meaning,
        causes=tuple(f"{c.code}: the failing layer is {FAMILIES.get(_family(c.code), 'the application')}."
                     for c in unexpected),
        remediation=_codes_remediation(unexpected),
        facts={
            "status": obs.status,
            "error_codes": [{"code": c.code, "where": c.where, "meaning": c.meaning, "known": c.known} for c in codes],
        },
    )


def _family(code: str) -> str:
    match = _FAMILY.match(code)
    return match[1] if match else ""


def tenant_page(target: Any, obs: HttpObservation, catalogue: Catalogue) -> Finding:
    """BK2: the tenant's booking page answers 200 (and its declared content type)."""
    finding = page(target, obs, catalogue)
    if finding.ok:
        return finding
    tenant = getattr(target, "tenant", target.name)
    meaning = finding.meaning
    if obs.status == 404:
        meaning = _join(meaning, f"tenant {tenant!r} has no booking page: its route or tenant record is missing")
    elif obs.status is not None and obs.status >= 500:
        meaning = _join(meaning, f"the booking page of {tenant!r} fails to load its data")
    return _with_codes(replace(finding, observed=finding.observed + _excerpt(obs), meaning=meaning), obs, catalogue)


# --- PAY1, PAY6: the provider API --------------------------------------------------------------------------


def _provider_message(obs: HttpObservation) -> str:
    """Paystack's own words: `{"status": false, "message": "Invalid key"}`."""
    try:
        document = obs.json()
    except ValueError:
        return ""
    message = document.get("message") if isinstance(document, dict) else None
    return f"; provider says {str(message)[:BODY_EXCERPT]!r}" if isinstance(message, str) and message else ""


_KEY_MODES = {"test": "a test-mode key (sk_test_...)", "live": "a live-mode key (sk_live_...)",
              "unknown": "not a recognisable Paystack secret key (sk_test_... or sk_live_...)"}


def _unreachable(call_url: str, obs: HttpObservation, catalogue: Catalogue, expected: str) -> Finding:
    assert obs.error is not None
    base = probe_failure(obs.error, catalogue, expected)
    return replace(
        base,
        observed=f"{call_url}: {base.observed}",
        meaning="the payment provider's API cannot be reached: the provider is down, or the outbound network "
        "from here is blocked; payments fail while it lasts",
    )


def _key_rejected(mode: str) -> str:
    return (
        f"the provider rejected the configured secret key, which is {_KEY_MODES.get(mode, mode)}: it is wrong, "
        "revoked or rotated, or of the other mode (test vs live) than the provider account expects"
    )


def provider_api(call: ProviderCall, catalogue: Catalogue) -> Finding:
    """PAY1: GET with the key answers 200; 401/403 is a key problem; 5xx or no answer, the provider is down."""
    expected = "HTTP 200 with the configured secret key"
    obs = call.response
    if obs.error is not None:
        return _unreachable(call.url, obs, catalogue, expected)
    ok = obs.status == 200
    meaning = ""
    causes: tuple[str, ...] = ()
    remediation: tuple[str, ...] = ()
    if obs.status in (401, 403):
        meaning = _key_rejected(call.key_mode)
        remediation = ("Compare the key with the Paystack dashboard (Settings > API Keys & Webhooks) for the mode "
                       f"this environment uses; this environment's key is {_KEY_MODES[call.key_mode]}.",)
    elif obs.status is not None and (obs.status >= 500 or obs.status == 429):
        meaning = (f"the provider answers but is degraded ({status_meaning(obs.status, catalogue)[0] or obs.status}); "
                   "payments fail or are slow until it recovers")
        causes = ("Paystack's API is degraded or rate-limiting this account.",)
    elif not ok:
        meaning, causes = status_meaning(obs.status, catalogue)
        meaning = meaning or f"an unexpected HTTP {obs.status} from the provider API"
    observed = f"GET {call.url} -> {obs.summary()}{_provider_message(obs)}, key mode {call.key_mode}"
    return Finding(
        ok=ok,
        observed=observed,
        expected=expected,
        meaning=meaning,
        causes=causes,
        remediation=remediation,
        facts={"status": obs.status, "key_mode": call.key_mode, "elapsed_ms": round(obs.elapsed_s * 1000, 1)},
    )


def transaction_initialized(attempt: TransactionAttempt, catalogue: Catalogue) -> Finding:
    """PAY6: a test-mode initialize answers 200 with `status: true` and an authorization URL."""
    expected = "HTTP 200 with status true and data.authorization_url (a test-mode transaction)"
    obs = attempt.response
    assert obs is not None, "a refused attempt is skipped, not judged"
    if obs.error is not None:
        return _unreachable(attempt.url, obs, catalogue, expected)
    document: Any = None
    try:
        document = obs.json()
    except ValueError:
        pass
    data = document.get("data") if isinstance(document, dict) else None
    has_url = isinstance(data, dict) and isinstance(data.get("authorization_url"), str)
    ok = obs.status == 200 and isinstance(document, dict) and document.get("status") is True and has_url
    observed = (f"POST {attempt.url} (test mode, amount {attempt.amount}, reference {attempt.reference}) -> "
                f"{obs.summary()}{_provider_message(obs)}")
    if obs.status == 200:
        observed += ", authorization_url present" if has_url else ", no data.authorization_url"
    meaning = ""
    if obs.status in (401, 403):
        meaning = _key_rejected(attempt.key_mode)
    elif obs.status == 400:
        meaning = "the provider refused the transaction (validation or account configuration): its message says why"
    elif not ok and obs.status is not None:
        meaning = status_meaning(obs.status, catalogue)[0] or f"the initialize answered HTTP {obs.status}"
    finding = Finding(
        ok=ok,
        observed=observed,
        expected=expected,
        meaning=meaning,
        facts={"status": obs.status, "reference": attempt.reference, "key_mode": attempt.key_mode},
    )
    return _with_codes(finding, obs, catalogue)


# --- PAY2, PAY3: the application's webhook --------------------------------------------------------------


def _sent(delivery: WebhookDelivery) -> str:
    what = {"valid": "correctly signed", "missing": "unsigned", "wrong": "wrongly signed"}[delivery.signature]
    return f"{what} test event ({delivery.event}, reference {delivery.reference})"


def signed_event_accepted(webhook: PaymentWebhook, delivery: WebhookDelivery, catalogue: Catalogue) -> Finding:
    """PAY2: an event signed with the configured key is accepted (the webhook's expected status, 200)."""
    obs = delivery.response
    assert obs.status is not None
    ok = obs.status in webhook.expected_statuses
    meaning = ""
    causes: tuple[str, ...] = ()
    if obs.status in (400, 401, 403):
        meaning = (f"the webhook refused an event signed with the configured key (HTTP {obs.status}): it verifies "
                   "against another key, or over a re-serialized body instead of the raw request text, so every "
                   "real Paystack event is refused too and payments stay pending")
    elif obs.status in (404, 405):
        meaning = "no webhook handler answers POST at this URL: the route is missing or not deployed"
    elif obs.status >= 500:
        meaning = f"the handler fails on a valid event: {status_meaning(obs.status, catalogue)[0] or obs.status}"
    elif not ok:
        meaning, causes = status_meaning(obs.status, catalogue)
    expected_statuses = " or ".join(str(s) for s in webhook.expected_statuses)
    finding = Finding(
        ok=ok,
        observed=f"{_sent(delivery)} -> {obs.summary()}" + ("" if ok else _excerpt(obs)),
        expected=f"HTTP {expected_statuses} to an event whose {webhook.signature_header} is the HMAC-SHA512 of the "
        "raw body with the key",
        meaning=meaning,
        causes=causes,
        facts={"status": obs.status, "reference": delivery.reference},
    )
    return _with_codes(finding, obs, catalogue)


def forged_events_rejected(
    webhook: PaymentWebhook, deliveries: Sequence[WebhookDelivery], catalogue: Catalogue
) -> Finding:
    """PAY3: events with a missing or a wrong signature are rejected (401, or the declared reject_status).

    Accepting one (2xx) is a security failure: anyone could forge payment events. It fails `critical`
    whatever severity the environment gives PAY3."""
    rejected = webhook.reject_status
    observed: list[str] = []
    meanings: list[str] = []
    remediation: list[str] = []
    accepted_forgery = False
    failing = False
    facts: dict[str, object] = {}
    for delivery in deliveries:
        obs = delivery.response
        facts[f"{delivery.signature}_signature_status"] = obs.status
        if obs.error is not None:
            failing = True
            observed.append(f"{_sent(delivery)} -> {obs.error.kind_name} ({obs.error.detail})")
            meanings.append(f"the webhook could not be reached with the {delivery.signature} signature")
            continue
        assert obs.status is not None
        observed.append(f"{_sent(delivery)} -> {obs.summary()}")
        if obs.status in rejected:
            continue
        failing = True
        if 200 <= obs.status < 300:
            accepted_forgery = True
            meanings.append(
                f"the webhook ACCEPTED an event with a {delivery.signature} signature: anyone who knows the URL can "
                "forge payment events (e.g. mark an unpaid booking as paid)"
            )
        elif obs.status >= 500:
            meanings.append(
                f"the {delivery.signature} signature makes the handler fail (HTTP {obs.status}) instead of "
                "rejecting the event: verification failures are not handled"
            )
        elif obs.status in (404, 405):
            meanings.append("no webhook handler answers POST at this URL: the route is missing or not deployed")
        else:
            meanings.append(
                f"the event with a {delivery.signature} signature was refused with HTTP {obs.status}, not "
                f"{' or '.join(map(str, rejected))}: if that status is intended, add it to reject_status"
            )
        meaning, steps = error_code_finding_parts(obs, catalogue)
        if meaning:
            meanings.append(meaning)
            remediation.extend(steps)
    return Finding(
        ok=not failing,
        observed="; ".join(observed),
        expected=f"HTTP {' or '.join(map(str, rejected))} to an unsigned and to a wrongly signed event",
        meaning=_join(*dict.fromkeys(meanings)),
        remediation=tuple(dict.fromkeys(remediation)),
        facts=facts,
        severity="critical" if accepted_forgery else None,
    )
