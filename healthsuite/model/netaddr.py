"""`host:port` strings as the environment file writes them."""

from __future__ import annotations


def parse_address(text: str, default_port: int | None = None) -> tuple[str, int]:
    """`db:5432` -> ("db", 5432); `[::1]:53` -> ("::1", 53); `10.0.0.2` -> ("10.0.0.2", default_port)."""
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise ValueError(f"{text!r}: an IPv6 address needs its closing ']'")
        port_text = rest.removeprefix(":") if rest else ""
    elif text.count(":") > 1:  # a bare IPv6 address
        host, port_text = text, ""
    else:
        host, _, port_text = text.partition(":")
    if not host:
        raise ValueError(f"{text!r} has no host")
    if not port_text:
        if default_port is None:
            raise ValueError(f"{text!r} has no port")
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{text!r}: port {port_text!r} is not a number from 1 to 65535")
    return host, int(port_text)


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
