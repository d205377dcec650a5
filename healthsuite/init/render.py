"""The environment file `init` writes: YAML text with a comment on every value read from the live
system (GUESSED, `# guessed: confirm`), so a person confirms, corrects or deletes each one.

Only keys the environment model declares are written; the values told on the command line (the base
URL, the DSN, the Redis URL) carry no mark, and secrets only as `${VARIABLE}` references.

Whatever was read from the live system is written as data, never as text that becomes YAML: every
value through the YAML emitter (`scalar`, checked to read back as itself), every comment through
`comment` (nothing in it ends a line for any YAML parser). The discovery modules leave out the
values that cannot be written safely and say so (Site.refused, Schema.refused)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import yaml

from . import GUESSED, comment
from .cache import Memory
from .database import LARGE_TABLES, Schema
from .web import Site, names

_PLAIN = re.compile(r"[A-Za-z0-9_/][A-Za-z0-9_./+-]*")
_YAML_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"})


def scalar(value: str | int | float | bool) -> str:
    """A YAML scalar that reads back as exactly `value`, on one line: a plain word, or the YAML
    emitter's double-quoted form (every character outside printable ASCII escaped, line separators
    and control characters among them). ValueError if it would not read back as itself."""
    if isinstance(value, bool):
        written = "true" if value else "false"
    elif isinstance(value, (int, float)):
        written = json.dumps(value)
    elif (_PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS and not re.fullmatch(r"[-+0-9._]+", value)
          and yaml.safe_load(f"[{value}]") == [value]):  # not 0x1f, 1_000 or 12:30, which YAML 1.1 reads as numbers
        written = value
    else:
        written = yaml.safe_dump(value, default_style='"', allow_unicode=False, width=1 << 30).removesuffix("\n")
    if "\n" in written or not written.isascii() or yaml.safe_load(f"[{written}]") != [value]:
        raise ValueError(f"init cannot write {value!r} as one YAML scalar")  # a bug of init
    return written


def literal(text: str) -> str:
    """A discovered string as a template's literal text: `$` doubled, so no `${...}` is read into it."""
    return text.replace("$", "$$")


def flow(items: Sequence[tuple[str, str | int | float | bool]]) -> str:
    return "{" + ", ".join(f"{key}: {scalar(value)}" for key, value in items) + "}"


def guessed(line: str, why: str = "") -> str:
    return f"{line}  {GUESSED}{f' ({comment(why)})' if why else ''}"


@dataclass
class Told:
    """What the command line told (written as given, never marked), and the variables it needs."""

    name: str
    kind: str
    kind_given: bool
    base_url: str  # as written in the file (a literal or a ${...} template)
    ca_bundle: str | None = None
    nameservers: list[str] = field(default_factory=list)  # --nameserver, as given (dns.nameservers)
    pins: dict[str, str] = field(default_factory=dict)  # --resolve NAME:ADDRESS (dns.hosts)
    dsn: str | None = None
    database_name: str = "main"
    redis_url: str | None = None
    redis_username: str | None = None
    redis_password: str | None = None  # "${REDIS_PASSWORD}" or None
    cache_name: str = "cache"
    variables: list[str] = field(default_factory=list)
    schema_ref: str | None = None  # relative path of environments/schema.json, for editors


def _pages(site: Site) -> list[str]:
    taken: set[str] = set()
    lines = ["", "pages:                            # AV1, AV3, PERF1: what answered 2xx/3xx"]
    for answer, name in zip(site.pages, names([a.path for a in site.pages], taken), strict=True):
        items: list[tuple[str, str | int | float | bool]] = [("name", name), ("path", answer.path)]
        if answer.status != 200:
            items.append(("expect_status", answer.status))
        if answer.content_type and answer.status < 300:
            items.append(("content_type", answer.content_type))
        if answer.path == "/" and answer.status < 300:
            items.append(("smoke", True))
        why = f"HTTP {answer.status}{' -> ' + answer.location if answer.location else ''}, {answer.found_by}"
        lines.append(guessed(f"  - {flow(items)}", why))
    if not site.pages:
        lines[1:] = ["pages: []                         # AV1: no page answered 2xx/3xx"]
    return lines


