"""Judge the booking platform's data (PAY4, PAY5, AUTH5, AUTH6, SEC1-SEC5, BIZ1): pure functions from
an observation of `healthsuite.probes.pg_data` and the thresholds to a `Finding`.

A mapping that does not fit the database (a missing table or column, a column of the wrong type)
fails naming the environment-file key to fix, whatever the diagnosis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..catalogue.diagnoses import Severity
from ..model.data import Bookings
from ..probes.pg_data import (
    ApiKeyReview,
    DataObservation,
    DormantUsers,
    Escalations,
    FailedLogins,
    FailedPayments,
    HeavyApiUse,
    Listing,
    PendingPayments,
    RecentBookings,
    RolelessUsers,
    SessionCounts,
)
from .failure import Finding, combine
from .tls import one_level_below

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _n(value: float) -> str:
    return f"{value:g}"


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural or word + 's')}"


def _pct(value: float) -> str:
    return f"{round(value, 1):g} %"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def _window(hours: float) -> str:
    return f"{_n(hours)} h"


def _examples(listing: Listing, describe: Callable[[Mapping[str, Any]], str]) -> str:
    """`: a, b, c` (and `, ...` when there are more than the examples)."""
    if not listing.examples:
        return ""
    shown = ", ".join(describe(row) for row in listing.examples)
    return f": {shown}{', ...' if listing.count > len(listing.examples) else ''}"


def _facts(obs: DataObservation, listing: Listing | None = None, **extra: object) -> dict[str, object]:
    facts: dict[str, object] = {"table": obs.table, "dataset": obs.dataset, **extra}
    if listing is not None:
        facts["examples"] = [dict(row) for row in listing.examples]
    return facts


def mapping_problem(obs: DataObservation, what: str) -> Finding | None:
    """A failed finding when the environment file's mapping does not fit the database, else None."""
    problem = obs.problem
    if problem is None:
        return None
    return Finding(
        ok=False,
        observed=f"{problem.problem} (environment-file key `{problem.key}`)",
        expected=f"`{obs.dataset}` maps {what} to an existing table and columns",
        meaning="the check cannot read its data: the environment file names a table or column this database "
        "does not have, or one of a type it cannot read; nothing was judged",
        causes=("The table or column has another name in this database, or a migration renamed it.",),
        remediation=(
            f"In the environment file, {problem.fix}.",
            "Every `data.*` key and its default (the booking platform's schema) is in healthsuite/model/data.py.",
        ),
        facts={"mapping_key": problem.key, "table": obs.table, "dataset": obs.dataset},
    )


# --- payments -------------------------------------------------------------------------------------------


def failed_payment_share(obs: FailedPayments, *, max_share_pct: float) -> Finding:
    """PAY4: the failed share of payments created in the window is at most `max_share_pct`."""
    window = _window(obs.window_h)
    expected = f"at most {_pct(max_share_pct)} of the payments created in the last {window} failed"
    if (found := mapping_problem(obs, "the payments")) is not None:
        return found
    if obs.total == 0:
        return Finding(
            ok=True,
            observed=f"no payments created in the last {window}: no failure share to judge "
            "(BIZ1 watches for a silent booking flow)",
            expected=expected,
            facts=_facts(obs, total=0, failed=0),
        )
    failed = obs.failed.count
    share = 100.0 * failed / obs.total
    ok = share <= max_share_pct
    observed = f"{failed} of {_plural(obs.total, 'payment')} failed in the last {window} ({_pct(share)})"
    if not ok:
        observed += _examples(obs.failed, lambda r: str(r["reference"]))
    return Finding(
        ok=ok,
        observed=observed,
        expected=expected,
        meaning="" if ok else "customers' payments are failing at an unusual rate, so bookings are being lost: "
        "check the Paystack keys and status, then the failed references in the Paystack dashboard",
        facts=_facts(obs, obs.failed, total=obs.total, failed=failed, failed_share_pct=round(share, 2)),
    )


