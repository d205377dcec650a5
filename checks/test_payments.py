"""Payments: the failed share of recent payments (PAY4) and payments stuck in pending (PAY5), read from
the declared `data.payments` table. Runbook 000 §3 "Payment Issues" (Step 3: Review Payment Logs;
Solution C: Transaction Recovery)."""

import pytest

from healthsuite.assessments import flows as flows_judge
from healthsuite.assessments import pg_data as judge
from healthsuite.checkapi import check
from healthsuite.probes import flows, pg_data


@check("PAY4", needs="data.payments")
def test_failed_payment_share_is_under_threshold(postgres, probes, expect):
    observation = expect.reached(
        pg_data.failed_payments(
            probes.postgres(postgres), postgres.data.payments, window_h=expect.threshold("window_h")
        )
    )
    expect.finding(judge.failed_payment_share(observation, max_share_pct=expect.threshold("max_failed_share_pct")))


@check("PAY5", needs="data.payments")
def test_no_payment_is_pending_too_long(postgres, probes, expect):
    observation = expect.reached(
        pg_data.pending_payments(
            probes.postgres(postgres), postgres.data.payments, max_pending_h=expect.threshold("max_pending_h")
        )
    )
    expect.finding(judge.pending_payments(observation))


# --- the provider and the webhook: runbook 000 §3 "Payment Issues" (Step 1: Test Paystack Connectivity,
# Step 2 and Solution B: the webhook and its signature), 000 "Paystack Integration", 001 health-check.sh ---


@check("PAY1")
def test_payment_provider_accepts_the_secret_key(payment_provider, probes, expect):
    timeout_s = payment_provider.timeout_s or expect.threshold("timeout_s")
    expect.finding(flows_judge.provider_api(flows.provider_api(probes, payment_provider, timeout_s), expect.catalogue))


@check("PAY2")
def test_webhook_accepts_a_correctly_signed_event(payment_webhook, probes, expect):
    # not mutating: an inert event (type healthsuite.test, a reference no payment has), as runbook 000 step 2 does
    delivery = expect.reached(flows.send_event(probes, payment_webhook, "valid"))
    expect.finding(flows_judge.signed_event_accepted(payment_webhook, delivery, expect.catalogue))


@check("PAY3")
def test_webhook_rejects_unsigned_and_wrongly_signed_events(payment_webhook, probes, expect):
    deliveries = [flows.send_event(probes, payment_webhook, signature) for signature in ("missing", "wrong")]
    expect.finding(flows_judge.forged_events_rejected(payment_webhook, deliveries, expect.catalogue))


@check("PAY6", mutating=True)
def test_test_mode_transaction_can_be_initialized(payment_initialize, probes, expect):
    provider = expect.env.model.payments.provider
    timeout_s = payment_initialize.timeout_s or provider.timeout_s or expect.env.model.timeouts.http_s
    attempt = flows.initialize_transaction(probes, provider, payment_initialize, timeout_s)
    if attempt.refused:
        pytest.skip(attempt.refused)
    expect.finding(flows_judge.transaction_initialized(attempt, expect.catalogue))
