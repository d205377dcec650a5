"""Failures grouped by cause: a failure another one in the same run explains is its consequence.

The graph is data (`causes.yaml`): a stopped database explains its other database and data checks,
a Redis that is down its cache checks, a name that does not resolve the HTTP and TLS failures of
that host, a closed port the checks behind it; and one transport error shared by several checks of
one target (the same kind at the same address) is one cause. The platform status (AV5) explains
only failures on the hosts its provider serves (reports.platform_incident), never local findings.

`group(records)` marks each consequence (`explained_by`: its cause's id) and returns the report's
`causes` section, most severe cause first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import yaml

from .catalogue import SEVERITIES

Explains = Literal["same_address", "same_server", "address_has", "same_target"]


@dataclass(frozen=True)
class Rule:
    name: str
    diagnosis: str
    explains: Explains
    of: str = ""  # address_has: host | host_port
    kinds: tuple[str, ...] = ()  # the consequences' transport failure kinds (address_has)
    cause_kinds: tuple[str, ...] = ()  # the cause's own failure kind must be one of these (empty: any)
    diagnoses: tuple[str, ...] = ()  # same_target: the consequences' diagnoses


@lru_cache(maxsize=1)
def rules() -> tuple[Rule, ...]:
    text = resources.files("healthsuite").joinpath("causes.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return tuple(
        Rule(str(r["name"]), str(r["diagnosis"]), r["explains"], str(r.get("of", "")), tuple(r.get("kinds", ())),
             tuple(r.get("cause_kinds", ())), tuple(r.get("diagnoses", ())))
        for r in data["rules"]
    )


def _rank(record: Any) -> tuple[int, str, str]:
    severity = SEVERITIES.index(record.severity) if record.severity in SEVERITIES else 9
    return severity, record.diagnosis, record.id


def _transport(record: Any) -> tuple[str, str]:
    facts = record.facts
    return str(facts.get("failure_kind", "")), str(facts.get("address", ""))


def _host_port(address: str) -> str:
    """`127.0.0.1:58000` of `127.0.0.1:58000`, `http://h:8080/x` or `h:5432/db (user u)`."""
    text = address.split("://", 1)[-1]
    return text.split("/", 1)[0].split(" ", 1)[0]


def _explains(rule: Rule, cause: Any, other: Any, transport: Mapping[str, tuple[str, str]]) -> bool:
    """`transport`: each failing record's (kind, address), decoded once from its facts."""
    if rule.explains == "same_target":
        return other.target == cause.target and other.diagnosis in rule.diagnoses
    kind, address = transport[other.id]
    if not address:
        return False
    cause_address = transport[cause.id][1]
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


def group(records: Sequence[Any]) -> list[dict[str, Any]]:
    """Mark the consequences among the failing `records` and return the causes, most severe first."""
    failing = sorted((r for r in records if getattr(r, "outcome", "") in ("failed", "error")), key=_rank)
    consequences: dict[str, list[Any]] = {}
    causes: dict[str, tuple[Any, str]] = {}
    explained: set[str] = set()
    transport = {r.id: _transport(r) for r in failing}  # a record's facts are JSON: decoded once here
    for rule in rules():
        for cause in (r for r in failing if r.diagnosis == rule.diagnosis and r.id not in explained):
            if rule.cause_kinds and transport[cause.id][0] not in rule.cause_kinds:
                continue
            for other in failing:
                if other.id == cause.id or other.id in explained or other.id in causes:
                    continue
                if _explains(rule, cause, other, transport):
                    consequences.setdefault(cause.id, []).append(other)
                    explained.add(other.id)
            if cause.id in consequences:
                causes[cause.id] = (cause, rule.name)
    shared: dict[tuple[str, str], list[Any]] = {}
    for record in failing:
        if record.id in explained:
            continue
        kind, address = transport[record.id]
        if kind and address:
            shared.setdefault((f"one {kind} error at", address), []).append(record)
        elif record.observed.startswith("HTTP ") and record.target:  # one answer read by several checks
            answer = record.observed.split(";", 1)[0].split(" in ", 1)[0]
            shared.setdefault((f"one answer ({answer}) of", record.target), []).append(record)
    for (what, where), group_records in shared.items():
        head, *rest = group_records  # already the most severe first
        rest = [r for r in rest if r.id not in causes]
        if rest:
            consequences.setdefault(head.id, []).extend(rest)
            explained.update(r.id for r in rest)
            causes.setdefault(head.id, (head, f"{what} {where}"))
    section = []
    for cause, why in sorted(causes.values(), key=lambda pair: _rank(pair[0])):
        for other in consequences[cause.id]:
            other.explained_by = cause.id
        section.append({
            "cause": cause.id, "diagnosis": cause.diagnosis, "severity": cause.severity, "target": cause.target,
            "observed": cause.observed, "why": why,
            "consequences": [
                {"id": o.id, "diagnosis": o.diagnosis, "target": o.target} for o in consequences[cause.id]
            ],
        })
    return section
