"""Hosting providers' published address ranges (shipped as data), for NET2."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from importlib import resources

import yaml

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=1)
def shipped_ranges() -> dict[str, list[str]]:
    """`{"cloudflare": ["173.245.48.0/20", ...]}` from healthsuite/model/data/provider_ranges.yaml."""
    text = resources.files("healthsuite.model").joinpath("data/provider_ranges.yaml").read_text(encoding="utf-8")
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return {name: [str(r) for r in entry["ranges"]] for name, entry in data.items()}


def networks(entries: list[str], providers: dict[str, list[str]]) -> list[tuple[str, IPNetwork]]:
    """Each expect_in entry as (label, network): a provider name expands to its ranges."""
    result: list[tuple[str, IPNetwork]] = []
    for entry in entries:
        if entry in providers:
            result += [(entry, ipaddress.ip_network(r, strict=False)) for r in providers[entry]]
        else:
            result.append((entry, ipaddress.ip_network(entry, strict=False)))
    return result
