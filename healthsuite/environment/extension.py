"""A team's own diagnoses: a catalogue extension file beside the environment file, referenced from it.

    # environments/production.yaml
    diagnoses_file: acme-diagnoses.yaml          # or a list; relative to this file

    # environments/acme-diagnoses.yaml
    runbooks:
      queue: {title: "Queue service runbook", url: https://github.com/acme/ops/blob/main/queue.md}
    categories:
      queues: "job queues: backlog, stuck jobs, workers"     # a new category: a marker (-m queues)
    escalation_areas:
      queue_platform: {area: Queue platform, primary: Queue on-call, secondary: Platform lead, within: 15 minutes}
    diagnoses:
      QUEUE-1:
        title: "No job is stuck in the queue"
        category: queues
        severity: high
        runbooks: [{runbook: queue, section: "§2 Jobs Stuck > Step 1: Find the Stuck Jobs"}]
        verifies: "No job has been running for more than 10 minutes."
        causes: [...]
        remediation: ["Find them: `psql -h <host> -p <port> -d <db> -c \\"SELECT ...\\"`", ...]
        escalation: queue_platform

Its entries have the fields of healthsuite/catalogue/catalogue.yaml's. An ID is `NAMESPACE-NAME` (`QUEUE-1`): no
shipped ID has a `-`, so a team's IDs never collide with the catalogue's, now or after an upgrade. The
file is validated like an environment file (every problem with its line, key path and fix), and
`docs/diagnoses.schema.json` is its JSON Schema. `attach()` merges the files an environment names into
the catalogue its checks, markers and reports use (`LoadedEnvironment.catalogue`), and judges the
environment's declared checks (healthsuite.model.declared) against it.
"""

from __future__ import annotations

import difflib
import keyword
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from healthsuite.catalogue.diagnoses import (
    AREAS,
    CATEGORIES,
    SEVERITIES,
    Catalogue,
    Diagnosis,
    Escalation,
    Runbook,
    RunbookRef,
    Severity,
)
from healthsuite.environment.loaded import LoadedEnvironment
from healthsuite.environment.problems import EnvironmentFileError, fix_for, line_of
from healthsuite.model import declared

