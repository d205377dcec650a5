"""Issue 18: the condition language of declared checks (healthsuite.model.conditions).

Every operator, unit and path form; observed values inlined in explanations (exact strings); a missing
path or a value of the wrong type fails with a reason and never raises; malformed expressions name the
column, the part as written, the problem and the fix (exact); the length and nesting limits are counted,
not left to Python's recursion limit; and random text and random observations, fuzzed with hypothesis,
raise nothing but ConditionError.
"""

from __future__ import annotations

import doctest
import math
import os
import pickle
import string
import sys
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthsuite.model import conditions
from healthsuite.model.conditions import MAX_DEPTH, MAX_LENGTH, Condition, ConditionError, Outcome, parse_condition

HTTP = ("status", "headers", "json", "body", "time")
FILE = ("exists", "age", "size", "matches", "lines")

OBSERVED: dict[str, object] = {
    "status": 404,
    "headers": {"content-type": "text/html; charset=utf-8", "x-request-id": "abc123"},
    "json": {
        "status": "down", "items": [], "count": 3, "ratio": 0.25, "flag": False, "nothing": None, "ok": True,
        "data": {"items": [{"id": 7, "tags": ["a", "b"]}, {"id": 8, "tags": []}]},
        "with-dash": {"ok": True}, "with space": 1, "codes": {"200": "fine"},
        "big": list(range(100)), "version": "1.10",
    },
    "body": "<html>" + "x" * 100,
    "time": {"total": 1.52, "connect": 0.0123},
}


def outcome(text: str, observed: Mapping[str, object] = OBSERVED, roots: tuple[str, ...] = HTTP) -> Outcome:
    return parse_condition(text, roots).evaluate(observed)


def error(text: str, roots: tuple[str, ...] = HTTP) -> ConditionError:
    with pytest.raises(ConditionError) as caught:
        parse_condition(text, roots)
    return caught.value


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(conditions).failed == 0


# --- operators: (condition, passed) against OBSERVED ----------------------------------------------------
OPERATORS = [
    ("status == 404", True), ("status == 200", False), ("status != 200", True), ("status != 404", False),
    ("status < 500", True), ("status < 404", False), ("status <= 404", True), ("status <= 403", False),
    ("status > 399", True), ("status > 404", False), ("status >= 404", True), ("status >= 405", False),
    ("json.ratio == 0.25", True), ("json.count == 3.0", True), ("json.count > -3", True),
    ("json.status == 'down'", True), ('json.status == "down"', True), ("json.status != 'ok'", True),
    ("json.version < '1.9'", True),  # strings order as text, not as versions
    ("json.ok == true", True), ("json.flag == false", True), ("json.nothing == null", True),
    ("json.ok == 1", False),  # true is not 1
    ("json.items == []", True), ("json.data.items[0].tags == ['a', 'b']", True),
    ("json.data.items[0] == json.data.items[0]", True), ("json.codes == json.codes", True),
    ("body contains 'xxx'", True), ("body contains 'ok'", False),
    ("json.data.items[0].tags contains 'a'", True), ("json.data.items[0].tags contains 'c'", False),
    ("json.big contains 99", True), ("json.big contains 100", False), ("json.big contains 99.0", True),
    ("json contains 'status'", True), ("json contains 'token'", False),
    ("[200, 404] contains status", True), ("['a', 'b'] contains json.status", False),
    ("body matches /^<html>x+$/", True), ("body matches /^<HTML>/", False), ("body matches /^<HTML>/i", True),
    ("status matches /^4\\d\\d$/", True), ("status matches /^2/", False),  # a status code matches as text
    ("json.status in ['down', 'degraded']", True), ("json.status in ['ok']", False),
    ("status in [200, 404]", True), ("status in []", False), ("time.total in [1.52s, 2s]", True),
    ("json.token exists", False), ("json.nothing exists", True), ("json.data.items[1].id exists", True),
    ("status", True), ("json.items", False), ("json.flag", False), ("json.nothing", False), ("json.missing", False),
    ("json.ok and status == 404", True), ("json.ok and status == 200", False),
    ("json.flag or status == 404", True), ("json.flag or status == 200", False),
    ("not json.flag", True), ("not status == 200", True), ("not status == 404", False), ("not json.missing", True), ("not not json.ok", True),
    ("not (status == 404 and json.ok)", False), ("(status == 200 or status == 404) and json.ok", True),
    ("status == 200 or status == 404 and json.ok", True),  # `and` binds tighter than `or`
    ("(status == 200 or status == 404) and json.flag", False),
    ("len(json.items) == 0", True), ("len(json.big) == 100", True), ("len(json.status) == 4", True),
    ("len(json) > 5", True), ("len(json.items)", False), ("len(json.big)", True), ("len(json.big) > 99", True),
    ("time.total < 2s and time.connect < 20ms", True), ("time.total < 1500ms", False),
    ("0 < status", True), ("200 == status", False), ("'down' == json.status", True),
]


