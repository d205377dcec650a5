"""Run-to-run changes: each check's verdict set against the previous runs of the same environment.

Every failing check is labelled `new` (it passed, or was not there, last time), `persisting` (failing
since the time the streak began, for N runs) or `flapping` (it changed state more than
FLAP_CHANGES times in the last HISTORY_RUNS runs); a check that passes after failing is `recovered`.
A warning (below --fail-on) counts as failing; a skip changes nothing.

A failure is keyed by what failed as well as by its check: a finding may name its subject in
`facts["identity"]` (the failing items, e.g. the foreign keys without an index, or the kind of
problem; never its numbers or timings), kept as a short digest (`identity_of`). A check failing
again on a different subject is `new` (its failing streak starts again), on the same one
`persisting`. Where either run's identity is unknown (a finding that names none, a history written
before identities were kept), failures compare as before: by check only.

The history is one small file per environment in the reports directory (`<env>.history.json`, so that
`<env>-*.json` matches reports only: per check that failed within the last HISTORY_RUNS runs, its last
states, when its failing streak began and the identity of its last failure; a check with no failure
there has no entry, which means the same as passing, so a healthy platform of thousands of checks
keeps an almost empty file), read when the run starts and written when it ends, so no previous report
is decoded. A missing, unreadable or damaged history is a first run, and the run says so. Concurrent
runs of one environment merge their states under a lock on the file, so N runs leave N states.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .files import locked, write_atomically
from .records import FAILING as FAILING_OUTCOMES
from .records import MAINTENANCE, CheckRecord

if TYPE_CHECKING:
    from .result import RunResult

HISTORY_RUNS = 10  # states kept per check
FLAP_CHANGES = 3  # more changes of state than this within HISTORY_RUNS runs: flapping
FAILING, PASSING, SKIPPED = "F", "P", "S"
RENEWED = "N"  # in the kept states: failing, on another subject than the run before (a new streak starts)
CHANGE_PROPERTIES = ("change", "failing_since", "failing_runs")


@dataclass(frozen=True)
class Past:
    states: str  # oldest first: F failing, N failing on another subject, P passing, S skipped
    since: str = ""  # when the current failing streak began (ISO time), "" when not failing
    identity: str = ""  # the digest of the last failure's subject (identity_of), "" when unknown


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
        return {str(k): Past(str(v["states"])[-HISTORY_RUNS:], str(v.get("since", "")), str(v.get("identity", "")))
                for k, v in checks.items()}, ""
    except FileNotFoundError:
        return {}, ""
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError, MemoryError) as exc:
        return {}, f"{path} could not be read ({type(exc).__name__}): this run counts as the first"


def state_of(outcome: str) -> str:
    """A check's state in the history by its outcome (a warning fails; a skip changes nothing)."""
    if outcome in FAILING_OUTCOMES or outcome == MAINTENANCE:  # failed inside a window: failing still
        return FAILING
    return SKIPPED if outcome == "skipped" else PASSING


def identity_of(facts: Mapping[str, Any] | None) -> str:
    """A short stable digest of what a failure names as its subject (`facts["identity"]`: a string or a
    list of strings, in any order); "" when it names none."""
    value = (facts or {}).get("identity")
    if value is None or value == [] or value == "":
        return ""
    items = sorted({str(item) for item in value}) if isinstance(value, (list, tuple, set)) else [str(value)]
    return hashlib.sha256(json.dumps(items).encode("utf-8")).hexdigest()[:12]


def record(result: RunResult) -> str:
    """This run's states added to the environment's history, merged under a lock with what concurrent
    runs wrote meanwhile; "" (the terminal says nothing of it)."""
    directory, name = result.reports_dir, result.environment.name
    now = result.started.isoformat(timespec="seconds")
    states = {entry.id: state_of(entry.outcome) for entry in result.entries}
    identities = {entry.id: identity_of(entry.facts) for entry in result.entries
                  if isinstance(entry, CheckRecord) and states[entry.id] == FAILING}
    directory.mkdir(parents=True, exist_ok=True)
    with locked(directory):
        save(directory, name, load(directory, name), states, now, identities)
    return ""


