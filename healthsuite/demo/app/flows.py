"""The demo's part for the booking flow (BK1-BK3), the webhook (PAY2, PAY3) and the Paystack stand-in (PAY1, PAY6).

A demo part: see `healthsuite.demo.stack` (DEMO PARTS) for what it provides and how it is wired.

The target app's side:
- `POST /api/book`: 200 to a valid booking payload (nothing is stored: the demo books nothing), 400
  with `{"error": {"code": "VAL001", ...}}` to an invalid one; switches: `booking=db-down` (500 DB001),
  `booking_constraint=violated` (400 DB002, a constraint violation passed off as a validation error);
- `POST /api/webhooks/paystack`: verifies `x-paystack-signature` (HMAC-SHA512 of the raw body with the
  secret key) as runbook 000 §3 Solution B does, 401 `Invalid signature` otherwise; switches:
  `webhook_secret=stale` (verifies with an old key, so correctly signed events are refused) and
  `webhook_signature=optional` (an event without a signature skips verification and is accepted);
  every event is written to the app's webhook log (`WEBHOOK_LOG`);
- the tenant pages are the app's `/book/{tenant}` (BK2's fault: a per-path 404).

The provider's side, under `/__paystack` (Paystack's API shape): `GET /` (200 to the demo's key, 401
`Invalid key` otherwise), `POST /transaction/initialize` (test mode); switches: `paystack=rotated`
(the key was rotated at the provider: 401), `paystack=down` (503), `paystack_initialize=failing`.

The demo's secret key is made per process (`SECRETS`, written to the demo's secrets.env).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from healthsuite.demo.app.tenants import TENANTS
from healthsuite.demo.faults.switches import MODES, Fault, Faults, register_modes

SECRET_KEY = "sk_test_" + secrets.token_hex(20)  # the demo's Paystack test key (webhooks are signed with it)
_STALE_KEY = "sk_test_" + secrets.token_hex(20)  # the key before a rotation (webhook_secret=stale)
_ROTATED_KEY = "sk_test_" + secrets.token_hex(20)  # the provider's key after a rotation (paystack=rotated)
SECRET_KEY_VARIABLE = "HEALTHSUITE_DEMO_PAYSTACK_SECRET_KEY"
SECRETS = {SECRET_KEY_VARIABLE: SECRET_KEY}  # variable -> value, for the demo's secrets.env
SIGNATURE_HEADER = "x-paystack-signature"
BOOKING_FIELDS = ("tenant_id", "service_id", "scheduled_time")
TENANT_PAGE = "/book/instylehairboutique"
WEBHOOK_LOG: deque[dict[str, Any]] = deque(maxlen=200)  # the app's webhook log: what it received, and its answer

register_modes(
    {
        "booking": ("ok", "db-down"),  # BK1: the booking API loses its database
        "booking_constraint": ("ok", "violated"),  # BK3: a constraint violation answered as a 400
        "webhook_secret": ("current", "stale"),  # PAY2: the handler verifies with an old key
        "webhook_signature": ("required", "optional"),  # PAY3: an unsigned event skips verification
        "paystack": ("up", "rotated", "down"),  # PAY1: the key was rotated at the provider / it is down
        "paystack_initialize": ("ok", "failing"),  # PAY6: the provider refuses to initialize transactions
    }
)

FAULTS: dict[str, str] = {
    "BK1": "the booking API answers 500 with error code DB001 (its database connection fails)",
    "BK2": f"the tenant booking page {TENANT_PAGE} answers 404 Not Found",
    "BK3": "the booking API answers 400 with error code DB002 (a constraint violation passed off as validation)",
    "PAY1": "the Paystack stand-in no longer accepts the demo's secret key (rotated at the provider): 401",
    "PAY2": "the webhook verifies signatures with a stale key, so correctly signed events get 401",
    "PAY3": "the webhook accepts events that carry no signature",
    "PAY6": "the Paystack stand-in refuses to initialize transactions (400)",
}
_MODES = {
    "BK1": ("booking", "db-down"),
    "BK3": ("booking_constraint", "violated"),
    "PAY1": ("paystack", "rotated"),
    "PAY2": ("webhook_secret", "stale"),
    "PAY3": ("webhook_signature", "optional"),
    "PAY6": ("paystack_initialize", "failing"),
}


def _faults(request: Request) -> Faults:
    faults: Faults = request.app.state.faults
    return faults


def _app_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


# --- the target app --------------------------------------------------------------------------------------


async def book(request: Request) -> Response:
    """The booking API: validates a booking (nothing is stored in the demo)."""

    faults = _faults(request)
    if faults.mode("booking") == "db-down":
        return _app_error(500, "DB001", "Database connection failed")
    try:
        payload = json.loads(await request.body())
    except ValueError:
        return _app_error(400, "VAL001", "the body is not JSON")
    if not isinstance(payload, dict):
        return _app_error(400, "VAL001", "the body is not a JSON object")
    missing = [name for name in BOOKING_FIELDS if not payload.get(name)]
    if missing:
        return _app_error(400, "VAL001", f"missing: {', '.join(missing)}")
    if payload["tenant_id"] not in TENANTS:
        return _app_error(400, "VAL001", f"unknown tenant {payload['tenant_id']!r}")
    if faults.mode("booking_constraint") == "violated":
        return _app_error(400, "DB002", "Query constraint violation: appointments_service_id_fkey")
    return JSONResponse(
        {
            "status": "validated",
            "test": bool(payload.get("test")),
            "booking": {"tenant_id": payload["tenant_id"], "service_id": payload["service_id"], "stored": False},
        }
    )


def _signature(key: str, body: bytes) -> str:
    return hmac.new(key.encode("utf-8"), body, hashlib.sha512).hexdigest()


async def paystack_webhook(request: Request) -> Response:
    """Runbook 000 §3 Solution B: verify the signature over the raw body, then process the event."""
    faults = _faults(request)
    raw = await request.body()
    signature = request.headers.get(SIGNATURE_HEADER)
    key = _STALE_KEY if faults.mode("webhook_secret") == "stale" else SECRET_KEY
    entry: dict[str, Any] = {"at": time.time(), "signed": signature is not None, "signature": signature}
    verified = signature is not None and hmac.compare_digest(_signature(key, raw), signature)
    skipped = signature is None and faults.mode("webhook_signature") == "optional"
    if not verified and not skipped:
        WEBHOOK_LOG.append({**entry, "status": 401})
        return PlainTextResponse("Invalid signature", status_code=401)
    try:
        event = json.loads(raw)
    except ValueError:
        WEBHOOK_LOG.append({**entry, "status": 400})
        return PlainTextResponse("Invalid payload", status_code=400)
    data = event.get("data") if isinstance(event, dict) else None
    WEBHOOK_LOG.append(
        {
            **entry,
            "status": 200,
            "event": event.get("event") if isinstance(event, dict) else None,
            "reference": data.get("reference") if isinstance(data, dict) else None,
        }
    )
    return PlainTextResponse("OK")


# --- the Paystack stand-in ---------------------------------------------------------------------------------


def _provider_refusal(request: Request) -> Response | None:
    """503 when the provider is down, 401 to any key but the one it holds."""
    mode = _faults(request).mode("paystack")
    if mode == "down":
        return JSONResponse({"status": False, "message": "Service Unavailable"}, status_code=503)
    expected = _ROTATED_KEY if mode == "rotated" else SECRET_KEY
    authorization = request.headers.get("authorization", "")
    if not hmac.compare_digest(authorization.encode(), f"Bearer {expected}".encode()):
        return JSONResponse({"status": False, "message": "Invalid key"}, status_code=401)
    return None


async def paystack_root(request: Request) -> Response:
    return _provider_refusal(request) or JSONResponse(
        {"status": True, "message": "Paystack API stand-in (healthsuite demo, test mode)"}
    )


async def paystack_initialize(request: Request) -> Response:
    refusal = _provider_refusal(request)
    if refusal is not None:
        return refusal
    if _faults(request).mode("paystack_initialize") == "failing":
        return JSONResponse(
            {"status": False, "message": "Transaction could not be initialized: no active payment channel"},
            status_code=400,
        )
    try:
        payload = json.loads(await request.body())
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or "@" not in str(payload.get("email", "")):
        return JSONResponse({"status": False, "message": "Invalid Email Address Passed"}, status_code=400)
    amount = payload.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        return JSONResponse({"status": False, "message": "Invalid Amount Sent"}, status_code=400)
    access_code = secrets.token_hex(8)
    reference = str(payload.get("reference") or secrets.token_hex(8))
    return JSONResponse(
        {
            "status": True,
            "message": "Authorization URL created",
            "data": {
                "authorization_url": f"https://checkout.paystack.invalid/{access_code}",
                "access_code": access_code,
                "reference": reference,
            },
        }
    )


def routes(faults: Faults) -> list[BaseRoute]:
    return [
        Route("/api/book", book, methods=["POST"]),
        Route("/api/webhooks/paystack", paystack_webhook, methods=["POST"]),
        Route("/__paystack", paystack_root, methods=["GET"]),
        Route("/__paystack/", paystack_root, methods=["GET"]),
        Route("/__paystack/transaction/initialize", paystack_initialize, methods=["POST"]),
    ]


def inject(diagnosis: str, stack: Any) -> Callable[[], None]:
    faults: Faults = stack.faults
    if diagnosis == "BK2":
        faults.set(TENANT_PAGE, Fault(status=404))
        return lambda: faults.clear(TENANT_PAGE)
    if diagnosis in _MODES:
        name, value = _MODES[diagnosis]
        faults.set_mode(name, value)
        return lambda: faults.set_mode(name, MODES[name][0])  # the first value is the healthy one
    raise ValueError(f"no demo fault for {diagnosis} here")
