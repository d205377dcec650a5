"""Where the data diagnoses find their rows (PAY4, PAY5, AUTH5, AUTH6, SEC1-SEC5, BIZ1).

Each dataset maps a diagnosis to a table and its columns. The defaults are the booking platform's
schema of runbooks 000/001 (`payments`, `users`, `user_sessions`, `auth_attempts`, `audit_logs`,
`api_keys`, `api_usage_logs`, `appointments`); a team with other names declares theirs:

    data:
      payments: {}                                  # the defaults
      users: {table: accounts, role: user_role}     # other names

Column types may vary between teams: time columns may be timestamptz, timestamp (read as UTC), date
or ISO-8601 text (offset-less text read as UTC, as D1/SQLite writes it); flag columns boolean,
integer 0/1 or text. A name that does not exist fails the check naming the key to fix.

A key naming a flag or a time column (`EXPRESSION_FIELDS`) also takes one read-only SQL expression
over the table's columns, for a schema that records it another way:

    api_keys: {active: "NOT revoked", last_used: "coalesce(last_used_at, created_at)"}

A plain name is quoted as an identifier; an expression goes into the statements verbatim, in
parentheses, so it is checked when the file loads: one expression, no statement keyword, no `;`, no
comment, no dollar quoting, balanced parentheses, no top-level comma; then PostgreSQL's parser
(pglast) must read it as one expression calling no function with effects outside the read-only
transaction (`healthsuite.model.sqlsafety.DENIED`: advisory locks, large objects, pg_sleep, ...).
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar

from pydantic import Field, ValidationInfo, field_validator

from . import sqlsafety
from .types import Model, rule_error

_IDENT = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_$]*\.)?[A-Za-z_][A-Za-z0-9_$]*$")

# words that start a statement, a subquery or a clause: an expression never needs them (END, AS, FROM
# and FOR do appear in expressions: CASE ... END, cast(x AS t), extract(epoch FROM t), substring(t FOR 2)).
# A column of such a name is written quoted: "order".
_STATEMENT_WORDS = frozenset("""
    alter analyze begin call commit copy create delete drop except execute explain grant group having insert
    intersect into join limit merge notify offset order prepare returning revoke rollback select set show table
    truncate union update vacuum values where window with
""".split())
_TOKEN = re.compile(
    r"""(?P<space>\s+)|(?P<string>'(?:[^']|'')*')|(?P<quoted>"(?:[^"]|"")+")|(?P<word>[A-Za-z_][A-Za-z0-9_$]*)"""
    r"""|(?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|(?P<param>\$\d+)"""
    r"""|(?P<op>::|[-+*/<>=~!@#^&|`?]+|[().,\[\]:])"""
)
EXPRESSION_FIX = (
    'write one read-only SQL expression over the table\'s columns, e.g. "NOT revoked" or '
    '"coalesce(last_used_at, created_at)", or a plain column name'
)


def expression_problem(text: str) -> str | None:
    """Why `text` is not one read-only SQL expression (None when it is): it goes into the checks'
    statements verbatim, so anything that could end, extend or hide a statement is refused, then what
    PostgreSQL's parser does not read as one expression, or reads as a call of a denied function."""
    if not text.strip():
        return "is empty"
    for bad, what in ((";", "`;` (one expression, never statements)"), ("--", "a comment (`--`)"),
                      ("/*", "a comment (`/*`)"), ("\\", "a backslash"),
                      ("%", "`%` (write mod(a, b), or starts_with(t, 'x') / strpos(t, 'x') > 0 for LIKE)")):
        if bad in text:
            return f"contains {what}"
    depth, brackets, position = 0, 0, 0
    tokens: list[tuple[str, str]] = []
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            piece = text[position:position + 10]
            return f"cannot be read as an SQL expression at {piece!r} (unbalanced quote or dollar quoting?)"
        position = match.end()
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append((kind, match.group()))
    for kind, token in tokens:
        if kind == "param":
            return f"uses a parameter ({token}): write the value itself"
        if kind == "word" and token.lower() in _STATEMENT_WORDS:
            return (f"contains the keyword {token.upper()}: an expression never needs it (no subquery, no clause; "
                    f'a column of that name is written quoted, "{token.lower()}")')
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
            if depth < 0:
                return "closes a parenthesis it did not open"
        elif token in "[]":
            brackets += 1 if token == "[" else -1
        elif token == "," and depth == 0 and brackets == 0:
            return "is a list (a comma outside parentheses): write one expression"
    if depth or brackets:
        return "leaves a parenthesis or bracket open"
    # then PostgreSQL's own parser: one expression, and no function of sqlsafety.DENIED
    return sqlsafety.expression_problem(text)


def is_column(value: str) -> bool:
    """A plain (optionally qualified) column name, quoted as an identifier; anything else is an expression."""
    return bool(_IDENT.match(value))