def pending_payments(obs: PendingPayments) -> Finding:
    """PAY5: no payment has stayed pending for more than `max_pending_h`."""
    limit = _window(obs.max_pending_h)
    expected = f"no payment pending for more than {limit}"
    if (found := mapping_problem(obs, "the payments")) is not None:
        return found
    pending = obs.pending
    if pending.count == 0:
        return Finding(ok=True, observed=f"no payment pending for more than {limit}", expected=expected,
                       facts=_facts(obs, pending=0))
    oldest = pending.examples[0].get("age_s") if pending.examples else None
    return Finding(
        ok=False,
        observed=f"{_plural(pending.count, 'payment')} pending for more than {limit} (oldest {_age(oldest)})"
        + _examples(pending, lambda r: f"{r['reference']} ({_age(r['age_s'])})"),
        expected=expected,
        meaning="payments are stuck in pending: the provider's charge.success webhook was probably not received "
        "or not processed, so customers may have paid for bookings that are not confirmed",
        facts=_facts(obs, pending, pending=pending.count, oldest_age_s=oldest),
    )


# --- auth -----------------------------------------------------------------------------------------------


def roleless_users(obs: RolelessUsers) -> Finding:
    """AUTH5: every user has a role (not NULL, not empty)."""
    expected = "no user with a NULL or empty role"
    if (found := mapping_problem(obs, "the users")) is not None:
        return found
    users = obs.users
    if users.count == 0:
        return Finding(ok=True, observed="every user has a role", expected=expected, facts=_facts(obs, users=0))
    return Finding(
        ok=False,
        observed=f"{_plural(users.count, 'user')} without a role (NULL or empty)"
        + _examples(users, lambda r: f"{r['id']} ({'NULL' if r['role'] is None else repr(r['role'])})"),
        expected=expected,
        meaning="users without a role fail permission checks (403) or get the wrong access: give them the "
        "default role once checked, and find the code path that created them",
        facts=_facts(obs, users, users=users.count),
    )


def session_counts(obs: SessionCounts, *, max_stale_sessions: float, max_stale_share_pct: float) -> Finding:
    """AUTH6: stale sessions at most `max_stale_sessions` (large platforms) and at most
    `max_stale_share_pct` of all sessions (small ones); no user with more sessions active in the window
    than `max_sessions_per_user`."""
    if (found := mapping_problem(obs, "the sessions")) is not None:
        return found
    days = _n(obs.stale_after_days)
    share = 100 * obs.stale / obs.total if obs.total else 0.0
    count_ok = obs.stale <= max_stale_sessions
    share_ok = share <= max_stale_share_pct
    count_observed = f"{_plural(obs.stale, 'stale session')} (no activity for {days} days)"
    if obs.stale and obs.oldest_stale_age_s is not None:
        count_observed += f", oldest idle {_age(obs.oldest_stale_age_s)}"
    cleanup = f"stale sessions are not being cleaned up (000 §4 Solution B deletes those idle for {days} days)"
    stale = Finding(
        ok=count_ok,
        observed=count_observed,
        expected=f"at most {_n(max_stale_sessions)} sessions without activity for {days} days",
        meaning="" if count_ok else cleanup,
        facts={"stale_sessions": obs.stale, "oldest_stale_age_s": obs.oldest_stale_age_s},
    )
    share_observed = f"{_pct(share)} of {_plural(obs.total, 'session')} stale"
    count_vs = f"{obs.stale} > {_n(max_stale_sessions)}" if not count_ok else f"{obs.stale} <= {_n(max_stale_sessions)}"
    share_vs = f"{_pct(share)} > {_pct(max_stale_share_pct)}" if not share_ok else (
        f"{_pct(share)} <= {_pct(max_stale_share_pct)}"
    )
    if not count_ok and not share_ok:
        share_observed += f": the stale count ({count_vs}) and share ({share_vs}) both exceed their limits"
    elif not count_ok:
        share_observed += f": the stale count exceeds its limit ({count_vs}); the share is within ({share_vs})"
    elif not share_ok:
        share_observed += f": the stale share exceeds its limit ({share_vs}); the count is within ({count_vs})"
    stale_share = Finding(
        ok=share_ok,
        observed=share_observed,
        expected=f"at most {_pct(max_stale_share_pct)} of sessions without activity for {days} days",
        meaning="" if share_ok or not count_ok else cleanup,
        facts={"sessions": obs.total, "stale_share_pct": round(share, 2)},
    )
    busy = obs.busy_users
    limit = _n(obs.max_sessions_per_user)
    window = _window(obs.window_h)
    busy_ok = busy.count == 0
    busy_observed = (
        f"no user with more than {limit} sessions active in the last {window}"
        if busy_ok
        else f"{_plural(busy.count, 'user')} with more than {limit} sessions active in the last {window}"
        + _examples(busy, lambda r: f"{r['user_id']} ({r['sessions']})")
    )
    per_user = Finding(
        ok=busy_ok,
        observed=busy_observed,
        expected=f"no user with more than {limit} sessions active in the last {window}",
        meaning="" if busy_ok else "one account holds many active sessions: a client creating a session per "
        "request, or an account shared or abused; check that client and the audit log",
        facts={"busy_users": busy.count, "examples": [dict(r) for r in busy.examples]},
    )
    finding = combine([stale, per_user, stale_share])  # the share last: observed reads count, users, share
    return replace(finding, facts={**_facts(obs), **finding.facts})


