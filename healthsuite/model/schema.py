"""What a team declares about a database's schema (DB9-DB14, PERF5, PERF6): tables, relations,
invariants, the migration head, large tables, indexes and hot queries."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from .sqlsafety import expression_problem, hot_query_problem
from .types import Model, Name, Text, rule_error

_IDENT = r"[A-Za-z_][A-Za-z0-9_$]*"
TABLE = re.compile(rf"^(?:{_IDENT}\.)?{_IDENT}$")  # table or schema.table
COLUMN = re.compile(rf"^(?:{_IDENT}\.)?{_IDENT}\.{_IDENT}$")  # [schema.]table.column
TABLE_OR_COLUMN = re.compile(rf"^{_IDENT}(?:\.{_IDENT}){{0,2}}$")  # table, schema.table, table.column, ...


def _check(pattern: re.Pattern[str], value: str, what: str, example: str) -> str:
    if not pattern.match(value):
        raise rule_error(f"{value!r} is not a {what}", f"write e.g. {example} (letters, digits, _; no quotes)")
    return value


class Relation(Model):
    """child.column -> parent.column: DB10 counts orphans (even without a constraint); DB12 wants the FK."""

    child: str = Field(description="Referencing column: table.column, e.g. appointments.tenant_id.")
    parent: str = Field(description="Referenced column: table.column, e.g. tenants.id.")
    constraint: bool = Field(True, description="DB12: a FOREIGN KEY constraint must exist for it.")

    @field_validator("child", "parent")
    @classmethod
    def _columns(cls, value: str) -> str:
        return _check(COLUMN, value, "table.column", "appointments.tenant_id")


class Invariant(Model):
    """A rule every row of a table must satisfy (DB11), as an SQL boolean expression."""

    name: Name
    table: str = Field(description="The table, e.g. invoices.")
    holds: str = Field(description="SQL boolean expression true for every row, e.g. total_amount >= 0.")
    where: str | None = Field(None, description="Only rows matching this SQL condition are checked.")

    @field_validator("table")
    @classmethod
    def _table(cls, value: str) -> str:
        return _check(TABLE, value, "table name", "invoices or billing.invoices")

    @field_validator("holds", "where")
    @classmethod
    def _expression(cls, value: str | None) -> str | None:
        if value is not None and (";" in value or "--" in value or "/*" in value):
            raise rule_error(
                "an invariant is one SQL expression: no `;` and no comments", "write e.g. total_amount >= 0"
            )
        problem = None if value is None else expression_problem(value)
        if problem is not None:
            raise rule_error(
                f"{value!r} is not one read-only SQL expression: it {problem}",
                "write one boolean expression over the table's columns that only reads, e.g. total_amount >= 0",
            )
        return value


class Migrations(Model):
    """Where the applied migration head is recorded (DB13); Alembic's `alembic_version` by default."""

    table: str = Field("alembic_version", description="Table recording migrations.")
    column: str = Field("version_num", description="Column holding the revision id.")
    order_by: str | None = Field(
        None, description="For a table with one row per migration: the column ordering them (latest = head)."
    )
    expected: Text | None = Field(None, description="Expected head revision, e.g. ${ALEMBIC_HEAD}.")

    @field_validator("table")
    @classmethod
    def _table(cls, value: str) -> str:
        return _check(TABLE, value, "table name", "alembic_version")

    @field_validator("column", "order_by")
    @classmethod
    def _column(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(_IDENT, value):
            raise rule_error(f"{value!r} is not a column name", "write e.g. version_num")
        return value


class HotQuery(Model):
    """A query the application runs often (PERF5): its EXPLAIN plan (never ANALYZE) must use an index."""

    name: Name
    sql: str = Field(description="A SELECT statement; it is EXPLAINed, never run.")

    @field_validator("sql")
    @classmethod
    def _select(cls, value: str) -> str:
        problem = hot_query_problem(value)
        if problem is not None:
            raise rule_error(
                f"a hot query is one SELECT statement that only reads: it {problem}",
                "write one SELECT (or WITH ... SELECT) without locking clauses, INTO or side-effect functions, "
                "e.g. SELECT * FROM appointments WHERE tenant_id = 1",
            )
        return value


class ForeignKeyIndexes(Model):
    """PERF6's judgement of unindexed foreign keys: which tables' foreign keys it judges."""

    scope: Literal["declared", "all"] = Field(
        "declared",
        description="declared: the foreign keys of the tables this database declares (schema.tables, "
        "large_tables, relations, invariants, the tables of schema.indexes and of data); all: every foreign key "
        "in schema public and in the schemas of the declared tables. Tables the role cannot read are never judged.",
    )
    exclude: list[str] = Field(
        [],
        description="Foreign keys never judged: a table (every foreign key of it) or table.column (the key led "
        "by that column), optionally schema-qualified, e.g. [audit_logs, payments.appointment_id].",
    )

    @field_validator("exclude")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            _check(TABLE_OR_COLUMN, name, "table or table.column", "audit_logs or payments.appointment_id")
        return value


class SchemaDeclaration(Model):
    tables: list[str] = Field([], description="DB9: tables that must exist.")
    relations: list[Relation] = Field([], description="DB10 (orphans) and DB12 (foreign keys).")
    invariants: list[Invariant] = Field([], description="DB11: rules every row must satisfy.")
    migrations: Migrations | None = Field(None, description="DB13: the migration head.")
    large_tables: list[str] = Field([], description="DB14 (analyzed recently) and PERF5 (never seq-scanned).")
    indexes: list[str] = Field([], description="PERF6: indexes that must exist.")
    foreign_key_indexes: ForeignKeyIndexes = Field(
        ForeignKeyIndexes(),
        description="PostgreSQL's PERF6: whose foreign keys must be indexed (the declared tables' by default) "
        "and which are excluded.",
    )
    hot_queries: list[HotQuery] = Field([], description="PERF5: queries whose plan must use an index.")

    @field_validator("tables", "large_tables")
    @classmethod
    def _tables(cls, value: list[str]) -> list[str]:
        for table in value:
            _check(TABLE, table, "table name", "appointments")
        return value
