"""Collection: effective severity (overrides visible to -m), report properties, allure labels, refusal of
mutating checks; what the items share (plugin.footprint)."""

from __future__ import annotations

import functools
from collections.abc import Generator
from typing import Any

import pytest

from healthsuite.checkapi import SEVERITY_MARKS, diagnosis_of, target_of
from healthsuite.plugin import footprint
from healthsuite.plugin.execution import runs_lean
from healthsuite.plugin.state import ALLURE_SEVERITY, STATE

SEVERITY_DECORATORS = {name: getattr(pytest.mark, name) for name in SEVERITY_MARKS}
ALLURE_OPTIONS = ("allure_report_dir", "allure_severities", "allure_epics", "allure_features", "allure_stories",
                  "allure_ids", "allure_labels")


def _allure_in_use(config: pytest.Config) -> bool:
    """Whether allure writes results or selects by label in this run: only then do its labels matter
    (eight marks per check, carried in every report a worker sends)."""
    return config.pluginmanager.hasplugin("allure_pytest") and any(
        getattr(config.option, name, None) for name in ALLURE_OPTIONS
    )


def no_environment_message(config: pytest.Config) -> str:
    """The usage error of a run of checks that names no environment: how to name one, and which there are.

    No environment is taken by default: every one probes something (a real domain, or whatever listens on
    localhost's well-known ports), and only the person running the checks knows which they mean."""
    directories = list(dict.fromkeys([config.rootpath / "environments", config.invocation_params.dir / "environments"]))
    available = sorted({p.stem for d in directories if d.is_dir() for p in d.glob("*.yaml")})
    listed = (f"available: {', '.join(available)} (in {' and '.join(str(d) for d in directories if d.is_dir())})"
              if available else f"no environment files in {' or '.join(map(str, directories))}")
    return (
        "no environment selected: name the one to check with --env NAME (environments/NAME.yaml), "
        "--env path/to/file.yaml or HEALTHSUITE_ENV=NAME, e.g. `pytest --env demo` against the running demo "
        f"(python -m healthsuite.demo up starts it, docs/demo.md); {listed}"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash[STATE]
    checks = [item for item in items if diagnosis_of(item)]
    state.collected = len(checks)
    if not checks:
        return
    env = state.env
    if env is None:
        raise pytest.UsageError(no_environment_message(config))
    catalogue = env.catalogue  # the shipped diagnoses and the environment's own
    allure = _allure_in_use(config)
    runbooks: dict[str, str] = {}  # per diagnosis: computed once, not once per check and target
    for item in checks:
        diagnosis_id = diagnosis_of(item) or ""
        entry = catalogue.diagnosis(diagnosis_id)
        if diagnosis_id not in runbooks:
            runbooks[diagnosis_id] = " | ".join(catalogue.runbook_refs(entry, env.model.runbook_base_url))
        target = target_of(item)
        severity = (
            (target.severity if target is not None else None)
            or env.model.severity_overrides.get(diagnosis_id)
            or entry.severity
        )
        # the effective severity replaces the decorator's, so `-m critical` selects what is critical *here*
        if severity != entry.severity:
            item.own_markers[:] = [m for m in item.own_markers if m.name not in SEVERITY_MARKS]
            item.add_marker(SEVERITY_DECORATORS[severity])
        item.user_properties.extend(
            [
                _property("diagnosis", diagnosis_id),
                _property("category", entry.category),
                _property("severity", severity),
                _property("target", target.name if target is not None else ""),
                _property("target_kind", target.collection if target is not None else ""),
                _property("runbook", runbooks[diagnosis_id]),
            ]
        )
        footprint.let_go_of_request(item, _is_lean_candidate)  # one another collector made
        if allure:
            for label_type, value in (
                ("feature", entry.category),
                ("story", f"{diagnosis_id} {entry.title}"),
                ("severity", ALLURE_SEVERITY[severity]),
                ("tag", diagnosis_id),
                ("tag", severity),
                ("diagnosis", diagnosis_id),
                ("category", entry.category),
                ("healthsuite_severity", severity),
            ):
                item.add_marker(pytest.mark.allure_label(value, label_type=label_type))
        if item.get_closest_marker("mutating") and not env.model.allow_mutating:
            item.add_marker(
                pytest.mark.skip(
                    reason=f"mutating check refused: {env.path.name} does not allow mutating checks "
                    f"(kind {env.model.kind}, allow_mutating: false)"
                )
            )
    if state.diagnoses:
        keep: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            diagnosis = diagnosis_of(item)
            (keep if diagnosis is None or diagnosis in state.diagnoses else dropped).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep


@functools.lru_cache(maxsize=65536)
def _property(key: str, value: str) -> tuple[str, str]:
    """One tuple per (key, value), shared by every check that carries it (thousands of checks, a
    handful of diagnoses, categories and severities)."""
    return key, value


def _is_lean_candidate(item: pytest.Item) -> bool:
    return isinstance(item, pytest.Function) and runs_lean(item)


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> Generator[None, Any, Any]:
    """A function's items, as soon as pytest made them (all at once, before the next function's):
    what they share, shared, and what a lean check never reads, let go (plugin.footprint)."""
    made = yield
    if isinstance(made, list) and made:
        config = collector.config
        state = config.stash[STATE]
        if state.share_keyword_matches is None:
            state.share_keyword_matches = footprint.only_known_collectors(config)
        footprint.after_creation(made, state.callspecs, _is_lean_candidate, state.share_keyword_matches)
    return made


def pytest_itemcollected(item: pytest.Item) -> None:
    """A parametrized item's call spec, shared with the items parametrized alike (those another
    collector made; pytest_pycollect_makeitem has shared those of test functions already)."""
    footprint.share_callspec(item, item.config.stash[STATE].callspecs)


def pytest_collection_finish(session: pytest.Session) -> None:
    session.config.stash[STATE].callspecs.clear()
    footprint.after_collection(session.items)