@pytest.mark.parametrize(("text", "passed"), OPERATORS, ids=[text for text, _ in OPERATORS])
def test_each_operator(text: str, passed: bool) -> None:
    assert outcome(text).passed is passed, outcome(text).explanation


# --- units: the literal's value in base units (seconds, bytes, percent) ---------------------------------
UNITS = [
    ("500ms", 0.5), ("100ms", 0.1), ("1s", 1), ("2.5s", 2.5), ("5 s", 5), ("2m", 120), ("1.5h", 5400), ("1d", 86400),
    ("10B", 10), ("2KB", 2000), ("3MB", 3_000_000), ("1GB", 1_000_000_000), ("1KiB", 1024), ("2MiB", 2 * 1024**2),
    ("1GiB", 1024**3), ("1.5KB", 1500), ("80%", 80), ("80 %", 80), ("12.5%", 12.5), ("-3", -3), ("2.5", 2.5),
    ("-250ms", -0.25), ("0s", 0),
]


@pytest.mark.parametrize(("literal", "value"), UNITS, ids=[literal for literal, _ in UNITS])
def test_units_convert_to_base_units(literal: str, value: float) -> None:
    condition = parse_condition(f"x == {literal}", ("x",))
    assert condition.evaluate({"x": value}).passed
    assert not condition.evaluate({"x": value + 1}).passed
    assert parse_condition(f"x < {literal}", ("x",)).evaluate({"x": value - 0.001}).passed


SHOWN_IN_UNITS = [
    ("time.total < 500ms", {"time": {"total": 1.52}}, "time.total (1.52 s) < 500ms"),
    ("time.total < 1s", {"time": {"total": 0.32}}, "time.total (320 ms) < 1s"),
    ("time.total < 10ms", {"time": {"total": 0.0123456}}, "time.total (12.346 ms) < 10ms"),
    ("time.total > 2 s", {"time": {"total": 1.5}}, "time.total (1.5 s) > 2 s"),
    ("age < 1h", {"age": 5400}, "age (1.5 h) < 1h"),
    ("age < 10m", {"age": 1800}, "age (30 m) < 10m"),
    ("age < 1d", {"age": 129600.0}, "age (1.5 d) < 1d"),
    ("size < 5MB", {"size": 7_340_032}, "size (7.34 MB) < 5MB"),
    ("size < 1MiB", {"size": 7_340_032}, "size (7 MiB) < 1MiB"),
    ("size < 1KB", {"size": 2500}, "size (2.5 KB) < 1KB"),
    ("size > 1KB", {"size": 999}, "size (999 B) > 1KB"),
    ("size < 1GB", {"size": 2_500_000_000}, "size (2.5 GB) < 1GB"),
    ("size < 10B", {"size": 12}, "size (12 B) < 10B"),
    ("size > 1KiB", {"size": 512}, "size (512 B) > 1KiB"),
    ("lines < 90%", {"lines": 97.5}, "lines (97.5%) < 90%"),
    ("1s > age", {"age": 3.25}, "1s > age (3.25 s)"),
    ("age < 1s", {"age": "soon"}, "age ('soon') < 1s (a string and a number cannot be ordered)"),
    ("age < 1s", {"age": math.inf}, "age (inf) < 1s"),
    ("age == 1s", {"age": True}, "age (true) == 1s (true/false is never equal to a number)"),
    ("age < 1s", {"age": 10**40}, "age (~1e40) < 1s"),
    ("age in [1s, 2s]", {"age": 0.5}, "age (500 ms) in [1s, 2s]"),
]


@pytest.mark.parametrize(("text", "observed", "explanation"), SHOWN_IN_UNITS, ids=[c[0] + " " + c[2] for c in SHOWN_IN_UNITS])
def test_observed_values_are_shown_in_the_unit_of_the_literal(text: str, observed: dict[str, object], explanation: str) -> None:
    assert outcome(text, observed, FILE + ("time",)).explanation == explanation


# --- paths ----------------------------------------------------------------------------------------------
PATHS = [
    ("json.data.items[0].id", 7), ("json.data.items[1].id", 8), ("json.data.items[-1].id", 8),
    ('json["with-dash"].ok', True), ("json['with-dash']['ok']", True), ('json["with space"]', 1),
    ('json["status"]', "down"), ("json.codes[200]", "fine"), ('json.codes["200"]', "fine"),
    ("json.data['items'][0]['tags'][1]", "b"), ("json . data . items [0] . id", 7),
    ("json.data.items[2].id", conditions.MISSING), ("json.data.items[-3]", conditions.MISSING),
    ("json.status.deeper", conditions.MISSING), ("json.count[0]", conditions.MISSING),
    ("json.data.items.id", conditions.MISSING), ("json[0]", conditions.MISSING),
]


@pytest.mark.parametrize(("path", "value"), PATHS, ids=[path for path, _ in PATHS])
def test_paths_with_fields_indexes_and_quoted_keys(path: str, value: object) -> None:
    if value is conditions.MISSING:
        shown = outcome(f"{path} == 1")
        assert not shown.passed and "(missing) == 1" in shown.explanation
        assert not outcome(f"{path} exists").passed
    else:
        assert outcome(f"{path} == {value!r}".replace("True", "true")).passed
        assert outcome(f"{path} exists").passed


