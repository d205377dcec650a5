"""How often an exchange is tried again after a transport failure (`retries:`, docs/ENVIRONMENT.md).

A retry is evidence, not forgiveness: only a transport failure (refused, reset, timed out, a TLS
handshake that broke, a name that did not resolve for now) is tried again; an answer (a 5xx, a wrong
body, a slow reply) is judged as it came. The default is one attempt: no retry.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .types import Model

MAX_ATTEMPTS = 5  # a check that needs more than this is not healthy, whatever it answers in the end
MAX_BACKOFF_S = 30.0

Backoff = Literal["fixed", "linear", "exponential"]


class RetryPolicy(Model):
    """One policy: how many attempts in all, and the wait before each further one."""

    attempts: int = Field(
        1, ge=1, le=MAX_ATTEMPTS,
        description=f"Attempts in all, the first included (1: no retry; at most {MAX_ATTEMPTS}).",
    )
    backoff_s: float = Field(
        0.5, ge=0, le=MAX_BACKOFF_S,
        description="The wait before the second attempt; later waits follow `backoff`. Never past the run's deadline.",
    )
    backoff: Backoff = Field(
        "fixed",
        description="fixed: backoff_s before each retry; linear: backoff_s x n before retry n; exponential: "
        "backoff_s x 2^(n-1).",
    )

    def delay_before(self, attempt: int) -> float:
        """The wait before `attempt` (2 for the first retry)."""
        n = max(attempt - 1, 1)
        if self.backoff == "linear":
            return self.backoff_s * n
        if self.backoff == "exponential":
            return self.backoff_s * float(2 ** (n - 1))
        return self.backoff_s


NO_RETRY = RetryPolicy()


class RetrySettings(RetryPolicy):
    """The file's `retries:` block: the run's policy, and a policy per diagnosis."""

    by_diagnosis: dict[str, RetryPolicy] = Field(
        {},
        description="A policy per diagnosis ID, e.g. AV1: {attempts: 3}. An exchange that several checks read is "
        "made once, with the most attempts any of them allows.",
    )
