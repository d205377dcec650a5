"""Judge backup folders: the newest backup is fresh (BAK1), backups cover the retention window and none
outlives it (BAK2), the newest restores with non-empty critical tables (BAK3), a pre-migration backup is
newer than the newest migration (BAK4). Ages are modification times against the probe's clock."""

from __future__ import annotations

from datetime import UTC, datetime

from ..probes.backups import ROWS_COUNTED, BackupListing, MigrationObservation, RestoreObservation
from .failure import Finding

HOUR = 3600.0
DAY = 86400.0
RETENTION_SLACK_DAYS = 1.0  # BAK2: a backup is "kept past retention" once older than retention + this


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _age(seconds: float) -> str:
    if seconds >= 2 * DAY:
        return f"{seconds / DAY:.1f} days"
    return f"{seconds / HOUR:.1f} h"


def _no_folder(listing: BackupListing, expected: str) -> Finding:
    return Finding(
        ok=False,
        observed=f"the backup folder {listing.directory} does not exist",
        expected=expected,
        meaning="no backup can be found where the environment file says they are kept",
        causes=("The backup job never ran on this host, or writes elsewhere.",),
        remediation=("Fix `backups[].directory` in the environment file, or the backup job's destination.",),
        facts={"directory": listing.directory},
    )


def newest_age(listing: BackupListing, max_age_h: float, slack_h: float) -> Finding:
    """BAK1: the newest backup matching the pattern is younger than max_age_h + slack_h."""
    limit_h = max_age_h + slack_h
    expected = f"a backup matching {listing.pattern} younger than {max_age_h:g} h (+{slack_h:g} h slack)"
    if not listing.exists:
        return _no_folder(listing, expected)
    newest = listing.newest
    if newest is None:
        return Finding(
            ok=False,
            observed=f"no file matches {listing.pattern} in {listing.directory}",
            expected=expected,
            meaning="there is no backup to restore from",
            facts={"directory": listing.directory, "pattern": listing.pattern, "backups": 0},
        )
    age = listing.now - newest.mtime
    ok = age < limit_h * HOUR
    return Finding(
        ok=ok,
        observed=f"newest backup {newest.name} is {_age(age)} old (written {_when(newest.mtime)}; "
        f"{len(listing.files)} backups)",
        expected=expected,
        meaning="" if ok else f"no backup was taken in the last {_age(age)}: a restore now would lose that much data",
        facts={
            "newest": newest.name,
            "age_h": round(age / HOUR, 2),
            "limit_h": limit_h,
            "backups": len(listing.files),
            "directory": listing.directory,
        },
    )


def retention(listing: BackupListing, retention_days: float, max_gap_h: float) -> Finding:
    """BAK2: the oldest backup reaches back to retention - 1 days, no gap between consecutive backups is longer
    than max_gap_h, and none is older than retention + RETENTION_SLACK_DAYS."""
    keep_limit = retention_days + RETENTION_SLACK_DAYS
    reach = max(retention_days - 1, 0)
    expected = (
        f"backups matching {listing.pattern} reaching back {reach:g} days, no gap over {max_gap_h:g} h, "
        f"none older than {retention_days:g} days (+{RETENTION_SLACK_DAYS:g} day slack)"
    )
    if not listing.exists:
        return _no_folder(listing, expected)
    if not listing.files:
        return Finding(
            ok=False,
            observed=f"no file matches {listing.pattern} in {listing.directory}",
            expected=expected,
            meaning="there is no backup at all in the retention window",
            facts={"directory": listing.directory, "pattern": listing.pattern, "backups": 0},
        )
    ages = [(listing.now - f.mtime) / DAY for f in listing.files]  # newest first
    oldest_age = ages[-1]
    expired = [(f, a) for f, a in zip(listing.files, ages, strict=True) if a > keep_limit]
    gaps = [
        (newer, older, (newer.mtime - older.mtime) / HOUR)
        for newer, older in zip(listing.files, listing.files[1:], strict=False)
        if (listing.now - older.mtime) / DAY <= retention_days
    ]
    long_gaps = [g for g in gaps if g[2] > max_gap_h]
    problems, remediation = [], []
    if expired:
        names = ", ".join(f"{f.name} ({a:.1f} days)" for f, a in expired[-3:])
        count = f"{len(expired)} backup{'s' if len(expired) > 1 else ''}"
        problems.append(f"{count} older than {keep_limit:g} days: {names}")
        remediation.append("Delete the expired backups (the runbook's cleanup is manual, via the dashboard).")
    if oldest_age < reach:
        problems.append(f"the oldest backup {listing.files[-1].name} is only {oldest_age:.1f} days old")
        remediation.append("Backups older than that were lost or deleted early: check the cleanup's cutoff date.")
    if long_gaps:
        shown = ", ".join(f"{g[2]:.0f} h before {g[0].name}" for g in long_gaps[:3])
        problems.append(f"{len(long_gaps)} gaps over {max_gap_h:g} h: {shown}")
        remediation.append("Read the backup job's history (backup.log) for the missed days.")
    summary = f"{len(listing.files)} backups from {oldest_age:.1f} to {ages[0]:.1f} days old"
    meaning = ""
    if expired:
        meaning = "backups are kept past the retention policy: storage cost, and data kept longer than allowed"
    elif problems:
        meaning = "the retention window is not covered: some days cannot be restored"
    return Finding(
        ok=not problems,
        observed="; ".join(problems + [summary]) if problems else summary,
        expected=expected,
        meaning=meaning,
        remediation=tuple(remediation),
        facts={
            "backups": len(listing.files),
            "oldest_days": round(oldest_age, 2),
            "newest_days": round(ages[0], 2),
            "expired": [f.name for f, _ in expired],
            "gaps_h": [round(g[2], 1) for g in long_gaps],
            "retention_days": retention_days,
        },
    )


