"""What a site answers: the common paths and the home page's same-host links that answer 2xx/3xx,
with their status and content type, and the status-like fields of a JSON health endpoint.

Only GET requests, at most MAX_REQUESTS of them, each bounded by its deadline (probes.http.fetch), a
few at a time."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from ..probes import http
from ..probes.http import HttpObservation, HttpRequest
from ..probes.lookup import Lookup, first_address
from . import shown, unsafe

COMMON_PATHS = ("/", "/health", "/healthz", "/api/health", "/status", "/login", "/robots.txt", "/sitemap.xml")
HEALTH_PATHS = frozenset({"/health", "/healthz", "/api/health", "/status", "/api/status", "/ready", "/readyz"})
MAX_REQUESTS = 20  # common paths and links together
MAX_BODY_BYTES = 262_144
AT_ONCE = 4
# values of a JSON health field that say "healthy"; anything else is left out (and said)
HEALTHY_WORDS = frozenset({
    "ok", "up", "healthy", "pass", "passing", "passed", "connected", "green", "available", "running", "ready",
    "online", "operational", "alive", "good", "success", "reachable", "serving",
})
STATUS_KEYS = re.compile(r"(status|state|health|healthy|ok|up|ready|alive|connected|available)$", re.IGNORECASE)
MAX_CONDITIONS = 10


@dataclass(frozen=True)
class Answer:
    """One path that answered 2xx/3xx."""

    path: str
    status: int
    content_type: str  # the media type, '' when absent
    location: str = ""
    found_by: str = "common path"  # or "link on /"


@dataclass(frozen=True)
class HealthField:
    path: str  # dot path into the JSON body
    value: str | bool


@dataclass(frozen=True)
class Health:
    answer: Answer
    fields: tuple[HealthField, ...] = ()
    unhealthy: tuple[str, ...] = ()  # "checks.db = 'degraded'": status-like fields left out
    text: str | None = None  # a short plain-text body (e.g. "OK")
    refused: tuple[str, ...] = ()  # values that cannot be written safely, as the terminal shows them


@dataclass
class Site:
    base_url: str
    pages: list[Answer] = field(default_factory=list)
    health: list[Health] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "/login: HTTP 404": what did not answer 2xx/3xx
    refused: list[str] = field(default_factory=list)  # discovered values left out: not safe to write
    requests: int = 0


class SiteUnreachable(Exception):
    """The base URL's home page got no HTTP answer at all."""

    def __init__(self, observation: HttpObservation) -> None:
        self.observation = observation
        super().__init__(observation.summary())


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(value for name, value in attrs if name == "href" and value)


def same_host_links(base_url: str, page_url: str, html: str, limit: int) -> list[str]:
    """Paths of the links on a page that stay on the base URL's host (no query, no fragment)."""
    parser = _Links()
    try:
        parser.feed(html)
    except Exception:  # noqa: BLE001 - a page that does not parse has no links to follow
        return []
    base = urlsplit(base_url)
    prefix = base.path.rstrip("/")
    paths: list[str] = []
    for href in parser.hrefs:
        target = urlsplit(urljoin(page_url, href.strip()))
        if target.scheme not in ("http", "https") or target.netloc != base.netloc:
            continue
        path = target.path or "/"
        if prefix and not path.startswith(prefix + "/"):
            continue
        path = path[len(prefix):] or "/"
        if ".." in path or not re.fullmatch(r"/[A-Za-z0-9._~/%-]*", path) or path in paths:
            continue
        paths.append(path)
        if len(paths) >= limit:
            break
    return paths


def health_fields(body: Any, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, Any, bool]]:
    """(dot path, value, healthy) of the status-like leaves of a JSON health body: a string field
    whose value is a healthy word (`status: ok`, `database: connected`), or whose key names a state
    (`status: degraded`, then healthy=False) or that sits beside a healthy one in a nested group
    (`checks: {db: connected, cache: degraded}`), and a `true` under a status-like key (`ready: true`)."""
    if not isinstance(body, dict) or depth > 3:
        return
    # a nested group with a healthy member ({"checks": {"db": "connected", "cache": "degraded"}}) is a
    # group of states: its other one-word members are states too
    group = bool(prefix) and any(isinstance(v, str) and v.strip().lower() in HEALTHY_WORDS for v in body.values())
    for key, value in body.items():
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", key):
            continue  # a dot path cannot name it
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from health_fields(value, f"{path}.", depth + 1)
        elif isinstance(value, bool):
            if STATUS_KEYS.search(key) or prefix:
                yield path, value, value
        elif isinstance(value, str) and len(value) <= 40:
            if value.strip().lower() in HEALTHY_WORDS:
                yield path, value, True
            elif STATUS_KEYS.search(key) or (group and re.fullmatch(r"[A-Za-z][A-Za-z_ -]{1,30}", value)):
                yield path, value, False


