"""The diagnosis catalogue: what each diagnosis ID checks, where it comes from, and what to do.

The text lives in `catalogue.yaml` (data, not code); this module validates it and answers lookups.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

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
    url: str | None = None  # where a team's own runbook is browsed (healthsuite.extension): linked as it is


class Escalation(_Data):
    area: str
    primary: str
    secondary: str
    within: str


class Tier(_Data):
    tier: str
    within: str


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
    # categories a team's own diagnoses add (healthsuite.extension), with their marker descriptions;
    # the shipped ones are CATEGORIES
    categories: dict[str, str] = {}

    def diagnosis(self, diagnosis_id: str) -> Diagnosis:
        try:
            return self.diagnoses[diagnosis_id]
        except KeyError:
            raise KeyError(f"unknown diagnosis {diagnosis_id!r}: not in healthsuite/catalogue.yaml") from None

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


def heading_anchor(section: str) -> str:
    """The anchor GitHub and GitLab give the section's own (last) heading: `Step 2: Database
    Connectivity` -> `step-2-database-connectivity`."""
    heading = section.split(">")[-1].strip().lower()
    heading = re.sub(r"[^\w\- ]", "", heading)
    return heading.replace(" ", "-")


@lru_cache(maxsize=1)
def load_catalogue() -> Catalogue:
    text = resources.files("healthsuite").joinpath("catalogue.yaml").read_text(encoding="utf-8")
    catalogue = Catalogue.model_validate(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    # each entry knows its own ID, so callers can pass entries around alone
    fixed = {key: entry.model_copy(update={"id": key}) for key, entry in catalogue.diagnoses.items()}
    return catalogue.model_copy(update={"diagnoses": fixed})
