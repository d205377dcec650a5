"""Notices across runs: reminders at a severity's cadence and consequences held while their cause fails.

Real runs of `pytest --notify` against the demo stack (PostgreSQL really stopped, a table really renamed)
posting to a loopback webhook receiver; only the clock is simulated: each run's wall clock
(HEALTHSUITE_NOW, runner.clock), which is the time its notice is judged by (outputs.notices.notify, `now`:
the run's end). Alone, the judgement takes that `now` directly."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from healthsuite.catalogue.durations import DurationError, duration_text, parse_duration
from healthsuite.demo.stack import DemoStack
from healthsuite.environment.loader import load_environment
from healthsuite.environment.problems import EnvironmentFileError
from healthsuite.outputs.announcement import announcement
from healthsuite.outputs.notice_state import Held, NoticeState, Told, read_state, state_path
from healthsuite.outputs.notices import notify
from healthsuite.outputs.records import CheckRecord, RecordBook, SpooledRecord
from healthsuite.outputs.result import RunEnvironment, RunResult
from healthsuite.runner.clock import NOW_VARIABLE
from tests.conftest import CHECKS, PROJECT
from tests.webhooks import Receiver

T0 = datetime(2026, 12, 7, 21, 0, tzinfo=UTC)


@pytest.fixture
def receiver() -> Any:
    hook = Receiver()
    yield hook
    hook.close()


def _demo_run(stack: DemoStack, env: Path, reports: Path, at: datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`pytest --notify` against the demo in a process of its own, its wall clock set to `at`
    (HEALTHSUITE_NOW, runner.clock: the one time a notice is judged by); the report's notices section
    and its failing checks."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), f"--env={env}", f"--reports-dir={reports}",
         "-p", "no:cacheprovider", "--notify"],
        cwd=PROJECT, capture_output=True, text=True, timeout=300,
        env={**os.environ, **stack.environ(), NOW_VARIABLE: at.isoformat()})
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]  # passed, or a check failed
    report = json.loads((reports / "latest.json").read_text())
    failing = [{**r, "explained_by": r.get("explained_by", "")} for r in report["checks"]
               if r["outcome"] in ("failed", "error", "warned")]
    return report["notices"], failing


def _texts(receiver: Receiver, start: int) -> list[dict[str, Any]]:
    return [p["body"] for p in receiver.posts[start:]]


def test_a_stopped_database_is_told_once_its_consequences_held_and_the_one_outliving_it_announced_then_reminded(
    fresh_demo: DemoStack, receiver: Receiver, tmp_path: Path
) -> None:
    stack = fresh_demo  # its own: the exact failures of a stopped database, whatever other tests left behind
    demo = (PROJECT / "environments" / "demo.yaml").read_text()
    env_path = tmp_path / "demo.yaml"
    env_path.write_text(f"{demo}\nnotify: [{{name: oncall, url: \"{receiver.url}/hook\", format: json}}]\n")
    reports = tmp_path / "reports"
    stack.break_(["DB9", "DB1"])  # a table renamed, then the server stopped: DB9 is one of DB1's consequences

    def run(at: datetime) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        notices, failing = _demo_run(stack, env_path, reports, at)
        return failing, notices

    first, notices = run(T0)
    (cause,) = [r["id"] for r in first if r["diagnosis"] == "DB1" and r["target"] == "booking"]
    consequences = [r for r in first if r["explained_by"] == cause]
    assert len(consequences) == 26, [(r["diagnosis"], r["target"]) for r in consequences]
    serious = {r["id"] for r in consequences if r["severity"] in ("critical", "high")}
    (body,) = _texts(receiver, 0)
    assert [f["id"] for f in body["failures"]] == [cause]  # one notice, for its cause
    assert {e["id"] for e in body["explained"]} == serious  # its consequences named under it, not on their own
    assert f"explains {len(serious)} more: " in body["text"]
    assert notices["announced"] == [cause] and {h["id"] for h in notices["held"]} == serious
    assert all("new in this notice" in h["why"] for h in notices["held"])

    for minutes in (10, 20):  # two more runs while it is down, within the critical cadence: nothing
        later, notices = run(T0 + timedelta(minutes=minutes))
        assert {r["id"] for r in later if r["explained_by"] == cause} >= serious
        assert len(receiver.posts) == 1, notices
        assert {h["id"] for h in notices["held"]} == serious
        assert all(h["why"] == "explained by DB1 booking, which fails (announced before)" for h in notices["held"])
        assert "nothing new to announce (1 failing check(s) announced before)" in notices["note"]

    stack.postgres.start()  # the database is back; the table stays renamed
    back, notices = run(T0 + timedelta(minutes=40))
    (db9,) = [r["id"] for r in back if r["diagnosis"] == "DB9" and r["target"] == "booking"]
    outliving = {r["id"] for r in back if r["id"] in serious}  # DB9 and what the renamed table breaks
    assert db9 in outliving and not any(r["explained_by"] for r in back if r["id"] in outliving)
    (body,) = _texts(receiver, 1)
    assert {f["id"] for f in body["failures"]} == outliving  # each announced as new: it outlived its cause
    told = {f["id"]: f for f in body["failures"]}
    assert all(f["outlived"] == (
        "outlived its cause: held since 2026-12-07 21:00 UTC while DB1 booking explained it; "
        "DB1 booking passes again, this one still fails") for f in told.values())
    # each run's clock starts where it is set and runs on while it runs: times within a minute
    assert [r["id"] for r in body["recoveries"]] == [cause] and 2340 <= body["recoveries"][0]["failed_for_s"] <= 2460
    assert re.search(r"- DB1 booking passes again after failing for (39|40|41) min", body["text"])
    assert "note:     outlived its cause" in body["text"]
    assert notices["held"] == [] and {r["id"] for r in notices["released"]} == outliving
    state, _ = read_state(state_path(reports, "demo"))
    assert set(state.announced) == outliving and state.held == {}  # the consequences that pass are forgotten
    assert T0 <= state.announced[db9].first < T0 + timedelta(minutes=1)  # failing since its cause's notice

    run(T0 + timedelta(minutes=65))  # 25 min after it was told: within the cadence
    assert len(receiver.posts) == 2
    run(T0 + timedelta(minutes=72))  # 32 min after (runs last seconds): reminded
    (body,) = _texts(receiver, 2)
    assert body["kind"] == "reminder" and body["failures"] == [] and body["recoveries"] == []
    reminders = {r["id"]: r for r in body["reminders"]}
    assert set(reminders) == {db9}  # the critical one; DB10 and DB11 are high: every 4 h
    assert re.fullmatch(r"still failing for 1 h 1[123] min since 2026-12-07 21:00 UTC", reminders[db9]["still"])
    assert body["text"].startswith("🔁 STILL FAILING") and "STILL FAILING:\n- [critical] DB9 booking" in body["text"]
    told_at = read_state(state_path(reports, "demo"))[0].announced[db9].told
    assert T0 + timedelta(minutes=72) <= told_at < T0 + timedelta(minutes=73)

    stack.heal()
    run(T0 + timedelta(minutes=80))
    (body,) = _texts(receiver, 3)
    assert body["kind"] == "recovery" and {r["id"] for r in body["recoveries"]} == outliving
    assert re.search(r"- DB9 booking passes again after failing for 1 h (19|20|21) min", body["text"])  # a reminded one recovers too
    assert read_state(state_path(reports, "demo"))[0].announced == {}


# --- alone: the cadence, its override, the state's old format -----------------------------------------


def _record(id: str, severity: str = "critical", outcome: str = "failed") -> CheckRecord:
    return CheckRecord(id=id, diagnosis="AV1", category="availability", severity=severity, target=id,
                       outcome=outcome, observed="down", message="AV1 ...")


def _result(entries: list[Any], reports: Path, at: datetime) -> RunResult:
    return RunResult(RunEnvironment("alone"), at, at, 1, RecordBook(), entries, reports)


def _env(tmp_path: Path, receiver: Receiver, reminders: str = "") -> Any:
    path = tmp_path / "env.yaml"
    path.write_text(f"name: alone\nkind: test\nnotify: [{{name: a, url: \"{receiver.url}/a\", format: json}}]\n"
                    f"{reminders}\n")
    return load_environment(path, {})


def test_the_environment_overrides_the_cadence_and_the_notice_time_is_the_runs_end(
    tmp_path: Path, receiver: Receiver
) -> None:
    env = _env(tmp_path, receiver, "reminders: {critical: 15m, high: off}")
    reports = tmp_path / "reports"
    entries = [_record("crit"), _record("hi", "high")]
    notify(env, _result(entries, reports, T0), now=None)  # the run's end is the notice's time
    assert read_state(state_path(reports, "alone"))[0].announced["crit"].first == T0
    notify(env, _result(entries, reports, T0 + timedelta(minutes=14)))
    assert len(receiver.posts) == 1
    notify(env, _result(entries, reports, T0 + timedelta(minutes=15)))
    (body,) = [p["body"] for p in receiver.posts[1:]]
    assert [r["id"] for r in body["reminders"]] == ["crit"]  # high: off, never reminded
    notify(env, _result(entries, reports, T0 + timedelta(hours=9)))
    assert [r["id"] for r in receiver.posts[2]["body"]["reminders"]] == ["crit"]


def test_the_catalogue_cadence_by_severity_and_reminders_off(tmp_path: Path, receiver: Receiver) -> None:
    reports = tmp_path / "reports"
    env = _env(tmp_path, receiver)
    entries = [_record("crit"), _record("hi", "high"), _record("mid", "medium")]
    notify(env, _result(entries, reports, T0))
    assert [f["id"] for f in receiver.posts[0]["body"]["failures"]] == ["crit", "hi"]  # medium: never announced
    notify(env, _result(entries, reports, T0 + timedelta(minutes=30)))
    assert [r["id"] for r in receiver.posts[1]["body"]["reminders"]] == ["crit"]
    notify(env, _result(entries, reports, T0 + timedelta(hours=4)))
    assert [r["id"] for r in receiver.posts[2]["body"]["reminders"]] == ["crit", "hi"]
    off = _env(tmp_path, receiver, "reminders: off")
    notify(off, _result(entries, reports, T0 + timedelta(hours=20)))
    assert len(receiver.posts) == 3


def test_a_reminder_nobody_received_is_told_again_next_run(tmp_path: Path, receiver: Receiver) -> None:
    reports = tmp_path / "reports"
    notify(_env(tmp_path, receiver), _result([_record("crit")], reports, T0))
    path = tmp_path / "refusing.yaml"
    path.write_text(f"name: alone\nkind: test\nnotify: [{{name: a, url: \"{receiver.url}/fail\", format: json}}]\n")
    notices = notify(load_environment(path, {}), _result([_record("crit")], reports, T0 + timedelta(minutes=31)))
    assert notices["reminders"] == 1 and notices["reminded"] == []
    assert read_state(state_path(reports, "alone"))[0].announced["crit"].told == T0  # not told: not updated


def test_the_old_state_a_list_of_ids_still_reads(tmp_path: Path, receiver: Receiver) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    state_path(reports, "alone").write_text(json.dumps(
        {"environment": "alone", "updated": "2026-12-07T20:00:00+00:00", "announced": ["crit", "gone"]}))
    state, note = read_state(state_path(reports, "alone"))
    assert note == "" and state.announced["crit"].first == T0 - timedelta(hours=1)
    back = SpooledRecord("gone", "AV1", "availability", "critical", "gone", "passed", 0, 0)
    notices = notify(_env(tmp_path, receiver), _result([_record("crit"), back], reports, T0))
    body = receiver.posts[0]["body"]
    assert [r["id"] for r in body["reminders"]] == ["crit"] and [r["id"] for r in body["recoveries"]] == ["gone"]
    assert notices["reminded"] == ["crit"] and notices["recovered"] == ["gone"]
    written = json.loads(state_path(reports, "alone").read_text())
    assert written["announced"] == {"crit": {"first": "2026-12-07T20:00:00+00:00", "told": "2026-12-07T21:00:00+00:00"}}


def _consequence(id: str, cause: str, outcome: str = "failed") -> CheckRecord:
    record = _record(id, outcome=outcome)
    record.explained_by = cause
    return record


def test_a_held_consequence_is_released_only_when_its_cause_passes_or_no_longer_explains_it() -> None:
    held = NoticeState({"db": Told(T0, T0)}, {"c": Held("db", "DB1 db", T0), "d": Held("db", "DB1 db", T0)})
    later = T0 + timedelta(minutes=5)
    # the cause did not run now (a -m subset): its consequence, failing on its own, stays held
    news = announcement([_record("c"), _record("d", outcome="passed")], held, later)
    assert news.failures == [] and set(news.held) == {"c"} and news.held["c"].since == T0
    assert news.unheld == ["d"]  # passing: forgotten, never announced on its own
    # the cause fails but explains it no more: announced, saying so
    news = announcement([_record("db"), _record("c")], held, later)
    assert [r.id for r in news.failures] == ["c"] and news.released["c"].endswith("it no longer explains this one")
    # explained through a chain: held under the root, the cause at the top
    news = announcement([_record("db"), _consequence("mid", "db"), _consequence("leaf", "mid")], NoticeState(), later)
    assert [r.id for r in news.failures] == ["db", "leaf", "mid"]  # the cause is new: both folded under it
    assert {i: h.cause for i, h in news.held.items()} == {"mid": "db", "leaf": "db"}
    # a cause that calls nobody (medium) holds nothing back
    low = _record("low", "medium")
    news = announcement([low, _consequence("x", "low")], NoticeState(), later)
    assert [r.id for r in news.failures] == ["x"] and news.held == {}


@pytest.mark.parametrize(("text", "seconds"), [("15m", 900), ("30 min", 1800), ("1h30m", 5400), ("2 h", 7200),
                                               ("1d", 86400), ("off", None), ("never", None)])
def test_durations(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


def test_duration_text() -> None:
    assert [duration_text(s) for s in (5, 600, 3900, 86400 * 3 + 7200)] == ["5 s", "10 min", "1 h 05 min", "3 d 2 h"]
    with pytest.raises(DurationError, match="write it with a unit"):
        parse_duration("10")


@pytest.mark.parametrize(("value", "said"), [
    ("{critical: 10}", "line 3: reminders.critical: 10 is not a duration"),
    ("{critical: 30s}", "line 3: reminders.critical: '30s' is shorter than a minute"),
    ("{medium: 1h}", "allowed here: critical, high"),
    ("sometimes", "line 3: reminders: 'sometimes' is neither off nor a mapping"),
])
def test_a_bad_reminders_key_is_a_located_error(tmp_path: Path, value: str, said: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"name: bad\nkind: test\nreminders: {value}\n")
    with pytest.raises(EnvironmentFileError) as error:
        load_environment(path, {})
    assert str(path) in str(error.value) and said in str(error.value)
