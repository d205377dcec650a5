"""The diagnosis catalogue: what each diagnosis ID checks, where it comes from, and what to do.

The text lives in `catalogue.yaml` (data, not code); this module validates it and answers lookups.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .durations import parse_duration

Severity = Literal["critical", "high", "medium", "low"]
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low")
Category = Literal[
    "availability", "booking", "payments", "auth", "performance", "database", "cache",
    "network", "deployment", "backups", "security", "integrations", "logs", "business",
]
CATEGORIES: tuple[Category, ...] = Category.__args__  # type: ignore[attr-defined]
Area = Literal["security", "infrastructure", "application", "database", "business", "external_apis"]
AREAS: tuple[Area, ...] = Area.__args__  # type: ignore[attr-defined]
Service = Literal["http", "postgres", "sqlite", "redis", "tcp", "tls", "dns", "file"]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunbookRef(_Data):
    runbook: str
    section: str


class Runbook(_Data):
    title: str
    file: str = ""  # a path in the repository (the shipped docs/runbooks/...), linked under runbook_base_url
    url: str | None = None  # where a team's own runbook is browsed (healthsuite.environment.extension): linked as it is


class Escalation(_Data):
    area: str
    primary: str
    secondary: str
    within: str


class Tier(_Data):
    tier: str
    within: str
    # how often a failure of this severity that persists is told again (outputs.reminders): a duration
    # (`30 min`, `4 h`) or `never`; an environment's `reminders:` overrides it
    remind_every: str = "never"

    @field_validator("remind_every")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)  # DurationError (a ValueError): the catalogue does not load
        return value

    @property
    def remind_every_s(self) -> float | None:
        """The cadence in seconds; None: never reminded."""
        return parse_duration(self.remind_every)


class Diagnosis(_Data):
    id: str = ""
    title: str
    category: Category
    severity: Severity
    runbooks: tuple[RunbookRef, ...] = Field(min_length=1)
    verifies: str
    causes: tuple[str, ...]
    remediation: tuple[str, ...]
    escalation: Area
    thresholds: dict[str, float] = {}
    reporting: bool = False
    # the title and `verifies` as written, with `{threshold}` placeholders (`{max_active_query_s}`);
    # `title` and `verifies` are them rendered with the thresholds in force (in_force), the catalogue's
    # defaults until an environment sets its own
    title_template: str = ""
    verifies_template: str = ""
    causes_template: tuple[str, ...] = ()
    remediation_template: tuple[str, ...] = ()

    def in_force(self, thresholds: Mapping[str, float] | None = None) -> Diagnosis:
        """This entry with its title and `verifies` showing the thresholds in force: the catalogue's
        defaults, overridden by `thresholds` (an environment's `thresholds.<ID>`)."""
        title = self.title_template or self.title
        verifies = self.verifies_template or self.verifies
        causes = self.causes_template or self.causes
        remediation = self.remediation_template or self.remediation
        if not any(placeholders(text) for text in (title, verifies, *causes, *remediation)):
            return self
        values = {**self.thresholds, **(thresholds or {})}
        return self.model_copy(update={
            "title": render_thresholds(title, values), "verifies": render_thresholds(verifies, values),
            "causes": tuple(render_thresholds(c, values) for c in causes),
            "remediation": tuple(render_thresholds(r, values) for r in remediation),
            "title_template": title, "verifies_template": verifies,
            "causes_template": causes, "remediation_template": remediation,
        })


class HttpStatus(_Data):
    name: str
    meaning: str
    causes: tuple[str, ...] = ()


class ErrorCode(_Data):
    meaning: str
    resolution: str


class FailureKind(_Data):
    means: str
    causes: tuple[str, ...] = ()
    remediation: dict[Service, tuple[str, ...]] = {}


class Catalogue(_Data):
    version: int
    runbooks: dict[str, Runbook]
    escalation_matrix: dict[Area, Escalation]
    severity_tiers: dict[Severity, Tier]
    diagnoses: dict[str, Diagnosis]
    http_statuses: dict[int, HttpStatus] = {}
    application_error_codes: dict[str, ErrorCode] = {}
    failure_kinds: dict[str, FailureKind] = {}
    runbook_base_url: str | None = None  # where the runbooks are browsed; an environment's own wins
    # categories a team's own diagnoses add (healthsuite.environment.extension), with their marker descriptions;
    # the shipped ones are CATEGORIES
    categories: dict[str, str] = {}

    def in_force(self, thresholds: Mapping[str, Mapping[str, float]]) -> Catalogue:
        """The catalogue with each entry's title and `verifies` showing the thresholds in force
        (`thresholds`: an environment's, by diagnosis ID)."""
        if not any(thresholds.values()):
            return self
        fixed = {key: entry.in_force(thresholds.get(key)) for key, entry in self.diagnoses.items()}
        return self.model_copy(update={"diagnoses": fixed})

    def diagnosis(self, diagnosis_id: str) -> Diagnosis:
        try:
            return self.diagnoses[diagnosis_id]
        except KeyError:
            raise KeyError(f"unknown diagnosis {diagnosis_id!r}: not in healthsuite/catalogue/catalogue.yaml") from None

    def runbook_refs(self, diagnosis: Diagnosis, base_url: str | None = None) -> list[str]:
        """Readable references, e.g. `000 §1 ... (docs/runbooks/000-...md)`; with a base URL (the
        environment's `runbook_base_url`, else the catalogue's), links a browser opens, to the section:
        `000 §1 ... (https://github.com/acme/ops/blob/main/docs/runbooks/000-...md#step-2-...)`."""
        refs = []
        for ref in diagnosis.runbooks:
            where = self.runbook_url(ref, base_url) or self.runbooks[ref.runbook].file
            refs.append(f"{ref.runbook} {ref.section} ({where})")
        return refs

    def runbook_url(self, ref: RunbookRef, base_url: str | None = None) -> str | None:
        """The link to a runbook section: a team's own runbook at its `url`, a repository file under the
        base URL (the environment's `runbook_base_url`, else the catalogue's); None without either."""
        runbook = self.runbooks[ref.runbook]
        if runbook.url:
            return f"{runbook.url}#{heading_anchor(ref.section)}"
        base = (base_url or self.runbook_base_url or "").rstrip("/")
        return f"{base}/{runbook.file}#{heading_anchor(ref.section)}" if base else None


_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")


def threshold_text(name: str, value: float) -> str:
    """A threshold as a sentence shows it, by its name's unit: `max_active_query_s` 300 -> `5 min`,
    `p95_ms` 500 -> `500 ms`, `window_h` 24 -> `24 h`, `max_connections_pct` 80 -> `80 %`; a rate
    (`max_requests_per_h`) is a plain number, its period said by the sentence."""
    if "_per_" in name:
        return f"{value:g}"
    if name.endswith("_ms"):
        return f"{value / 1000:g} s" if value >= 1000 and value % 1000 == 0 else f"{value:g} ms"
    if name.endswith("_s"):
        if value >= 3600 and value % 3600 == 0:
            return f"{value / 3600:g} h"
        if value >= 120 and value % 60 == 0:
            return f"{value / 60:g} min"
        return f"{value:g} s"
    if name.endswith("_h"):
        return f"{value:g} h"
    if name.endswith("_days"):
        return f"{value:g} day" + ("" if value == 1 else "s")
    if name.endswith("_pct"):
        return f"{value:g} %"
    if name.endswith("_mb"):
        return f"{value:g} MB"
    if name.endswith("_kb"):
        return f"{value:g} KB"
    return f"{value:g}"


def render_thresholds(text: str, values: Mapping[str, float]) -> str:
    """`text` with each `{name}` of a threshold in `values` replaced by threshold_text; other braces stay."""
    return _PLACEHOLDER.sub(
        lambda m: threshold_text(m[1], values[m[1]]) if m[1] in values else m[0], text
    )


def placeholders(text: str) -> list[str]:
    """The `{name}` placeholders of a catalogue text."""
    return _PLACEHOLDER.findall(text)


def heading_anchor(section: str) -> str:
    """The anchor GitHub and GitLab give the section's own (last) heading: `Step 2: Database
    Connectivity` -> `step-2-database-connectivity`."""
    heading = section.split(">")[-1].strip().lower()
    heading = re.sub(r"[^\w\- ]", "", heading)
    return heading.replace(" ", "-")


@lru_cache(maxsize=1)
def load_catalogue() -> Catalogue:
    text = resources.files("healthsuite.catalogue").joinpath("catalogue.yaml").read_text(encoding="utf-8")
    catalogue = Catalogue.model_validate(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    # each entry knows its own ID, so callers can pass entries around alone; its title and `verifies`
    # show the default thresholds (an environment's own are rendered by Catalogue.in_force)
    fixed = {key: entry.model_copy(update={"id": key}).in_force() for key, entry in catalogue.diagnoses.items()}
    return catalogue.model_copy(update={"diagnoses": fixed})