ID = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*-[A-Z0-9]+(?:[-_][A-Z0-9]+)*")
LOWER_NAME = re.compile(r"[a-z][a-z0-9_]*")
RUNBOOK_KEY = re.compile(r"[a-z0-9][a-z0-9_.-]*")
RESERVED_MARKERS = frozenset({*SEVERITIES, "smoke", "mutating", "diagnosis"})  # the plugin's own markers
ID_RULE = (
    "an own diagnosis ID is NAMESPACE-NAME in upper case (e.g. QUEUE-1, PAYOUTS-LATE): no shipped ID "
    "(AV1, DB3, ...) has a `-`, so yours can never collide with the catalogue's, now or after an upgrade"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OwnRunbook(_Strict):
    title: str = Field(description="The runbook's title.")
    url: str | None = Field(None, description="Where it is browsed: each section is linked as url#section-anchor.")
    file: str | None = Field(
        None, description="Or its path in your repository, linked under the environment's runbook_base_url."
    )


class OwnArea(_Strict):
    area: str = Field(description="The area's name, as people say it, e.g. Queue platform.")
    primary: str = Field(description="Who is called first (a role, name, address or pager).")
    secondary: str = Field(description="Who is called when the first does not answer.")
    within: str = Field(description="How soon the first must answer, e.g. 15 minutes, or immediately.")


class OwnDiagnosis(_Strict):
    title: str = Field(description="What holds when the check passes, e.g. No job is stuck in the queue.")
    category: str = Field(description=f"A shipped category ({', '.join(CATEGORIES)}) or one of `categories`.")
    severity: Severity = Field(description="Default severity: critical, high, medium, low.")
    runbooks: list[RunbookRef] = Field(min_length=1, description="Runbook sections: {runbook: KEY, section: ...}.")
    verifies: str = Field(description="One sentence: what the check verifies (the failure block's `checked:`).")
    causes: list[str] = Field([], description="Likely causes, most likely first.")
    remediation: list[str] = Field(
        [], description="Steps in order; commands in backticks get the target's values (<host>, <port>, <db>, ...)."
    )
    escalation: str = Field(description=f"Escalation area: a shipped one ({', '.join(AREAS)}) or one of "
                                        "`escalation_areas`.")


class DiagnosesFile(_Strict):
    """A catalogue extension: a team's own runbooks, categories, escalation areas and diagnoses."""

    runbooks: dict[str, OwnRunbook] = Field({}, description="The team's runbooks, by key.")
    categories: dict[str, str] = Field({}, description="New categories (each a pytest marker) and what they cover.")
    escalation_areas: dict[str, OwnArea] = Field({}, description="New escalation areas, by key.")
    diagnoses: dict[str, OwnDiagnosis] = Field(min_length=1, description="The team's diagnoses, by ID (QUEUE-1).")


def json_schema() -> dict[str, Any]:
    """docs/diagnoses.schema.json, which `python -m healthsuite.environment.schema` writes beside the environment's."""
    schema = DiagnosesFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "healthsuite diagnoses file (a catalogue extension)"
    schema["properties"]["diagnoses"]["propertyNames"] = {"pattern": f"^{ID.pattern}$"}
    schema["properties"]["categories"]["propertyNames"] = {"pattern": f"^{LOWER_NAME.pattern}$"}
    schema["properties"]["escalation_areas"]["propertyNames"] = {"pattern": f"^{LOWER_NAME.pattern}$"}
    schema["properties"]["runbooks"]["propertyNames"] = {"pattern": f"^{RUNBOOK_KEY.pattern}$"}
    return schema


# --- reading one file ------------------------------------------------------------------------------

Problem = tuple[tuple[str | int, ...], str, str]


def _read(path: Path) -> tuple[Any, yaml.Node | None, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise EnvironmentFileError(f"{path}: cannot read the diagnoses file: {reason}\n"
                                   "  fix: check the path and that this user may read it") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        raise EnvironmentFileError(
            f"{path}: {where}not valid YAML: {exc.problem or exc.context}\n"
            "  fix: check the indentation and quoting on that line and the one above it"
        ) from None
    except yaml.YAMLError as exc:
        raise EnvironmentFileError(f"{path}: not valid YAML: {exc}") from None
    return data, root, text


def _schema_of(loc: tuple[Any, ...]) -> dict[str, Any]:
    schema = DiagnosesFile.model_json_schema()
    here: dict[str, Any] = schema
    for part in loc:
        while "$ref" in here:
            here = schema["$defs"][here["$ref"].rsplit("/", 1)[-1]]
        if "properties" in here and part in here["properties"]:
            here = here["properties"][part]
        elif isinstance(here.get("additionalProperties"), dict):
            here = here["additionalProperties"]
        elif here.get("type") == "array":
            here = here.get("items", {})
        else:
            return {}
    while "$ref" in here:
        here = schema["$defs"][here["$ref"].rsplit("/", 1)[-1]]
    return here


def _structure_problems(exc: ValidationError) -> Iterator[Problem]:
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            allowed = sorted(_schema_of(loc[:-1]).get("properties", {}))
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            guess = f"did you mean `{close[0]}`? " if close else ""
            yield loc, "unknown key", f"{guess}remove it or correct the spelling; allowed here: {', '.join(allowed)}"
        elif kind == "missing":
            about = _schema_of(loc).get("description")
            yield loc, "Field required", f"add `{loc[-1]}`" + (f" ({about})" if about else "")
        else:
            given = error.get("input")
            shown = f" (got {given!r})" if isinstance(given, (str, int, float, bool)) and len(str(given)) <= 60 else ""
            yield loc, f"{error['msg']}{shown}", fix_for(error)


def _meaning_problems(
    own: DiagnosesFile, shipped: Catalogue, others: tuple[DiagnosesFile, ...] = ()
) -> Iterator[Problem]:
    """What the file's entries mean: its names, and what its diagnoses refer to (the shipped catalogue's,
    its own, or those of the environment's other diagnoses files)."""
    for key, runbook in own.runbooks.items():
        if not RUNBOOK_KEY.fullmatch(key):
            yield ("runbooks", key), f"runbook key {key!r} is not a lower-case name", "write e.g. queue or queue-ops"
        elif key in shipped.runbooks:
            yield ("runbooks", key), f"runbook key {key!r} is a shipped runbook's", (
                "give yours its own key, e.g. queue; to cite a shipped runbook, name it in a diagnosis without "
                "declaring it here"
            )
        if (runbook.url is None) == (runbook.file is None):
            yield ("runbooks", key), "give either `url` or `file`, not both or neither", (
                "e.g. url: https://github.com/acme/ops/blob/main/runbooks/queue.md"
            )
        elif runbook.url is not None and not re.match(r"https?://[^/\s]+", runbook.url):
            yield ("runbooks", key, "url"), f"{runbook.url!r} is not an http(s) URL", (
                "write https://..., or `file:` with its path in your repository"
            )
    for name in own.categories:
        if name in CATEGORIES:
            yield ("categories", name), f"{name!r} is a shipped category", (
                "use it in your diagnoses without declaring it"
            )
        elif not LOWER_NAME.fullmatch(name) or keyword.iskeyword(name) or name in ("and", "or", "not"):
            yield ("categories", name), f"category {name!r} cannot be a marker", (
                "write a lower-case word (letters, digits, '_'), e.g. queues: it is selected with -m queues"
            )
        elif name in RESERVED_MARKERS:
            yield ("categories", name), f"{name!r} is one of healthsuite's own markers (a severity or a kind)", (
                "name the category for what it covers, e.g. queues"
            )
    for name in own.escalation_areas:
        if name in AREAS:
            yield ("escalation_areas", name), f"{name!r} is a shipped escalation area", (
                "use it without declaring it (its contact comes from the environment's `escalation:`)"
            )
        elif not LOWER_NAME.fullmatch(name):
            yield ("escalation_areas", name), f"area {name!r} is not a lower-case name", "write e.g. queue_platform"
    categories = {*CATEGORIES, *own.categories, *(name for other in others for name in other.categories)}
    areas = {*AREAS, *own.escalation_areas, *(name for other in others for name in other.escalation_areas)}
    runbooks = {*shipped.runbooks, *own.runbooks, *(name for other in others for name in other.runbooks)}
    for diagnosis_id, entry in own.diagnoses.items():
        at: tuple[str | int, ...] = ("diagnoses", diagnosis_id)
        if diagnosis_id in shipped.diagnoses:
            yield at, f"{diagnosis_id} is a shipped diagnosis", f"give yours its own ID: {ID_RULE}"
        elif not ID.fullmatch(diagnosis_id):
            upper = diagnosis_id.upper()
            if ID.fullmatch(upper):
                yield at, f"{diagnosis_id!r} is not upper case", f"write {upper}: {ID_RULE}"
            else:
                yield at, f"{diagnosis_id!r} has no namespace", f"write it as NAMESPACE-NAME, e.g. QUEUE-1: {ID_RULE}"
        if entry.category not in categories:
            close = difflib.get_close_matches(entry.category, sorted(categories), n=1)
            guess = f"did you mean {close[0]}? " if close else ""
            yield (*at, "category"), f"unknown category {entry.category!r}", (
                f"{guess}use a shipped one ({', '.join(CATEGORIES)}) or declare it under `categories`"
            )
        if entry.escalation not in areas:
            yield (*at, "escalation"), f"unknown escalation area {entry.escalation!r}", (
                f"use a shipped one ({', '.join(AREAS)}) or declare it under `escalation_areas`"
            )
        for index, ref in enumerate(entry.runbooks):
            if ref.runbook not in runbooks:
                yield (*at, "runbooks", index, "runbook"), f"unknown runbook {ref.runbook!r}", (
                    f"declare it under `runbooks` (title and url), or use one of: {', '.join(sorted(runbooks))}"
                )
            if not ref.section.strip():
                yield (*at, "runbooks", index, "section"), "empty section", "name the section, e.g. §2 Jobs Stuck"
        for field, steps in (("causes", entry.causes), ("remediation", entry.remediation)):
            for index, step in enumerate(steps):
                if not step.strip():
                    yield (*at, field, index), "empty entry", "write the sentence, or remove the line"


def _plain_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _message(path: Path, kind: str, problems: list[Problem], root: yaml.Node | None, note: str = "") -> str:
    count = len(problems)
    lines = [f"{path}: invalid {kind} ({count} problem{'s' * (count > 1)}){note}"]
    for loc, problem, fix in problems[:50]:
        line = line_of(root, loc)
        lines.append(f"  {f'line {line}: ' if line else ''}{_plain_path(loc)}: {problem}")
        lines.append(f"    fix: {fix}")
    if count > 50:
        lines.append(f"  ... and {count - 50} more; fix these first (the first 50 are shown)")
    return "\n".join(lines)


def read_file(path: Path, referenced: str = "") -> tuple[DiagnosesFile, yaml.Node | None]:
    """Read one diagnoses file and validate its structure; EnvironmentFileError with every problem found."""
    data, root, _ = _read(path)
    if not isinstance(data, dict):
        raise EnvironmentFileError(
            f"{path}: line 1: a diagnoses file is a mapping of keys (runbooks, categories, escalation_areas, "
            f"diagnoses), not {'an empty document' if data is None else type(data).__name__}\n"
            "  fix: start from examples/own-runbook/queue-diagnoses.yaml"
        )
    try:
        own = DiagnosesFile.model_validate(data)
    except ValidationError as exc:
        raise EnvironmentFileError(_message(path, "diagnoses file", list(_structure_problems(exc)), root,
                                            referenced)) from None
    return own, root


def load_file(path: Path, shipped: Catalogue, referenced: str = "",
              others: tuple[DiagnosesFile, ...] = ()) -> DiagnosesFile:
    """Read and validate one diagnoses file (what it refers to may be declared by `others`)."""
    own, root = read_file(path, referenced)
    problems = list(_meaning_problems(own, shipped, others))
    if problems:
        raise EnvironmentFileError(_message(path, "diagnoses file", problems, root, referenced))
    return own


# --- merging into the catalogue, and judging the environment against it ------------------------------


def _referenced(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def merge(shipped: Catalogue, files: Mapping[Path, DiagnosesFile]) -> tuple[Catalogue, list[tuple[str, str]]]:
    """The catalogue with every file's runbooks, categories, areas and diagnoses; and what two files both
    declare: (what, where)."""
    runbooks = dict(shipped.runbooks)
    areas: dict[str, Escalation] = {str(key): area for key, area in shipped.escalation_matrix.items()}
    categories = dict(shipped.categories)
    diagnoses = dict(shipped.diagnoses)
    first: dict[tuple[str, str], Path] = {}
    twice: list[tuple[str, str]] = []
    for path, own in files.items():
        for kind, names in (("runbook", own.runbooks), ("category", own.categories),
                            ("escalation area", own.escalation_areas), ("diagnosis", own.diagnoses)):
            for name in names:
                if (kind, name) in first and first[(kind, name)] != path:
                    twice.append((f"{kind} {name}", f"{first[(kind, name)]} and {path}"))
                first.setdefault((kind, name), path)
        for key, runbook in own.runbooks.items():
            runbooks[key] = Runbook(title=runbook.title, file=runbook.file or "", url=runbook.url)
        categories.update(own.categories)
        for key, area in own.escalation_areas.items():
            areas[key] = Escalation(area=area.area, primary=area.primary, secondary=area.secondary, within=area.within)
        for diagnosis_id, entry in own.diagnoses.items():
            # the shipped model types category and escalation as the shipped names; an own diagnosis was
            # validated above against the shipped names and its file's own, so it is built as it is
            diagnoses[diagnosis_id] = Diagnosis.model_construct(
                id=diagnosis_id, title=entry.title, category=entry.category, severity=entry.severity,  # type: ignore[arg-type]
                runbooks=tuple(entry.runbooks), verifies=entry.verifies, causes=tuple(entry.causes),
                remediation=tuple(entry.remediation), thresholds={}, reporting=False,
                escalation=entry.escalation,  # type: ignore[arg-type]
            )
    merged = shipped.model_copy(update={
        "runbooks": runbooks, "escalation_matrix": areas, "categories": categories, "diagnoses": diagnoses,
    })
    return merged, twice


def _environment_problems(loaded: LoadedEnvironment, catalogue: Catalogue) -> Iterator[Problem]:
    model = loaded.model
    own = sorted(k for k in catalogue.diagnoses if "-" in k)
    for diagnosis_id in model.severity_overrides:
        if "-" in diagnosis_id and diagnosis_id not in catalogue.diagnoses:
            close = difflib.get_close_matches(diagnosis_id, own, n=1)
            yield ("severity_overrides", diagnosis_id), f"unknown diagnosis {diagnosis_id!r}", (
                (f"did you mean {close[0]}? " if close else "")
                + (f"own diagnoses: {', '.join(own)}" if own else "declare it in a diagnoses_file")
            )
    for index, window in enumerate(model.maintenance):  # the shipped IDs and categories: model.environment
        for position, diagnosis_id in enumerate(window.diagnoses):
            if "-" in diagnosis_id and diagnosis_id not in catalogue.diagnoses:
                close = difflib.get_close_matches(diagnosis_id, own, n=1)
                yield ("maintenance", index, "diagnoses", position), f"unknown diagnosis {diagnosis_id!r}", (
                    (f"did you mean {close[0]}? " if close else "")
                    + (f"own diagnoses: {', '.join(own)}" if own else "declare it in a diagnoses_file"))
        for position, category in enumerate(window.categories):
            if category not in CATEGORIES and category not in catalogue.categories:
                yield (("maintenance", index, "categories", position), f"unknown category {category!r}",
                       f"use one of {', '.join([*CATEGORIES, *sorted(catalogue.categories)])}")
    yield from declared.problems(model.declared_checks, model, catalogue.diagnoses)


def attach(loaded: LoadedEnvironment, text: str) -> None:
    """Read the diagnoses files `loaded` names, merge them into its catalogue and judge its declared
    checks against it: EnvironmentFileError naming file, line, key path and fix."""
    model = loaded.model
    names = _referenced(model.diagnoses_file)
    own_ids = [*model.severity_overrides, *(i for w in model.maintenance for i in w.diagnoses)]
    if not names and not model.declared_checks and not any("-" in k for k in own_ids):
        return
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    shipped = loaded.catalogue
    files: dict[Path, DiagnosesFile] = {}
    read: dict[Path, tuple[DiagnosesFile, yaml.Node | None, str]] = {}
    problems: list[Problem] = []
    single = isinstance(model.diagnoses_file, str)
    for index, name in enumerate(names):
        at: tuple[str | int, ...] = ("diagnoses_file",) if single else ("diagnoses_file", index)
        path = Path(name).expanduser()
        path = path if path.is_absolute() else (loaded.path.parent / path)
        if not path.is_file():
            problems.append((at, f"{name}: no such diagnoses file (looked at {path})",
                             "write its path relative to this environment file, e.g. acme-diagnoses.yaml"))
            continue
        line = line_of(root, at)
        note = f"; named by diagnoses_file in {loaded.path}" + (f" line {line}" if line else "")
        own, own_root = read_file(path, note)
        read[path.resolve()] = (own, own_root, note)
    for path, (own, own_root, note) in read.items():  # each may refer to what another declares
        others = tuple(other for key, (other, _, _) in read.items() if key != path)
        found = list(_meaning_problems(own, shipped, others))
        if found:
            raise EnvironmentFileError(_message(path, "diagnoses file", found, own_root, note))
        files[path] = own
    if not problems:
        merged, twice = merge(shipped, files)
        for what, where in twice:
            problems.append((("diagnoses_file",), f"{what} is declared twice ({where})",
                             "declare each runbook, category, area and diagnosis in one file only"))
        if not problems:
            problems = list(_environment_problems(loaded, merged))
            loaded.catalogue = merged
    if problems:
        raise EnvironmentFileError(_message(loaded.path, "environment file", problems, root))
