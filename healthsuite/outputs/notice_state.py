"""What `--notify` told before, per environment: `<reports>/<env>.notified.json`.

    {"environment": "demo", "updated": "2026-12-07T21:30:00+00:00",
     "announced": {"<check id>": {"first": "<first announced>", "told": "<last told>"}},
     "held": {"<check id>": {"cause": "<cause's id>", "cause_name": "DB1 booking", "since": "<held since>"}}}

- `announced`: each failure announced and not yet recovered, with when it was first announced and when
  it was last told (announced, or reminded: outputs.reminders). The old format, a list of ids, still
  reads: each counts as first announced and last told at the file's `updated` time (else its mtime).
- `held`: each failing consequence that was not announced on its own because a failing cause explained
  it (healthsuite.catalogue.causes), with that cause and since when; it is announced when it outlives
  its cause.
- A missing or unreadable file starts afresh (the note says so). The file is read again, merged with
  this run's change and rewritten whole (mode 0640) under the reports directory's lock
  (outputs.files.locked), so concurrent runs lose none of each other's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .files import locked, write_atomically


@dataclass(frozen=True)
class Told:
    """An announced failure: first announced, last told."""

    first: datetime
    told: datetime


@dataclass(frozen=True)
class Held:
    """A consequence held while its cause fails."""

    cause: str
    cause_name: str
    since: datetime


@dataclass
class NoticeState:
    announced: dict[str, Told] = field(default_factory=dict)
    held: dict[str, Held] = field(default_factory=dict)


@dataclass
class StateChange:
    """What one run's notice changes: recorded only for what a received message said, but the holds,
    which are the run's judgement whatever was sent."""

    announced: dict[str, datetime] = field(default_factory=dict)  # id -> first announced (or failing since)
    reminded: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    held: dict[str, Held] = field(default_factory=dict)  # held now
    unheld: list[str] = field(default_factory=list)  # held no more (passing, or announced)

    @property
    def empty(self) -> bool:
        return not (self.announced or self.reminded or self.recovered or self.held or self.unheld)


def state_path(reports_dir: Path, env_name: str) -> Path:
    return reports_dir / f"{env_name}.notified.json"


def _time(value: object, default: datetime) -> datetime:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return default
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return default


def read_state(path: Path) -> tuple[NoticeState, str]:
    """What was told before, and a note when the file could not be read (then nothing was)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except FileNotFoundError:
        return NoticeState(), ""
    except (OSError, ValueError) as exc:
        return NoticeState(), f"{path.name} could not be read ({type(exc).__name__}); every failure counts as new"
    announced = data.get("announced") if isinstance(data, dict) else None
    if not isinstance(announced, list | dict):
        return NoticeState(), f"{path.name} has no `announced` entries; every failure counts as new"
    updated = _time(data.get("updated"), written)
    state = NoticeState()
    if isinstance(announced, list):  # the old format: the ids only
        state.announced = {i: Told(updated, updated) for i in announced if isinstance(i, str)}
    else:
        for key, value in announced.items():
            entry = value if isinstance(value, dict) else {}
            first = _time(entry.get("first"), updated)
            state.announced[str(key)] = Told(first, _time(entry.get("told"), first))
    held = data.get("held")
    for key, value in (held.items() if isinstance(held, dict) else ()):
        if isinstance(value, dict) and isinstance(value.get("cause"), str):
            state.held[str(key)] = Held(value["cause"], str(value.get("cause_name", value["cause"])),
                                        _time(value.get("since"), updated))
    return state, ""


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def merge(current: NoticeState, change: StateChange, now: datetime) -> NoticeState:
    """`current` with `change` applied at `now`; what a concurrent run recorded stays."""
    announced, held = dict(current.announced), dict(current.held)
    for check_id in change.recovered:
        announced.pop(check_id, None)
        held.pop(check_id, None)
    for check_id in change.unheld:
        held.pop(check_id, None)
    for check_id, first in change.announced.items():
        announced[check_id] = Told(first, now)
        held.pop(check_id, None)
    for check_id in change.reminded:
        if check_id in announced:  # not recovered by another run meanwhile
            announced[check_id] = Told(announced[check_id].first, now)
    for check_id, hold in change.held.items():
        if check_id not in announced:
            before = held.get(check_id)
            held[check_id] = Held(hold.cause, hold.cause_name, before.since if before else hold.since)
    return NoticeState(announced, held)


def _document(env_name: str, state: NoticeState, now: datetime) -> dict[str, Any]:
    return {
        "environment": env_name,
        "updated": _stamp(now),
        "announced": {k: {"first": _stamp(t.first), "told": _stamp(t.told)}
                      for k, t in sorted(state.announced.items())},
        "held": {k: {"cause": h.cause, "cause_name": h.cause_name, "since": _stamp(h.since)}
                 for k, h in sorted(state.held.items())},
    }


def update_state(path: Path, env_name: str, change: StateChange, now: datetime) -> NoticeState:
    """Apply `change` to the file, read again and written whole under the directory's lock, so a
    concurrent run's announcements are kept. Returns what the file holds now."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path.parent):
        current, _ = read_state(path)
        merged = merge(current, change, now)
        write_atomically(path, [json.dumps(_document(env_name, merged, now), indent=2), "\n"])
    return merged


def announce(ids: Iterable[str], firsts: Mapping[str, datetime], now: datetime) -> dict[str, datetime]:
    """The `announced` of a StateChange: each id with its failing-since time (`firsts`), else `now`."""
    return {i: firsts.get(i, now) for i in ids}
