"""The demo's part for sign-in and tokens (AUTH2-AUTH4), the OIDC provider stand-in (AUTH1) and
refresh tokens in Redis (AUTH7).

A demo part: see `healthsuite.demo.stack` (DEMO PARTS) for what it provides and how it is wired.

The app's JWT secret belongs to its `Faults` (one per stack): `jwt_secret(faults)` makes one on first
use and the stack writes it into secrets.env as HEALTHSUITE_DEMO_JWT_SECRET; `set_jwt_secret` sets it.

Routes:
- `/__oidc/.well-known/openid-configuration`, `/__oidc/jwks`, `/__oidc/authorize`, `/__oidc/token`:
  an OpenID Connect provider stand-in (Google's document shape, issuer `<app>/__oidc`);
- `/api/auth/signin`: 302 to the stand-in's authorization endpoint (NextAuth's sign-in route);
- `/api/auth/me`: protected, 401 without or with a bad token (AUTH002 / AUTH001);
- `/api/auth/verify`: 200 for a valid token (runbook 002 `curl -H "Authorization: Bearer $TOKEN" .../auth/verify`).
Tokens: HS256 with the app's secret, `aud` booking-demo, `exp` and `sub` required; sent as
`Authorization: Bearer` or as the `session` cookie.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
import weakref
from collections import deque
from collections.abc import Callable
from functools import cache
from typing import Any
from urllib.parse import urlencode

import jwt
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from healthsuite.demo.faults.switches import MODES, Faults, register_modes

AUDIENCE = "booking-demo"
CLIENT_ID = "healthsuite-demo.apps.googleusercontent.example"
COOKIE = "session"
REFRESH_PREFIX = "refresh_token:"
REFRESH_TTL_S = 7 * 24 * 3600

register_modes(
    {
        "auth_oidc": ("ok", "error", "no_jwks_uri"),  # AUTH1: the discovery document
        "auth_signin": ("ok", "error"),  # AUTH2: the sign-in route throws
        "auth_protected": ("strict", "crash_on_malformed", "accept_any"),  # AUTH3: /api/auth/me
        "auth_secret": ("current", "rotated"),  # AUTH4: the app verifies with another secret
    }
)

FAULTS: dict[str, str] = {
    "AUTH1": "the OIDC provider stand-in's discovery document answers 500",
    "AUTH2": "/api/auth/signin answers 500 (AUTH003 OAuth configuration error)",
    "AUTH3": "/api/auth/me crashes (500) on a malformed token instead of answering 401",
    "AUTH4": "the app's JWT secret is rotated: tokens signed with HEALTHSUITE_DEMO_JWT_SECRET are refused",
    "AUTH7": "refresh tokens are stored in the demo's Redis without a TTL",
}
_MODE_OF = {"AUTH1": ("auth_oidc", "error"), "AUTH2": ("auth_signin", "error"),
            "AUTH3": ("auth_protected", "crash_on_malformed"), "AUTH4": ("auth_secret", "rotated")}

_secrets: weakref.WeakKeyDictionary[Faults, str] = weakref.WeakKeyDictionary()
_rotated: weakref.WeakKeyDictionary[Faults, str] = weakref.WeakKeyDictionary()
_received: weakref.WeakKeyDictionary[Faults, deque[str]] = weakref.WeakKeyDictionary()


def jwt_secret(faults: Faults) -> str:
    """The secret the app signs and verifies tokens with (made on first use)."""
    return _secrets.setdefault(faults, secrets.token_urlsafe(32))


def set_jwt_secret(faults: Faults, secret: str) -> None:
    _secrets[faults] = secret


def received_tokens(faults: Faults) -> list[str]:
    """The last tokens the auth routes received (the suite's tests search the reports for them)."""
    return list(_received.get(faults, ()))


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


@cache
def _signing_key() -> dict[str, str]:
    """The stand-in provider's public key, as a JWK (generated once per process)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    numbers = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_numbers()

    def b64(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "demo-1", "n": b64(numbers.n), "e": b64(numbers.e)}


def routes(faults: Faults) -> list[BaseRoute]:
    def issuer(request: Request) -> str:
        return str(request.base_url).rstrip("/") + "/__oidc"

    async def discovery(request: Request) -> Response:
        mode = faults.mode("auth_oidc")
        if mode == "error":
            return JSONResponse({"error": "internal_error"}, status_code=500)
        base = issuer(request)
        document: dict[str, Any] = {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo",
            "jwks_uri": f"{base}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
        }
        if mode == "no_jwks_uri":
            del document["jwks_uri"]
        return JSONResponse(document)

    async def jwks(request: Request) -> Response:
        return JSONResponse({"keys": [_signing_key()]})

    async def authorize(request: Request) -> Response:
        client = request.query_params.get("client_id", "")
        return HTMLResponse(f"<!doctype html><html><body><h1>Sign in</h1><p>to {client}</p></body></html>")

    async def token(request: Request) -> Response:
        return JSONResponse({"error": "invalid_grant"}, status_code=400)

    async def signin(request: Request) -> Response:
        if faults.mode("auth_signin") == "error":
            return _error(500, "AUTH003", "OAuth configuration error: GOOGLE_CLIENT_SECRET is not set")
        base = str(request.base_url).rstrip("/")
        query = urlencode(
            {
                "response_type": "code",
                "client_id": CLIENT_ID,
                "redirect_uri": f"{base}/api/auth/callback/google",
                "scope": "openid email profile",
                "state": secrets.token_urlsafe(12),
            }
        )
        return RedirectResponse(f"{issuer(request)}/authorize?{query}", status_code=302)

    def presented(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        found = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(COOKIE)
        if found:
            _received.setdefault(faults, deque(maxlen=100)).append(found)
        return found or None

    def decode(token: str) -> dict[str, Any] | None:
        if faults.mode("auth_secret") == "rotated":
            secret = _rotated.setdefault(faults, secrets.token_urlsafe(32))
        else:
            secret = jwt_secret(faults)
        try:
            claims: dict[str, Any] = jwt.decode(
                token, secret, algorithms=["HS256"], audience=AUDIENCE, options={"require": ["exp", "sub"]}
            )
        except jwt.PyJWTError:
            return None
        return claims

    async def me(request: Request) -> Response:
        token_value = presented(request)
        if token_value is None:
            return _error(401, "AUTH002", "Missing authentication header")
        mode = faults.mode("auth_protected")
        if mode == "accept_any":
            return JSONResponse({"user": {"id": "usr-2"}})
        if mode == "crash_on_malformed":
            # the naive middleware: reads the header segment without handling a bad one
            try:
                segment = token_value.split(".")[0]
                json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
            except (ValueError, binascii.Error):
                return Response("Internal Server Error", status_code=500, media_type="text/plain")
        claims = decode(token_value)
        if claims is None:
            return _error(401, "AUTH001", "Invalid JWT token")
        return JSONResponse({"user": {"id": claims["sub"]}})

    async def verify(request: Request) -> Response:
        token_value = presented(request)
        if token_value is None:
            return _error(401, "AUTH002", "Missing authentication header")
        claims = decode(token_value)
        if claims is None:
            return _error(401, "AUTH001", "Invalid JWT token")
        return JSONResponse({"valid": True, "sub": claims["sub"], "expires_in_s": int(claims["exp"] - time.time())})

    return [
        Route("/__oidc/.well-known/openid-configuration", discovery),
        Route("/__oidc/jwks", jwks),
        Route("/__oidc/authorize", authorize),
        Route("/__oidc/token", token, methods=["POST"]),
        Route("/api/auth/signin", signin),
        Route("/api/auth/me", me),
        Route("/api/auth/verify", verify),
    ]


def seed(stack: Any) -> None:
    """Refresh tokens as the healthy app stores them: with the refresh-token lifetime (optional, for a
    demo whose AUTH7 has keys to look at)."""
    if stack.redis is not None and stack.redis.is_running():
        for user in ("usr-1", "usr-2"):
            stack.redis.command("SET", f"{REFRESH_PREFIX}{user}:{secrets.token_hex(8)}", user, "EX", REFRESH_TTL_S)


def inject(diagnosis: str, stack: Any) -> Callable[[], None]:
    faults: Faults = stack.faults
    if diagnosis in _MODE_OF:
        mode, value = _MODE_OF[diagnosis]
        faults.set_mode(mode, value)
        return lambda: faults.set_mode(mode, MODES[mode][0])
    if diagnosis == "AUTH7":
        redis = stack.redis
        if redis is None or not redis.is_running():
            return lambda: None  # Redis is down (CACHE1): AUTH7 fails on the connection anyway
        # as a buggy refresh path stores them: one with the lifetime, three without (SET without EX)
        keys = [f"{REFRESH_PREFIX}usr-{n}:{secrets.token_urlsafe(32)}" for n in (1, 2, 2, 3)]
        redis.command("SET", keys[0], "usr-1", "EX", REFRESH_TTL_S)
        for key in keys[1:]:
            redis.command("SET", key, key.split(":")[1])

        def undo() -> None:
            if redis.is_running():
                redis.command("DEL", *keys)

        return undo
    raise ValueError(f"no demo fault for {diagnosis} here")
