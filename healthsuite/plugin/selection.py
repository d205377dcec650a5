"""What -m and --diagnosis may name: markers and diagnosis IDs checked before collection."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

import pytest

from healthsuite.catalogue.diagnoses import CATEGORIES, SEVERITIES
from healthsuite.plugin.pytest_internals import Expression


def registered_markers(config: pytest.Config) -> set[str]:
    return {line.split(":", 1)[0].split("(", 1)[0].strip() for line in config.getini("markers")}


def check_mark_expression(config: pytest.Config, own_categories: tuple[str, ...] = ()) -> None:
    expression = config.option.markexpr
    strict = config.getini("strict_markers") or config.getini("strict") or config.option.strict_markers
    if not expression or not strict:
        return
    try:
        names = Expression.compile(expression).idents()
    except SyntaxError:
        return  # pytest reports the syntax error itself
    known = registered_markers(config)
    unknown = sorted(set(names) - known)
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise pytest.UsageError(
            f"-m {expression!r}: unknown marker {', '.join(hints)}; a typo would deselect every check. "
            f"Categories: {', '.join((*CATEGORIES, *own_categories))}; severities: {', '.join(SEVERITIES)}; "
            "also smoke, mutating, "
            "diagnosis(id='AV1'). See `pytest --markers`."
        )


def diagnosis_filter(config: pytest.Config, known: Mapping[str, object]) -> set[str]:
    wanted = {part.strip().upper() for value in config.option.healthsuite_diagnosis for part in value.split(",")}
    wanted.discard("")
    unknown = sorted(wanted - set(known))
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=1)
            hints.append(name + (f" (did you mean {close[0]}?)" if close else ""))
        raise pytest.UsageError(
            f"--diagnosis: unknown diagnosis ID {', '.join(hints)}; IDs are listed in docs/DIAGNOSES.md "
            "(and a team's own in the environment's diagnoses_file)"
        )
    return wanted
