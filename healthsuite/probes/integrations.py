"""HTTP probes of the external integrations: the calendar API (EXT1), the error tracker's new issues (EXT2)
and external dependencies (EXT3).

External services get a request of their own (`external_request`): the target's headers and token
only, never the environment's `http.headers`, which are the application's credentials. They go through
the run's HTTP client (its TLS settings) and are probed once per run, like every other request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from ..environment.loaded import LoadedEnvironment
from ..model.integrations import ErrorTracker, ExternalDependency
from ..model.targets import HttpTarget, Target
from ..model.types import SecretTemplate
from .errors import ProbeError
from .http import HttpObservation, HttpRequest

if TYPE_CHECKING:
    from .session import ProbeSession


def bearer(env: LoadedEnvironment, target: Target, token: SecretTemplate) -> tuple[str, str]:
    """The Authorization header; the token is registered as a secret when it is resolved."""
    return "authorization", "Bearer " + env.resolve(token, env.where(target, "token"))


def external_request(
    env: LoadedEnvironment,
    target: HttpTarget,
    token: SecretTemplate | None = None,
    timeout_s: float | None = None,
) -> HttpRequest:
    """A request to a third party: its own headers and token, not the environment's http.headers."""
    headers = {k.lower(): env.resolve(v, env.where(target, f"headers.{k}")) for k, v in target.headers.items()}
    if token is not None:
        headers.update([bearer(env, target, token)])
    return HttpRequest(
        method=target.method,
        url=env.url_of(target),
        headers=tuple(sorted(headers.items())),
        follow_redirects=target.follow_redirects,
        timeout_s=timeout_s or target.timeout_s or env.model.timeouts.http_s,
    )


def dependency_request(env: LoadedEnvironment, target: ExternalDependency, budget_ms: float) -> HttpRequest:
    """EXT3: waits a little past the budget (unless timeout_s says otherwise), so a slow answer still
    arrives with its timing breakdown instead of a bare timeout."""
    timeout_s = target.timeout_s or min(600.0, max(budget_ms / 1000 + 5, env.model.timeouts.http_s))
    return external_request(env, target, target.token, timeout_s)


def fetch_once(probes: ProbeSession, request: HttpRequest) -> HttpObservation:
    """Through the run's client and probe cache (the same key as `ProbeSession.http`)."""
    return probes.send(request)


@dataclass(frozen=True)
class Issue:
    title: str
    culprit: str = ""
    level: str = ""
    count: int = 0  # events
    first_seen: str = ""  # ISO 8601, as the tracker wrote it
    short_id: str = ""


@dataclass(frozen=True)
class IssueList:
    url: str
    response: HttpObservation
    issues: tuple[Issue, ...] = ()
    more: bool = False  # the tracker has a next page: the count is a lower bound
    problem: str = ""  # the answer is not an issue list

    @property
    def error(self) -> ProbeError | None:
        return self.response.error


PAGE_SIZE = 100


def issues_url(base: str, organization: str, project: str, query: str, window_h: float) -> str:
    hours = f"{window_h:g}h"
    params = {"statsPeriod": "24h", "query": f"{query} firstSeen:-{hours}".strip(), "limit": str(PAGE_SIZE)}
    path = f"/api/0/projects/{quote(organization, safe='')}/{quote(project, safe='')}/issues/"
    return base.rstrip("/") + path + "?" + urlencode(params)


def _issue(item: Mapping[str, object]) -> Issue:
    count = item.get("count", 0)
    return Issue(
        title=str(item.get("title") or item.get("metadata") or "(no title)"),
        culprit=str(item.get("culprit") or ""),
        level=str(item.get("level") or ""),
        count=int(count) if isinstance(count, (int, str)) and str(count).isdigit() else 0,
        first_seen=str(item.get("firstSeen") or ""),
        short_id=str(item.get("shortId") or ""),
    )


def new_issues(probes: ProbeSession, tracker: ErrorTracker, window_h: float) -> IssueList:
    """Sentry's `GET /api/0/projects/{org}/{project}/issues/?query=<query> firstSeen:-<window>h`, one page."""
    env = probes.env
    url = issues_url(
        env.resolve(tracker.url, env.where(tracker, "url")),
        env.resolve(tracker.organization, env.where(tracker, "organization")),
        env.resolve(tracker.project, env.where(tracker, "project")),
        tracker.query,
        window_h,
    )
    request = HttpRequest(
        "GET",
        url,
        (("accept", "application/json"), bearer(env, tracker, tracker.token)),
        timeout_s=tracker.timeout_s or env.model.timeouts.http_s,
    )
    response = fetch_once(probes, request)
    if response.error is not None or response.status != 200:
        return IssueList(url, response)
    try:
        document = response.json()
    except ValueError:
        return IssueList(url, response, problem=f"the answer is not JSON: {response.text(120)!r}")
    if not isinstance(document, list):
        return IssueList(url, response, problem=f"the answer is not a list of issues: {response.text(120)!r}")
    issues = tuple(_issue(item) for item in document if isinstance(item, dict))
    link = response.headers.get("link", "")
    more = any('rel="next"' in part and 'results="true"' in part for part in link.split(","))
    return IssueList(url, response, issues, more)