def test_a_path_is_shown_as_written_without_spaces() -> None:
    assert outcome("json . data . items [0] . id == 1").explanation == "json.data.items[0].id (7) == 1"
    assert outcome("json['with-dash']['ok'] == false").explanation == "json['with-dash']['ok'] (true) == false"


HEADERS = [
    ('headers["content-type"] contains "text/html"', True), ('headers["Content-Type"] contains "text/html"', True),
    ("headers['X-Request-ID'] == 'abc123'", True), ("headers.server exists", False),
    ("headers contains 'Content-Type'", True), ("headers contains 'X-REQUEST-ID'", True),
    ("headers contains 'server'", False), ("len(headers) == 2", True),
]


@pytest.mark.parametrize(("text", "passed"), HEADERS, ids=[text for text, _ in HEADERS])
def test_headers_are_looked_up_case_insensitively(text: str, passed: bool) -> None:
    assert outcome(text).passed is passed


def test_headers_given_mixed_case_are_found_too_and_only_headers_ignore_case() -> None:
    assert outcome("headers['content-type'] == 'x'", {"headers": {"Content-Type": "x"}}).passed
    assert not outcome("json['Status'] == 'down'").passed  # a JSON key is exact


# --- missing paths and type mismatches: a failing test with a reason, never an exception ----------------
MISSING_CASES = [
    ("json.token == 'x'", "json.token (missing) == 'x'"), ("json.token != 'x'", "json.token (missing) != 'x'"),
    ("json.token < 5", "json.token (missing) < 5"), ("json.token contains 'x'", "json.token (missing) contains 'x'"),
    ("json.token matches /x/", "json.token (missing) matches /x/"), ("json.token in [1]", "json.token (missing) in [1]"),
    ("len(json.token) > 0", "len(json.token) (missing) > 0"), ("json.token", "json.token (missing)"),
    ("json.token exists", "json.token (missing) exists"), ("json.count == json.token", "json.count (3) == json.token (missing)"),
    ("body contains json.token", "body ('<html>" + "x" * 74 + "...') contains json.token (missing)"),
]


@pytest.mark.parametrize(("text", "explanation"), MISSING_CASES, ids=[text for text, _ in MISSING_CASES])
def test_a_missing_path_fails_every_test_and_says_missing(text: str, explanation: str) -> None:
    assert outcome(text) == Outcome(False, explanation)


def test_a_root_the_probe_did_not_observe_is_missing() -> None:
    assert outcome("status == 200", {}) == Outcome(False, "status (missing) == 200")
    assert outcome("not status == 200", {}) == Outcome(True, "not status (missing) == 200")


MISMATCHES = [
    ("status == '404'", "status (404) == '404' (a number is never equal to a string)"),
    ("status != '404'", "status (404) != '404'"),  # holds: they differ
    ("json.status < 5", "json.status ('down') < 5 (a string and a number cannot be ordered)"),
    ("json.ok > 0", "json.ok (true) > 0 (true/false and a number cannot be ordered)"),
    ("json.items < 5", "json.items ([]) < 5 (a list and a number cannot be ordered)"),
    ("json.count contains 3", "json.count (3) contains 3 (a number contains nothing)"),
    ("body contains 5", "body ('<html>" + "x" * 74 + "...') contains 5 (a string contains only strings, not a number)"),
    ("json.data matches /x/", "json.data ({'items': [{'id': 7, 'tags': ['a', 'b']}, {'id': 8, 'tags': []}]}) matches /x/ "
     "(a mapping is not text)"),
    ("json.ok matches /true/", "json.ok (true) matches /true/ (true/false is not text)"),
    ("len(json.count) > 0", "len(json.count) (3 has no length) > 0"),
    ("len(json.nothing) == 0", "len(json.nothing) (null has no length) == 0"),
    ("json.nothing == 0", "json.nothing (null) == 0"),
    ("json.items == {}".replace("{}", "[1]"), "json.items ([]) == [1]"),
]


@pytest.mark.parametrize(("text", "explanation"), MISMATCHES, ids=[text for text, _ in MISMATCHES])
def test_incompatible_types_fail_with_a_reason(text: str, explanation: str) -> None:
    result = outcome(text)
    assert result.explanation == explanation
    assert result.passed is (text == "status != '404'")


