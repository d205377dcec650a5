"""The environment file's `notify:` webhooks: where `pytest --notify` posts a run's escalation notice
(new critical and high failures, reminders of those that persist, recoveries; healthsuite.outputs.notices),
and its `reminders:` cadence (how often a failure that persists is told again).

A webhook's URL is a secret (a Slack incoming-webhook URL is its own credential): its resolved value
is masked in every report and log line, and it is best written as `${VARIABLE}`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator

from ..catalogue.durations import EXAMPLES, DurationError, parse_duration
from .addresses import header_secret_problem
from .types import Model, Name, SecretTemplate, SecretText, problem_error, refuse_non_http_url, rule_error

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


def _every(value: object) -> str:
    """A reminder cadence as written (`15m`, `2h`, `1h30m`), or `off` (YAML reads a bare off as false)."""
    if value is False:
        return "off"
    try:
        parse_duration(value)
    except DurationError as exc:
        raise rule_error(str(exc), f"write a duration with its unit ({EXAMPLES})") from None
    assert isinstance(value, str)
    if value.strip().lower() not in ("off", "never") and (parse_duration(value) or 0) < 60:
        raise rule_error(f"{value!r} is shorter than a minute: every run would remind",
                         "write 1m or more, or off")
    return value


ReminderEvery = Annotated[str, BeforeValidator(_every)]


class Reminders(Model):
    """How often a critical or high failure that persists is told again (`--notify`); a severity not
    named keeps the catalogue's cadence (runbook 000's tiers: critical 30 min, high 4 h)."""

    critical: ReminderEvery | None = Field(
        None, description="A critical failure's cadence, e.g. 15m, or off (default: 30 min, the catalogue's)."
    )
    high: ReminderEvery | None = Field(
        None, description="A high failure's cadence, e.g. 2h, or off (default: 4 h, the catalogue's)."
    )

    def every_s(self, severity: str) -> float | None | Literal["default"]:
        """This file's cadence for `severity` in seconds, None for off, "default" when it names none."""
        written = getattr(self, severity, None) if severity in ("critical", "high") else None
        return "default" if written is None else parse_duration(written)


def _reminders(value: Any) -> Any:
    """`reminders: off` (every reminder off) is the mapping with both off; any other scalar is refused."""
    if value is False or (isinstance(value, str) and value.strip().lower() in ("off", "never")):
        return {"critical": "off", "high": "off"}
    if value is not None and not isinstance(value, dict):
        raise rule_error(f"{value!r} is neither off nor a mapping of severities to cadences",
                         "write `reminders: {critical: 15m, high: 2h}` or `reminders: off`")
    return value


REMINDERS_SCHEMA: dict[str, Any] = {
    "description": "How often `pytest --notify` tells a critical or high failure that persists again: off, or "
    "{critical: 15m, high: 2h} (a duration with its unit, or off); default: the catalogue's (30 min, 4 h).",
    "anyOf": [
        {"const": "off"},
        {"const": False},
        {"type": "null"},
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "critical": {"anyOf": [{"type": "string"}, {"const": False}]},
                "high": {"anyOf": [{"type": "string"}, {"const": False}]},
            },
        },
    ],
}
RemindersSetting = Annotated[Reminders | None, BeforeValidator(_reminders), WithJsonSchema(REMINDERS_SCHEMA)]