def _health(site: Site) -> list[str]:
    if not site.health:
        return []
    taken: set[str] = set()
    lines = ["", "health:                           # AV2: health endpoints and the fields that say healthy"]
    for index, (health, name) in enumerate(zip(site.health, names([h.answer.path for h in site.health], taken),
                                                strict=True)):
        answer = health.answer
        lines.append(guessed(f"  - name: {scalar(name)}", f"HTTP {answer.status}, {answer.found_by}"))
        lines.append(f"    path: {scalar(answer.path)}")
        if answer.content_type:
            lines.append(guessed(f"    content_type: {scalar(answer.content_type)}"))
        if index == 0:
            lines.append(guessed("    smoke: true", "part of the post-deploy smoke set, DEP1"))
        conditions = [guessed(f"      - {flow([('path', f.path), ('equals', f.value)])}")
                      for f in health.fields]
        if health.text is not None:
            conditions.append(guessed(f"      - {flow([('contains', health.text)])}", "the body now"))
        if conditions:
            lines.append("    body:")
            lines.extend(conditions)
        for left_out in health.unhealthy:
            lines.append(f"    # left out: {comment(left_out)} (not a healthy value now: add a condition once it is)")
    return lines


def _database(told: Told, schema: Schema) -> list[str]:
    assert told.dsn is not None
    lines = [
        "",
        "databases:                        # DB1-DB14, PERF4-PERF6",
        f"  - name: {scalar(told.database_name)}",
        "    engine: postgresql",
        f"    dsn: {scalar(told.dsn)}",
        guessed("    smoke: true", "part of the post-deploy smoke set, DEP1"),
        f"    schema:                       # what PostgreSQL {comment(schema.server_version)} at "
        f"{comment(schema.address)} holds now",
    ]
    if schema.tables:
        more = f", the {len(schema.tables)} largest" if schema.more_tables else ""
        lines.append(f"      tables:                     # DB9: the tables the role may read{more}")
        for table in sorted(schema.tables, key=lambda t: t.declared):
            lines.append(guessed(f"        - {scalar(table.declared)}"))
    for name in schema.unreadable:
        lines.append(f"      # left out of tables: {comment(name)} (the role may not SELECT it; DB9 would fail)")
    if schema.relations:
        lines.append("      relations:                  # DB10 orphans, DB12 the foreign key exists")
        for fk in schema.relations:
            lines.append(guessed(f"        - {flow([('child', fk.child), ('parent', fk.parent)])}", fk.constraint))
    if schema.migration_head is not None:
        lines.append(guessed(f"      migrations: {flow([('expected', literal(schema.migration_head))])}",
                             "DB13: the Alembic head applied now; from CI, ${ALEMBIC_HEAD} is better"))
    if schema.large_tables:
        lines.append(f"      large_tables:               # DB14 analyzed within 7 days; PERF5 never seq-scanned; the "
                     f"{LARGE_TABLES} largest by total size, a tie by name")
        for table in schema.large_tables:
            rows = f"~{table.rows} row{'s' * (table.rows != 1)}"
            lines.append(guessed(f"        - {scalar(table.declared)}", f"{_size(table.size_bytes)}, {rows}"))
    for name in schema.not_analyzed:
        lines.append(f"      # left out of large_tables: {comment(name)} (not analyzed within 7 days: DB14 would "
                     f"fail; run ANALYZE {comment(name)})")
    indexes = [(index, on) for on, found in schema.indexes.items() for index in found]
    if indexes:
        lines.append(f"      indexes:                    # PERF6: the indexes of the {LARGE_TABLES} largest tables")
        for index, on in indexes:
            lines.append(guessed(f"        - {scalar(index)}", f"on {on}"))
    return lines


def _cache(told: Told, memory: Memory) -> list[str]:
    assert told.redis_url is not None
    lines = ["", "caches:                           # CACHE1, CACHE2, PERF7", f"  - name: {scalar(told.cache_name)}",
             f"    url: {scalar(told.redis_url)}"]
    if told.redis_username:
        lines.append(f"    username: {scalar(told.redis_username)}")
    if told.redis_password:
        lines.append(f"    password: {scalar(told.redis_password)}")
    lines.append(f"    # observed: {comment(memory.describe())}")
    rate, lookups = memory.hit_rate()
    if rate is not None:
        lines.append(f"    # observed: keyspace hit rate {rate:.1f} % over {lookups} lookups (PERF7)")
    return lines


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover


