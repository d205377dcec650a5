"""The base classes of everything a check probes: `Target` (name, severity, smoke) and `HttpTarget`
(a URL under a base URL or absolute). Kept apart from `environment` so that the models of one area
(model.flows, model.auth, model.metrics, model.integrations) can build on them without an import cycle."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from ..catalogue.diagnoses import Severity
from .addresses import header_secret_problem, http_url_problem
from .retries import RetryPolicy
from .types import HttpStatusCode, Model, Name, Seconds, SecretText, Text, problem_error, rule_error


class Target(Model):
    """Something a check probes. `severity` overrides the diagnosis severity for this target only."""

    name: Name
    severity: Severity | None = Field(None, description="Severity of this target's checks (overrides the default).")
    smoke: bool = Field(False, description="Part of the post-deploy smoke set (DEP1, marker `smoke`).")

    kind_label: ClassVar[str] = "target"  # e.g. "page"; used in messages
    collection: ClassVar[str] = "targets"  # the environment-file key that lists this kind

    @property
    def key(self) -> str:
        """`endpoints/slow`: the target in the probe pool and in a report's probe latencies and hints."""
        return f"{self.collection}/{self.name}"


class HttpTarget(Target):
    """An HTTP(S) URL: `path` under one of `base_urls`, or an absolute `url`."""

    path: str | None = Field(None, description="Path under the base URL, e.g. /api/health.")
    url: Text | None = Field(None, description="Absolute URL (instead of base + path).")
    base: Name | None = Field(None, description="Key of base_urls (default: the only one, or `app`).")
    method: Literal["GET", "HEAD"] = "GET"
    headers: dict[str, SecretText] = Field({}, description="Extra request headers; values are treated as secrets.")
    expect_status: HttpStatusCode | list[HttpStatusCode] = Field(200, description="Expected status code(s).")
    content_type: str | None = Field(None, description="Expected media type, e.g. text/html (parameters ignored).")
    follow_redirects: bool = Field(False, description="Follow redirects (default: report them, as curl -I does).")
    timeout_s: Seconds | None = Field(None, description="Overrides timeouts.http_s for this target.")
    retries: RetryPolicy | None = Field(
        None, description="Overrides the file's `retries:` for this target's request (attempts, backoff_s, backoff)."
    )
    max_total_ms: float | None = Field(
        None, gt=0, description="PERF1 limit on the total time of this request (default: thresholds.PERF1)."
    )

    kind_label: ClassVar[str] = "endpoint"

    @model_validator(mode="after")
    def _path_or_url(self) -> HttpTarget:
        if (self.path is None) == (self.url is None):
            raise rule_error("give either `path` (under a base URL) or `url`, not both or neither", "e.g. path: /")
        if self.path is not None and not self.path.startswith("/"):
            raise rule_error(f"path {self.path!r} must start with '/'", f"write /{self.path}")
        if self.url is not None:
            problem_error(http_url_problem(self.url, example="https://host/path"), at=("url",))
        for name, header in self.headers.items():
            problem_error(header_secret_problem(name, header), at=("headers", name))
        return self

    @property
    def expected_statuses(self) -> tuple[int, ...]:
        return tuple(self.expect_status) if isinstance(self.expect_status, list) else (self.expect_status,)


def default_location(data: Any, **defaults: str) -> Any:
    """Fill `url` (or `path`) when the file gives neither: the provider's well-known address."""
    if isinstance(data, dict) and "path" not in data and "url" not in data:
        return {**data, **defaults}
    return data