# --- explanations: the typical failures, exact --------------------------------------------------------
EXPLANATIONS = [
    ("status == 200", False, "status (404) == 200"),
    ("time.total < 500ms", False, "time.total (1.52 s) < 500ms"),
    ("json.status == 'ok'", False, "json.status ('down') == 'ok'"),
    ("len(json.items) > 0", False, "len(json.items) (0) > 0"),
    ("body contains 'ok'", False, "body ('<html>" + "x" * 74 + "...') contains 'ok'"),
    ("status == 200 and json.status == 'ok'", False, "status (404) == 200 and json.status ('down') == 'ok'"),
    ("status == 404 and json.status == 'ok'", False, "json.status ('down') == 'ok'"),  # only the failing part
    ("status == 200 or json.status == 'ok'", False, "status (404) == 200 or json.status ('down') == 'ok'"),
    ("status == 200 or json.status == 'down'", True, "json.status ('down') == 'down'"),  # the part that held
    ("status == 404 and json.status == 'down'", True, "status (404) == 404 and json.status ('down') == 'down'"),
    ("time.connect < 10ms", False, "time.connect (12.3 ms) < 10ms"),
    ("json.token exists", False, "json.token (missing) exists"),
    ("json.status exists", True, "json.status exists"),  # the value is not shown: it may be a token
    ("json.status in ['ok', 'degraded']", False, "json.status ('down') in ['ok', 'degraded']"),
    ('headers["Content-Type"] contains "json"', False,
     "headers[\"Content-Type\"] ('text/html; charset=utf-8') contains \"json\""),
    ("body matches /ok/i", False, "body ('<html>" + "x" * 74 + "...') matches /ok/i"),
    ("not json.ok", False, "not json.ok (true)"),
    ("not (status == 404 and json.ok)", False, "not (status (404) == 404 and json.ok (true))"),
    ("(status == 200 or status == 204) and json.status == 'ok'", False,
     "(status (404) == 200 or status (404) == 204) and json.status ('down') == 'ok'"),
    ("json.data.items[0].tags contains 'c'", False, "json.data.items[0].tags (['a', 'b']) contains 'c'"),
    ("json.big == []", False, "json.big ([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 2...) == []"),
    ("json.nothing", False, "json.nothing (null)"),
    ("json.ratio > 0.5", False, "json.ratio (0.25) > 0.5"),
    ("200 == status", False, "200 == status (404)"),
]


@pytest.mark.parametrize(("text", "passed", "explanation"), EXPLANATIONS, ids=[c[0] for c in EXPLANATIONS])
def test_explanations_inline_the_observed_values(text: str, passed: bool, explanation: str) -> None:
    assert outcome(text) == Outcome(passed, explanation)


def test_strings_are_quoted_escaped_and_cut_to_80_characters() -> None:
    assert outcome("body == 'x'", {"body": "it's\nok\t\x00"}).explanation == "body ('it\\'s\\nok\\t\\x00') == 'x'"
    shown = outcome("body == 'x'", {"body": "é" * 80}).explanation
    assert shown == "body ('" + "é" * 80 + "') == 'x'"  # 80 is not cut
    shown = outcome("body == 'x'", {"body": "a" * 10_000_000}).explanation
    assert shown == "body ('" + "a" * 80 + "...') == 'x'"


def test_other_observed_values_are_shown_safely() -> None:
    assert outcome("body == 'x'", {"body": b"raw"}).explanation == "body (b'raw') == 'x' (bytes is never equal to a string)"
    assert outcome("body == 'x'", {"body": object()}).explanation == (
        "body (<object>) == 'x' (a value of type object is never equal to a string)")
    assert outcome("body", {"body": (1, None)}) == Outcome(True, "body ([1, null])")
    assert outcome("body", {"body": {1: "a", None: [True]}}) == Outcome(True, "body ({1: 'a', null: [true]})")
    assert outcome("body == 1", {"body": float("nan")}).explanation == "body (nan) == 1"
    assert outcome("body == 1", {"body": -(10**5000)}).explanation == "body (-~1e5000) == 1"
    deep: list[object] = []
    for _ in range(100_000):  # far deeper than Python's recursion limit: shown to 80 characters, no deeper
        deep = [deep]
    assert outcome("body", {"body": deep}) == Outcome(True, "body (" + "[" * 80 + "...)")


def test_deep_structures_compare_without_recursion() -> None:
    def nested(depth: int, leaf: object) -> object:
        value: object = leaf
        for _ in range(depth):
            value = {"a": [value]}
        return value

    observed = {"body": nested(50_000, 1), "json": nested(50_000, 1)}
    assert outcome("body == json", observed).passed
    assert not outcome("body == json", {**observed, "json": nested(50_000, 2)}).passed


def test_a_foreign_mapping_that_raises_is_an_outcome_not_an_exception() -> None:
    class Hostile(Mapping[str, object]):
        def __getitem__(self, key: str) -> object:
            raise RuntimeError("no")

        def __iter__(self) -> Iterator[str]:
            raise RuntimeError("no")

        def __len__(self) -> int:
            return 1

        def __contains__(self, key: object) -> bool:
            raise RuntimeError("no")

    assert outcome("status == 200", Hostile()) == Outcome(False, "status == 200 (could not be evaluated: RuntimeError)")
    assert outcome("json.a == 1", {"json": Hostile()}) == Outcome(False, "json.a == 1 (could not be evaluated: RuntimeError)")


# --- names whose words are also operators: the file probe's `exists` and `matches` ---------------------
KEYWORD_ROOTS = [
    ("exists", True, "exists (true)"), ("not exists", False, "not exists (true)"),
    ("matches > 0", True, "matches (3) > 0"), ("exists and matches == 0", False, "matches (3) == 0"),
    ("matches exists", True, "matches exists"), ("age < 10m and size > 1KB", True, "age (2 m) < 10m and size (2 KB) > 1KB"),
]


