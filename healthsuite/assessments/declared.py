"""Judge a declared check (healthsuite.model.declared): every condition of its `expect:` on what its probe saw.

    >>> judge(check, observation).observed        # a failing check names only the conditions that failed
    'json.stuck (3) == 0'

The finding's `observed` is the failing conditions' explanations, observed values inlined; `expected`
is every condition as written; `facts` carry each condition's outcome and the probe's own facts.
"""

from __future__ import annotations

from ..model.declared import DeclaredCheck
from ..probes.declared import DeclaredObservation
from .failure import Finding


def judge(check: DeclaredCheck, observation: DeclaredObservation) -> Finding:
    outcomes = [(condition.text, condition.evaluate(observation.values)) for condition in check.conditions()]
    failing = [outcome for _, outcome in outcomes if not outcome.passed]
    shown = failing or [outcome for _, outcome in outcomes]
    facts: dict[str, object] = {
        "probe": check.kind,
        "summary": observation.summary,
        "conditions": [
            {"condition": text, "passed": outcome.passed, "explanation": outcome.explanation}
            for text, outcome in outcomes
        ],
        **observation.facts,
    }
    observed = "; ".join(outcome.explanation for outcome in shown)
    if failing and observation.facts.get("json_refused"):  # `json...` is missing because of a limit: say which
        observed += f" (the body is not read as JSON: {observation.facts['json_refused']})"
    return Finding(
        ok=not failing,
        observed=observed,
        expected="; ".join(text for text, _ in outcomes),
        meaning=f"{check.kind} probe: {observation.summary}" if failing else "",
        facts=facts,
    )