# --- security -------------------------------------------------------------------------------------------


def failed_logins(obs: FailedLogins) -> Finding:
    """SEC1: no IP with more than `max_failed_logins` failed logins in the window."""
    limit, window = _n(obs.max_failed_logins), _window(obs.window_h)
    expected = f"no IP with more than {limit} failed logins in {window}"
    if (found := mapping_problem(obs, "the login attempts")) is not None:
        return found
    ips = obs.ips
    if ips.count == 0:
        return Finding(ok=True, observed=f"no IP over {limit} failed logins in the last {window}", expected=expected,
                       facts=_facts(obs, ips=0))
    return Finding(
        ok=False,
        observed=f"{_plural(ips.count, 'IP')} with more than {limit} failed logins in the last {window}"
        + _examples(ips, lambda r: f"{r['ip']} ({r['attempts']})"),
        expected=expected,
        meaning="logins keep failing from these addresses: likely brute force or credential stuffing, or a client "
        "retrying with bad credentials; block or rate-limit hostile IPs and check the targeted accounts",
        facts=_facts(obs, ips, ips=ips.count),
    )


def escalations(obs: Escalations) -> Finding:
    """SEC2: no escalation action (a pattern, any case) in the window that is not on the allow list."""
    days = _n(obs.window_days)
    patterns = "/".join(obs.patterns)
    expected = f"no {patterns} action in the last {days} days outside the allow list"
    if obs.allow:
        expected += f" ({', '.join(obs.allow)})"
    if (found := mapping_problem(obs, "the audit log")) is not None:
        return found
    actions = obs.actions
    if actions.count == 0:
        return Finding(ok=True, observed=f"no unapproved {patterns} action in the last {days} days",
                       expected=expected, facts=_facts(obs, actions=0))
    return Finding(
        ok=False,
        observed=f"{_plural(actions.count, 'privilege-escalation action')} in the last {days} days not on the "
        "allow list"
        + _examples(
            actions, lambda r: f"{r['action']} by {r['user_id'] or 'no user'} from {r['ip'] or '?'} at {r['at']}"
        ),
        expected=expected,
        meaning="an account performed an admin or privilege action outside the approved list: confirm it with the "
        "account owner, or treat it as a breach (isolate, rotate credentials, review access)",
        facts=_facts(obs, actions, actions=actions.count, allow=list(obs.allow)),
    )


