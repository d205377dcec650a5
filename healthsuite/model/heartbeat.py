"""The environment file's `heartbeat:`: the dead man's switch a scheduled run pings at its start and at
its end, in the Healthchecks.io convention (healthsuite.outputs.heartbeat). `--heartbeat URL` wins.

A ping URL is its own credential (Healthchecks.io's holds the check's secret UUID): its resolved value
is masked in every report and log line, and it is best written as `${VARIABLE}`.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from .types import Model, SecretText, refuse_non_http_url

HEARTBEAT_EXAMPLE = "https://hc-ping.com/<uuid> (better: ${HEALTHSUITE_HEARTBEAT_URL})"


class Heartbeat(Model):
    """Where the run says it started and how it ended."""

    url: SecretText = Field(
        description="The ping URL: `<url>/start` is pinged when the checks start, `<url>/<exit status>` when "
        "the run ends, with a short summary (Healthchecks.io's convention). A secret, best written as "
        "${VARIABLE}; masked in every report and log line."
    )

    _url = field_validator("url")(refuse_non_http_url(HEARTBEAT_EXAMPLE))
