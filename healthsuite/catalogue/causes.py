"""Failures grouped by cause: a failure another one in the same run explains is its consequence.

The graph is data (`causes.yaml`): a stopped database explains its other database and data checks,
a Redis that is down its cache checks, a name that does not resolve the HTTP and TLS failures of
that host, a closed port the checks behind it (and a proxy's 502/504 when it is the proxy's declared
upstream), a certificate that does not verify the TLS failures at its host:port, a proxy that does not
reach its upstream the 502/504 answers of its host; and one transport error shared by several checks
of one target (the same kind at the same address) is one cause. The precise diagnosis is the cause and
the general symptom (AV1, AV2, AV3, DEP1, PERF1...) its consequence, never the reverse: a precise one
(causes.yaml `precise`) heads a generic grouping it is part of. The platform status (AV5) explains
only failures on the hosts its provider serves (reports.platform_incident), never local findings.

A failure is explained once, by the first cause that explains it (rules in order). A failure that is
explained may still explain others: they are then consequences of the cause at the root (a closed
upstream port explains the proxy's 502, and so the 502s the proxy's other paths answered).

`group(records)` marks each consequence (`explained_by`: its root cause's id) and returns the report's
`causes` section, most severe cause first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import yaml

from healthsuite.catalogue.diagnoses import SEVERITIES

Explains = Literal[
    "same_address", "same_server", "address_has", "same_target", "upstream", "same_host", "health_reports"
]


@dataclass(frozen=True)
class Rule:
    name: str
    diagnosis: str
    explains: Explains
    of: str = ""  # address_has: host | host_port
    kinds: tuple[str, ...] = ()  # the consequences' transport failure kinds (address_has)
    cause_kinds: tuple[str, ...] = ()  # the cause's own failure kind must be one of these (empty: any)
    diagnoses: tuple[str, ...] = ()  # same_target: the consequences' diagnoses
    statuses: tuple[int, ...] = ()  # same_host: the cause's HTTP status is one of these, and the consequences' it


@dataclass(frozen=True)
class Graph:
    rules: tuple[Rule, ...]
    precise: frozenset[str]  # the diagnoses that name one cause: they head a generic grouping


@lru_cache(maxsize=1)
def graph() -> Graph:
    text = resources.files("healthsuite.catalogue").joinpath("causes.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return Graph(
        tuple(
            Rule(str(r["name"]), str(r["diagnosis"]), r["explains"], str(r.get("of", "")),
                 tuple(r.get("kinds", ())), tuple(str(k) for k in r.get("cause_kinds", ())),
                 tuple(r.get("diagnoses", ())), tuple(int(s) for s in r.get("statuses", ())))
            for r in data["rules"]
        ),
        frozenset(str(d) for d in data.get("precise", ())),
    )


def rules() -> tuple[Rule, ...]:
    return graph().rules


def _rank(record: Any) -> tuple[int, str, str]:
    severity = SEVERITIES.index(record.severity) if record.severity in SEVERITIES else 9
    return severity, record.diagnosis, record.id


def _head_rank(record: Any) -> tuple[bool, int, str, str]:
    """A generic grouping's head: a precise diagnosis before a general symptom, then the most severe."""
    return (record.diagnosis not in graph().precise, *_rank(record))


@dataclass(frozen=True)
class _Seen:
    """What the rules compare of a failing record, decoded once from its facts."""

    kind: str  # a transport error's kind (refused, timeout, tls...) or ""
    address: str  # where that error happened, or where the check went (NET5's host:port)
    status: int | None  # the HTTP status answered
    upstream: str  # a proxied path's declared upstream (host:port)


def _seen(record: Any) -> _Seen:
    facts = record.facts
    status = facts.get("status")
    return _Seen(
        str(facts.get("failure_kind", "")), str(facts.get("address", "")),
        status if isinstance(status, int) and not isinstance(status, bool) else None,
        str(facts.get("upstream", "")),
    )


def _host_port(address: str) -> str:
    """`127.0.0.1:18000` of `127.0.0.1:18000`, `http://h:8080/x` or `h:5432/db (user u)`."""
    text = address.split("://", 1)[-1]
    return text.split("/", 1)[0].split(" ", 1)[0]


