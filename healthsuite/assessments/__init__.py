"""Judge observations: pure functions from (target, observation) to a `Finding`.

Checks in `checks/` call these, so the logic is testable without pytest and shared by every
diagnosis that looks at the same thing (AV1 and DEP1 both judge a page).
"""

from __future__ import annotations

from typing import Any

from ..catalogue.diagnoses import Catalogue
from ..model.environment import BodyCondition, HealthEndpoint, HttpTarget
from ..model.regexes import RegexTooSlow, bounded_search
from ..probes.http import HttpObservation, JsonRefused
from ..probes.postgres import PostgresObservation
from ..probes.redis import RedisObservation
from ..probes.sqlite import SqliteObservation
from .failure import Finding

BODY_EXCERPT = 200
_MISSING = object()


def status_meaning(status: int | None, catalogue: Catalogue) -> tuple[str, tuple[str, ...]]:
    if status is None or status not in catalogue.http_statuses:
        return "", ()
    info = catalogue.http_statuses[status]
    return f"{status} {info.name}: {info.meaning}", info.causes


def _expected_statuses(target: HttpTarget) -> str:
    return " or ".join(str(s) for s in target.expected_statuses)


def _observed_response(obs: HttpObservation) -> str:
    ctype = obs.headers.get("content-type")
    parts = [obs.summary()]
    if ctype is not None:
        parts.append(f"content-type {ctype}")
    return ", ".join(parts)


def json_at(document: Any, path: str) -> Any:
    current = document
    for key in path.split("."):
        if isinstance(current, dict) and key in current:
            current = current[key]
        elif isinstance(current, list) and key.isdigit() and int(key) < len(current):
            current = current[int(key)]
        else:
            return _MISSING
    return current


def check_body(condition: BodyCondition, obs: HttpObservation) -> tuple[bool, str]:
    """Whether one body condition holds, and what was found (for the message)."""
    if condition.path is None:
        value: Any = obs.text()
        shown = repr(obs.text(BODY_EXCERPT))
    else:
        try:
            document = obs.json()
        except JsonRefused as refused:
            return False, f"the body is not read as JSON: {refused}"
        except ValueError:
            return False, f"the body is not JSON: {obs.text(BODY_EXCERPT)!r}"
        value = json_at(document, condition.path)
        if value is _MISSING:
            found = condition.exists is False
            return found, f"body.{condition.path} is absent"
        shown = f"body.{condition.path} = {value!r}"
    if condition.exists is not None:
        return condition.exists, shown
    if "equals" in condition.model_fields_set:
        return value == condition.equals, shown
    if condition.one_of is not None:
        return value in condition.one_of, shown
    if condition.matches is not None:
        try:
            return bounded_search(condition.matches, str(value)), shown
        except RegexTooSlow as slow:
            return False, f"{shown}: {slow}"
    if condition.contains is not None:
        return condition.contains in str(value), shown
    return False, shown


def page(target: HttpTarget, obs: HttpObservation, catalogue: Catalogue) -> Finding:
    """AV1: the expected status and, when declared, content type."""
    status_ok = obs.status in target.expected_statuses
    type_ok = target.content_type is None or obs.content_type == target.content_type.lower()
    expected = f"HTTP {_expected_statuses(target)}"
    if target.content_type:
        expected += f", content-type {target.content_type}"
    meaning, causes = status_meaning(obs.status, catalogue) if not status_ok else ("", ())
    if status_ok and not type_ok:
        meaning = (
            f"the page answers, but as {obs.content_type or 'no content type'}: an error page, a wrong "
            "route or a misconfigured proxy is serving it"
        )
    return Finding(
        ok=status_ok and type_ok,
        observed=_observed_response(obs),
        expected=expected,
        meaning=meaning,
        causes=causes,
        facts={"status": obs.status, "content_type": obs.content_type, "elapsed_ms": round(obs.elapsed_s * 1000, 1)},
    )


def health(target: HealthEndpoint, obs: HttpObservation, catalogue: Catalogue) -> Finding:
    """AV2: the expected status within the timeout, and every body condition."""
    first = page(target, obs, catalogue)
    results = [(condition, *check_body(condition, obs)) for condition in target.body]
    failed = [(c, seen) for c, ok, seen in results if not ok]
    expected = first.expected
    if target.body:
        expected += "; " + "; ".join(c.describe() for c in target.body)
    observed = first.observed
    if failed:
        observed += "; " + "; ".join(seen for _, seen in failed)
    elif not first.ok:
        observed += f"; body {obs.text(BODY_EXCERPT)!r}" if obs.body else ""
    meaning = first.meaning
    if first.ok and failed:
        meaning = "the endpoint answers, but reports itself unhealthy (or in an unexpected shape)"
    return Finding(
        ok=first.ok and not failed,
        observed=observed,
        expected=expected,
        meaning=meaning,
        causes=first.causes,
        facts={**first.facts, "failed_conditions": [c.describe() for c, _ in failed]},
    )


def no_server_error(target: HttpTarget, obs: HttpObservation, catalogue: Catalogue) -> Finding:
    """AV3: anything but 5xx; 502/503/504 are named with their usual causes."""
    assert obs.status is not None
    ok = obs.status < 500
    meaning, causes = status_meaning(obs.status, catalogue) if not ok else ("", ())
    return Finding(
        ok=ok,
        observed=_observed_response(obs),
        expected="no 5xx status (any answer below 500)",
        meaning=meaning,
        causes=causes,
        facts={"status": obs.status, "elapsed_ms": round(obs.elapsed_s * 1000, 1)},
    )


def select_one(obs: PostgresObservation | SqliteObservation) -> Finding:
    """DB1: the database answered `SELECT 1` (in a read-only session)."""
    return Finding(
        ok=obs.answered,
        observed=obs.summary(),
        expected="SELECT 1 answers 1 within the timeout",
        facts={"elapsed_ms": round(obs.elapsed_s * 1000, 1)},
    )


def ping(obs: RedisObservation) -> Finding:
    """CACHE1: PING answered PONG."""
    return Finding(
        ok=obs.pong,
        observed=obs.summary(),
        expected="PING answers PONG within the timeout",
        facts={"elapsed_ms": round(obs.elapsed_s * 1000, 1)},
    )
