"""Environment-file models of sign-in and tokens (AUTH1-AUTH4, AUTH7).

OWNER: the auth work; the attribute names used by healthsuite.plugin.parametrize.TARGET_FIXTURES
(`auth.discovery`, `auth.sign_in`, `auth.protected`, `auth.verify`, `auth.refresh_tokens`) must stay.

```yaml
auth:
  discovery: {issuer: https://accounts.google.com}          # AUTH1 (Google's document by default)
  sign_in: {path: /api/auth/signin}                         # AUTH2
  protected: {path: /api/appointments/mine}                 # AUTH3
  verify: {path: /auth/verify, secret: "${JWT_SECRET}", claims: {sub: usr-1, aud: booking}}   # AUTH4
  refresh_tokens: {cache: sessions, pattern: "refresh_token:*"}                             # AUTH7
```
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from .targets import HttpTarget, Target
from .types import (
    HttpStatusCode,
    Model,
    Name,
    Seconds,
    SecretText,
    Text,
    refuse_literal_secret,
    rule_error,
)

GOOGLE_DISCOVERY = "https://accounts.google.com/.well-known/openid-configuration"
REDIRECTS = [301, 302, 303, 307, 308]
RESERVED_CLAIMS = ("exp", "iat", "nbf")  # the suite sets the token's lifetime itself
Algorithm = Literal["HS256", "HS384", "HS512"]


def _default_location(data: Any, *, url: str | None = None, path: str | None = None) -> Any:
    """Fill in the documented location when the file gives neither `path` nor `url`."""
    if isinstance(data, dict) and "path" not in data and "url" not in data:
        return {**data, **({"url": url} if url else {"path": path})}
    return data


def _no_reserved_claims(value: dict[str, Any] | None) -> dict[str, Any] | None:
    reserved = sorted(set(value or {}) & set(RESERVED_CLAIMS))
    if reserved:
        raise rule_error(
            f"claims: {', '.join(reserved)} cannot be set: the suite gives each token its own lifetime",
            f"remove {', '.join(reserved)}; set `lifetime_s` for the token's lifetime",
        )
    return value


class OidcDiscovery(HttpTarget):
    """AUTH1: the OpenID Connect discovery document (Google's by default). The environment's
    `http.headers` are not sent to it: the identity provider is a third party."""

    name: Name = "oidc"
    issuer: Text | None = Field(
        None,
        description="Expected `issuer` (default: the discovery URL without /.well-known/openid-configuration).",
    )
    fetch_jwks: bool = Field(True, description="Also fetch `jwks_uri` and check it lists signing keys.")

    kind_label: ClassVar[str] = "OIDC discovery document"
    collection: ClassVar[str] = "auth.discovery"

    @model_validator(mode="before")
    @classmethod
    def _google_by_default(cls, data: Any) -> Any:
        return _default_location(data, url=GOOGLE_DISCOVERY)

    @model_validator(mode="after")
    def _hyphenated(self) -> OidcDiscovery:
        where = self.url.raw if self.url is not None else (self.path or "")
        if "openid_configuration" in where:
            raise rule_error(
                f"{where!r}: the standard path is /.well-known/openid-configuration, with a hyphen "
                "(the underscore form, as in runbook 000 §4, answers 404)",
                "write /.well-known/openid-configuration",
            )
        return self


class SignIn(HttpTarget):
    """AUTH2: the sign-in endpoint; it answers 200 or a redirect (to the identity provider)."""

    name: Name = "sign-in"
    expect_status: HttpStatusCode | list[HttpStatusCode] = Field(
        [200, *REDIRECTS], description="Accepted statuses (default: 200 or a redirect)."
    )
    redirect_to: Text | None = Field(
        None,
        description="When it redirects, the Location must start with this (e.g. the provider's authorization "
        "endpoint, https://accounts.google.com/o/oauth2/).",
    )

    kind_label: ClassVar[str] = "sign-in endpoint"
    collection: ClassVar[str] = "auth.sign_in"

    @model_validator(mode="before")
    @classmethod
    def _documented_path(cls, data: Any) -> Any:
        return _default_location(data, path="/api/auth/signin")


class ProtectedEndpoint(HttpTarget):
    """AUTH3: an endpoint that must refuse bad tokens with 401. The tokens are sent like `auth.verify`'s
    (Authorization: Bearer, or `cookie`); the expired one is signed with `secret` (default: auth.verify's)
    so that its 401 proves the expiry is checked, not only the signature."""

    name: Name = "protected"
    expect_status: HttpStatusCode | list[HttpStatusCode] = Field(
        401, description="The status every bad token must get (default 401)."
    )
    secret: SecretText | None = Field(
        None, description="JWT secret for the expired token, as ${VARIABLE} (default: auth.verify.secret)."
    )
    algorithm: Algorithm | None = Field(None, description="HMAC algorithm (default: auth.verify's, else HS256).")
    claims: dict[str, Text] | None = Field(
        None, description="Claims of the bad tokens (default: auth.verify's), so only the defect differs."
    )
    cookie: str | None = Field(None, description="Send the token as this cookie instead of Authorization: Bearer.")

    kind_label: ClassVar[str] = "protected endpoint"
    collection: ClassVar[str] = "auth.protected"

    _secret = field_validator("secret")(refuse_literal_secret("the JWT secret", "secret: ${JWT_SECRET}"))
    _claims = field_validator("claims")(_no_reserved_claims)

    @model_validator(mode="after")
    def _refusals_only(self) -> ProtectedEndpoint:
        accepted = [s for s in self.expected_statuses if 200 <= s < 300]
        if accepted:
            raise rule_error(
                f"expect_status {accepted} would accept a bad token: AUTH3 checks that bad tokens are refused",
                "write 401 (or the refusal the API documents, e.g. [401, 403])",
            )
        return self


class TokenVerify(HttpTarget):
    """AUTH4: the endpoint that must accept a short-lived token minted with the configured secret."""

    name: Name = "verify"
    secret: SecretText = Field(description="The backend's JWT secret, as ${VARIABLE} (e.g. ${JWT_SECRET}).")
    algorithm: Algorithm = Field("HS256", description="HMAC algorithm the backend verifies.")
    claims: dict[str, Text] = Field(
        {"sub": Text("healthsuite-check")},
        description="Claims of the minted token (sub, aud, iss, role...); exp and iat are set by the suite.",
    )
    lifetime_s: Seconds = Field(60, description="The minted token expires this many seconds after it is made.")
    cookie: str | None = Field(None, description="Send the token as this cookie instead of Authorization: Bearer.")

    kind_label: ClassVar[str] = "token verify endpoint"
    collection: ClassVar[str] = "auth.verify"

    _secret = field_validator("secret")(refuse_literal_secret("the JWT secret", "secret: ${JWT_SECRET}"))
    _claims = field_validator("claims")(_no_reserved_claims)

    @model_validator(mode="before")
    @classmethod
    def _documented_path(cls, data: Any) -> Any:
        return _default_location(data, path="/auth/verify")


class RefreshTokens(Target):
    """AUTH7: refresh-token keys in a declared Redis cache, which must all have a TTL. Read with SCAN
    (never KEYS), TTL and TYPE only, and bounded."""

    name: Name = "refresh-tokens"
    cache: Name | None = Field(None, description="Name of the `caches` entry (default: the only one declared).")
    pattern: str = Field("refresh_token:*", min_length=1, description="SCAN MATCH pattern of the token keys.")
    max_keys: int = Field(10_000, ge=1, le=1_000_000, description="Stop after examining this many keys (and say so).")
    scan_count: int = Field(500, ge=1, le=100_000, description="SCAN COUNT hint: keys looked at per round trip.")
    max_scan_s: Seconds = Field(10, description="Stop scanning after this long (and say so).")

    kind_label: ClassVar[str] = "refresh tokens"
    collection: ClassVar[str] = "auth.refresh_tokens"


class AuthSettings(Model):
    discovery: OidcDiscovery | None = Field(None, description="AUTH1: the identity provider's discovery document.")
    sign_in: SignIn | None = Field(None, description="AUTH2: the sign-in endpoint (default /api/auth/signin).")
    protected: ProtectedEndpoint | None = Field(None, description="AUTH3: an endpoint that must refuse bad tokens.")
    verify: TokenVerify | None = Field(None, description="AUTH4: the endpoint that must accept a fresh token.")
    refresh_tokens: RefreshTokens | None = Field(None, description="AUTH7: refresh-token keys that must expire.")
