"""Payments: the failed share of recent payments (PAY4) and payments stuck in pending (PAY5), read from
the declared `data.payments` table. Runbook 000 §3 "Payment Issues" (Step 3: Review Payment Logs;
Solution C: Transaction Recovery)."""

from healthsuite.assessments import pg_data as judge
from healthsuite.checkapi import check
from healthsuite.probes import pg_data


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
