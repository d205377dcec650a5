"""Environment-file models of the booking flow (BK1-BK3) and payments (PAY1-PAY3, PAY6).

OWNER: the booking/payments work; the attribute names used by healthsuite.plugin.parametrize.TARGET_FIXTURES
(`booking.submit`, `booking.tenant_pages()`, `payments.provider`, `payments.webhook`,
`payments.initialize`) must stay.

```yaml
booking:
  submit: {path: /api/book, payload: {test: true}}          # BK1, BK3: POSTed as JSON
  tenants: [instylehairboutique]                            # BK2: GET /book/<tenant> answers 200
payments:
  provider: {secret: "${PAYSTACK_SECRET_KEY}"}              # PAY1 (url default https://api.paystack.co)
  webhook: {path: /api/webhooks/paystack}                   # PAY2, PAY3 (signed with provider.secret)
  initialize: {email: test@example.com, amount: 1000}       # PAY6, mutating, sk_test_ keys only
```
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from .addresses import body_secret_problem
from .targets import HttpTarget, Target
from .templates import Template
from .types import (
    HttpStatusCode,
    Model,
    Name,
    Seconds,
    SecretTemplate,
    SecretText,
    Text,
    refuse_literal_secret,
    refuse_non_http_url,
    rule_error,
)

PAYSTACK_API = "https://api.paystack.co"
TENANT_PLACEHOLDER = "{tenant}"


def _api_path(value: str) -> str:
    if not value.startswith("/"):
        raise rule_error(f"path {value!r} must start with '/'", f"write /{value}")
    return value


class BookingSubmission(HttpTarget):
    """BK1, BK3: the booking endpoint, POSTed the test payload as JSON (runbook 000 §2 step 1)."""

    name: Name = "book"
    method: Literal["POST"] = Field("POST", description="Always POST (the payload is sent as JSON).")  # type: ignore[assignment]
    payload: dict[str, Any] = Field(
        {"test": True},
        description="The JSON body POSTed; it must not create a real booking (runbook 000 sends {test: true}).",
    )
    expect_status: HttpStatusCode | list[HttpStatusCode] = Field(
        [200, 400], description="BK1: statuses that pass: 200 (accepted) or 400 (validation error), never 5xx."
    )
    expected_codes: list[str] = Field(
        ["VAL001"],
        description="BK3: application error codes that are an expected answer to the test payload "
        "(VAL001, input validation); any other code in the response fails BK3, decoded.",
    )

    kind_label: ClassVar[str] = "booking submission"
    collection: ClassVar[str] = "booking.submit"

    @field_validator("payload")
    @classmethod
    def _no_literal_credential(cls, value: dict[str, Any]) -> dict[str, Any]:
        found = body_secret_problem(value)
        if found is not None:
            raise rule_error(*found[1], at=found[0])
        return value


class TenantPage(HttpTarget):
    """BK2: one tenant's booking page (made by `BookingSettings.tenant_pages()`, not written in the file)."""

    tenant: str = ""

    kind_label: ClassVar[str] = "tenant booking page"
    collection: ClassVar[str] = "booking.tenants"


class BookingSettings(Model):
    submit: BookingSubmission | None = Field(None, description="BK1, BK3: the booking API and its test payload.")
    tenants: list[Name] = Field([], description="BK2: tenants whose booking page must answer 200.")
    tenant_page: str = Field(
        "/book/{tenant}", description="BK2: path of a tenant's booking page; {tenant} is replaced by the tenant."
    )
    tenant_base: Name | None = Field(None, description="Key of base_urls of the tenant pages (default: as pages).")
    tenant_content_type: str | None = Field(None, description="BK2: expected media type of the pages, e.g. text/html.")
    tenant_timeout_s: Seconds | None = Field(None, description="Overrides timeouts.http_s for the tenant pages.")

    @field_validator("tenant_page")
    @classmethod
    def _page_template(cls, value: str) -> str:
        if not value.startswith("/") or TENANT_PLACEHOLDER not in value:
            raise rule_error(
                f"tenant_page {value!r} must be a path containing {TENANT_PLACEHOLDER}", "write e.g. /book/{tenant}"
            )
        return value

    @field_validator("tenants")
    @classmethod
    def _unique_tenants(cls, value: list[str]) -> list[str]:
        repeated = sorted({t for t in value if value.count(t) > 1})
        if repeated:
            raise rule_error(f"tenants listed twice: {', '.join(repeated)}", "list each tenant once")
        return value

    def tenant_pages(self) -> list[TenantPage]:
        """One page per tenant, named by the tenant (BK2 parametrizes on them)."""
        return [
            TenantPage(
                name=tenant,
                tenant=tenant,
                path=self.tenant_page.replace(TENANT_PLACEHOLDER, tenant),
                base=self.tenant_base,
                content_type=self.tenant_content_type,
                timeout_s=self.tenant_timeout_s,
            )
            for tenant in self.tenants
        ]


