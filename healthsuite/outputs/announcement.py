"""What a run's notice announces, against what was told before (outputs.notice_state): new serious
failures, reminders of those that persist, recoveries, and the consequences held under their cause.
Pure: the notice's text is outputs.notice_text, its sending outputs.delivery, the whole outputs.notices.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from .notice_state import Held, NoticeState
from .records import FAILING, CheckRecord, Entry
from .reminders import Due, due

SERIOUS = ("critical", "high")  # the severities that call someone (failure.escalation_line)


# --- what to announce ---------------------------------------------------------------------------------


@dataclass
class Announcement:
    failures: list[CheckRecord]  # failing now, not announced before: new, and the consequences of a new cause
    recoveries: list[Entry]  # announced before, passing now
    announced: set[str]  # announced before and not recovered (whether they ran or not)
    reminders: list[tuple[CheckRecord, Due]] = field(default_factory=list)  # announced before, due again
    held: dict[str, Held] = field(default_factory=dict)  # consequences not announced on their own, by id
    unheld: list[str] = field(default_factory=list)  # held before, held no more (passing, or announced)
    released: dict[str, str] = field(default_factory=dict)  # a new failure that outlived its cause: why
    since: dict[str, datetime] = field(default_factory=dict)  # a released failure: failing since

    @property
    def empty(self) -> bool:
        return not self.failures and not self.recoveries and not self.reminders


def severity_order(severity: str) -> int:
    return SERIOUS.index(severity) if severity in SERIOUS else len(SERIOUS)


def is_failing(entry: Entry) -> bool:
    return isinstance(entry, CheckRecord) and entry.outcome in FAILING


def announcement(entries: Iterable[Entry], state: NoticeState, now: datetime,
                 cadence: Callable[[str], float | None] = lambda severity: None) -> Announcement:
    """New serious failures, reminders and recoveries of this run, against what was told before
    (`state`). A check announced before that did not run now (deselected) or is skipped stays announced.
    A check announced before that now fails on another subject (the history labels it `new`: another
    foreign key, another error) is announced again: it is a new failure.

    A serious failure that a serious failure of this run explains (`explained_by`) is held: not
    announced on its own while its cause fails (folded under the cause when the cause is new in this
    notice). A held failure that fails on while its cause passes again (or no longer explains it) is
    announced as new, saying so; one whose cause did not run now stays held. An announced failure that
    fails on, not explained by another, is reminded when its severity's `cadence` (seconds, None:
    never) has passed since it was last told."""
    entries = list(entries)
    by_id = {e.id: e for e in entries}
    failing = {e.id: e for e in entries if isinstance(e, CheckRecord) and e.outcome in FAILING}

    def cause_of(record: CheckRecord) -> CheckRecord | None:
        """The failing cause at the root of what explains `record` (None: none, a loop, or not serious)."""
        seen, current = {record.id}, record
        while (parent := failing.get(current.explained_by or "")) is not None:
            if parent.id in seen:
                return None
            seen.add(parent.id)
            current = parent
        return current if current is not record and current.severity in SERIOUS else None

    news = Announcement([], [], set())
    consequences: list[CheckRecord] = []
    for record in failing.values():
        if record.severity not in SERIOUS or (record.id in state.announced and record.change != "new"):
            continue
        cause = cause_of(record)
        if cause is not None:
            news.held[record.id] = Held(cause.id, f"{cause.diagnosis} {cause.target or '-'}", now)
            consequences.append(record)
            continue
        hold = state.held.get(record.id)
        if hold is not None:
            was = by_id.get(hold.cause)
            if (was is None or was.outcome not in ("passed", *FAILING)) and hold.cause in state.announced:
                news.held[record.id] = hold  # its cause did not run now: still held
                continue
            now_said = (f"{hold.cause_name} passes again, this one still fails" if was and was.outcome == "passed"
                        else "it no longer explains this one" if was and was.outcome in FAILING
                        else f"{hold.cause_name} is no longer announced as failing, this one still fails")
            news.released[record.id] = (f"outlived its cause: held since {hold.since.strftime('%Y-%m-%d %H:%M UTC')} "
                                        f"while {hold.cause_name} explained it; {now_said}")
            news.since[record.id] = hold.since
        news.failures.append(record)
    new_ids = {r.id for r in news.failures}
    news.failures += [r for r in consequences if news.held[r.id].cause in new_ids]  # folded under their cause
    news.failures.sort(key=lambda r: (severity_order(r.severity), r.diagnosis, r.id))
    news.recoveries = sorted((e for e in entries if e.id in state.announced and e.outcome == "passed"),
                             key=lambda e: e.id)
    recovered = {e.id for e in news.recoveries}
    news.unheld = sorted(i for i in state.held if i not in news.held and (
        i in new_ids or (i in by_id and not is_failing(by_id[i]) and by_id[i].outcome == "passed")))
    for check_id, told in sorted(state.announced.items()):
        still = failing.get(check_id)
        if still is None or check_id in new_ids or cause_of(still) is not None:
            continue
        reminder = due(check_id, told, cadence(still.severity), now)
        if reminder is not None:
            news.reminders.append((still, reminder))
    news.reminders.sort(key=lambda pair: (severity_order(pair[0].severity), pair[0].diagnosis, pair[0].id))
    news.announced = set(state.announced) - recovered
    return news


def fold(failures: Sequence[CheckRecord]) -> list[tuple[CheckRecord, list[CheckRecord]]]:
    """Each failure of the notice with the failures of the notice it explains (followed to the cause
    nothing else in the notice explains), in the notice's order; a consequence is in its cause's list
    only, and a chain that loops is no folding."""
    by_id = {r.id: r for r in failures}

    def cause(record: CheckRecord) -> CheckRecord:
        seen, current = {record.id}, record
        while current.explained_by in by_id:
            if current.explained_by in seen:
                return record  # a loop: nobody's consequence
            current = by_id[current.explained_by]
            seen.add(current.id)
        return current

    folded: dict[str, list[CheckRecord]] = {}
    tops: list[CheckRecord] = []
    for record in failures:
        root = cause(record)
        if root is record:
            tops.append(record)
        else:
            folded.setdefault(root.id, []).append(record)
    return [(top, folded.get(top.id, [])) for top in tops]
