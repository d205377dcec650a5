"""Database: schema and integrity. Runbook 000 §6 (schema validation, data consistency), 002 "Data
Issues" (corruption, migration failures), 004 "Database Issues". Every statement runs in the shared
read-only session; invariants are evaluated, never fixed."""

from healthsuite.assessments import pg_schema as judge
from healthsuite.checkapi import check
from healthsuite.probes import pg_schema as schema


@check("DB9", needs="schema.tables")
def test_declared_tables_exist(postgres, probes, expect):
    observation = expect.reached(schema.tables(probes.postgres(postgres), postgres.schema_.tables))
    expect.finding(judge.tables(observation))


@check("DB10", needs="schema.relations")
def test_no_orphaned_rows(postgres, probes, expect):
    observation = expect.reached(schema.orphans(probes.postgres(postgres), postgres.schema_.relations))
    expect.finding(judge.orphans(observation))


@check("DB11", needs="schema.invariants")
def test_data_invariants_hold(postgres, probes, expect):
    observation = expect.reached(schema.invariants(probes.postgres(postgres), postgres.schema_.invariants))
    expect.finding(judge.invariants(observation))


@check("DB12", needs="schema.relations")
def test_foreign_key_constraints_exist(postgres, probes, expect):
    observation = expect.reached(schema.foreign_keys(probes.postgres(postgres), postgres.schema_.relations))
    expect.finding(judge.foreign_keys(observation))


@check("DB13", needs="schema.migrations")
def test_schema_is_at_migration_head(postgres, probes, expect):
    migrations = postgres.schema_.migrations
    expected = migrations.expected and expect.env.resolve(
        migrations.expected, expect.env.where(postgres, "schema.migrations.expected")
    )
    observation = expect.reached(schema.migration_head(probes.postgres(postgres), migrations))
    expect.finding(judge.migration_head(observation, expected))
