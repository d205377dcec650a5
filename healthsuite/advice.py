"""Advice that fits what was seen: a failure's causes and steps chosen for its target and observation.

The catalogue's causes and steps are written once per diagnosis; a failure block tailors them:

- **by engine and failure kind.** A cause or step may start with tags in brackets, `[sqlite] ...`,
  `[postgres] ...`, `[auth] ...`, `[refused,timeout] ...`: it is kept only for a target of that engine,
  or an observation of that failure kind (a transport error's kind, `facts.failure_kind`). An
  untagged one is always kept; an engine tag on a target that has no engine keeps it too.
- **filled in.** The commands (the spans in backticks) name the target's real values where the
  catalogue has placeholders: `HOST`, `PORT`, `NAME` (a TLS server name, a DNS name), `FILE` (an
  SQLite file), and in angle brackets `<host>`, `<port>`, `<name>`, `<db>`, `<user>`.
- **said once.** A step whose commands were all given by an earlier step says nothing new and is
  left out (DB1's two `pg_isready` lines, NET5's two `openssl` ones), as is a step or cause said twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

_TAGS = re.compile(r"^\[([a-z_,\s]+)\]\s*")
_CODE = re.compile(r"`([^`]+)`")
ENGINES = frozenset({"postgres", "sqlite"})
_PLACEHOLDERS = {
    "HOST": "host", "PORT": "port", "NAME": "name", "FILE": "file",
    "<host>": "host", "<port>": "port", "<db>": "database", "<database>": "database", "<name>": "name",
    "<user>": "user",
}
# SQL's own words (DATABASE, USER) are never placeholders: `GRANT CONNECT ON DATABASE app TO monitor`
_TOKEN = re.compile(r"<host>|<port>|<db>|<database>|<name>|<user>|\b(?:HOST|PORT|NAME|FILE)\b")


@dataclass(frozen=True)
class AdviceContext:
    """What is known of the failing check: its target's engine and real values, the failure's kind."""

    engine: str = ""  # postgres | sqlite | "" (not a database)
    failure_kind: str = ""  # a transport error's kind (refused, timeout, auth, ...) or ""
    values: Mapping[str, str] = field(default_factory=dict)  # host, port, name, database, user, file


def _split_tags(text: str) -> tuple[frozenset[str], str]:
    match = _TAGS.match(text)
    if not match:
        return frozenset(), text
    return frozenset(t.strip() for t in match.group(1).split(",") if t.strip()), text[match.end():]


def _applies(tags: frozenset[str], context: AdviceContext) -> bool:
    if not tags:
        return True
    engines, kinds = tags & ENGINES, tags - ENGINES
    if engines and context.engine and context.engine not in engines:
        return False
    return not (kinds and context.failure_kind and context.failure_kind not in kinds)


def fill(text: str, values: Mapping[str, str]) -> str:
    """The commands of `text` with the placeholders it has values for replaced."""
    if not values:
        return text

    def in_code(span: re.Match[str]) -> str:
        def value(token: re.Match[str]) -> str:
            return values.get(_PLACEHOLDERS[token.group(0)], token.group(0))

        return f"`{_TOKEN.sub(value, span.group(1))}`"

    return _CODE.sub(in_code, text)


def _command_heads(text: str) -> set[str]:
    """What each command of a step runs: its program and the subcommands before its first option
    (`docker-compose logs postgres`, `wrangler secret put`, `openssl s_client`, `pg_isready`)."""
    heads: set[str] = set()
    for segment in (part for span in _CODE.findall(text) for part in span.split("|")):
        words = segment.split()
        if not words or words[0] in _PLUMBING:
            continue
        head = [words[0]]
        for word in words[1:3]:
            if not re.fullmatch(r"[a-z_][a-z0-9_-]*", word):
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
        if not text or not _applies(tags, context):
            continue
        text = fill(text, context.values)
        key, heads = _normalized(text), _command_heads(text)
        if key in seen_text or (heads and heads <= seen_heads):
            continue  # said already: the same words, or only commands an earlier step gave
        seen_text.add(key)
        seen_heads |= heads
        kept.append(text)
    return kept
