"""Payments: the failed share of recent payments (PAY4) and payments stuck in pending (PAY5), read from
the declared `data.payments` table. Runbook 000 §3 "Payment Issues" (Step 3: Review Payment Logs;
Solution C: Transaction Recovery)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from healthsuite import plans
from healthsuite.assessments import flows as flows_judge
from healthsuite.assessments import pg_data as judge
from healthsuite.checkapi import check
from healthsuite.probes import flows, pg_data

if TYPE_CHECKING:
    from healthsuite.checkapi import Expect
    from healthsuite.model.environment import PostgresDatabase
    from healthsuite.model.flows import PaymentInitialize, PaymentProvider, PaymentWebhook
    from healthsuite.probes.pgreader import PgReader
    from healthsuite.probes.session import ProbeSession

# What each check reads (the plan runs it on the probe pool first: healthsuite.plans.on_database).


def failed_payments(db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold) -> pg_data.FailedPayments:
    payments = postgres.data.payments
    assert payments is not None  # needs="data.payments": only databases that declare it are checked
    return pg_data.failed_payments(db, payments, window_h=threshold("window_h"))


def pending_payments(db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold) -> pg_data.PendingPayments:
    payments = postgres.data.payments
    assert payments is not None  # needs="data.payments": only databases that declare it are checked
    return pg_data.pending_payments(db, payments, max_pending_h=threshold("max_pending_h"))


@check("PAY4", needs="data.payments", plan=plans.on_database(failed_payments))
def test_failed_payment_share_is_under_threshold(
    postgres: PostgresDatabase, probes: ProbeSession, expect: Expect
) -> None:
    observation = expect.reached(failed_payments(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(judge.failed_payment_share(observation, max_share_pct=expect.threshold("max_failed_share_pct")))


@check("PAY5", needs="data.payments", plan=plans.on_database(pending_payments))
def test_no_payment_is_pending_too_long(postgres: PostgresDatabase, probes: ProbeSession, expect: Expect) -> None:
    observation = expect.reached(pending_payments(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(judge.pending_payments(observation))


# --- the provider and the webhook: runbook 000 §3 "Payment Issues" (Step 1: Test Paystack Connectivity,
# Step 2 and Solution B: the webhook and its signature), 000 "Paystack Integration", 001 health-check.sh ---


@check("PAY1", plan=plans.provider)
def test_payment_provider_accepts_the_secret_key(
    payment_provider: PaymentProvider, probes: ProbeSession, expect: Expect
) -> None:
    timeout_s = plans.provider_timeout_s(payment_provider, expect.threshold)
    expect.finding(flows_judge.provider_api(flows.provider_api(probes, payment_provider, timeout_s), expect.catalogue))


@check("PAY2", plan=plans.webhook("valid"))
def test_webhook_accepts_a_correctly_signed_event(
    payment_webhook: PaymentWebhook, probes: ProbeSession, expect: Expect
) -> None:
    # not mutating: an inert event (type healthsuite.test, a reference no payment has), as runbook 000 step 2 does
    delivery = expect.reached(flows.send_event(probes, payment_webhook, "valid"))
    expect.finding(flows_judge.signed_event_accepted(payment_webhook, delivery, expect.catalogue))


@check("PAY3", plan=plans.webhook("missing", "wrong"))
def test_webhook_rejects_unsigned_and_wrongly_signed_events(
    payment_webhook: PaymentWebhook, probes: ProbeSession, expect: Expect
) -> None:
    deliveries = [flows.send_event(probes, payment_webhook, signature) for signature in ("missing", "wrong")]
    expect.finding(flows_judge.forged_events_rejected(payment_webhook, deliveries, expect.catalogue))


@check("PAY6", mutating=True, plan=plans.initialize)
def test_test_mode_transaction_can_be_initialized(
    payment_initialize: PaymentInitialize, probes: ProbeSession, expect: Expect
) -> None:
    payments = expect.env.model.payments
    # payment_initialize is declared, so payments is, and the model refuses an initialize without a provider
    assert payments is not None and payments.provider is not None
    provider = payments.provider
    timeout_s = plans.initialize_timeout_s(probes, payment_initialize)
    attempt = flows.initialize_transaction(probes, provider, payment_initialize, timeout_s)
    if attempt.refused:
        pytest.skip(attempt.refused)
    expect.finding(flows_judge.transaction_initialized(attempt, expect.catalogue))