class PaymentProvider(Target):
    """PAY1: the provider's API (Paystack), called with the secret key as a Bearer token."""

    name: Name = "paystack"
    url: Text = Field(
        Template(PAYSTACK_API), description="The provider API's base URL (a stand-in's URL in a test stack)."
    )
    path: str = Field(
        "/",
        description="PAY1: the path GET with the key, which must answer 200 (runbook 000 calls /; a path that "
        "requires the key, e.g. /transaction?perPage=1, also proves the key is accepted).",
    )
    secret: SecretText = Field(description="The secret key, e.g. ${PAYSTACK_SECRET_KEY}.")
    timeout_s: Seconds | None = Field(None, description="Request timeout (default: thresholds.PAY1.timeout_s, 5 s).")

    kind_label: ClassVar[str] = "payment provider"
    collection: ClassVar[str] = "payments.provider"

    _secret = field_validator("secret")(refuse_literal_secret(reference="${PAYSTACK_SECRET_KEY}"))
    _path = field_validator("path")(_api_path)

    _url = field_validator("url")(refuse_non_http_url(PAYSTACK_API))


class PaymentWebhook(HttpTarget):
    """PAY2, PAY3: the application's webhook endpoint (`POST /api/webhooks/paystack`).

    The events sent are inert test events: type `healthsuite.test` (no handler acts on it) and a
    reference `healthsuite-probe-<random>` that matches no payment."""

    name: Name = "paystack-webhook"
    method: Literal["POST"] = Field("POST", description="Always POST (the event is sent as JSON).")  # type: ignore[assignment]
    secret: SecretText | None = Field(
        None,
        description="The key events are signed with (HMAC-SHA512); default payments.provider.secret, as "
        "Paystack signs webhooks with the secret key.",
    )
    signature_header: str = Field("x-paystack-signature", description="Header carrying the hex signature.")
    event: str = Field("healthsuite.test", description="The `event` of the test event (one no handler acts on).")
    expect_status: HttpStatusCode | list[HttpStatusCode] = Field(
        200, description="PAY2: statuses that accept a correctly signed event (the runbook's handler answers 200)."
    )
    reject_status: list[HttpStatusCode] = Field(
        [401],
        min_length=1,
        description="PAY3: statuses that reject an unsigned or wrongly signed event (the runbook's handler "
        "answers 401; add 400 or 403 if yours does).",
    )

    kind_label: ClassVar[str] = "payment webhook"
    collection: ClassVar[str] = "payments.webhook"

    _secret = field_validator("secret")(refuse_literal_secret(reference="${PAYSTACK_SECRET_KEY}"))

    @field_validator("reject_status")
    @classmethod
    def _client_errors(cls, value: list[int]) -> list[int]:
        wrong = [s for s in value if not 400 <= s < 500]
        if wrong:
            raise rule_error(
                f"reject_status {wrong} is not a 4xx status: only a client error rejects an event",
                "write e.g. [401] or [401, 403]",
            )
        return value

    @field_validator("signature_header")
    @classmethod
    def _header_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9-]+", value):
            raise rule_error(f"{value!r} is not a header name", "write e.g. x-paystack-signature")
        return value.lower()


class PaymentInitialize(Target):
    """PAY6: a test-mode transaction initialization on the provider (mutating; `sk_test_` keys only)."""

    name: Name = "paystack-test-transaction"
    path: str = Field("/transaction/initialize", description="Path under payments.provider.url.")
    email: str = Field("healthsuite-probe@example.com", description="Customer email of the test transaction.")
    amount: int = Field(1000, gt=0, description="Amount in the currency's subunit (kobo, cents).")
    currency: str | None = Field(None, description="e.g. NGN, ZAR (default: the account's).")
    timeout_s: Seconds | None = Field(None, description="Overrides timeouts.http_s.")

    kind_label: ClassVar[str] = "test transaction"
    collection: ClassVar[str] = "payments.initialize"

    _path = field_validator("path")(_api_path)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise rule_error(f"{value!r} is not an email address", "write e.g. test@example.com")
        return value


class PaymentSettings(Model):
    provider: PaymentProvider | None = Field(None, description="PAY1: the provider API and its secret key.")
    webhook: PaymentWebhook | None = Field(None, description="PAY2, PAY3: the application's webhook endpoint.")
    initialize: PaymentInitialize | None = Field(
        None, description="PAY6 (mutating): a test-mode transaction initialize on the provider."
    )

    @model_validator(mode="after")
    def _provider_for(self) -> PaymentSettings:
        if self.initialize is not None and self.provider is None:
            raise rule_error(
                "payments.initialize needs payments.provider (its URL and secret key)",
                'add provider: {secret: "${PAYSTACK_SECRET_KEY}"}',
            )
        if self.webhook is not None and self.webhook.secret is None and self.provider is None:
            raise rule_error(
                "payments.webhook has no key to sign test events with",
                'set webhook.secret: "${PAYSTACK_SECRET_KEY}", or declare payments.provider with its secret',
            )
        return self

    def webhook_secret(self) -> tuple[SecretTemplate, str]:
        """The webhook's signing key and where it is declared (for MissingVariable's message)."""
        assert self.webhook is not None
        if self.webhook.secret is not None:
            return self.webhook.secret, "payments.webhook.secret"
        assert self.provider is not None
        return self.provider.secret, "payments.provider.secret"