@pytest.mark.parametrize(("text", "passed", "explanation"), KEYWORD_ROOTS, ids=[c[0] for c in KEYWORD_ROOTS])
def test_roots_named_like_operators_are_names_where_a_name_goes(text: str, passed: bool, explanation: str) -> None:
    observed = {"exists": True, "matches": 3, "age": 120, "size": 2000, "lines": 10}
    assert outcome(text, observed, FILE) == Outcome(passed, explanation)


def test_roots_lists_the_names_a_condition_reads() -> None:
    assert parse_condition("status == 200 and len(json.items) > 0", HTTP).roots() == frozenset({"status", "json"})
    assert parse_condition("not (body contains 'x' or time.total < 1s)", HTTP).roots() == frozenset({"body", "time"})
    assert parse_condition("[200] contains status", HTTP).roots() == frozenset({"status"})
    assert isinstance(parse_condition("status", HTTP).roots(), frozenset)


def test_conditions_are_values_and_survive_pickling() -> None:
    condition = parse_condition("body matches /ok/i and status in [200, 204]", HTTP)
    assert condition == parse_condition("body matches /ok/i and status in [200, 204]", HTTP)
    assert condition.text == "body matches /ok/i and status in [200, 204]"
    assert repr(condition) == "Condition(text='body matches /ok/i and status in [200, 204]')"
    copy = pickle.loads(pickle.dumps(condition))
    assert isinstance(copy, Condition)
    assert copy.evaluate({"body": "OK", "status": 204}) == Outcome(True, "body ('OK') matches /ok/i and status (204) in [200, 204]")
    problem = pickle.loads(pickle.dumps(error("stauts == 200")))
    assert (problem.column, problem.part, problem.fix) == (1, "stauts", "did you mean `status`? names here: status, headers, json, body, time")


def test_messages_are_deterministic_whatever_collection_the_roots_come_in() -> None:
    assert error("x == 1", ["b", "a"]).fix == "names here: b, a"  # a sequence keeps its order
    assert error("x == 1", {"b", "a", "c"}).fix == "names here: a, b, c"  # any other collection is sorted
    assert error("x == 1", frozenset()).fix == "names here: none"
    assert error("x == 1", "status").fix == "names here: status"  # one name given as a string
    assert error("", ("value",)).fix == "write a test, e.g. `value == 200`"  # examples use the probe's own names
    assert error("/ok/ == value", ("value",)).fix == "write `value matches /ok/`"


def test_the_error_is_a_value_error_whose_text_is_column_part_and_problem() -> None:
    problem = error("time.total < 5 sec")
    assert isinstance(problem, ValueError)
    assert str(problem) == "column 16 (`sec`): unknown unit `sec`"
    assert (problem.text, problem.column, problem.part, problem.problem, problem.fix) == (
        "time.total < 5 sec", 16, "sec", "unknown unit `sec`", "use ms, s, m, h, d, e.g. `5s`")


# --- malformed: (text, column, part, problem, fix), exact ----------------------------------------------
LONG = "status == 200 and " + " and ".join(f"json.field{i} == {i}" for i in range(40))
UNEXPECTED = ("names are letters, digits and `_` (a key with other characters is quoted: headers[\"content-type\"]); "
              "text is quoted: 'like this'")