def _failing(state: str) -> bool:
    return state in (FAILING, RENEWED)


def _last(states: str) -> str:
    """The last judged state (a skip is none), failing ones as FAILING; "" when there is none."""
    last = next((s for s in reversed(states) if s != SKIPPED), "")
    return FAILING if _failing(last) else last


def _changes(states: str) -> int:
    judged = [FAILING if _failing(s) else s for s in states if s != SKIPPED]
    return sum(1 for a, b in zip(judged, judged[1:], strict=False) if a != b)


def _streak(states: str) -> int:
    count = 0
    for state in reversed(states):
        if state == SKIPPED:
            continue
        if not _failing(state):
            break
        count += 1
        if state == RENEWED:
            break  # the streak began here, on this subject
    return count


def _kept_state(past: Past | None, state: str, identity: str) -> str:
    """The state kept for a run: RENEWED when it fails on another subject than the failure before it."""
    if state != FAILING or past is None or _last(past.states) != FAILING:
        return state
    return RENEWED if identity and past.identity and identity != past.identity else FAILING


def change(past: Past | None, state: str, now: str, identity: str = "") -> Change | None:
    """The label of a check's verdict now (`state`), given its past and, when failing, the identity of what
    failed (identity_of; "" unknown); None when nothing changed worth saying."""
    previous = past.states if past is not None else ""
    last = _last(previous)
    if state == PASSING:
        return Change("recovered") if last == FAILING else None
    if state != FAILING:
        return None
    kept = _kept_state(past, state, identity)
    states = (previous + kept)[-HISTORY_RUNS:]
    runs = _streak(states)
    if last != FAILING or kept == RENEWED:
        since = now
    else:
        since = past.since if past is not None and past.since else now
    if _changes(states) > FLAP_CHANGES:
        return Change("flapping", since, runs)
    if last != FAILING or kept == RENEWED:
        return Change("new", now, 1)
    return Change("persisting", since, runs)


def save(directory: Path, env_name: str, past: Mapping[str, Past], now_states: Mapping[str, str], now: str,
         identities: Mapping[str, str] | None = None) -> None:
    """Write the history with this run's states (checks not run this time keep theirs) and the identities
    of this run's failures (by check id; a failing check without one: unknown)."""
    checks: dict[str, Any] = {k: _entry(v.states, v.since, v.identity) for k, v in past.items()}
    for check_id, state in now_states.items():
        old = past.get(check_id)
        if state != FAILING and old is None:
            continue  # nothing failed here within HISTORY_RUNS runs: no entry is the same as passing
        identity = (identities or {}).get(check_id, "") if state == FAILING else ""
        kept = _kept_state(old, state, identity)
        states = ((old.states if old else "") + kept)[-HISTORY_RUNS:]
        if not any(_failing(s) for s in states):
            checks.pop(check_id, None)  # its failures are older than the window: as if always passing
            continue
        if state == FAILING:
            continuing = old is not None and _last(old.states) == FAILING and kept == FAILING
            since = old.since if continuing and old is not None and old.since else now
            if continuing and not identity and old is not None:
                identity = old.identity  # unknown now: the streak's subject is the one known
        elif state == SKIPPED and old is not None:
            since, identity = old.since, old.identity
        else:
            since = ""
        checks[check_id] = _entry(states, since, identity)
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"environment": env_name, "updated": now, "checks": checks})
    write_atomically(path_of(directory, env_name), [text])


def _entry(states: str, since: str, identity: str) -> dict[str, str]:
    """One check's entry in the file (`identity` only when known: an older reader ignores it)."""
    return {"states": states, "since": since, **({"identity": identity} if identity else {})}
