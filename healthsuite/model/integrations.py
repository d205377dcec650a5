"""Environment-file models of the external integrations (EXT1-EXT3).

Requests to external services (calendar, error tracker, dependencies) carry only their own headers
and token, never the environment's `http.headers`: those are the application's credentials and must not
travel to a third party."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from .targets import HttpTarget, Target, default_location
from .types import (
    Model,
    Name,
    Seconds,
    SecretText,
    Text,
    refuse_literal_secret,
    refuse_non_http_url,
    rule_error,
)

GOOGLE_CALENDAR_LIST = "https://www.googleapis.com/calendar/v3/users/me/calendarList"
SENTRY_URL = "https://sentry.io"


class CalendarApi(HttpTarget):
    """EXT1: the calendar API (Google Calendar's shape), called with the configured access token as Bearer.

    Default URL: Google's calendarList of the token's user, a read that needs only the Calendar scope."""

    name: Name = "calendar"
    token: SecretText = Field(
        "${GOOGLE_CALENDAR_TOKEN}",
        validate_default=True,
        description="OAuth access token, sent as `Authorization: Bearer`; written as ${VARIABLE}.",
    )

    kind_label: ClassVar[str] = "calendar API"
    collection: ClassVar[str] = "integrations.calendar"

    _token = field_validator("token")(refuse_literal_secret("a token"))

    @model_validator(mode="before")
    @classmethod
    def _default_url(cls, data: Any) -> Any:
        return default_location(data, url=GOOGLE_CALENDAR_LIST)


class ErrorTracker(Target):
    """EXT2: the error tracker's issues API, Sentry's shape:
    `GET {url}/api/0/projects/{organization}/{project}/issues/?statsPeriod=<window>h&query=...`."""

    name: Name = "sentry"
    url: Text = Field(
        SENTRY_URL, validate_default=True, description="The tracker's address (self-hosted Sentry: its URL)."
    )
    organization: Text = Field(description="Organization slug.")
    project: Text = Field(description="Project slug.")
    token: SecretText = Field(
        "${SENTRY_TOKEN}",
        validate_default=True,
        description="API token with project:read, sent as `Authorization: Bearer`; written as ${VARIABLE}.",
    )
    query: str = Field(
        "is:unresolved", description="Issue search; `firstSeen:-<window>h` is added (window: thresholds.EXT2)."
    )
    top: int = Field(5, ge=0, le=25, description="How many of the new issues are listed (titles truncated).")
    timeout_s: Seconds | None = Field(None, description="Overrides timeouts.http_s.")

    kind_label: ClassVar[str] = "error tracker"
    collection: ClassVar[str] = "integrations.error_tracker"

    _token = field_validator("token")(refuse_literal_secret("a token"))

    _url = field_validator("url")(refuse_non_http_url(SENTRY_URL))


class ExternalDependency(HttpTarget):
    """EXT3: an external service the application calls; it must answer (any status under 500, or the
    declared `expect_status`) within its time budget."""

    token: SecretText | None = Field(None, description="Sent as `Authorization: Bearer`; written as ${VARIABLE}.")
    budget_ms: float | None = Field(
        None, gt=0, description="Time budget of one call (default: thresholds.EXT3.timeout_s)."
    )

    kind_label: ClassVar[str] = "dependency"
    collection: ClassVar[str] = "integrations.dependencies"

    _token = field_validator("token")(refuse_literal_secret("a token"))


class Integrations(Model):
    calendar: CalendarApi | None = Field(None, description="EXT1: the calendar API and its access token.")
    error_tracker: ErrorTracker | None = Field(None, description="EXT2: the error tracker (Sentry).")
    dependencies: list[ExternalDependency] = Field([], description="EXT3: external services and their budgets.")

    @field_validator("dependencies")
    @classmethod
    def _unique_names(cls, value: list[ExternalDependency]) -> list[ExternalDependency]:
        seen: set[str] = set()
        for dependency in value:
            if dependency.name in seen:
                raise rule_error(
                    f"integrations.dependencies: the name {dependency.name!r} is used twice",
                    "give every entry its own name",
                )
            seen.add(dependency.name)
        return value

    def http_targets(self) -> Iterator[HttpTarget]:
        """The integrations located by base URL + path or by URL (for the base-URL check)."""
        if self.calendar is not None:
            yield self.calendar
        yield from self.dependencies