NOT_IN_LIST = "a list written here holds numbers, strings, true, false or null"
LOOK_IN = "to look in what was observed, use `contains`, e.g. `json.tags contains 'x'`"
NESTED = "flatten it: join tests with `and`/`or` instead of nesting parentheses and `not`"
MALFORMED = [
    ("", 1, "", "the condition is empty", "write a test, e.g. `status == 200`"),
    ("   ", 1, "", "the condition is empty", "write a test, e.g. `status == 200`"),
    ("stauts == 200", 1, "stauts", "unknown name `stauts`",
     "did you mean `status`? names here: status, headers, json, body, time"),
    ("jsn.status == 'ok'", 1, "jsn", "unknown name `jsn`",
     "did you mean `json`? names here: status, headers, json, body, time"),
    ("foo == 1", 1, "foo", "unknown name `foo`", "names here: status, headers, json, body, time"),
    ("time.total < 5 sec", 16, "sec", "unknown unit `sec`", "use ms, s, m, h, d, e.g. `5s`"),
    ("time.total < 5secs", 15, "secs", "unknown unit `secs`", "use ms, s, m, h, d, e.g. `5s`"),
    ("time.total < 2 minutes", 16, "minutes", "unknown unit `minutes`", "use ms, s, m, h, d, e.g. `2m`"),
    ("time.total < 5S", 15, "S", "unknown unit `S`", "use ms, s, m, h, d, e.g. `5s`"),
    ("len(body) > 5 kb", 15, "kb", "unknown unit `kb`", "use B, KB, MB, GB, KiB, MiB, GiB, e.g. `5KB`"),
    ("len(body) > 1TB", 14, "TB", "unknown unit `TB`", "use B, KB, MB, GB, KiB, MiB, GiB"),
    ("status == 5x", 12, "x", "unknown unit `x`",
     "use ms, s, m, h, d (times), B, KB, MB, GB, KiB, MiB, GiB (sizes) or %"),
    ("(status == 200", 1, "(", "`(` is never closed", "add `)` where the group ends"),
    ("((status == 200) or body contains 'x'", 1, "(", "`(` is never closed", "add `)` where the group ends"),
    ("status == 200)", 14, ")", "`)` has no matching `(`", "remove it, or add the `(` where the group starts"),
    ("()", 1, "()", "empty parentheses", "put a test inside, or remove them"),
    ("status ==", 8, "==", "`==` has nothing on its right", "put a name or a value after it, e.g. `200`"),
    ("body contains", 6, "contains", "`contains` has nothing on its right", "put a name or a value after it, e.g. `200`"),
    ("status == 200 and", 15, "and", "`and` has nothing on its right", "put a test after it, or remove it"),
    ("not", 1, "not", "`not` has nothing on its right", "put a test after it, or remove it"),
    ("== 200", 1, "==", "`==` has nothing on its left", "put a name before it, e.g. `status == 200`"),
    ("json.a == 1 or or json.b", 16, "or", "`or` has nothing on its left", "put a test before it, or remove it"),
    ("200 == 200", 1, "200 == 200", "compares two values written here, so it never depends on what was observed",
     "put a name on one side, e.g. `status == 200`"),
    ("'a' in ['a', 'b']", 1, "'a' in ['a', 'b']",
     "compares two values written here, so it never depends on what was observed",
     "put a name on one side, e.g. `status in ['a', 'b']`"),
    ("200", 1, "200", "a value alone never depends on what was observed", "compare a name with it, e.g. `status == 200`"),
    ("status == 200 foo", 15, "foo", "unexpected `foo` after a complete test", "join tests with `and` or `or`"),
    ("status == 200 AND body", 15, "AND", "unexpected `AND` after a complete test", "write `and` in lower case"),
    ("100 < status < 500", 14, "<", "comparisons do not chain", "join two tests with `and`, e.g. `x > 1 and x < 5`"),
    ("body matches /(/", 14, "/(/", "the regex does not compile: missing ), unterminated subpattern at position 0",
     "fix the regex (Python `re` syntax); escape a special character with `\\`, e.g. /a\\(b/"),
    ("body matches /a{99999999999}/", 14, "/a{99999999999}/", "the regex does not compile: the repetition number is too large",
     "fix the regex (Python `re` syntax); escape a special character with `\\`, e.g. /a\\(b/"),
    ("body matches /ok/g", 18, "g", "unknown regex flag `g`", "the only flag is `i` (ignore case): /ok/i"),
    ("body matches /ok", 14, "/ok", "the regex is never closed", "end it with `/` (a `/` inside is written `\\/`)"),
    ("body matches //", 14, "//", "the regex is empty, so it matches everything", "write what must be found, e.g. /ok/"),
    ("body == /ok/", 9, "/ok/", "a regex only follows `matches`", "write `body matches /ok/`"),
    ("body matches 'ok'", 14, "'ok'", "`matches` takes a regex", "write it as `/ok/`"),
    ("body contains 'ok", 15, "'ok", "the string is never closed", "end it with a closing `'`"),
    (LONG, 501, "and json.field22 == ", "the condition is 913 characters long, over the limit of 500",
     "split it into several shorter conditions (a list: each must hold)"),
    ("(" * 21 + "status" + ")" * 21, 21, "(", "nested over 20 levels", NESTED),
    ("not " * 21 + "status", 81, "not", "nested over 20 levels", NESTED),
    ("headers.content-type == 'x'", 9, "content-type", "`content-type` has a `-`, which a bare field cannot have",
     'quote it: `headers["content-type"]`'),
    ("headers.x-request-id exists", 9, "x-request-id", "`x-request-id` has a `-`, which a bare field cannot have",
     'quote it: `headers["x-request-id"]`'),
    ("status = 200", 8, "=", "`=` alone is not an operator", "compare with `==`"),
    ("status == 200 && body contains 'x'", 15, "&&", "`&&` is not an operator", "join tests with `and`"),
    ("status == 200 || json.ok", 15, "||", "`||` is not an operator", "join tests with `or`"),
    ("!json.ok", 1, "!", "`!` is not an operator", "negate a test with `not`, or compare with `!=`"),
    ("status <> 200", 8, "<>", "`<>` is not an operator", "write `!=`"),
    ("json.items.0 == 1", 11, ".0", "a field name follows `.`", "for an index write `[0]`"),
    ("json.a. == 1", 7, ".", "`.` has no field name after it",
     'write a field, e.g. `json.status`, or a quoted key: `json["a-b"]`'),
    ("json[] == 1", 5, "[]", "empty index", 'write `[0]` for the first item or `["key"]` for a key'),
    ("json[x] == 1", 6, "x", "an index is a whole number or a quoted key", 'write `[0]` or `["key"]`'),
    ("json[1.5] == 1", 6, "1.5", "an index is a whole number or a quoted key", 'write `[0]` or `["key"]`'),
    ("json[0 == 1", 5, "[", "`[` is never closed", "write `[0]`"),
    ("size(body) > 1", 1, "size", "unknown function `size`", "the only function is len(name), e.g. `len(json.items)`"),
    ("len body > 1", 1, "len", "unknown name `len`",
     "write `len(name)`, e.g. `len(json.items) > 0`; names here: status, headers, json, body, time"),
    ("len(json.items", 4, "(", "`(` of len( is never closed", "write `len(json.items)`"),
    ("len() > 0", 1, "len()", "len() has nothing to measure", "write `len(json.items)`"),
    ("len(5) > 0", 5, "5", "len() takes a name", "e.g. `len(json.items) > 0`"),
    ("len(body) exists", 11, "exists", "`exists` follows a name", "e.g. `json.token exists`"),
    ("status == True", 11, "True", "unknown name `True`", "write `true` (lower case)"),
    ("json.x == None", 11, "None", "unknown name `None`", "write `null` (lower case)"),
    ("status in json.codes", 11, "json.codes", "`in` takes a list written here, e.g. `in [200, 204]`",
     "for what was observed, write `json.codes contains status`"),
    ("status in 200", 11, "200", "`in` takes a list written here, e.g. `in [200, 204]`",
     "write the values in brackets: `in [200]`"),
    ("status not in [200, 204]", 8, "not", "`not` goes before the test, not before `in`", "write `not status in ...`"),
    ("status == not 200", 11, "not", "`not` negates a test, it is not a value", "write `not (x == 1)`, or `x != 1`"),
    ("status in [200 204]", 16, "204", "expected `,` or `]` in the list, found `204`", "separate the items with `,`"),
    ("status in [json.a]", 12, "json", NOT_IN_LIST, LOOK_IN),
    ("status in [200, [204]]", 17, "[", NOT_IN_LIST, LOOK_IN),
    ("status in [200", 11, "[", "`[` is never closed", "end the list with `]`"),
    ("status == (200)", 11, "(", "parentheses group tests, not values", "remove them, e.g. `status == 200`"),
    ("status == -x", 11, "-", "unexpected `-`", "a negative number is written `-3`"),
    ("status == @", 11, "@", "unexpected character `@`", UNEXPECTED),
    ("status == 200 # ok", 15, "#", "unexpected character `#`", UNEXPECTED),
    ("status == 200\nand body ~ 'x'", 24, "~", "unexpected character `~`", UNEXPECTED),
]


