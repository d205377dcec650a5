"""Backups of a database (BAK1-BAK4): where they are, how they are named, how long they are kept.

OWNER: the SQLite/backups work (fill in the fields; keep the class name and `collection`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from .schema import TABLE
from .targets import Target
from .types import Text, rule_error

# what a PostgreSQL dump's `format` is likely to be called: refused at load, naming the format
POSTGRESQL_FORMATS = frozenset({
    "pg_dump", "pgdump", "postgres", "postgresql", "custom", "plain", "directory", "tar", "dump", "pg_restore",
})


def _refuse_postgresql_format(value: object) -> object:
    if isinstance(value, str) and value.strip().lower() in POSTGRESQL_FORMATS:
        raise rule_error(
            f"format {value!r} is a PostgreSQL dump format: BAK1-BAK4 verify SQLite backups only "
            "(sqlite: a database file; sql: a text dump of SQLite statements, e.g. `sqlite3 app.db .dump`), "
            "and a pg_dump file (custom or plain) is not restored or read",
            "declare only SQLite backup sets here; check a PostgreSQL dump with `pg_restore --list <file>` "
            "(custom format) or a test restore into a scratch database",
        )
    return value


def _glob(value: str) -> str:
    if not value.strip() or "/" in value or "\\" in value:
        raise rule_error(f"{value!r} is not a file-name pattern", "write a glob of names, e.g. daily-*.sqlite")
    return value


class BackupSet(Target):
    """A folder of backups of one database: each backup is one file, its age is its modification time."""

    directory: Text = Field(description="Folder holding the backups; relative to the environment file.")
    pattern: str = Field("daily-*", description="Glob of the daily backups' file names, e.g. daily-*.sqlite.")
    format: Literal["sqlite", "sql"] = Field(
        "sqlite",
        description="sqlite: a database file; sql: a text dump (.sql or .sql.gz) of SQLite statements. Only "
        "SQLite backups are supported: a PostgreSQL format (pg_dump, custom, plain) is refused at load, and a "
        "pg_dump file found in a set fails BAK3 naming its format.",
    )
    max_age_h: float | None = Field(None, gt=0, description="BAK1: newest backup's age limit (default: thresholds).")
    retention_days: float | None = Field(
        None,
        gt=0,
        description="BAK2: days of backups kept (default: thresholds.BAK2, 30 days; 7 for a staging environment).",
    )
    critical_tables: list[str] = Field(
        [], description="BAK3: tables the newest backup must hold, not empty, e.g. [users, appointments, services]."
    )
    pre_migration_pattern: str = Field(
        "pre-migration-*", description="BAK4: glob of the pre-migration backups' names, in the same folder."
    )
    migrations: Text | None = Field(
        None,
        description="BAK4: glob of the migration files, e.g. ../migrations/*.sql (relative to the environment "
        "file); the newest file's modification time is when the newest migration arrived.",
    )
    max_verify_mb: float = Field(
        1024, gt=0, description="BAK3: the largest backup copied to a scratch folder and opened (MB)."
    )

    kind_label: ClassVar[str] = "backup set"
    collection: ClassVar[str] = "backups"

    _patterns = field_validator("pattern", "pre_migration_pattern")(_glob)
    _format = field_validator("format", mode="before")(_refuse_postgresql_format)

    @field_validator("critical_tables")
    @classmethod
    def _tables(cls, value: list[str]) -> list[str]:
        for table in value:
            if not TABLE.match(table):
                raise rule_error(f"{table!r} is not a table name", "write e.g. appointments (letters, digits, _)")
        return value
