"""Deployment configuration files (DEP3-DEP6): read, never written; every read is bounded.

Nothing here raises: a file that cannot be used becomes `problem` (a `FileProblem`) on the observation.
Values of variables and env files are never kept: only names (keys) and line numbers are."""

from __future__ import annotations

import os
import tomllib
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from healthsuite.model.templates import dotenv_lines

MAX_TEXT_BYTES = 1_000_000  # an env file or wrangler.toml larger than this is not a configuration file
MAX_BUNDLE_BYTES = 256 * 1024 * 1024  # read at most this much of a bundle (far over any platform limit)
MAX_BUNDLE_FILES = 10_000
CHUNK = 1024 * 1024

ProblemKind = Literal["missing", "not_a_file", "unreadable", "too_large", "syntax", "empty"]


@dataclass(frozen=True)
class FileProblem:
    kind: ProblemKind
    path: str
    detail: str

    def summary(self) -> str:
        return f"{self.path}: {self.detail}"


def _problem_of(path: Path, exc: OSError) -> FileProblem:
    if isinstance(exc, FileNotFoundError):
        return FileProblem("missing", str(path), "does not exist")
    if isinstance(exc, (IsADirectoryError, NotADirectoryError)):
        return FileProblem("not_a_file", str(path), "is not a regular file")
    return FileProblem("unreadable", str(path), f"cannot be read: {exc.strerror or type(exc).__name__}")


def read_text(path: Path, limit: int = MAX_TEXT_BYTES) -> tuple[str | None, FileProblem | None]:
    """The file's text (UTF-8), or the problem: missing, not a file, unreadable, too large."""
    try:
        if path.exists() and not path.is_file():
            return None, FileProblem("not_a_file", str(path), "is not a regular file")
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        return None, _problem_of(path, exc)
    if len(data) > limit:
        return None, FileProblem("too_large", str(path), f"is larger than {limit // 1000} kB")
    return data.decode("utf-8", errors="replace"), None


# --- DEP3: required variables ------------------------------------------------------------------------


@dataclass(frozen=True)
class VariablesObservation:
    source: str  # where the names were looked up, for people
    set_names: tuple[str, ...] = ()
    empty: tuple[str, ...] = ()  # declared but empty
    unset: tuple[str, ...] = ()  # not declared at all
    problem: FileProblem | None = None


def variables(names: Iterable[str], values: Mapping[str, str], source: str) -> VariablesObservation:
    """Which names are set and non-empty in `values`; only the names are kept."""
    set_names: list[str] = []
    empty: list[str] = []
    unset: list[str] = []
    for name in names:
        if name not in values:
            unset.append(name)
        elif not values[name].strip():
            empty.append(name)
        else:
            set_names.append(name)
    return VariablesObservation(source, tuple(set_names), tuple(empty), tuple(unset))


def variables_in_file(names: Iterable[str], path: Path) -> VariablesObservation:
    """The names looked up in a dotenv file (KEY=VALUE lines)."""
    entries = dotenv_entries(path)
    if entries.problem is not None:
        return VariablesObservation(str(path), problem=entries.problem)
    return variables(names, {k: "" if k in entries.empty_keys else "x" for k in entries.keys}, str(path))


# --- DEP4: env files ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnvKeys:
    path: str
    keys: tuple[str, ...] = ()  # in file order, each once
    empty_keys: frozenset[str] = frozenset()  # keys whose value is empty (the value itself is not kept)
    bad_lines: tuple[int, ...] = ()  # line numbers that are not KEY=VALUE (their text is not kept)
    problem: FileProblem | None = None


def dotenv_entries(path: Path) -> EnvKeys:
    """The keys of a dotenv file (`KEY=VALUE`, optional `export`, `#` comments, quotes), values dropped."""
    text, problem = read_text(path)
    if text is None:
        return EnvKeys(str(path), problem=problem)
    keys: dict[str, None] = {}
    empty: set[str] = set()
    bad: list[int] = []
    for number, key, value in dotenv_lines(text):
        if key is None:
            bad.append(number)
            continue
        keys[key] = None
        if value.strip():
            empty.discard(key)
        else:
            empty.add(key)
    return EnvKeys(str(path), tuple(keys), frozenset(empty), tuple(bad))


# --- DEP5: wrangler.toml -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WranglerObservation:
    path: str
    data: Mapping[str, Any] | None = None  # the parsed TOML (only names of it reach an output)
    problem: FileProblem | None = None


def wrangler_toml(path: Path) -> WranglerObservation:
    text, problem = read_text(path)
    if text is None:
        return WranglerObservation(str(path), problem=problem)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message names the line and column, never a value
        return WranglerObservation(str(path), problem=FileProblem("syntax", str(path), f"is not valid TOML: {exc}"))
    return WranglerObservation(str(path), data=data)


# --- DEP6: the bundle --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BundleObservation:
    path: str
    files: int = 0
    raw_bytes: int = 0
    gzip_bytes: int = 0  # each file gzip-compressed, summed
    truncated: bool = False  # read stopped at MAX_BUNDLE_BYTES / MAX_BUNDLE_FILES: the sizes are "at least"
    problem: FileProblem | None = None


def _gzip_size(path: Path, budget: int) -> tuple[int, int]:
    """(raw bytes read, gzip bytes) of one file, reading at most `budget` bytes."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: gzip framing
    raw = size = 0
    with path.open("rb") as handle:
        while raw < budget:
            chunk = handle.read(min(CHUNK, budget - raw))
            if not chunk:
                break
            raw += len(chunk)
            size += len(compressor.compress(chunk))
    return raw, size + len(compressor.flush())


def bundle_size(path: Path) -> BundleObservation:
    """Raw and gzip size of a bundle file, or of every regular file under a bundle directory."""
    if not path.exists():
        return BundleObservation(str(path), problem=FileProblem("missing", str(path), "does not exist"))
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = []
        for root, _dirs, names in os.walk(path):
            files += [Path(root) / n for n in sorted(names) if (Path(root) / n).is_file()]
            if len(files) > MAX_BUNDLE_FILES:
                break
        if not files:
            return BundleObservation(str(path), problem=FileProblem("empty", str(path), "is an empty directory"))
    else:
        return BundleObservation(str(path), problem=FileProblem("not_a_file", str(path), "is not a file or directory"))
    truncated = len(files) > MAX_BUNDLE_FILES
    raw_total = gzip_total = 0
    try:
        for file in files[:MAX_BUNDLE_FILES]:
            budget = MAX_BUNDLE_BYTES - raw_total
            if budget <= 0:
                truncated = True
                break
            raw, gz = _gzip_size(file, budget)
            raw_total += raw
            gzip_total += gz
            if raw == budget and file.stat().st_size > raw:
                truncated = True
    except OSError as exc:
        return BundleObservation(str(path), problem=_problem_of(path, exc))
    return BundleObservation(str(path), len(files[:MAX_BUNDLE_FILES]), raw_total, gzip_total, truncated)