def _health(answer: Answer, observation: HttpObservation) -> Health:
    if answer.content_type.endswith("json"):
        try:
            body = observation.json()
        except ValueError:
            return Health(answer)
        found = list(health_fields(body))
        refused = tuple(f"{answer.path} field {p} = {shown(v)}: {why}" for p, v, _ in found
                        if isinstance(v, str) and (why := unsafe(v)))
        found = [(p, v, ok) for p, v, ok in found if not (isinstance(v, str) and unsafe(v))]
        fields = tuple(HealthField(p, v) for p, v, ok in found if ok)[:MAX_CONDITIONS]
        unhealthy = tuple(f"{p} = {v!r}" for p, v, ok in found if not ok)
        return Health(answer, fields, unhealthy, refused=refused)
    text = observation.text().strip()
    if answer.content_type.startswith("text/plain") and 0 < len(text) <= 20 and "\n" not in text:
        why = unsafe(text)
        if why:
            return Health(answer, refused=(f"{answer.path} body {shown(text)}: {why}",))
        return Health(answer, text=text)
    return Health(answer)


def _answer(path: str, observation: HttpObservation, found_by: str) -> Answer:
    return Answer(path, observation.status or 0, observation.content_type, observation.headers.get("location", ""),
                  found_by)


def discover(
    base_url: str, ca_bundle: str | None, verify: bool, timeout_s: float, lookup: Lookup = first_address
) -> Site:
    """GET the common paths and the home page's links under `base_url`, connecting where `lookup`
    says (--resolve pins, the --nameserver resolver); raises SiteUnreachable when the home page gets
    no HTTP answer."""
    client = http.make_client(http.tls_context(verify, ca_bundle), lookup)
    base = base_url.rstrip("/")
    site = Site(base_url)

    def get(path: str) -> HttpObservation:
        return http.fetch(client, HttpRequest("GET", base + path, timeout_s=timeout_s), MAX_BODY_BYTES)

    try:
        home = get("/")
        site.requests += 1
        if home.error is not None:
            raise SiteUnreachable(home)
        links: list[str] = []
        if home.status is not None and home.status < 300 and "html" in home.content_type:
            room = MAX_REQUESTS - len(COMMON_PATHS)
            links = [p for p in same_host_links(base_url, base + "/", home.text(), room + len(COMMON_PATHS))
                     if p not in COMMON_PATHS][:room]
        wanted: list[tuple[str, str]] = [(p, "common path") for p in COMMON_PATHS[1:]]
        wanted += [(p, "link on /") for p in links]
        with ThreadPoolExecutor(AT_ONCE, thread_name_prefix="healthsuite-init") as pool:
            answers = list(pool.map(get, [p for p, _ in wanted]))
        site.requests += len(answers)
        for (path, found_by), observation in [(("/", "common path"), home), *zip(wanted, answers, strict=True)]:
            if observation.error is not None:
                site.skipped.append(f"{path}: {observation.error.kind_name}")
                continue
            status = observation.status or 0
            if not 200 <= status < 400:
                site.skipped.append(f"{path}: HTTP {status}")
                continue
            answer = _answer(path, observation, found_by)
            why = unsafe(answer.content_type)
            if why:
                site.refused.append(f"{path} content type {shown(answer.content_type)}: {why}")
                answer = Answer(answer.path, answer.status, "", answer.location, answer.found_by)
            why = unsafe(answer.location)
            if why:  # the comment that would say where it redirects says nothing
                site.refused.append(f"{path} Location {shown(answer.location)}: {why}")
                answer = Answer(answer.path, answer.status, answer.content_type, "", answer.found_by)
            if status < 300 and (path in HEALTH_PATHS or "health" in path) and not answer.content_type.endswith("html"):
                site.health.append(_health(answer, observation))
            else:
                site.pages.append(answer)
    finally:
        client.close()
    return site


def names(paths: Sequence[str], taken: set[str]) -> list[str]:
    """Target names for paths: `/` home, `/api/health` api-health, unique within `taken`."""
    out = []
    for path in paths:
        slug = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")[:50] or "home"
        name, number = slug, 2
        while name in taken:
            name, number = f"{slug}-{number}", number + 1
        taken.add(name)
        out.append(name)
    return out
