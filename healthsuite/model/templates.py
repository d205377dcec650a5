"""`${VAR}` references in environment files.

An environment file never holds a secret: it names a variable (`${PAYSTACK_SECRET_KEY}`) that is read
from the process environment (or the file's `secrets_file`) when a check needs it. A variable that is
not set is not a load error: the checks that need it skip with a reason that names it, so
`--collect-only` and every check that does not need it still work.

Syntax: `${NAME}`, `${NAME:-default}` (default when unset or empty), and `$$` for a literal `$`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

_REFERENCE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
_BAD_REFERENCE = re.compile(r"\$\{(?![A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\})")


class MissingVariable(LookupError):
    """A `${VAR}` a check needs is not set."""

    def __init__(self, names: tuple[str, ...], where: str = "") -> None:
        self.names = names
        self.where = where
        super().__init__(self.reason())

    def reason(self) -> str:
        plural = "are" if len(self.names) > 1 else "is"
        where = f" (referenced by {self.where})" if self.where else ""
        return (
            f"{', '.join(self.names)} {plural} not set{where}: set it in the environment that runs "
            "the checks (a missing secret is diagnosis DEP3)"
        )


def is_one_reference(text: str) -> bool:
    """The whole text is one `${NAME}` (or `${NAME:-default}`): nothing literal in it to judge before the
    variable is resolved."""
    match = _REFERENCE.fullmatch(text)
    return match is not None and match["name"] is not None


@dataclass(frozen=True)
class Template:
    """A string from an environment file that may reference variables."""

    raw: str

    def __post_init__(self) -> None:
        # `$$` is a literal `$`: a `$${` is not a reference (the same length, so positions hold)
        bad = _BAD_REFERENCE.search(self.raw.replace("$$", "\0\0"))
        if bad:
            raise ValueError(
                f"malformed variable reference at {self.raw[bad.start():bad.start() + 20]!r}: "
                "write ${NAME} or ${NAME:-default}"
            )

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(m["name"] for m in _REFERENCE.finditer(self.raw) if m["name"])

    @property
    def is_literal(self) -> bool:
        return not self.variables

    def required_variables(self) -> tuple[str, ...]:
        """The variables that have no default."""
        return tuple(
            m["name"] for m in _REFERENCE.finditer(self.raw) if m["name"] and m["default"] is None
        )

    def missing(self, env: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(name for name in self.required_variables() if not env.get(name))

    def resolve(self, env: Mapping[str, str], where: str = "") -> str:
        missing = self.missing(env)
        if missing:
            raise MissingVariable(missing, where)

        def substitute(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            value = env.get(match["name"], "")
            return value if value else (match["default"] or "")

        return _REFERENCE.sub(substitute, self.raw)

    def __str__(self) -> str:
        return self.raw


DotenvLine = tuple[int, str | None, str]  # (line number, key or None when the line is not KEY=VALUE, value)


def dotenv_lines(text: str) -> Iterator[DotenvLine]:
    """The `KEY=VALUE` lines of a dotenv text (optional `export`, quotes, `#` comments skipped)."""
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            yield number, None, ""
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        yield number, key, value


def read_dotenv(path: Path) -> dict[str, str]:
    """Read `KEY=VALUE` lines (optional `export`, quotes, `#` comments) from a secrets file."""
    values: dict[str, str] = {}
    for number, key, value in dotenv_lines(path.read_text(encoding="utf-8")):
        if key is None:
            raise ValueError(f"{path}: line {number}: expected KEY=VALUE")
        values[key] = value
    return values
