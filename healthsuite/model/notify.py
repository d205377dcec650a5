"""The environment file's `notify:` webhooks: where `pytest --notify` posts a run's escalation notice
(new critical and high failures, recoveries; healthsuite.outputs.notices).

A webhook's URL is a secret (a Slack incoming-webhook URL is its own credential): its resolved value
is masked in every report and log line, and it is best written as `${VARIABLE}`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from .addresses import header_secret_problem
from .types import Model, Name, SecretTemplate, SecretText, problem_error, refuse_non_http_url

WEBHOOK_EXAMPLE = "https://hooks.slack.com/services/... (better: ${SLACK_WEBHOOK_URL})"


class Webhook(Model):
    """One receiver of the run's notice."""

    name: Name = Field(description="Who receives it, as named in the terminal and the report, e.g. oncall.")
    url: SecretText = Field(
        description="Where the notice is POSTed: a secret, best written as ${VARIABLE} "
        "(e.g. ${SLACK_WEBHOOK_URL}); masked in every report and log line."
    )
    format: Literal["slack", "json"] = Field(
        "json",
        description="slack: Slack-compatible {\"text\": ...}; json: the notice as structured JSON "
        "(environment, failures, recoveries, text).",
    )
    headers: dict[str, SecretText] = Field(
        {}, description="Headers sent with the notice (e.g. Authorization); values are secrets: ${VARIABLE}."
    )

    _url = field_validator("url")(refuse_non_http_url(WEBHOOK_EXAMPLE))

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, SecretTemplate]) -> dict[str, SecretTemplate]:
        for name, header in value.items():
            problem_error(header_secret_problem(name, header), at=(name,))
        return value
