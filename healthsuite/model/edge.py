"""A reverse proxy's upstream, declared on a `proxies` entry (NET8): where the proxy forwards.

`upstream: backend:8000` (its host:port), `upstream: http://backend:8000/health` (the upstream's own
health URL) or `upstream: {address: backend:8000, health: http://backend:8000/health}`. The address
links the proxy's 502/504 (NET8) to a `ports` entry at that address (AV4: the upstream's port is closed,
the cause); both fill NET8's advice (the upstream called directly, bypassing the proxy).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, model_validator

from .addresses import http_url_problem
from .netaddr import parse_address
from .templates import Template
from .types import TEMPLATE_DOC, Model, Text, problem_error, rule_error

_ADDRESS_FIX = "write host:port, e.g. backend:8000, or the upstream's health URL, e.g. http://backend:8000/health"


def _string_or_object(schema: dict[str, Any]) -> None:
    """The JSON Schema: a string (host:port or a URL) or the mapping."""
    mapping = {k: schema.pop(k) for k in ("type", "properties", "additionalProperties", "required") if k in schema}
    schema["anyOf"] = [
        {"type": "string", "description": "host:port ([v6]:port), or the upstream's health URL. " + TEMPLATE_DOC},
        mapping,
    ]


class ProxyUpstream(Model):
    """What the proxy forwards a proxied path to: the upstream's host:port and its own health URL."""

    model_config = ConfigDict(**Model.model_config, json_schema_extra=_string_or_object)

    address: Text | None = Field(
        None,
        description="host:port the proxy forwards to, e.g. backend:8000 (default: the health URL's host and port). "
        "A `ports` entry at this address that refuses (AV4) is the cause of the proxy's 502/504 (NET8).",
    )
    health: Text | None = Field(
        None,
        description="The upstream's own health URL, called directly (bypassing the proxy) in NET8's advice, e.g. "
        "http://backend:8000/health (default: http://ADDRESS/).",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"health": data} if "://" in data else {"address": data}
        return data

    @model_validator(mode="after")
    def _usable(self) -> ProxyUpstream:
        if self.address is None and self.health is None:
            raise rule_error("the upstream needs `address` or `health`", _ADDRESS_FIX)
        if self.address is not None and self.address.is_literal:
            try:
                parse_address(self.address.raw)
            except ValueError as exc:
                raise rule_error(str(exc), _ADDRESS_FIX, at=("address",)) from None
        if self.health is not None:
            problem_error(http_url_problem(self.health, example="http://backend:8000/health"), at=("health",))
        return self

    def resolved(self, resolve: Callable[[Template], str]) -> tuple[str, str]:
        """(host:port, URL): the address (else the health URL's host and port) and the health URL (else
        http://ADDRESS/), their variables resolved by `resolve`."""
        health = resolve(self.health) if self.health is not None else ""
        if self.address is not None:
            host, port = parse_address(resolve(self.address))
        else:
            parts = urlsplit(health)
            host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        shown = f"[{host}]" if ":" in host else host
        return f"{shown}:{port}", health or f"http://{shown}:{port}/"
