"""Backups: runbook 001 "Automated Daily Backup", "Backup Verification", retention (30 days production,
7 staging), "Migration Execution"; 000 §6 solution A. Backups are only read: BAK3 verifies a scratch copy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthsuite.assessments import backups as judge
from healthsuite.checkapi import check
from healthsuite.probes import backups

if TYPE_CHECKING:
    from healthsuite.checkapi import Expect
    from healthsuite.model.backup import BackupSet
    from healthsuite.probes.session import ProbeSession


def _listing(backup_set: BackupSet, probes: ProbeSession, expect: Expect, pattern: str) -> backups.BackupListing:
    directory = expect.env.resolve_path(backup_set.directory, expect.env.where(backup_set, "directory"))
    return probes.cache.get(("backups.list", directory, pattern), lambda: backups.list_backups(directory, pattern))


def _max_age_h(backup_set: BackupSet, expect: Expect) -> float:
    return backup_set.max_age_h or expect.env.model.threshold("BAK1", "max_age_h")


@check("BAK1")
def test_newest_backup_is_recent(backup_set: BackupSet, probes: ProbeSession, expect: Expect) -> None:
    listing = expect.reached(_listing(backup_set, probes, expect, backup_set.pattern))
    expect.finding(judge.newest_age(listing, _max_age_h(backup_set, expect), expect.threshold("slack_h")))


@check("BAK2")
def test_backups_cover_retention(backup_set: BackupSet, probes: ProbeSession, expect: Expect) -> None:
    listing = expect.reached(_listing(backup_set, probes, expect, backup_set.pattern))
    staging = expect.env.model.kind == "staging"
    retention = backup_set.retention_days or expect.threshold("staging_retention_days" if staging else "retention_days")
    max_gap_h = _max_age_h(backup_set, expect) + expect.env.model.threshold("BAK1", "slack_h")
    expect.finding(judge.retention(listing, retention, max_gap_h))


@check("BAK3", needs="critical_tables")
def test_newest_backup_restores(backup_set: BackupSet, probes: ProbeSession, expect: Expect) -> None:
    listing = expect.reached(_listing(backup_set, probes, expect, backup_set.pattern))
    limit = int(backup_set.max_verify_mb * 1_000_000)
    observation = expect.reached(
        backups.restore_newest(listing, backup_set.format, backup_set.critical_tables, limit)
    )
    expect.finding(judge.restored(observation, backup_set.pattern))


@check("BAK4", needs="migrations")
def test_pre_migration_backup_is_newer_than_migrations(
    backup_set: BackupSet, probes: ProbeSession, expect: Expect
) -> None:
    listing = expect.reached(_listing(backup_set, probes, expect, backup_set.pre_migration_pattern))
    assert backup_set.migrations is not None  # needs="migrations": only backup sets that declare them are checked
    migrations = expect.env.resolve_path(backup_set.migrations, expect.env.where(backup_set, "migrations"))
    observation = expect.reached(backups.newest_migration(migrations))
    expect.finding(judge.pre_migration(listing, observation))
