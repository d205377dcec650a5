"""Showing an observed value in an explanation: in the unit of the literal it is compared with, cut short."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

from .tree import MISSING, UNITS, is_number

CUT = 80  # characters of an observed string (or list, mapping) shown in an explanation


def show(value: object, unit: str | None) -> str:
    """An observed value for a person: in the unit of the literal it is compared with, strings quoted and cut."""
    if value is MISSING:
        return "missing"
    if unit is not None and is_number(value) and (not isinstance(value, int) or abs(value) < 10**30):
        assert isinstance(value, (int, float))
        if math.isfinite(value):
            return _with_unit(value, unit)
    if isinstance(value, str):
        return _quote(value, CUT)
    if isinstance(value, (list, tuple, Mapping)):
        return _container(value)
    return _scalar(value)


def _short(number: float) -> str:
    if abs(number) >= 1e15:
        return repr(number)
    text = f"{number:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _with_unit(value: float, unit: str) -> str:
    kind, factor = UNITS[unit]
    if kind == "percent":
        return f"{_short(value)}%"
    if kind == "time":
        if unit in ("m", "h", "d"):
            return f"{_short(value / factor)} {unit}"
        return f"{_short(value * 1000)} ms" if abs(value) < 1 else f"{_short(value)} s"
    ladder = ("GiB", "MiB", "KiB") if unit.endswith("iB") else ("GB", "MB", "KB")
    for name in ladder:
        if abs(value) >= UNITS[name][1]:
            return f"{_short(value / UNITS[name][1])} {name}"
    return f"{_short(value)} B"


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if abs(value) >= 10**30:
            return f"{'-' if value < 0 else ''}~1e{int(math.log10(abs(value)))}"
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return _quote(value, CUT)
    if isinstance(value, bytes):
        return "b" + _quote(value[:CUT + 1].decode("latin-1"), CUT)
    return f"<{type(value).__name__}>"


_CONTROL = {ord("\\"): "\\\\", ord("'"): "\\'", ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t",
            **{code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F) if code not in (9, 10, 13)}}


def _quote(text: str, cut: int) -> str:
    """'text' with quotes and control characters escaped, cut to `cut` characters (then `...`)."""
    return "'" + text[:cut].translate(_CONTROL) + ("..." if len(text) > cut else "") + "'"


def _container(value: object) -> str:
    """A list or mapping written like JSON with quoted strings, cut to CUT characters."""
    pieces: list[str] = []
    size = 0
    for piece in _pieces(value):
        pieces.append(piece)
        size += len(piece)
        if size > CUT:
            return "".join(pieces)[:CUT] + "..."
    return "".join(pieces)


def _pieces(value: object) -> Iterator[str]:
    """The text of `value` piece by piece (each level yields before descending, so a reader that stops after
    CUT characters never goes deeper than CUT levels)."""
    if isinstance(value, (list, tuple)):
        yield "["
        for index, item in enumerate(value):
            yield ", " if index else ""
            yield from _pieces(item)
        yield "]"
    elif isinstance(value, Mapping):
        yield "{"
        for index, key in enumerate(value):
            yield ", " if index else ""
            yield _scalar(key) + ": "
            yield from _pieces(value[key])
        yield "}"
    else:
        yield _scalar(value)