def _explains(rule: Rule, cause: Any, other: Any, seen: Mapping[str, _Seen]) -> bool:
    """`seen`: each failing record's transport error, status and upstream, decoded once from its facts."""
    if rule.explains == "same_target":
        return other.target == cause.target and other.diagnosis in rule.diagnoses
    if rule.explains == "same_host":  # the cause's own answer (one of `statuses`), from a host its exchanges went to
        return seen[other.id].status == seen[cause.id].status and bool(set(cause.hosts) & set(other.hosts))
    if rule.explains == "health_reports":  # a health endpoint answering 5xx: it reports what the cause is
        status = seen[other.id].status
        return (other.diagnosis in rule.diagnoses and getattr(other, "target_kind", "") == "health"
                and status is not None and 500 <= status < 600)
    cause_address = seen[cause.id].address
    if rule.explains == "upstream":  # a proxy whose declared upstream is the cause's host:port
        upstream = seen[other.id].upstream
        return bool(upstream) and upstream == _host_port(cause_address or str(cause.observed))
    kind, address = seen[other.id].kind, seen[other.id].address
    if not address:
        return False
    if rule.explains == "same_address":
        return address == cause_address
    if rule.explains == "same_server":  # any failure at the cause's host:port, whatever the database
        return _host_port(address) == _host_port(cause_address) != ""
    if rule.kinds and kind not in rule.kinds:
        return False
    if rule.of == "host":
        return any(host and host in address for host in cause.hosts)
    hostport = _host_port(cause_address) or _host_port(str(cause.observed))
    return bool(hostport) and _host_port(address) == hostport


def _cause_fits(rule: Rule, seen: _Seen) -> bool:
    if rule.cause_kinds and seen.kind not in rule.cause_kinds:
        return False
    return not (rule.statuses and rule.explains == "same_host" and seen.status not in rule.statuses)


def group(records: Sequence[Any]) -> list[dict[str, Any]]:
    """Mark the consequences among the failing `records` and return the causes, most severe first."""
    failing = sorted((r for r in records if getattr(r, "outcome", "") in ("failed", "error")), key=_rank)
    seen = {r.id: _seen(r) for r in failing}  # a record's facts are JSON: decoded once here
    parent: dict[str, str] = {}  # a consequence's id -> the id of the failure that explains it
    why: dict[str, str] = {}  # a cause's id -> the rule (or the grouping) that made it one

    def root(record_id: str) -> str:
        while record_id in parent:
            record_id = parent[record_id]
        return record_id

    def under(record_id: str, ancestor: str) -> bool:
        """`record_id` is `ancestor` or explained, through any number of causes, by it."""
        while True:
            if record_id == ancestor:
                return True
            if record_id not in parent:
                return False
            record_id = parent[record_id]

    for rule in rules():
        for cause in (r for r in failing if r.diagnosis == rule.diagnosis and _cause_fits(rule, seen[r.id])):
            for other in failing:
                if other.id in parent or under(cause.id, other.id):
                    continue  # explained already, or it is the cause (or what explains the cause)
                if _explains(rule, cause, other, seen):
                    parent[other.id] = cause.id
                    why.setdefault(cause.id, rule.name)
    shared: dict[tuple[str, str], list[Any]] = {}
    for record in failing:
        if record.id in parent:
            continue
        kind, address = seen[record.id].kind, seen[record.id].address
        if kind and address:
            shared.setdefault((f"one {kind} error at", address), []).append(record)
        elif record.observed.startswith("HTTP ") and record.target:  # one answer read by several checks
            answer = record.observed.split(";", 1)[0].split(" in ", 1)[0]
            shared.setdefault((f"one answer ({answer}) of", record.target), []).append(record)
    for (what, where), group_records in shared.items():
        head, *rest = sorted(group_records, key=_head_rank)  # a precise diagnosis, else the most severe
        rest = [r for r in rest if r.id not in why]  # a rule's cause stays one
        if rest:
            parent.update((r.id, head.id) for r in rest)
            why.setdefault(head.id, f"{what} {where}")
    consequences: dict[str, list[Any]] = {}
    for record in failing:  # in rank order: each cause's consequences most severe first
        if record.id in parent:
            cause_id = root(record.id)
            record.explained_by = cause_id
            consequences.setdefault(cause_id, []).append(record)
    by_id = {r.id: r for r in failing}
    section = []
    for cause in sorted((by_id[c] for c in consequences), key=_rank):
        section.append({
            "cause": cause.id, "diagnosis": cause.diagnosis, "severity": cause.severity, "target": cause.target,
            "observed": cause.observed, "why": why[cause.id],
            "consequences": [
                {"id": o.id, "diagnosis": o.diagnosis, "target": o.target} for o in consequences[cause.id]
            ],
        })
    return section
