"""Environment-file models of sign-in and tokens (AUTH1-AUTH4, AUTH7).

OWNER: the auth work; the attribute names used by healthsuite.plugin.TARGET_FIXTURES
(`auth.discovery`, `auth.sign_in`, `auth.protected`, `auth.verify`, `auth.refresh_tokens`) must stay.
"""

from __future__ import annotations

from .modeltypes import Model
from .targets import HttpTarget, Target


class OidcDiscovery(HttpTarget):
    """AUTH1: the OpenID Connect discovery document."""


class SignIn(HttpTarget):
    """AUTH2: the sign-in endpoint."""


class ProtectedEndpoint(HttpTarget):
    """AUTH3: an endpoint that must refuse bad tokens with 401."""


class TokenVerify(HttpTarget):
    """AUTH4: the endpoint that must accept a token minted with the configured secret."""


class RefreshTokens(Target):
    """AUTH7: refresh-token keys in a declared Redis cache, which must all have a TTL."""


class AuthSettings(Model):
    discovery: OidcDiscovery | None = None
    sign_in: SignIn | None = None
    protected: ProtectedEndpoint | None = None
    verify: TokenVerify | None = None
    refresh_tokens: RefreshTokens | None = None