def render(told: Told, site: Site, schema: Schema | None, memory: Memory | None, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = []
    if told.schema_ref:
        lines.append(f"# yaml-language-server: $schema={comment(told.schema_ref)}")
    lines += [
        f"# Written by `python -m healthsuite init` at {stamp} from what {comment(site.base_url)} answered"
        f"{' and its database' if schema else ''}{' and its Redis' if memory else ''} (read only).",
        f"# Every value marked `{GUESSED}` was read from the live system, not told: keep it, correct it or",
        "# delete its line, then delete the mark. Keys: docs/ENVIRONMENT.md.",
    ]
    if told.variables:
        lines.append(f"# Set before running the checks: {', '.join(told.variables)}.")
    lines += [f"name: {scalar(told.name)}",
              guessed(f"kind: {scalar(told.kind)}", "production | staging | development | demo | test")
              if not told.kind_given else f"kind: {scalar(told.kind)}",
              "", "base_urls:", f"  app: {scalar(told.base_url)}"]
    if told.ca_bundle:
        lines += ["http:", f"  ca_bundle: {scalar(told.ca_bundle)}"]
    if told.nameservers or told.pins:
        lines.append("dns:                              # every name of this file is resolved here (NET1 too)")
        if told.nameservers:
            lines.append(f"  nameservers: [{', '.join(scalar(ns) for ns in told.nameservers)}]")
        if told.pins:
            lines.append("  hosts:                          # pinned: connect here, as curl --resolve")
            lines += [f"    {scalar(name)}: {scalar(address)}" for name, address in told.pins.items()]
    lines += _pages(site)
    lines += _health(site)
    if schema is not None:
        lines += _database(told, schema)
    if memory is not None:
        lines += _cache(told, memory)
    return "\n".join(lines) + "\n"


def shape(document: object) -> dict[str, object]:
    """The keys and list lengths of a written document: what `intended` says init means to write."""
    if not isinstance(document, dict):
        return {"document": type(document).__name__}
    out: dict[str, object] = {"keys": sorted(map(str, document))}
    for key in ("pages", "health", "databases", "caches"):
        entries = document.get(key)
        if isinstance(entries, list):
            out[key] = [sorted(map(str, e)) if isinstance(e, dict) else type(e).__name__ for e in entries]
    bodies = [len(h.get("body") or []) for h in document.get("health") or [] if isinstance(h, dict)]
    if bodies:
        out["bodies"] = bodies
    for database in document.get("databases") or []:
        schema = database.get("schema") if isinstance(database, dict) else None
        if isinstance(schema, dict):
            out["schema"] = {k: len(v) if isinstance(v, (list, dict)) else 1 for k, v in schema.items()}
    return out


def intended(told: Told, site: Site, schema: Schema | None, memory: Memory | None) -> dict[str, object]:
    """`shape` of the document `render` means to write from these values."""
    keys = {"name", "kind", "base_urls", "pages"}
    keys |= {"http"} if told.ca_bundle else set()
    keys |= {"dns"} if told.nameservers or told.pins else set()
    keys |= {"health"} if site.health else set()
    keys |= {"databases"} if schema is not None else set()
    keys |= {"caches"} if memory is not None else set()
    out: dict[str, object] = {"keys": sorted(keys)}
    pages = []
    for answer in site.pages:
        page = {"name", "path"} | ({"expect_status"} if answer.status != 200 else set())
        page |= {"content_type"} if answer.content_type and answer.status < 300 else set()
        page |= {"smoke"} if answer.path == "/" and answer.status < 300 else set()
        pages.append(sorted(page))
    out["pages"] = pages
    if site.health:
        out["health"] = [sorted({"name", "path"} | ({"content_type"} if h.answer.content_type else set())
                                | ({"smoke"} if i == 0 else set())
                                | ({"body"} if h.fields or h.text is not None else set()))
                         for i, h in enumerate(site.health)]
        out["bodies"] = [len(h.fields) + (h.text is not None) for h in site.health]
    if schema is not None:
        out["databases"] = [["dsn", "engine", "name", "schema", "smoke"]]
        held = {"tables": len(schema.tables), "relations": len(schema.relations),
                "migrations": 1 if schema.migration_head is not None else 0,
                "large_tables": len(schema.large_tables), "indexes": sum(map(len, schema.indexes.values()))}
        if any(held.values()):
            out["schema"] = {k: v for k, v in held.items() if v}
    if memory is not None:
        out["caches"] = [sorted({"name", "url"} | ({"username"} if told.redis_username else set())
                                | ({"password"} if told.redis_password else set()))]
    return out
