"""Database: schema and integrity. Runbook 000 §6 (schema validation, data consistency), 002 "Data
Issues" (corruption, migration failures), 004 "Database Issues". Every statement runs in the shared
read-only session; invariants are evaluated, never fixed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthsuite import plans
from healthsuite.assessments import pg_schema as judge
from healthsuite.checkapi import check
from healthsuite.probes import pg_schema as schema

if TYPE_CHECKING:
    from healthsuite.checkapi import Expect
    from healthsuite.model.environment import PostgresDatabase
    from healthsuite.probes.pgreader import PgReader
    from healthsuite.probes.session import ProbeSession

# What each check reads (the plan runs it on the probe pool first: healthsuite.plans.on_database).


def tables(db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold) -> schema.TablesObservation:
    return schema.tables(db, postgres.schema_.tables)


def orphans(db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold) -> schema.OrphansObservation:
    return schema.orphans(db, postgres.schema_.relations)


def invariants(db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold) -> schema.InvariantsObservation:
    return schema.invariants(db, postgres.schema_.invariants)


def foreign_keys(db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold) -> schema.ForeignKeysObservation:
    return schema.foreign_keys(db, postgres.schema_.relations)


def migration_head(
    db: PgReader, postgres: PostgresDatabase, threshold: plans.Threshold
) -> schema.MigrationsObservation:
    migrations = postgres.schema_.migrations
    assert migrations is not None  # needs="schema.migrations": only databases that declare them are checked
    return schema.migration_head(db, migrations)


@check("DB9", needs="schema.tables", plan=plans.on_database(tables))
def test_declared_tables_exist(postgres: PostgresDatabase, probes: ProbeSession, expect: Expect) -> None:
    observation = expect.reached(tables(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(judge.tables(observation))


@check("DB10", needs="schema.relations", plan=plans.on_database(orphans))
def test_no_orphaned_rows(postgres: PostgresDatabase, probes: ProbeSession, expect: Expect) -> None:
    observation = expect.reached(orphans(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(judge.orphans(observation))


@check("DB11", needs="schema.invariants", plan=plans.on_database(invariants))
def test_data_invariants_hold(postgres: PostgresDatabase, probes: ProbeSession, expect: Expect) -> None:
    observation = expect.reached(invariants(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(judge.invariants(observation))


@check("DB12", needs="schema.relations", plan=plans.on_database(foreign_keys))
def test_foreign_key_constraints_exist(postgres: PostgresDatabase, probes: ProbeSession, expect: Expect) -> None:
    observation = expect.reached(foreign_keys(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(judge.foreign_keys(observation))


@check("DB13", needs="schema.migrations", plan=plans.on_database(migration_head))
def test_schema_is_at_migration_head(postgres: PostgresDatabase, probes: ProbeSession, expect: Expect) -> None:
    migrations = postgres.schema_.migrations
    assert migrations is not None  # needs="schema.migrations"
    expected = None if migrations.expected is None else expect.env.resolve(
        migrations.expected, expect.env.where(postgres, "schema.migrations.expected")
    )
    observation = expect.reached(migration_head(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(judge.migration_head(observation, expected))