def restored(obs: RestoreObservation, pattern: str) -> Finding:
    """BAK3: the newest backup's scratch copy opens, and every critical table exists and has rows."""
    names = [t for t, _ in obs.tables]
    expected = f"the newest backup ({pattern}) opens in a scratch copy and its critical tables have rows"
    backup = obs.backup
    if backup is None:
        return Finding(ok=False, observed=f"no backup matches {pattern}", expected=expected,
                       meaning="there is no backup to verify")
    where = f"{backup.name} (copied to a scratch folder, {obs.format})"
    if obs.too_large:
        return Finding(
            ok=False,
            observed=f"{backup.name} is over the verification limit of {obs.limit_bytes / 1e6:g} MB",
            expected=expected,
            meaning="the backup was not verified",
            remediation=("Raise `max_verify_mb` for this backup set if the host has room for a scratch copy.",),
            facts={"backup": backup.name, "size": backup.size},
        )
    if obs.foreign_format:
        return Finding(
            ok=False,
            observed=f"{backup.name} is a PostgreSQL dump ({obs.foreign_format}), not a SQLite backup",
            expected=expected,
            meaning="BAK3 restores SQLite backups only (a database file, or a dump of SQLite statements): this "
            "backup was not verified",
            remediation=(
                f"Check it with PostgreSQL's tools: `pg_restore --list {backup.name}` (custom format), or a test "
                "restore into a scratch database (`createdb scratch && pg_restore -d scratch ...`, or `psql -f` "
                "for a plain dump), then drop the scratch database.",
                "Declare only SQLite backups under `backups:` (docs/ENVIRONMENT.md, Backups); a PostgreSQL dump "
                "set is not supported.",
            ),
            facts={"backup": backup.name, "format": obs.foreign_format},
        )
    if obs.unreadable:
        return Finding(
            ok=False,
            observed=f"{where} does not open: {obs.unreadable}",
            expected=expected,
            meaning="the newest backup is corrupted or truncated: it cannot be restored",
            facts={"backup": backup.name, "error": obs.unreadable},
        )
    missing = [t for t, n in obs.tables if n is None]
    empty = [t for t, n in obs.tables if n == 0]
    counts = ", ".join(
        f"{t}: missing" if n is None else f"{t}: {f'{n}+' if n >= ROWS_COUNTED else n} rows" for t, n in obs.tables
    )
    problems = []
    if missing:
        problems.append(f"missing tables {', '.join(missing)}")
    if empty:
        problems.append(f"empty tables {', '.join(empty)}")
    return Finding(
        ok=not problems,
        observed=f"{where}: " + ("; ".join(problems) + f" ({counts})" if problems else counts),
        expected=expected + (f" ({', '.join(names)})" if names else ""),
        meaning="restoring the newest backup would lose these tables' data" if problems else "",
        remediation=("Find the newest backup that has them (check each backwards) and take a new backup at once.",)
        if problems
        else (),
        facts={"backup": backup.name, "tables": {t: n for t, n in obs.tables}},
    )


def pre_migration(listing: BackupListing, migrations: MigrationObservation) -> Finding:
    """BAK4: the newest pre-migration backup is newer than the newest migration file."""
    expected = f"a backup matching {listing.pattern} newer than the newest migration ({migrations.pattern})"
    if not listing.exists:
        return _no_folder(listing, expected)
    if not migrations.files:
        return Finding(
            ok=False,
            observed=f"no migration file matches {migrations.pattern}",
            expected=expected,
            meaning="the newest migration is unknown, so its backup cannot be checked",
            remediation=("Fix `backups[].migrations`: a glob of the migration files, e.g. ../migrations/*.sql.",),
        )
    migrated = f"newest migration {migrations.newest} arrived {_when(migrations.newest_mtime)}"
    newest = listing.newest
    if newest is None:
        return Finding(
            ok=False,
            observed=f"no pre-migration backup matches {listing.pattern}; {migrated}",
            expected=expected,
            meaning="the migration ran without the runbook's pre-migration backup: it cannot be rolled back",
            facts={"migration": migrations.newest},
        )
    ok = newest.mtime > migrations.newest_mtime
    lag = _age(abs(migrations.newest_mtime - newest.mtime))
    return Finding(
        ok=ok,
        observed=f"newest pre-migration backup {newest.name} written {_when(newest.mtime)}"
        + (f", {lag} after the {migrated}" if ok else f", {lag} before the {migrated}"),
        expected=expected,
        meaning="" if ok else "the newest migration has no backup taken before it: it cannot be rolled back",
        facts={
            "backup": newest.name,
            "backup_time": _when(newest.mtime),
            "migration": migrations.newest,
            "migration_time": _when(migrations.newest_mtime),
            "migrations": migrations.files,
        },
    )
