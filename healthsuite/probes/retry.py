"""Trying an exchange again after a transport failure, and keeping every attempt as evidence.

Only a failure to get an answer is tried again: connection refused or reset, a timeout, a TLS handshake
that broke, a name that could not be resolved for now (SERVFAIL, a resolver that did not answer). An
answer is judged as it came, never retried: a 5xx, a wrong body, a slow reply, a certificate that does
not verify, a name that does not exist. Each attempt has its own exchange deadline (probes.deadline);
no attempt starts, and no wait reaches, past the run's deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..model.retries import RetryPolicy
from . import deadline
from .errors import ProbeError

T = TypeVar("T")

RETRIED_KINDS = frozenset({"refused", "reset", "timeout", "tls", "dns"})
# within those kinds, the words of an answer rather than of a failure to get one
_ANSWERS = {
    "tls": ("certificate", "verify", "hostname mismatch", "unsupported protocol", "no protocols available"),
    "dns": ("nxdomain", "does not exist", "name or service not known", "no address associated", "no_answer"),
}


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of an exchange: its number (1 the first), what came of it ("answered" or the error's
    kind), the error's words ("" for an answer), how long it took and the wait before it."""

    attempt: int
    outcome: str
    error: str
    duration_s: float
    waited_s: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {"attempt": self.attempt, "outcome": self.outcome, "error": self.error,
                "duration_s": round(self.duration_s, 3), "waited_s": round(self.waited_s, 3)}


def transport_failure(error: ProbeError | None) -> bool:
    """Whether `error` is a failure to get an answer (tried again), not an answer (judged)."""
    if error is None or error.kind not in RETRIED_KINDS:
        return False
    detail = error.detail.lower()
    return not any(word in detail for word in _ANSWERS.get(error.kind, ()))


def next_wait(policy: RetryPolicy, attempt: int, now: float, run_deadline_at: float | None) -> float | None:
    """The wait before `attempt` (2 for the first retry), or None when it is not to be made: the
    policy's attempts are used up, or the wait would reach the run's deadline (monotonic `now`)."""
    if attempt > policy.attempts:
        return None
    wait = policy.delay_before(attempt)
    if run_deadline_at is not None and now + wait >= run_deadline_at:
        return None
    return wait


def attempted(
    probe: Callable[[], T],
    error_of: Callable[[T], ProbeError | None],
    policy: RetryPolicy,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, tuple[Attempt, ...]]:
    """`probe()`, again while it meets a transport failure and `policy` allows; the last observation
    and every attempt (empty when the first one was the only one allowed or needed)."""
    attempts: list[Attempt] = []
    waited = 0.0
    number = 1
    while True:
        started = clock()
        observation = probe()
        error = error_of(observation)
        attempts.append(Attempt(number, error.kind if error else "answered",
                                f"{error.kind_name}: {error.detail}" if error else "", clock() - started, waited))
        if not transport_failure(error):
            break
        run = deadline.run_deadline()
        wait = next_wait(policy, number + 1, clock(), run.at if run is not None else None)
        if wait is None:
            break
        sleep(wait)
        waited = wait
        number += 1
    return observation, (tuple(attempts) if len(attempts) > 1 else ())