@pytest.mark.parametrize(("text", "column", "part", "problem", "fix"), MALFORMED, ids=[c[0][:60] for c in MALFORMED])
def test_malformed_conditions_name_column_part_problem_and_fix(text: str, column: int, part: str, problem: str, fix: str) -> None:
    found = error(text)
    assert (found.text, found.column, found.part, found.problem, found.fix) == (text, column, part, problem, fix)
    assert str(found) == f"column {column} (`{part}`): {problem}"
    assert text[column - 1:].startswith(part)  # the part is as written, where the column says


def test_the_table_covers_at_least_25_cases() -> None:
    assert len(MALFORMED) >= 25


def test_the_errors_documented_in_conditions_md_are_what_the_parser_says() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "CONDITIONS.md").read_text()
    table = doc.split("## Errors", 1)[1].split("\n## ", 1)[0]
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) >= 10
    for condition, column, part, problem, _ in rows[1:]:
        text = "" if condition == "(empty)" else condition.strip("`")
        found = error(text)
        assert (str(found.column), found.part, found.problem) == (column, part.strip("`"), problem), text


STRINGS = [
    ("body == 'it\\'s'", "it's"), ('body == "a\\"b"', 'a"b'), ("body == 'tab\\there'", "tab\there"),
    ("body == 'back\\\\slash'", "back\\slash"), ("body == 'keep \\d'", "keep \\d"), ("body == ''", ""),
    ("body matches /a\\/b/", "a/b"), ("body matches /^\\d+$/", "123"), ("body contains '\\n'", "x\ny"),
    ("body == 'é ü'", "é ü"),
]


@pytest.mark.parametrize(("text", "body"), STRINGS, ids=[text for text, _ in STRINGS])
def test_string_and_regex_escapes(text: str, body: str) -> None:
    assert outcome(text, {"body": body}).passed


# --- limits: counted, never left to the recursion limit ------------------------------------------------
def test_the_length_limit_is_500_characters() -> None:
    assert MAX_LENGTH == 500
    at_limit = "status == 200 or " * 28 + "status == 2000"
    at_limit += " " * (MAX_LENGTH - len(at_limit))
    assert len(at_limit) == MAX_LENGTH
    assert parse_condition(at_limit, HTTP).evaluate({"status": 200}).passed
    assert error(at_limit + " ").column == MAX_LENGTH + 1


