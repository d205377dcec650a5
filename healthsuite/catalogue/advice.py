"""Advice that fits what was seen: a failure's causes and steps chosen for its target and observation.

The catalogue's causes and steps are written once per diagnosis; a failure block tailors them:

- **by engine, platform and what was observed.** A cause or step may start with tags in brackets,
  `[sqlite] ...`, `[postgres] ...`, `[kubernetes] ...`, `[refused,timeout] ...`, `[http_500] ...`:
  - an engine tag (`postgres`, `sqlite`) keeps it only for a target of that engine (a target that has
    no engine keeps it too);
  - a platform tag (`cloudflare`, `docker-compose`, `kubernetes`, `planetscale`, `systemd`: PLATFORMS)
    keeps it only when the environment declares that platform (its `platform:` key);
  - any other tag is a kind of observation: a transport error's kind (`facts.failure_kind`: refused,
    timeout, auth_failed, ...) or an HTTP status (`http_500`, or its class `http_5xx`, from
    `facts.status`). It is kept when what was observed is among its tags, or when nothing was.
  An untagged one is always kept, unless one of its commands runs a platform's own program
  (`wrangler`, `docker-compose`, `docker`, `kubectl`, `pscale`, `systemctl`, `journalctl`) the
  environment does not declare: those are left out as a platform tag would.
- **filled in.** The commands (the spans in backticks) name the target's real values where the
  catalogue has placeholders: `HOST`, `PORT`, `NAME` (a TLS server name, a DNS name), `FILE` (an
  SQLite file), and in angle brackets `<host>`, `<port>`, `<name>`, `<db>`, `<user>`, `<url>` (the
  target's whole URL: scheme, host, the port unless it is the scheme's default, and its path),
  `<base_url>` (the same without the path), `<env>` (the environment's name, as in `--env <env>`),
  `<origin>` (a CORS origin), `<http_url>`, `<file>`. A URL written `https://<host>/...` is rebuilt on
  the target's own scheme and port.
- **said once.** A step whose commands were all given by an earlier step says nothing new and is
  left out (DB1's two `pg_isready` lines, NET5's two `openssl` ones), as is a step or cause said twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

# what an environment runs on (its `platform:` key): failure advice gives these platforms' commands only
Platform = Literal["cloudflare", "docker-compose", "kubernetes", "planetscale", "systemd"]
PLATFORMS: tuple[Platform, ...] = Platform.__args__  # type: ignore[attr-defined]


_TAGS = re.compile(r"^\[([a-z0-9_,\s-]+)\]\s*")
_CODE = re.compile(r"`([^`]+)`")
ENGINES = frozenset({"postgres", "sqlite"})
# the programs that exist only on a platform: a command running one is that platform's advice
PLATFORM_PROGRAMS = {
    "wrangler": "cloudflare", "docker-compose": "docker-compose", "docker": "docker-compose",
    "kubectl": "kubernetes", "pscale": "planetscale", "systemctl": "systemd", "journalctl": "systemd",
}
_ALIASES = {"HOST": "host", "PORT": "port", "NAME": "name", "FILE": "file", "db": "database"}
# SQL's own words (DATABASE, USER) are never placeholders: `GRANT CONNECT ON DATABASE app TO monitor`
_TOKEN = re.compile(r"<([a-z][a-z_]*)>|\b(HOST|PORT|NAME|FILE)\b")
# a URL the catalogue writes on a bare host (`https://<host>/api/health`): rebuilt on the target's base URL
_HOST_URL = re.compile(r"https?://(?:<host>|HOST)(?::(?:<port>|PORT))?")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class AdviceContext:
    """What is known of the failing check: its target's engine and real values, the environment's
    platforms, and what was observed (a transport error's kind, an HTTP status)."""

    engine: str = ""  # postgres | sqlite | "" (not a database)
    failure_kind: str = ""  # a transport error's kind (refused, timeout, auth, ...) or ""
    # host, port, name, database, user, file, scheme, path, url, base_url, env, origin, http_url
    values: Mapping[str, str] = field(default_factory=dict)
    platforms: frozenset[str] = frozenset()  # the environment's `platform:` (PLATFORMS)
    status: int | None = None  # the HTTP status answered, when there was an answer

    @property
    def observed(self) -> frozenset[str]:
        """The observation's kinds the tags are matched with: `refused`, `http_500`, `http_5xx`."""
        kinds = {self.failure_kind} if self.failure_kind else set()
        if self.status is not None:
            kinds |= {f"http_{self.status}", f"http_{self.status // 100}xx"}
        return frozenset(kinds)


def url_values(url: str) -> dict[str, str]:
    """The values a URL target fills: scheme, host, port (the scheme's default when not written),
    path, `url` (the whole URL) and `base_url` (scheme, host and the port unless it is the default)."""
    parts = urlsplit(url)
    scheme = parts.scheme or "http"
    host = parts.hostname or ""
    default = DEFAULT_PORTS.get(scheme, 80)
    port = parts.port or default
    shown = f"[{host}]" if ":" in host else host
    base = f"{scheme}://{shown}" + (f":{port}" if port != default else "")
    path = parts.path or "/"
    whole = base + path + (f"?{parts.query}" if parts.query else "")
    return {"scheme": scheme, "host": host, "port": str(port), "path": path, "url": whole, "base_url": base}


def _split_tags(text: str) -> tuple[frozenset[str], str]:
    match = _TAGS.match(text)
    if not match:
        return frozenset(), text
    return frozenset(t.strip() for t in match.group(1).split(",") if t.strip()), text[match.end():]


def _applies(tags: frozenset[str], context: AdviceContext) -> bool:
    if not tags:
        return True
    engines, platforms = tags & ENGINES, tags & frozenset(PLATFORMS)
    kinds = tags - engines - platforms
    if engines and context.engine and context.engine not in engines:
        return False
    if platforms and not platforms & context.platforms:
        return False
    observed = context.observed
    return not (kinds and observed and not kinds & observed)


def fill(text: str, values: Mapping[str, str]) -> str:
    """The commands of `text` with the placeholders it has values for replaced."""
    if not values:
        return text

    def value(token: re.Match[str]) -> str:
        name = token.group(1) or token.group(2)
        return values.get(_ALIASES.get(name, name), token.group(0))

    def in_code(span: re.Match[str]) -> str:
        code = span.group(1)
        if "base_url" in values:
            code = _HOST_URL.sub(lambda _: values["base_url"], code)
        return f"`{_TOKEN.sub(value, code)}`"

    return _CODE.sub(in_code, text)


def platforms_of(text: str) -> set[str]:
    """The platforms whose own programs the commands of `text` run (`wrangler` -> cloudflare)."""
    found: set[str] = set()
    for segment in (part for span in _CODE.findall(text) for part in re.split(r"\||&&|;", span)):
        words = segment.split()
        if words and words[0] in PLATFORM_PROGRAMS:
            found.add(PLATFORM_PROGRAMS[words[0]])
    return found


def _command_heads(text: str) -> set[str]:
    """What each command of a step runs: its program and up to two subcommands, past its options and
    their values (`docker-compose logs postgres`, `wrangler secret put`, `openssl s_client`, `pg_isready`,
    `redis-cli ping` and `redis-cli info stats` of `redis-cli -h cache -p 6379 info stats`)."""
    heads: set[str] = set()
    for segment in (part for span in _CODE.findall(text) for part in span.split("|")):
        words = segment.split()
        if not words or words[0] in _PLUMBING:
            continue
        head = [words[0]]
        for before, word in zip(words, words[1:], strict=False):  # subcommands: not options or their values
            if word.startswith("-") or (before.startswith("-") and not before.startswith("--")):
                continue  # an option, or a short option's value: `-h cache`, `-p 6379`, `-U monitor`
            if len(head) == 3 or not re.fullmatch(r"[a-z_][a-z0-9_-]*", word):
                break
            head.append(word)
        heads.add(" ".join(head))
    return heads


_PLUMBING = frozenset({"echo", "grep", "head", "tail", "sort", "cat", "wc", "less", "jq"})  # a pipeline's glue


def _normalized(text: str) -> str:
    return re.sub(r"\W+", " ", text).strip().lower()


def tailor_causes(causes: Iterable[str], context: AdviceContext) -> list[str]:
    kept: list[str] = []
    seen: set[str] = set()
    for cause in causes:
        tags, text = _split_tags(cause)
        key = _normalized(text)
        if text and _applies(tags, context) and key not in seen:
            seen.add(key)
            kept.append(text)
    return kept


def tailor_steps(steps: Iterable[str], context: AdviceContext) -> list[str]:
    kept: list[str] = []
    seen_text: set[str] = set()
    seen_heads: set[str] = set()
    for step in steps:
        tags, text = _split_tags(step)
        if not text or not _applies(tags, context) or not platforms_of(text) <= context.platforms:
            continue  # not for this target, this observation or this environment's platforms
        text = fill(text, context.values)
        key, heads = _normalized(text), _command_heads(text)
        if key in seen_text or (heads and heads <= seen_heads):
            continue  # said already: the same words, or only commands an earlier step gave
        seen_text.add(key)
        seen_heads |= heads
        kept.append(text)
    return kept
