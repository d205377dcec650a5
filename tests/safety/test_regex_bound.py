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


# --- real runs: a hostile pattern is refused at load, a backtracking one fails its check in time ---------

import json  # noqa: E402 - the real runs below need these, the unit tests above do not
import subprocess  # noqa: E402
import sys  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from healthsuite.model.regexes import MAX_REPEAT, MAX_UNROLLED, PatternRefused, compile_pattern  # noqa: E402
from tests.conftest import CHECKS, PROJECT  # noqa: E402

RUN_TIMEOUT_S = 45  # a run that a pattern could hang is killed here, and the test fails


def _run(env: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    reports = env.parent / f"reports-{env.stem}"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), f"--env={env}", f"--reports-dir={reports}",
         "-p", "no:cacheprovider", "-p", "no:randomly", "-q", *args],
        cwd=PROJECT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )
    latest = reports / "latest.json"
    return done, json.loads(latest.read_text()) if latest.exists() else {"checks": []}


HOSTILE_PATTERNS = ["x{4294967294}", "(?:x{10000000})", "(x{1000}){1000}", "a{2,5000}b", "(?:(?:a{100}){100}){100}"]
PLACES = {  # where a file gives a regex: the key path the refusal names, and the file around it
    "health body": ("health[0].body[0]", """
health:
  - name: api
    url: http://127.0.0.1:9/health
    body:
      - {{path: status, matches: "{pattern}"}}
"""),
    "declared condition": ("declared_checks[0].expect", """
declared_checks:
  - name: page
    diagnosis: AV1
    http: {{url: "http://127.0.0.1:9/"}}
    expect: body matches /{pattern}/
"""),
    "log regex": ("logs[0]", """
logs:
  - {{name: app, path: app.log, format: regex, regex: '^(?P<ts>\\S+) (?P<message>{pattern})$'}}
"""),
}


@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize("pattern", HOSTILE_PATTERNS)
def test_a_pattern_too_large_to_search_is_refused_at_load(tmp_path: Path, place: str, pattern: str) -> None:
    key, block = PLACES[place]
    env = tmp_path / "hostile.yaml"
    env.write_text("name: hostile\nkind: test\n" + block.format(pattern=pattern))
    done, _ = _run(env, "--collect-only")
    output = done.stdout + done.stderr
    assert done.returncode == 4, output
    assert "Traceback" not in output, output
    assert str(env) in output and key in output, output
    line = next(n for n, text in enumerate(env.read_text().splitlines(), 1) if pattern in text)
    assert f"line {line}:" in output, output
    assert f"at most {MAX_REPEAT:,}" in output or f"over {MAX_UNROLLED:,}" in output, output
    assert "fix:" in output, output


def test_patterns_are_compiled_and_bounded_when_they_load() -> None:
    for pattern in HOSTILE_PATTERNS:
        with pytest.raises(PatternRefused):
            compile_pattern(pattern)
    with pytest.raises(PatternRefused, match="characters long"):
        compile_pattern("a" * 5000)
    assert compile_pattern("x{1000}").search("x" * 1000)
    assert compile_pattern(r"(a+)+$")  # backtracks, but is bounded by the search's time limit
    assert compile_pattern(r"ok", ignore_case=True).flags & 2


CATASTROPHIC_LINE = "a" * 34 + "!"
# (a+)+$ on it, the issue's case, backtracks in `re` for hours but is answered at once by the bounded search
# (the `regex` module sees through it); (a|aa)+$ backtracks in both
BACKTRACKING = "(a|aa)+$"


def _lines_env(tmp_path: Path, pattern: str) -> Path:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    (tmp_path / "plain.log").write_text("".join(f"{CATASTROPHIC_LINE}\n" for _ in range(50)))
    (tmp_path / "app.log").write_text("".join(
        json.dumps({"ts": now, "level": "info", "msg": CATASTROPHIC_LINE}) + "\n" for _ in range(50)))
    (tmp_path / "worker.log").write_text("".join(f"{now} {CATASTROPHIC_LINE}\n" for _ in range(50)))
    env = tmp_path / "lines.yaml"
    env.write_text(f"""\
name: lines
kind: test
logs:
  - {{name: app, path: app.log, format: json, timestamp_field: ts, message_field: msg}}
  - {{name: worker, path: worker.log, format: regex, regex: '^(?P<ts>\\S+) (?P<message>(?:{pattern[:-1]}))$'}}
declared_checks:
  - {{name: plain-file, diagnosis: LOG1, file: {{path: plain.log, pattern: '{pattern}'}}, expect: matches == 0}}
  - {{name: log-file, diagnosis: LOG1, file: {{log: app, pattern: '{pattern}'}}, expect: matches == 0}}
""")
    return env


def test_a_backtracking_pattern_fails_each_check_that_searches_lines_within_the_run(tmp_path: Path) -> None:
    done, report = _run(_lines_env(tmp_path, BACKTRACKING), "--diagnosis", "LOG1,LOG2")
    output = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in output, output
    checks: list[dict[str, object]] = report["checks"]  # type: ignore[assignment]
    assert {r["target"] for r in checks} == {"plain-file", "log-file", "app", "worker"}, checks
    searched = [r for r in checks if r["target"] != "app"]
    assert len(searched) == 4, checks  # the two declared checks, LOG1 and LOG2 of the worker log
    for record in searched:
        assert record["outcome"] == "failed", record
        assert "ran out of time" in str(record["observed"]), record


def test_the_issues_pattern_is_answered_by_the_bounded_search(tmp_path: Path) -> None:
    done, report = _run(_lines_env(tmp_path, "(a+)+$"), "--diagnosis", "LOG1,LOG2")
    output = done.stdout + done.stderr
    assert "Traceback" not in output and "ran out of time" not in output, output
    checks = {(r["diagnosis"], r["target"]): r for r in report["checks"]}  # type: ignore[attr-defined]
    assert len(checks) == 6, checks
    for target in ("plain-file", "log-file", "app"):  # no line has a run of a's at its end
        assert checks["LOG1", target]["outcome"] == "passed", checks["LOG1", target]
    assert "none of the 50 lines" in checks["LOG1", "worker"]["observed"]  # nor is in the worker's format


def test_a_file_probes_pattern_too_large_to_search_is_refused_at_load(tmp_path: Path) -> None:
    """A declared `file:` probe's pattern is compiled and bounded when the file loads, like every other."""
    (tmp_path / "plain.log").write_text("x\n" * 10)
    env = tmp_path / "file-pattern.yaml"
    env.write_text("""\
name: file-pattern
kind: test
declared_checks:
  - {name: plain-file, diagnosis: LOG1, file: {path: plain.log, pattern: 'x{4294967294}'}, expect: matches == 0}
""")
    done, _ = _run(env, "--diagnosis", "LOG1")
    output = done.stdout + done.stderr
    assert "Traceback" not in output and "MemoryError" not in output, output
    assert done.returncode == 4, output
    assert "declared_checks[0].file.pattern" in output and "at most 1,000" in output and "line 4" in output, output
