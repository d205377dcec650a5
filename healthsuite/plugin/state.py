"""The run's state, kept in pytest's stash: what every hook of the plugin reads and adds to."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from healthsuite.catalogue.diagnoses import CATEGORIES, SEVERITIES
from healthsuite.environment.loaded import LoadedEnvironment
from healthsuite.environment.loader import EnvironmentChoice
from healthsuite.outputs import heartbeat, junit, publish
from healthsuite.outputs.records import RecordBook
from healthsuite.outputs.result import RunResult
from healthsuite.plugin.changes import Changes
from healthsuite.plugin.pytest_internals import CallSpecs
from healthsuite.probes import ProbeSession, deadline
from healthsuite.runner import progress
from healthsuite.runner.clock import WallClock
from healthsuite.runner.pool import Prefetcher

# Markers the checks rely on; pyproject.toml registers them with descriptions, and the plugin
# registers any that a host project's configuration lacks, so `--strict-markers` works anywhere.
MARKERS: dict[str, str] = {
    "diagnosis(id)": "the DIAGNOSES.md ID a check implements",
    **{name: f"severity {name}" for name in SEVERITIES},
    **{name: f"category {name}" for name in CATEGORIES},
    "smoke": "the post-deploy smoke set (DEP1)",
    "mutating": "writes something; refused unless the environment sets allow_mutating: true",
}
EXPECTED_VERSION_VARIABLE = "HEALTHSUITE_EXPECTED_VERSION"
SHIPPED_CHECKS = "healthsuite_checks"  # the package the top-level checks/ is installed as (pyproject.toml)
SHARES_KEY = "healthsuite_shares"  # in a worker's workerinput: the controller hands out shares by target
DEADLINE_KEY = "healthsuite_run_deadline"  # in a worker's workerinput: (epoch seconds, seconds, source)
RUN_DEADLINE_FACTOR = 3  # the default run deadline: this many times the longest declared exchange,
RUN_DEADLINE_MIN_S = 60.0  # and at least this
DEADLINE_GRACE_S = 5.0  # a check waits this much past the run's deadline for exchanges being cut
ALLURE_SEVERITY = {"critical": "blocker", "high": "critical", "medium": "normal", "low": "minor"}


@dataclass
class RunState:
    choice: EnvironmentChoice | None = None
    env: LoadedEnvironment | None = None
    probes: ProbeSession | None = None
    diagnoses: set[str] = field(default_factory=set)
    book: RecordBook = field(default_factory=RecordBook)
    clock: WallClock = field(default_factory=WallClock)  # the run's wall clock (runner.clock.wall_clock)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    collected: int = 0  # checks collected (before -m/-k/--diagnosis)
    selected: int = 0  # checks left to run
    worker_counts: list[tuple[int, int]] = field(default_factory=list)
    report_path: Path | None = None
    platform_incident: dict[str, Any] | None = None
    prefetcher: Prefetcher | None = None
    probe_latency_s: dict[str, float] = field(default_factory=dict)  # target_key -> seconds (every worker's)
    probe_hints: dict[str, dict[str, str]] = field(default_factory=dict)  # target_key -> what it learned
    previous_hints: dict[str, dict[str, str]] | None = None  # the previous run's (None: not read yet)
    item: pytest.Item | None = None  # the check being set up or run
    run_deadline: deadline.RunDeadline | None = None
    lean_unavailable: str = "not decided"  # why checks run under pytest's protocol ("": they run lean)
    workers_note: str = ""  # why `-n` was not used (empty: it was, or was not asked for)
    changes: Changes | None = None  # each check against the previous runs
    shipped_note: str = ""  # where the shipped checks were collected from, when no test path named them
    worker_protocol: str = ""  # under xdist: why the workers ran checks under pytest's protocol
    exchanges: dict[str, Any] = field(default_factory=dict)  # every worker's exchange counts
    result: RunResult | None = None  # built once when the run ends; every output reads it
    published: publish.Published | None = None  # what became of each output
    exit_status: int | None = None  # the run's, once its session finished (None: it never began)
    progress: progress.Pacer = field(default_factory=progress.Pacer)  # when to say what a long wait is on
    pool_timings: list[dict[str, Any]] = field(default_factory=list)  # each process's (Prefetcher.timing)
    configured_at: float = field(default_factory=time.monotonic)  # the run's start when the process was not its own
    splay_s: float = 0.0  # how long the run waited before its first exchange (--splay)
    heartbeat: heartbeat.Heartbeat | None = None  # where the run pings at its start and end (--heartbeat)
    callspecs: CallSpecs = field(default_factory=CallSpecs)  # shared by the items while they are collected
    share_keyword_matches: bool | None = None  # whether items share one empty set of -k names as they are made


STATE = pytest.StashKey[RunState]()
WORKERS_NOT_USED = pytest.StashKey[str]()  # the -n given, when the checks run in one process instead


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def reports_dir_of(config: pytest.Config) -> Path:
    option = config.option.healthsuite_reports_dir
    directory = Path(option or config.getini("healthsuite_reports_dir") or "reports")
    if not directory.is_absolute():
        directory = (config.invocation_params.dir if option else config.rootpath) / directory
    return directory


def is_xdist_controller(config: pytest.Config) -> bool:
    return not is_worker(config) and bool(getattr(config.option, "numprocesses", None)) and (
        config.getvalue("dist") != "no"
    )


def junit_mode(config: pytest.Config) -> str:
    """healthsuite_junit_properties for this run's junit_family (outputs.junit.mode_for)."""
    try:
        return junit.mode_for(str(config.getini("healthsuite_junit_properties")), str(config.getini("junit_family")))
    except ValueError as exc:
        raise pytest.UsageError(f"{exc} (ini)") from None