def _dormant_example(row: Mapping[str, Any]) -> str:
    login = row["last_login"]
    return f"{row['id']} ({'never logged in' if login is None else 'last login ' + str(login)[:10]})"


def dormant_users(obs: DormantUsers, *, max_dormant_share_pct: float) -> Finding:
    """SEC3: dormant accounts (no login in `dormant_days`, or never) are at most the share of all users."""
    days = _n(obs.dormant_days)
    expected = f"at most {_pct(max_dormant_share_pct)} of users dormant (no login in {days} days, or never)"
    if (found := mapping_problem(obs, "the users")) is not None:
        return found
    if obs.total == 0:
        return Finding(ok=True, observed="no users", expected=expected, facts=_facts(obs, total=0, dormant=0))
    dormant = obs.dormant.count
    share = 100.0 * dormant / obs.total
    ok = share <= max_dormant_share_pct
    observed = f"{dormant} of {_plural(obs.total, 'user')} dormant ({_pct(share)}; no login in {days} days, or never)"
    if not ok:
        observed += _examples(obs.dormant, _dormant_example)
    return Finding(
        ok=ok,
        observed=observed,
        expected=expected,
        meaning="" if ok else "many accounts are unused: each is a way in nobody watches; confirm with their owners "
        "and disable those no longer needed",
        facts=_facts(obs, obs.dormant, total=obs.total, dormant=dormant, dormant_share_pct=round(share, 2)),
    )


def api_keys(obs: ApiKeyReview, *, severity: Severity) -> Finding:
    """SEC4: no expired key is still active (fails at `severity`); active keys unused for `unused_days`
    fail one level below `severity` (a hygiene problem, not an open door)."""
    days = _n(obs.unused_days)
    expected = f"no expired API key still active; no active key unused for {days} days"
    if (found := mapping_problem(obs, "the API keys")) is not None:
        return found
    expired, unused = obs.expired_active, obs.unused
    parts = []
    if expired.count:
        parts.append(
            f"{_plural(expired.count, 'expired API key')} still active"
            + _examples(expired, lambda r: f"{r['id']} (user {r['user_id']}, expired {_age(r['expired_s'])} ago)")
        )
    if unused.count:
        parts.append(
            f"{_plural(unused.count, 'active API key')} unused for {days} days"
            + _examples(
                unused,
                lambda r: f"{r['id']} (user {r['user_id']}, "
                + ("never used" if r["last_used"] is None else f"last used {str(r['last_used'])[:10]}") + ")",
            )
        )
    facts = _facts(
        obs, expired_active=expired.count, unused=unused.count,
        expired_examples=[dict(r) for r in expired.examples], unused_examples=[dict(r) for r in unused.examples],
    )
    if not parts:
        return Finding(ok=True, observed=f"no expired key active, no active key unused for {days} days",
                       expected=expected, facts=facts)
    meaning = []
    if expired.count:
        meaning.append("an expired API key is still accepted: revoke it now")
    if unused.count:
        meaning.append("keys nobody uses are exposure without benefit: ask their owners and revoke the ones not needed")
    return Finding(
        ok=False,
        observed="; ".join(parts),
        expected=expected,
        meaning="; ".join(meaning),
        facts=facts,
        severity=severity if expired.count else one_level_below(severity),
    )


