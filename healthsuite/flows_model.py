"""Environment-file models of the booking flow (BK1, BK2) and payments (PAY1-PAY3, PAY6).

OWNER: the booking/payments work; the attribute names used by healthsuite.plugin.TARGET_FIXTURES
(`booking.submit`, `booking.tenant_pages()`, `payments.provider`, `payments.webhook`,
`payments.initialize`) must stay.
"""

from __future__ import annotations

from .modeltypes import Model
from .targets import HttpTarget, Target


class BookingSubmission(HttpTarget):
    """BK1: the booking endpoint, posted a test payload."""


class BookingSettings(Model):
    submit: BookingSubmission | None = None
    tenants: list[str] = []

    def tenant_pages(self) -> list[Target]:
        return []


class PaymentProvider(Target):
    """PAY1: the provider's API (Paystack)."""


class PaymentWebhook(HttpTarget):
    """PAY2, PAY3: the application's webhook endpoint."""


class PaymentInitialize(Target):
    """PAY6: a test-mode transaction initialization (mutating)."""


class PaymentSettings(Model):
    provider: PaymentProvider | None = None
    webhook: PaymentWebhook | None = None
    initialize: PaymentInitialize | None = None
