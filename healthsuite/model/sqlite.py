"""What a team declares about a SQLite/D1 file's settings (DB15).

OWNER: the SQLite/backups work (may add fields; keep the class name)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .types import Model

JournalMode = Literal["wal", "delete", "truncate", "persist", "memory", "off"]


class SqliteSettings(Model):
    """DB15: the settings the file must have; unset keys are not judged."""

    journal_mode: JournalMode | None = Field(
        None,
        description="Expected journal mode, e.g. wal. The file records only wal; the rollback modes "
        "(delete, truncate, persist) are chosen per connection and all read as `delete`.",
    )
    foreign_keys: bool | None = Field(
        None,
        description="The application opens its connections with PRAGMA foreign_keys=ON. The pragma is per "
        "connection (the file does not store it): DB15 reports it; rows violating a foreign key are DB8's finding.",
    )
    busy_timeout_ms: int | None = Field(
        None,
        ge=0,
        le=600_000,
        description="The application's busy timeout: the check reads the file with it, so a lock held longer "
        "than this fails as `database is locked`.",
    )
    max_size_mb: float | None = Field(
        None, gt=0, description="Size limit of the database (file plus WAL), in MB (1 MB = 1,000,000 bytes)."
    )