def test_the_nesting_limit_is_20_levels_of_parentheses_and_not() -> None:
    assert MAX_DEPTH == 20
    assert outcome("(" * 20 + "status == 404" + ")" * 20).passed
    assert outcome("not " * 20 + "json.ok").passed
    assert outcome("(not " * 10 + "json.ok" + ")" * 10).passed
    assert error("(not " * 10 + "(json.ok" + ")" * 11).column == 51
    assert error("(" * 21 + "status" + ")" * 21).column == 21
    # siblings are not nested: 25 groups side by side parse
    assert outcome(" and ".join(["(status == 404)"] * 25)).passed


def test_parsing_the_deepest_and_longest_conditions_needs_few_stack_frames() -> None:
    """The parser never relies on RecursionError: with only 150 frames to spare it parses what the limits allow."""
    deepest = ["(" * 20 + "status == 1" + ")" * 20, "not " * 20 + "status", "(not " * 10 + "status" + ")" * 10,
               "(" * 200 + "status" + ")" * 200, "not " * 120 + "status", "[" * 400 + "]" * 400,
               " and ".join(["status"] * 60), "status == 1 or " * 33 + "status"]
    frames = len(traceback.extract_stack())
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(frames + 150)
    try:
        for text in deepest:
            try:
                parse_condition(text, HTTP).evaluate({"status": 1})
            except ConditionError:
                pass
    finally:
        sys.setrecursionlimit(limit)


# --- fuzzing: random text raises only ConditionError; evaluation never raises -------------------------
# HEALTHSUITE_FUZZ_EXAMPLES=5000 for a longer hunt (as tests/environment/test_loader_fuzz.py); CI runs 300 of each
FUZZ = settings(max_examples=int(os.environ.get("HEALTHSUITE_FUZZ_EXAMPLES", "300")), deadline=None)
TOKENS = ["status", "json", "body", "headers", "time", "exists", "matches", ".", "a", "items", "[", "]", "0", "-1", "2.5",
          "'x'", '"y"', "'", '"', "(", ")", "==", "!=", "<", "<=", ">", ">=", "=", "!", "and", "or", "not", "contains",
          "in", "len", "5ms", "2 s", "80%", "1KiB", "sec", "[1, 2]", "/a+/i", "/(/", "/", "\\", "true", "false", "null",
          "-", "%", ",", "[\"k-1\"]", "  ", "\n", "@", "é", "\x00", "len(", "AND", "None"]
TEXT = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=string.printable, max_size=60),
    st.lists(st.sampled_from(TOKENS), max_size=16).map(" ".join),
    st.lists(st.sampled_from(TOKENS), max_size=16).map("".join),
    st.text(alphabet="(not )", min_size=400, max_size=600),
)


@FUZZ
@given(TEXT)
def test_random_text_raises_only_a_condition_error_naming_where(text: str) -> None:
    try:
        condition = parse_condition(text, HTTP + FILE)
    except ConditionError as exc:
        assert 1 <= exc.column <= len(text) + 1
        assert text[exc.column - 1:].startswith(exc.part)
        assert str(exc) == f"column {exc.column} (`{exc.part}`): {exc.problem}"
        assert exc.problem and exc.fix
    else:
        assert condition.roots() <= set(HTTP + FILE)
        assert isinstance(condition.evaluate({}), Outcome)


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40), st.floats(allow_nan=True),
    st.text(max_size=120), st.binary(max_size=20), st.sampled_from([0, 1, 200, 404, "ok", "down", ""]), st.just(5000).map(lambda digits: 10**digits),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner)
    | st.dictionaries(st.sampled_from(["status", "items", "id", "ok", "Content-Type", "a", "0"]) | st.text(max_size=5),
                      inner, max_size=5),
    max_leaves=30,
)
WELL_FORMED = [
    "status == 200", "status != 404 and status < 500", "time.total < 500ms", "json.status == 'ok'",
    "len(json.items) > 0", "body contains 'ok'", "json.items contains 1", "json contains 'a'",
    "headers['content-type'] matches /json/i", "status matches /^2/", "json.status in ['ok', 1, null, true]",
    "json.token exists", "not json.ok", "json.items[0].id >= json.items[-1].id", "body == json",
    "json.a.b.c[2]['d'] <= 1KiB", "(status == 200 or body) and not len(headers) == 0", "json == [1, 'a']",
    "exists and matches > 0 and age < 1h and size < 5MB and lines > 80%", "body != null", "len(body)",
]


@FUZZ
@given(st.sampled_from(WELL_FORMED), st.dictionaries(st.sampled_from(HTTP + FILE), VALUES, max_size=6))
def test_evaluation_never_raises_whatever_was_observed(text: str, observed: dict[str, object]) -> None:
    result = parse_condition(text, HTTP + FILE).evaluate(observed)
    assert isinstance(result.passed, bool) and isinstance(result.explanation, str)
    assert "could not be evaluated" not in result.explanation  # JSON-like values never need the last resort
    assert result == parse_condition(text, HTTP + FILE).evaluate(observed)  # deterministic
