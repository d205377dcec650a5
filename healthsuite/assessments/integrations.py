"""Judge the external integrations: the calendar API (EXT1), the error tracker's new issues (EXT2) and
external dependencies against their latency budget (EXT3)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from ..catalogue.diagnoses import Catalogue
from ..model.integrations import ExternalDependency
from ..probes.http import HttpObservation
from ..probes.integrations import IssueList
from . import status_meaning
from .failure import Finding, probe_failure

TITLE_CHARS = 60  # EXT2: issue titles may carry user data; only their start is shown


_QUOTA_REASONS = ("ratelimitexceeded", "userratelimitexceeded", "quotaexceeded", "dailylimitexceeded")


_SCOPE_REASONS = ("insufficientpermissions", "access_token_scope_insufficient", "forbidden")


def google_error(obs: HttpObservation) -> tuple[str, str]:
    """(reason, message) of a Google API error body ({"error": {"message", "status", "errors": [{"reason"}]}})."""
    try:
        document = obs.json()
    except ValueError:
        return "", obs.text(160)
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return "", obs.text(160)
    reasons = [e.get("reason", "") for e in error.get("errors", []) if isinstance(e, dict)]
    details = [d.get("reason", "") for d in error.get("details", []) if isinstance(d, dict)]
    reason = next((r for r in (*reasons, *details, error.get("status", "")) if r), "")
    return str(reason), str(error.get("message", ""))[:160]


def calendar(obs: HttpObservation, catalogue: Catalogue) -> Finding:
    """EXT1: 200 with the access token. 401 = token expired or revoked, 403 = scope or quota (by Google's
    reason), 429 = quota, 5xx or no answer = the provider is down."""
    expected = "HTTP 200 with the configured access token"
    if obs.error is not None:
        failure = probe_failure(obs.error, catalogue, expected)
        return replace(
            failure,
            meaning="the calendar provider could not be reached: it is down, or the network path to it is broken; "
            "bookings are not synced to calendars meanwhile",
            remediation=("Check Google's status: https://www.google.com/appsstatus/dashboard/",),
        )
    assert obs.status is not None
    if obs.status == 200:
        try:
            document = obs.json()
            items = document.get("items") if isinstance(document, dict) else None
        except ValueError:
            items = None
        listed = f": {len(items)} calendars listed" if isinstance(items, list) else ""
        return Finding(
            ok=True,
            observed=f"{obs.summary()}{listed}",
            expected=expected,
            facts={"status": 200, "elapsed_ms": round(obs.elapsed_s * 1000, 1)},
        )
    reason, message = google_error(obs)
    said = f" ({reason}: {message})" if reason or message else ""
    observed = f"{obs.summary()}{said}"
    low = reason.lower()
    remediation: tuple[str, ...] = ()
    if obs.status == 401:
        meaning = (
            "the access token is expired or was revoked: Google no longer accepts it, so calendar sync fails. "
            "Access tokens live about an hour and must be refreshed with the refresh token; a revoked grant "
            "(the user removed the app's access or changed password) needs the user to re-authorize"
        )
        remediation = (
            "Refresh it with the refresh token, or have the account owner re-authorize the integration; then update "
            "the secret both the application and these checks read (tokeninfo answering invalid_token confirms it).",
        )
    elif obs.status == 429 or (obs.status == 403 and low in _QUOTA_REASONS):
        meaning = (
            f"Google throttles the project ({reason or obs.status}): a rate limit or the daily quota is exhausted"
        )
        remediation = ("Check the quotas of the Calendar API in the Google Cloud Console (APIs & Services > Quotas).",)
    elif obs.status == 403 and low == "accessnotconfigured":
        meaning = "the Calendar API is not enabled in the Google Cloud project of this OAuth client"
        remediation = ("Enable the Google Calendar API in the Cloud Console (APIs & Services > Library).",)
    elif obs.status == 403:
        meaning = (
            f"the token is valid but not allowed ({reason or 'forbidden'}): it lacks the Calendar scope, or a "
            "quota forbids the call"
        )
        remediation = (
            "Check the token's scopes with the tokeninfo call (it must include "
            "https://www.googleapis.com/auth/calendar or calendar.readonly) and re-authorize with them.",
        )
    elif obs.status >= 500:
        meaning = f"Google's API answers {obs.status}: the provider has an incident (not this configuration)"
        remediation = ("Check Google's status: https://www.google.com/appsstatus/dashboard/ and retry later.",)
    else:
        meaning, _ = status_meaning(obs.status, catalogue)
        meaning = meaning or f"an unexpected answer: check `integrations.calendar.url` ({obs.url})"
    return Finding(
        ok=False,
        observed=observed,
        expected=expected,
        meaning=meaning,
        remediation=remediation,
        facts={"status": obs.status, "reason": reason},
    )


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def short_title(title: str, limit: int = TITLE_CHARS) -> str:
    """An issue title as it may be shown: e-mail addresses masked, cut at `limit` characters (titles carry
    exception messages, which may quote user data)."""
    masked = _EMAIL.sub("<email>", " ".join(title.split()))
    return masked if len(masked) <= limit else masked[: limit - 3] + "..."


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_TRACKER_STATUSES = {
    401: "the tracker rejects the API token: it is invalid, expired or revoked (create a new one with project:read)",
    403: "the token may not read this project: it lacks the project:read scope or the organization membership",
    404: "no such organization or project: check `integrations.error_tracker.organization` and `.project` "
    "(the slugs in the tracker's URLs)",
    429: "the tracker throttles the API token (rate limit)",
}


def new_issues(
    obs: IssueList, max_new: float, window_h: float, top: int, catalogue: Catalogue, now: datetime | None = None
) -> Finding:
    """EXT2: fewer than `max_new` issues first seen in the last `window_h` hours; the top ones (by events)
    are listed with their titles masked and truncated."""
    expected = f"fewer than {max_new:g} new issues in the last {window_h:g} h"
    response = obs.response
    if response.status != 200:
        meaning = _TRACKER_STATUSES.get(response.status or 0, "")
        if not meaning:
            status_text, _ = status_meaning(response.status, catalogue)
            meaning = f"the error tracker is failing ({status_text})" if status_text else "an unexpected answer"
        return Finding(
            ok=False,
            observed=f"{response.summary()}: {response.text(160)!r}" if response.body else response.summary(),
            expected=expected,
            meaning=meaning,
            facts={"status": response.status},
        )
    if obs.problem:
        return Finding(
            ok=False,
            observed=obs.problem,
            expected=expected,
            meaning="the answer is not Sentry's issue list: check `integrations.error_tracker.url`",
        )
    cutoff = (now or datetime.now(UTC)) - timedelta(hours=window_h)
    new = [i for i in obs.issues if (seen := _parse_time(i.first_seen)) is None or seen >= cutoff]
    new.sort(key=lambda i: i.count, reverse=True)
    count = f"at least {len(new)}" if obs.more else str(len(new))
    ok = len(new) < max_new
    listed = [
        f"{f'[{i.short_id}] ' if i.short_id else ''}{short_title(i.title)} ({i.count} events)" for i in new[:top]
    ]
    observed = f"{count} new issues in the last {window_h:g} h"
    if listed:
        observed += "; top: " + "; ".join(listed)
    return Finding(
        ok=ok,
        observed=observed,
        expected=expected,
        meaning=""
        if ok
        else f"{count} new kinds of error appeared in {window_h:g} h: something changed (a deployment, a failing "
        "dependency); open them in the tracker, grouped by release",
        facts={
            "new_issues": len(new),
            "more_pages": obs.more,
            "top_issues": [
                {"id": i.short_id, "title": short_title(i.title), "events": i.count, "level": i.level,
                 "first_seen": i.first_seen}
                for i in new[:top]
            ],
        },
    )


def _slowest_phase(obs: HttpObservation) -> str:
    if obs.timings is None:
        return ""
    phases = {k: v for k, v in obs.timings.phases().items() if v is not None}
    name, ms = max(phases.items(), key=lambda kv: kv[1])
    where = {
        "server": "the service itself is slow to answer",
        "dns": "name resolution is slow",
        "connect": "the network path (TCP connect) is slow",
        "tls": "the TLS handshake is slow",
        "transfer": "the body is slow to arrive",
    }[name]
    return f"most of the time is {name} ({ms:.0f} ms): {where}"


def dependency(target: ExternalDependency, obs: HttpObservation, budget_ms: float, catalogue: Catalogue) -> Finding:
    """EXT3: an answer (any status under 500, or the declared expect_status) within the budget; a slow
    answer is reported with its curl -w timing breakdown."""
    declared = "expect_status" in target.model_fields_set
    statuses = " or ".join(str(s) for s in target.expected_statuses)
    expected = f"{'HTTP ' + statuses if declared else 'an answer under 500'} within {budget_ms:g} ms"
    if obs.error is not None:
        failure = probe_failure(obs.error, catalogue, expected)
        return replace(
            failure,
            observed=f"{failure.observed} after {obs.elapsed_s * 1000:.0f} ms",
            meaning="the dependency did not answer: calls from the application fail or hang until their timeout",
        )
    assert obs.status is not None
    status_ok = obs.status in target.expected_statuses if declared else obs.status < 500
    total_ms = obs.timings.total if obs.timings is not None else obs.elapsed_s * 1000
    fast = total_ms <= budget_ms
    observed = f"HTTP {obs.status} in {total_ms:.0f} ms (budget {budget_ms:g} ms)"
    if not fast and obs.timings is not None:
        observed += f": {obs.timings.summary()}"
    meanings = []
    causes: tuple[str, ...] = ()
    if not status_ok:
        status_text, causes = status_meaning(obs.status, catalogue)
        meanings.append(f"the dependency answers {obs.status}" + (f" ({status_text})" if status_text else ""))
    if not fast:
        meanings.append(f"it answers {total_ms - budget_ms:.0f} ms over its budget; " + _slowest_phase(obs))
    return Finding(
        ok=status_ok and fast,
        observed=observed,
        expected=expected,
        meaning="; ".join(m for m in meanings if m),
        causes=causes,
        facts={
            "status": obs.status,
            "total_ms": total_ms,
            "budget_ms": budget_ms,
            **({"timings": obs.timings.as_dict()} if obs.timings is not None else {}),
        },
    )