def heavy_api_use(obs: HeavyApiUse, *, max_requests_per_h: float) -> Finding:
    """SEC5: no user + IP made more than `max_requests_per_h` requests per hour of the window."""
    window = _window(obs.window_h)
    expected = f"no user+IP with more than {_n(obs.limit)} API requests in {window} ({_n(max_requests_per_h)} per hour)"
    if (found := mapping_problem(obs, "the API usage log")) is not None:
        return found
    pairs = obs.pairs
    if pairs.count == 0:
        return Finding(ok=True, observed=f"no user+IP over {_n(obs.limit)} requests in the last {window}",
                       expected=expected, facts=_facts(obs, pairs=0))
    return Finding(
        ok=False,
        observed=f"{_plural(pairs.count, 'user+IP pair')} with more than {_n(obs.limit)} API requests in the last "
        f"{window}" + _examples(pairs, lambda r: f"{r['user_id']} from {r['ip']} ({r['requests']})"),
        expected=expected,
        meaning="a client is calling the API far faster than expected: a runaway script or integration, or abuse "
        "with a valid key; identify it, rate-limit or block it, and revoke its key if abuse is confirmed",
        facts=_facts(obs, pairs, pairs=pairs.count),
    )


# --- business -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BusinessHours:
    """Whether the declared business hours are open now, described for messages."""

    open: bool
    description: str  # 08:00-18:00 Africa/Johannesburg, Mon-Sat
    local_now: str  # Sat 14:05
    problem: Finding | None = None  # the time zone cannot be loaded


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def describe_days(days: Iterable[int]) -> str:
    """[1..6] -> Mon-Sat, [1..7] -> every day, [1, 3] -> Mon, Wed."""
    wanted = sorted(set(days))
    if wanted == list(range(1, 8)):
        return "every day"
    runs: list[list[int]] = []
    for day in wanted:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    names = []
    for run in runs:
        first, last = _DAY_NAMES[run[0] - 1], _DAY_NAMES[run[-1] - 1]
        names.append(first if len(run) == 1 else f"{first}, {last}" if len(run) == 2 else f"{first}-{last}")
    return ", ".join(names)


