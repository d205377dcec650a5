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
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar

from pydantic import Field, field_validator, model_validator

from .modeltypes import Model, rule_error

_IDENT = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_$]*\.)?[A-Za-z_][A-Za-z0-9_$]*$")


class Dataset(Model):
    """A table and its columns: every str field names a column (or the table), except `not_columns`."""

    table: str

    not_columns: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _identifiers(self) -> Dataset:
        for key, value in self:
            if isinstance(value, str) and key not in self.not_columns and not _IDENT.match(value):
                raise rule_error(f"{key}: {value!r} is not a table or column name", "letters, digits and _ only")
        return self


class Payments(Dataset):
    """PAY4 (failed share in a window) and PAY5 (pending too long)."""

    table: str = "payments"
    status: str = "status"
    created_at: str = "created_at"
    reference: str = "reference"
    failed: list[str] = Field(["failed"], min_length=1, description="Status values that mean failed.")
    pending: list[str] = Field(["pending"], min_length=1, description="Status values that mean pending.")


class Users(Dataset):
    """AUTH5 (users without a role) and SEC3 (dormant accounts: no login in 30 days, or never logged in
    and created over 30 days ago)."""

    table: str = "users"
    id: str = "id"
    role: str = "role"
    last_login: str = "last_login"
    created_at: str = "created_at"


class Sessions(Dataset):
    """AUTH6: stale sessions and sessions per user."""

    table: str = "user_sessions"
    user_id: str = "user_id"
    last_activity: str = "last_activity"


class AuthAttempts(Dataset):
    """SEC1: failed logins per IP."""

    table: str = "auth_attempts"
    ip: str = "ip_address"
    success: str = Field("success", description="Boolean (or 0/1) column: false for a failed login.")
    at: str = "timestamp"


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


class ApiKeys(Dataset):
    """SEC4: expired keys still active; keys unused for long (never used: counted from `created_at`)."""

    table: str = "api_keys"
    id: str = "id"
    user_id: str = "user_id"
    created_at: str = "created_at"
    expires_at: str = "expires_at"
    last_used: str = "last_used"
    active: str = Field("is_active", description="Boolean (or 0/1) column: the key is accepted.")


class ApiUsage(Dataset):
    """SEC5: requests per user and IP in a window."""

    table: str = "api_usage_logs"
    user_id: str = "user_id"
    ip: str = "ip_address"
    at: str = "timestamp"


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
