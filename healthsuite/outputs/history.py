"""Run-to-run changes: each check's verdict set against the previous runs of the same environment.

Every failing check is labelled `new` (it passed, or was not there, last time), `persisting` (failing
since the time the streak began, for N runs) or `flapping` (it changed state more than
FLAP_CHANGES times in the last HISTORY_RUNS runs); a check that passes after failing is `recovered`.
A warning (below --fail-on) counts as failing; a skip changes nothing.

The history is one small file per environment in the reports directory (`<env>.history.json`, so that
`<env>-*.json` matches reports only: per
check that failed within the last HISTORY_RUNS runs, its last states and when its failing streak
began; a check with no failure there has no entry, which means the same as passing, so a healthy
platform of thousands of checks keeps an almost empty file), read when the run starts and written
when it ends, so no previous report is decoded. A missing, unreadable or damaged history is a first run,
and the run says so. Concurrent runs of one environment merge their states under a lock on the file,
so N runs leave N states.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .files import locked, write_atomically

if TYPE_CHECKING:
    from .result import RunResult

HISTORY_RUNS = 10  # states kept per check
FLAP_CHANGES = 3  # more changes of state than this within HISTORY_RUNS runs: flapping
FAILING, PASSING, SKIPPED = "F", "P", "S"
CHANGE_PROPERTIES = ("change", "failing_since", "failing_runs")


@dataclass(frozen=True)
class Past:
    states: str  # oldest first: F failing, P passing, S skipped
    since: str = ""  # when the current failing streak began (ISO time), "" when not failing


@dataclass(frozen=True)
class Change:
    label: str  # new | persisting | flapping | recovered
    since: str = ""
    runs: int = 0  # runs failing in a row, this one included

    def properties(self) -> list[tuple[str, str]]:
        found = [("change", self.label)]
        if self.since:
            found += [("failing_since", self.since), ("failing_runs", str(self.runs))]
        return found

    def describe(self) -> str:
        if self.label == "persisting":
            return f"persisting since {self.since}, {self.runs} runs"
        if self.label == "flapping":
            return f"flapping: {self.runs} runs failing now, more than {FLAP_CHANGES} changes in {HISTORY_RUNS} runs"
        return self.label


def path_of(directory: Path, env_name: str) -> Path:
    return directory / f"{env_name}.history.json"


MAX_HISTORY_BYTES = 64 * 1024 * 1024  # a history larger than this is damaged: a first run


def load(directory: Path, env_name: str) -> dict[str, Past]:
    return load_noting(directory, env_name)[0]


def load_noting(directory: Path, env_name: str) -> tuple[dict[str, Past], str]:
    """The history, and a note when it exists but cannot be used (then it is a first run)."""
    path = path_of(directory, env_name)
    try:
        if path.stat().st_size > MAX_HISTORY_BYTES:
            return {}, f"{path} is larger than {MAX_HISTORY_BYTES // 2**20} MiB: read as a first run"
        data = json.loads(path.read_text(encoding="utf-8"))
        checks = data["checks"]
        return {str(k): Past(str(v["states"])[-HISTORY_RUNS:], str(v.get("since", "")))
                for k, v in checks.items()}, ""
    except FileNotFoundError:
        return {}, ""
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError, MemoryError) as exc:
        return {}, f"{path} could not be read ({type(exc).__name__}): this run counts as the first"


def state_of(outcome: str) -> str:
    """A check's state in the history by its outcome (a warning fails; a skip changes nothing)."""
    if outcome in ("failed", "error", "warned"):
        return FAILING
    return SKIPPED if outcome == "skipped" else PASSING


def record(result: RunResult) -> str:
    """This run's states added to the environment's history, merged under a lock with what concurrent
    runs wrote meanwhile; "" (the terminal says nothing of it)."""
    directory, name = result.reports_dir, result.environment.name
    now = result.started.isoformat(timespec="seconds")
    states = {entry.id: state_of(entry.outcome) for entry in result.entries}
    directory.mkdir(parents=True, exist_ok=True)
    with locked(directory):
        save(directory, name, load(directory, name), states, now)
    return ""


def _changes(states: str) -> int:
    judged = [s for s in states if s != SKIPPED]
    return sum(1 for a, b in zip(judged, judged[1:], strict=False) if a != b)


def _streak(states: str) -> int:
    count = 0
    for state in reversed(states):
        if state == SKIPPED:
            continue
        if state != FAILING:
            break
        count += 1
    return count


def change(past: Past | None, state: str, now: str) -> Change | None:
    """The label of a check's verdict now (`state`), given its past; None when nothing changed worth saying."""
    previous = past.states if past is not None else ""
    last = next((s for s in reversed(previous) if s != SKIPPED), "")
    if state == PASSING:
        return Change("recovered") if last == FAILING else None
    if state != FAILING:
        return None
    states = (previous + FAILING)[-HISTORY_RUNS:]
    runs = _streak(states)
    since = (past.since if past is not None and last == FAILING and past.since else now)
    if _changes(states) > FLAP_CHANGES:
        return Change("flapping", since, runs)
    if last != FAILING:
        return Change("new", now, 1)
    return Change("persisting", since, runs)


def save(directory: Path, env_name: str, past: Mapping[str, Past], now_states: Mapping[str, str], now: str) -> None:
    """Write the history with this run's states (checks not run this time keep theirs)."""
    checks: dict[str, Any] = {k: {"states": v.states, "since": v.since} for k, v in past.items()}
    for check_id, state in now_states.items():
        old = past.get(check_id)
        if state != FAILING and old is None:
            continue  # nothing failed here within HISTORY_RUNS runs: no entry is the same as passing
        states = ((old.states if old else "") + state)[-HISTORY_RUNS:]
        if FAILING not in states:
            checks.pop(check_id, None)  # its failures are older than the window: as if always passing
            continue
        if state == FAILING:
            last = next((s for s in reversed(old.states) if s != SKIPPED), "") if old else ""
            since = old.since if old and last == FAILING and old.since else now
        elif state == SKIPPED and old is not None:
            since = old.since
        else:
            since = ""
        checks[check_id] = {"states": states, "since": since}
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"environment": env_name, "updated": now, "checks": checks})
    write_atomically(path_of(directory, env_name), [text])
