"""Database: schema and integrity. Runbook 000 §6 (schema validation, data consistency), 002 "Data
Issues" (corruption, migration failures), 004 "Database Issues". Every statement runs in the shared
read-only session; invariants are evaluated, never fixed."""

from healthsuite import plans
from healthsuite.assessments import pg_schema as judge
from healthsuite.checkapi import check
from healthsuite.probes import pg_schema as schema

# What each check reads (the plan runs it on the probe pool first: healthsuite.plans.on_database).


def tables(db, postgres, threshold):
    return schema.tables(db, postgres.schema_.tables)


def orphans(db, postgres, threshold):
    return schema.orphans(db, postgres.schema_.relations)


def invariants(db, postgres, threshold):
    return schema.invariants(db, postgres.schema_.invariants)


def foreign_keys(db, postgres, threshold):
    return schema.foreign_keys(db, postgres.schema_.relations)


def migration_head(db, postgres, threshold):
    return schema.migration_head(db, postgres.schema_.migrations)


@check("DB9", needs="schema.tables", plan=plans.on_database(tables))
def test_declared_tables_exist(postgres, probes, expect):
    observation = expect.reached(tables(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(judge.tables(observation))


@check("DB10", needs="schema.relations", plan=plans.on_database(orphans))
def test_no_orphaned_rows(postgres, probes, expect):
    observation = expect.reached(orphans(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(judge.orphans(observation))


@check("DB11", needs="schema.invariants", plan=plans.on_database(invariants))
def test_data_invariants_hold(postgres, probes, expect):
    observation = expect.reached(invariants(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(judge.invariants(observation))


@check("DB12", needs="schema.relations", plan=plans.on_database(foreign_keys))
def test_foreign_key_constraints_exist(postgres, probes, expect):
    observation = expect.reached(foreign_keys(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(judge.foreign_keys(observation))


@check("DB13", needs="schema.migrations", plan=plans.on_database(migration_head))
def test_schema_is_at_migration_head(postgres, probes, expect):
    migrations = postgres.schema_.migrations
    expected = migrations.expected and expect.env.resolve(
        migrations.expected, expect.env.where(postgres, "schema.migrations.expected")
    )
    observation = expect.reached(migration_head(probes.postgres(postgres), postgres, expect.threshold))
    expect.finding(judge.migration_head(observation, expected))
