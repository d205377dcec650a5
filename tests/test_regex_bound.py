"""A regex a person wrote can never hang a run: searched in a target's answer with a time bound
(healthsuite.model.regexes), a backtracking pattern fails its condition saying why, and a sane
pattern still matches. Both languages that take a regex: declared conditions and AV2's body."""

from __future__ import annotations

from healthsuite.assessments import check_body
from healthsuite.model.conditions import parse_condition
from healthsuite.model.environment import BodyCondition
from healthsuite.model.regexes import SEARCH_TIMEOUT_S, RegexTooSlow, bounded_search
from healthsuite.probes.http import HttpObservation

HOSTILE = "a" * 5000 + "!"  # (a+)+$ tries 2^5000 ways to split it before it gives up


def test_a_backtracking_pattern_is_stopped_and_named() -> None:
    try:
        bounded_search(r"(a+)+$", HOSTILE)
    except RegexTooSlow as slow:
        assert f"took over {SEARCH_TIMEOUT_S:g} s on 5,001 characters" in str(slow)
        assert "(a+)+" in str(slow)
    else:
        raise AssertionError("the search was not stopped")


def test_sane_patterns_match_as_re_does() -> None:
    assert bounded_search(r"^a+!$", HOSTILE)
    assert not bounded_search(r"^b", HOSTILE)
    outcome = parse_condition("body matches /ok/i", ["body"]).evaluate({"body": "all OK"})
    assert outcome.passed


def test_a_declared_condition_with_a_backtracking_regex_fails_saying_so() -> None:
    outcome = parse_condition("body matches /(a+)+$/", ["body"]).evaluate({"body": HOSTILE})
    assert not outcome.passed
    assert "took over" in outcome.explanation and "backtracks" in outcome.explanation


def test_a_health_body_condition_with_a_backtracking_regex_fails_saying_so() -> None:
    answer = HttpObservation(method="GET", url="https://app.example.com/health", status=200, body=HOSTILE.encode())
    held, shown = check_body(BodyCondition(path=None, matches=r"(a+)+$"), answer)
    assert not held and "took over" in shown
    assert check_body(BodyCondition(path=None, matches=r"a!$"), answer)[0]