class Dataset(Model):
    """A table and its columns: every str field names a column (or the table), except `not_columns`;
    the fields of `expression_fields` (flags and points in time) take a column or an SQL expression."""

    table: str

    not_columns: ClassVar[frozenset[str]] = frozenset()
    expression_fields: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*")
    @classmethod
    def _identifiers(cls, value: object, info: ValidationInfo) -> object:
        key = info.field_name or ""
        if not isinstance(value, str) or key in cls.not_columns or _IDENT.match(value):
            return value
        if key in cls.expression_fields:
            problem = expression_problem(value)
            if problem is not None:
                raise rule_error(f"{value!r} is neither a column name nor one SQL expression: it {problem}",
                                 EXPRESSION_FIX)
            return value
        raise rule_error(f"{value!r} is not a table or column name", "letters, digits and _ only")


class Payments(Dataset):
    """PAY4 (failed share in a window) and PAY5 (pending too long)."""

    table: str = "payments"
    status: str = "status"
    created_at: str = "created_at"
    reference: str = "reference"
    failed: list[str] = Field(["failed"], min_length=1, description="Status values that mean failed.")
    pending: list[str] = Field(["pending"], min_length=1, description="Status values that mean pending.")

    expression_fields: ClassVar[frozenset[str]] = frozenset({"created_at"})


class Users(Dataset):
    """AUTH5 (users without a role) and SEC3 (dormant accounts: no login in 30 days, or never logged in
    and created over 30 days ago)."""

    table: str = "users"
    id: str = "id"
    role: str = "role"
    last_login: str = "last_login"
    created_at: str = "created_at"

    expression_fields: ClassVar[frozenset[str]] = frozenset({"last_login", "created_at"})


class Sessions(Dataset):
    """AUTH6: stale sessions and sessions per user."""

    table: str = "user_sessions"
    user_id: str = "user_id"
    last_activity: str = "last_activity"

    expression_fields: ClassVar[frozenset[str]] = frozenset({"last_activity"})


class AuthAttempts(Dataset):
    """SEC1: failed logins per IP."""

    table: str = "auth_attempts"
    ip: str = "ip_address"
    success: str = Field("success", description="Boolean (or 0/1) column or SQL expression: false for a failed login.")
    at: str = "timestamp"

    expression_fields: ClassVar[frozenset[str]] = frozenset({"success", "at"})


class AuditLog(Dataset):
    """SEC2: privilege-escalation actions not on the allow list."""

    table: str = "audit_logs"
    user_id: str = "user_id"
    action: str = "action"
    at: str = "timestamp"
    ip: str = "ip_address"
    patterns: list[str] = Field(
        ["admin", "elevate", "privilege"], min_length=1, description="Substrings of escalation actions (any case)."
    )
    allow: list[str] = Field([], description="Expected escalations: user ids or exact actions (e.g. nightly jobs).")

    expression_fields: ClassVar[frozenset[str]] = frozenset({"at"})


class ApiKeys(Dataset):
    """SEC4: expired keys still active; keys unused for long (never used: counted from `created_at`)."""

    table: str = "api_keys"
    id: str = "id"
    user_id: str = "user_id"
    created_at: str = "created_at"
    expires_at: str = "expires_at"
    last_used: str = "last_used"
    active: str = Field(
        "is_active",
        description='Boolean (or 0/1) column or SQL expression true for an accepted key, e.g. "NOT revoked".',
    )

    expression_fields: ClassVar[frozenset[str]] = frozenset({"created_at", "expires_at", "last_used", "active"})


class ApiUsage(Dataset):
    """SEC5: requests per user and IP in a window."""

    table: str = "api_usage_logs"
    user_id: str = "user_id"
    ip: str = "ip_address"
    at: str = "timestamp"

    expression_fields: ClassVar[frozenset[str]] = frozenset({"at"})


class Bookings(Dataset):
    """BIZ1: bookings were made in the window, judged only while business hours are open (a window
    whose end is before its start runs past midnight; `00:00-24:00` is always open)."""

    table: str = "appointments"
    created_at: str = "created_at"
    business_hours: str = Field("08:00-18:00", description="Local window when bookings are expected, HH:MM-HH:MM.")
    timezone: str = Field("Africa/Johannesburg", description="IANA time zone of the business hours.")
    days: list[Annotated[int, Field(ge=1, le=7)]] = Field(
        [1, 2, 3, 4, 5, 6], min_length=1, description="ISO weekdays with business hours (1 = Monday, 7 = Sunday)."
    )

    not_columns: ClassVar[frozenset[str]] = frozenset({"business_hours", "timezone"})
    expression_fields: ClassVar[frozenset[str]] = frozenset({"created_at"})

    @field_validator("business_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-(([01]\d|2[0-3]):[0-5]\d|24:00)", value):
            raise rule_error(f"{value!r} is not a window", "write HH:MM-HH:MM, e.g. 08:00-18:00")
        start, end = value.split("-")
        if start == end:
            raise rule_error(
                f"{value!r} is an empty window", "write HH:MM-HH:MM, e.g. 08:00-18:00 (00:00-24:00: always open)"
            )
        return value


class DataMapping(Model):
    """Which datasets this database holds; a diagnosis runs only where its dataset is declared."""

    payments: Payments | None = None
    users: Users | None = None
    sessions: Sessions | None = None
    auth_attempts: AuthAttempts | None = None
    audit_log: AuditLog | None = None
    api_keys: ApiKeys | None = None
    api_usage: ApiUsage | None = None
    bookings: Bookings | None = None