def business_hours(bookings: Bookings, now: datetime) -> BusinessHours:
    """Whether `now` (aware) falls in the declared local window on a declared day. A window whose end
    is before its start runs past midnight and belongs to the day it starts on."""
    description = f"{bookings.business_hours} {bookings.timezone}, {describe_days(bookings.days)}"
    try:
        zone = ZoneInfo(bookings.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        return BusinessHours(
            False,
            description,
            "",
            Finding(
                ok=False,
                observed=f"time zone {bookings.timezone!r} cannot be loaded (environment-file key "
                f"`data.bookings.timezone`): {exc}",
                expected="an IANA time zone name, e.g. Africa/Johannesburg",
                meaning="the business hours cannot be placed in time, so whether bookings are expected now is unknown",
                remediation=(
                    "Correct `data.bookings.timezone` (an IANA name such as Africa/Johannesburg or Europe/London).",
                    "If the name is right, install the time-zone database where the checks run "
                    "(`apt-get install tzdata`, or `pip install tzdata`).",
                ),
                facts={"mapping_key": "data.bookings.timezone", "timezone": bookings.timezone},
            ),
        )
    local = now.astimezone(zone)
    start, end = (_minutes(part) for part in bookings.business_hours.split("-"))
    minute = local.hour * 60 + local.minute
    today, yesterday = local.isoweekday(), (local - timedelta(days=1)).isoweekday()
    if start < end:
        is_open = today in bookings.days and start <= minute < end
    else:  # past midnight: the evening part belongs to today, the early part to yesterday's window
        is_open = (today in bookings.days and minute >= start) or (yesterday in bookings.days and minute < end)
    return BusinessHours(is_open, description, f"{_DAY_NAMES[today - 1]} {local:%H:%M}")


@dataclass(frozen=True)
class BookingWindow:
    """The last `window_h` hours before `now` and their open part under the declared business hours:
    the hours BIZ1 judges (none open: the check is skipped)."""

    window_h: float
    intervals: tuple[tuple[datetime, datetime], ...]  # open parts, [start, end) UTC-aware, oldest first
    judged: str  # Mon 10:00-14:00 (local; ", " between parts)
    description: str  # 08:00-18:00 Africa/Johannesburg, Mon-Sat
    local_now: str  # Mon 14:00
    timezone: str
    problem: Finding | None = None  # the time zone cannot be loaded

    @property
    def open(self) -> bool:
        return bool(self.intervals)

    def holds(self, moment: datetime) -> bool:
        return any(start <= moment < end for start, end in self.intervals)


def booking_window(bookings: Bookings, now: datetime, window_h: float) -> BookingWindow:
    """The open minutes of the declared business hours in the `window_h` hours up to `now` (aware), as
    intervals: the whole window when it is all open, its open part otherwise, nothing when all closed."""
    hours = business_hours(bookings, now)
    if hours.problem is not None:
        return BookingWindow(window_h, (), "", hours.description, hours.local_now, bookings.timezone, hours.problem)
    zone = ZoneInfo(bookings.timezone)
    minute = timedelta(minutes=1)
    end = now.replace(second=0, microsecond=0)
    moment = (now - timedelta(hours=window_h)).replace(second=0, microsecond=0)
    intervals: list[tuple[datetime, datetime]] = []
    while moment <= end:
        if business_hours(bookings, moment).open:
            if intervals and intervals[-1][1] == moment:
                intervals[-1] = (intervals[-1][0], moment + minute)
            else:
                intervals.append((moment, moment + minute))
        moment += minute
    # the window's own bounds: it starts window_h before now and ends at now
    first = now - timedelta(hours=window_h)
    bounded = tuple((max(a, first), min(b, now)) for a, b in intervals if min(b, now) > max(a, first))
    return BookingWindow(
        window_h, bounded, ", ".join(_describe_interval(a, b, zone) for a, b in bounded), hours.description,
        hours.local_now, bookings.timezone,
    )


def _describe_interval(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """Mon 10:00-14:00, or Fri 22:00-Sat 02:00 across midnight (local time)."""
    a, b = start.astimezone(zone), end.astimezone(zone)
    first = f"{_DAY_NAMES[a.isoweekday() - 1]} {a:%H:%M}"
    if a.date() == b.date():
        return f"{first}-{b:%H:%M}"
    if b.time() == datetime.min.time() and (b - a) <= timedelta(days=1):
        return f"{first}-24:00"
    return f"{first}-{_DAY_NAMES[b.isoweekday() - 1]} {b:%H:%M}"


def recent_bookings(obs: RecentBookings, window: BookingWindow, *, min_bookings: float) -> Finding:
    """BIZ1 (some of the window open): at least `min_bookings` bookings in the window's open hours."""
    span = _window(window.window_h)
    # the hours judged are in `observed`: `expected` stays the same from run to run (and under -n)
    expected = (
        f"at least {_plural(int(min_bookings), 'booking')} created in the open business hours of the last {span} "
        f"({window.timezone})"
    )
    if (found := mapping_problem(obs, "the bookings")) is not None:
        return found
    count = sum(n for minute, n in obs.per_minute if window.holds(minute))
    ok = count >= min_bookings
    return Finding(
        ok=ok,
        observed=f"{_plural(count, 'booking')} created in the open business hours of the last {span}: "
        f"{window.judged} (now {window.local_now}; business hours {window.description})",
        expected=expected,
        meaning="" if ok else "no bookings are being recorded although the business was open: the booking flow may "
        "be failing silently (pages load, submissions or payments fail)",
        facts=_facts(
            obs, bookings=count, bookings_in_window=obs.count, judged_hours=window.judged,
            judged_intervals=[[a.isoformat(), b.isoformat()] for a, b in window.intervals],
            business_hours=window.description, local_now=window.local_now,
        ),
    )


def outside_hours_reason(window: BookingWindow) -> str:
    """The skip reason of BIZ1 when none of its window is open."""
    return (
        f"outside business hours ({window.description}; now {window.local_now}, none of the last "
        f"{_window(window.window_h)} open): no bookings expected"
    )
