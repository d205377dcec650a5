"""The pytest plugin: every hook of healthsuite lives here.

- options: --env, --diagnosis, --reports-dir (and ini healthsuite_env, healthsuite_reports_dir)
- pytest_configure: load and validate the environment file (a UsageError names file, key and fix),
  reject unknown markers in -m and unknown IDs in --diagnosis
- pytest_generate_tests: parametrize target fixtures (page, database, ...) from the environment
- pytest_collection_modifyitems: effective severity (overrides visible to -m), report properties,
  allure labels, refusal of mutating checks
- pytest_collection_finish: start the exchanges this process's checks planned (healthsuite.plans) on
  the probe pool (healthsuite.runner.pool), slowest first by the previous report; a check waits only for
  its own (pytest_pyfunc_call)
- the run's deadline (--run-deadline, ini healthsuite_run_deadline, else derived from the declared
  timeouts): exchanges still out then are cut, and their checks fail saying so (probes.deadline)
- under -n: every check of one target on one worker, each worker's share at once
  (healthsuite.plugin.scheduling, healthsuite.runner.workunits)
- reports: JSON written once by the controller; JUnit/allure carry the same properties
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import functools
import gc
import importlib.util
import os
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from _pytest.config.findpaths import determine_setup
from _pytest.junitxml import mangle_test_address, xml_key
from _pytest.mark.expression import Expression

from healthsuite import __version__
from healthsuite.catalogue.diagnoses import CATEGORIES, SEVERITIES, load_catalogue
from healthsuite.environment.loader import (
    EnvironmentChoice,
    EnvironmentFileError,
    LoadedEnvironment,
    choose_environment,
    load_environment,
    locate,
)
from healthsuite.model.templates import MissingVariable
from healthsuite.plugin import protocol
from healthsuite.runner import progress
from healthsuite.runner.pool import Prefetcher, Work, shared_requests
from healthsuite.runner.workunits import join_names, share_of, worker_number

from ..checkapi import SEVERITY_MARKS, Expect, declared, diagnosis_of, plan_of, target_of
from ..model.declared import DeclaredCheck
from ..model.environment import (
    TARGET_COLLECTIONS,
    ApiEndpoint,
    Environment,
    HealthEndpoint,
    Hostname,
    Page,
    PostgresDatabase,
    SqliteDatabase,
    Target,
)
from ..model.ops import LatencyTarget
from ..outputs import junit, nagios, notices, publish, summary
from ..outputs.files import REPORT_MODE
from ..outputs.json_report import previous_probe_hints, previous_probe_latency
from ..outputs.records import RecordBook
from ..outputs.result import RunEnvironment, RunResult
from ..outputs.result import build as build_result
from ..probes import ProbeSession, deadline
from . import outputs, verdicts
from .changes import Changes

# the exit status by severity and Nagios mode, and --notify's escalation notices: plugins of their own
pytest_plugins = ["healthsuite.plugin.verdicts", "healthsuite.plugin.outputs", "healthsuite.plugin.allure_story"]

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


STATE = pytest.StashKey[RunState]()
WORKERS_NOT_USED = pytest.StashKey[str]()  # the -n given, when the checks run in one process instead


# --- options ----------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("healthsuite", "healthsuite: runbook checks")
    group.addoption(
        "--env",
        dest="healthsuite_env",
        metavar="NAME|PATH",
        help="environment to check: NAME loads environments/NAME.yaml, a path loads that file "
        "(default: $HEALTHSUITE_ENV, then the ini setting healthsuite_env)",
    )
    group.addoption(
        "--diagnosis",
        dest="healthsuite_diagnosis",
        action="append",
        default=[],
        metavar="ID[,ID...]",
        help="run only the checks of these diagnosis IDs (exact match), e.g. --diagnosis AV1,DB1",
    )
    group.addoption(
        "--expected-version",
        dest="healthsuite_expected_version",
        metavar="VERSION",
        help="DEP2: the version that should be deployed, e.g. a git SHA or tag "
        f"(default: ${EXPECTED_VERSION_VARIABLE}, then each version source's `expected`)",
    )
    group.addoption(
        "--reports-dir",
        dest="healthsuite_reports_dir",
        metavar="DIR",
        help="directory of the JSON report (default: ini healthsuite_reports_dir, 'reports' under rootdir)",
    )
    group.addoption(
        "--run-deadline",
        dest="healthsuite_run_deadline",
        metavar="SECONDS",
        help="end the run's exchanges after this many seconds: those still out fail, saying so, and every "
        "report is written (default: ini healthsuite_run_deadline, else "
        f"{RUN_DEADLINE_FACTOR} x the longest declared exchange, at least {RUN_DEADLINE_MIN_S:g} s)",
    )
    group.addoption(
        "--keep-workers",
        dest="healthsuite_keep_workers",
        action="store_true",
        help="under -n, keep the xdist workers even where they cannot pay off (by default the checks then run "
        "in one process, and the header says why)",
    )
    parser.addini("healthsuite_env", "environment when neither --env nor HEALTHSUITE_ENV is given", default="")
    parser.addini("healthsuite_run_deadline", "the run's deadline in seconds (see --run-deadline)", default="")
    parser.addini(
        "healthsuite_lean_protocol",
        "run checks under healthsuite's lean protocol where it changes nothing but the cost (plugin.protocol)",
        default="true",
    )
    parser.addini("healthsuite_reports_dir", "directory of the JSON reports, relative to rootdir", default="reports")
    parser.addini(
        "healthsuite_junit_properties",
        "where --junitxml puts each check's properties: system-out (key: value lines, valid under the strict "
        "junit-10.xsd), testcase (<properties> of the testcase), auto (testcase under junit_family=xunit1, "
        "else system-out)",
        default="auto",
    )


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _registered_markers(config: pytest.Config) -> set[str]:
    return {line.split(":", 1)[0].split("(", 1)[0].strip() for line in config.getini("markers")}


def _check_mark_expression(config: pytest.Config, own_categories: tuple[str, ...] = ()) -> None:
    expression = config.option.markexpr
    strict = config.getini("strict_markers") or config.getini("strict") or config.option.strict_markers
    if not expression or not strict:
        return
    try:
        names = Expression.compile(expression).idents()
    except SyntaxError:
        return  # pytest reports the syntax error itself
    known = _registered_markers(config)
    unknown = sorted(set(names) - known)
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise pytest.UsageError(
            f"-m {expression!r}: unknown marker {', '.join(hints)}; a typo would deselect every check. "
            f"Categories: {', '.join((*CATEGORIES, *own_categories))}; severities: {', '.join(SEVERITIES)}; "
            "also smoke, mutating, "
            "diagnosis(id='AV1'). See `pytest --markers`."
        )


def _diagnosis_filter(config: pytest.Config, known: Mapping[str, object]) -> set[str]:
    wanted = {part.strip().upper() for value in config.option.healthsuite_diagnosis for part in value.split(",")}
    wanted.discard("")
    unknown = sorted(wanted - set(known))
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=1)
            hints.append(name + (f" (did you mean {close[0]}?)" if close else ""))
        raise pytest.UsageError(
            f"--diagnosis: unknown diagnosis ID {', '.join(hints)}; IDs are listed in docs/DIAGNOSES.md "
            "(and a team's own in the environment's diagnoses_file)"
        )
    return wanted


@pytest.hookimpl(tryfirst=True)  # before pytest's own, which loads the conftest.py files of the rootdir
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    _rootdir_without_option_values(early_config, args)


def _rootdir_without_option_values(config: pytest.Config, args: list[str]) -> None:
    """Decide the rootdir and configuration file again, now that healthsuite's options are known.

    pytest decides them before it loads plugins (pytest #8846): the value of `--env /path/prod.yaml`
    or `--reports-dir /existing/dir` then reads as a test path, and the rootdir and configuration
    become that path's (from this checkout: its pyproject.toml left out, testpaths and markers with
    it, and every test of the directory collected). Decided again from the real test paths, they are
    what `--env=/path/prod.yaml` gives. The right file's addopts replace the wrong one's (its `-p`
    plugins loaded here); its minversion is checked; its `pythonpath` and `required_plugins` are not
    applied (the wrong file's were)."""
    ns = config.known_args_namespace
    rootpath, inipath, inicfg, ignored = determine_setup(
        inifile=ns.inifilename, override_ini=ns.override_ini, args=ns.file_or_dir,
        rootdir_cmd_arg=ns.rootdir or None, invocation_dir=config.invocation_params.dir,
    )
    if (rootpath, inipath) == (config.rootpath, config.inipath):
        return
    wrong_addopts = list(config.getini("addopts"))
    if wrong_addopts and args[: len(wrong_addopts)] == wrong_addopts:
        del args[: len(wrong_addopts)]
    config._rootpath, config._inipath, config._inicfg = rootpath, inipath, inicfg
    config._ignored_config_files = ignored
    config._inicache.clear()
    config._parser.extra_info.update(rootdir=str(rootpath), inifile=str(inipath))
    addopts = list(config.getini("addopts"))
    args[:0] = addopts
    config.pluginmanager.consider_preparse(addopts, exclude_only=False)
    config.known_args_namespace = config._parser.parse_known_args(
        args, namespace=copy.copy(config.option)
    )
    if config.known_args_namespace.confcutdir is None:
        config.known_args_namespace.confcutdir = str(inipath.parent if inipath is not None else rootpath)
    config._checkversion()


@pytest.hookimpl(tryfirst=True)  # before xdist's: it would start its distributed session
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Decide `-n` before xdist acts on it (see _one_process_instead_of_workers): a check run given
    `--env` or HEALTHSUITE_ENV runs its checks in this one process, unless --keep-workers."""
    workers = getattr(config.option, "numprocesses", None)
    if _is_worker(config) or not workers:
        return
    if config.option.healthsuite_keep_workers or config.option.collectonly:
        return
    choice = choose_environment(config.option.healthsuite_env, os.environ, None)
    if choice is None or choice.source not in ("--env", "HEALTHSUITE_ENV"):
        return
    config.stash[WORKERS_NOT_USED] = str(workers)
    config.option.numprocesses = 0
    config.option.dist = "no"
    config.option.tx = []


@pytest.hookimpl(trylast=True)  # after other plugins registered their markers
def pytest_configure(config: pytest.Config) -> None:
    registered = _registered_markers(config)
    for name, description in MARKERS.items():
        if name.split("(")[0] not in registered:
            config.addinivalue_line("markers", f"{name}: {description}")
    state = RunState()
    config.stash[STATE] = state
    config.pluginmanager.register(RunReporter(config, state), "healthsuite-run")
    _junit_mode(config)
    state.choice = choose_environment(
        config.option.healthsuite_env, os.environ, str(config.getini("healthsuite_env") or "")
    )
    if state.choice is not None:
        try:
            path = locate(state.choice.value, config.rootpath / "environments", config.invocation_params.dir)
            state.env = load_environment(path)
        except EnvironmentFileError as exc:
            raise pytest.UsageError(f"{exc}\n(environment selected by {state.choice.source})") from None
        state.book = RecordBook(state.env.redactor.redact)  # spooled lines are redacted as they are written
        state.run_deadline = _run_deadline(config, state.env)
        deadline.set_run_deadline(state.run_deadline)
        deadline.reset_exchange_counts()
        state.workers_note = _one_process_instead_of_workers(config, state)
        if not _is_worker(config) and not config.option.collectonly:  # where the reports are collected
            state.changes = Changes(_reports_dir(config), state.env.name, state.started)
            config.pluginmanager.register(state.changes, "healthsuite-history")
        state.shipped_note = _collect_shipped_checks(config, state)
        outputs.secrets_known(state.env)
    # after the environment: its own diagnoses add categories (markers) and IDs
    catalogue = state.env.catalogue if state.env is not None else load_catalogue()
    registered = _registered_markers(config)
    for name, description in catalogue.categories.items():
        if name not in registered:
            config.addinivalue_line("markers", f"{name}: category {name} (diagnoses_file): {description}")
    _check_mark_expression(config, tuple(catalogue.categories))
    state.diagnoses = _diagnosis_filter(config, catalogue.diagnoses)


def shipped_checks_dir() -> Path | None:
    """The directory of the installed shipped checks (this checkout's checks/ under an editable install)."""
    spec = importlib.util.find_spec(SHIPPED_CHECKS)  # finds the package without importing a check
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(locations[0]).resolve() if locations else None


def _collect_shipped_checks(config: pytest.Config, state: RunState) -> str:
    """`pytest --env X` with no test path, where pytest falls back to the current directory (no
    `testpaths` apply) and that directory is no pytest project of its own (no conftest.py in it or up
    to the rootdir): the shipped checks are collected too, so a team's repository of environment files
    runs them. Anywhere else pytest collects what it always did (this checkout: its testpaths, checks/
    once; a team's own checks under its conftest.py); naming the shipped ones there: --pyargs healthsuite_checks."""
    if state.choice is None or state.choice.source not in ("--env", "HEALTHSUITE_ENV"):
        return ""
    if config.args_source is not pytest.Config.ArgsSource.INVOCATION_DIR:
        return ""
    here = config.invocation_params.dir.resolve()
    rootpath = config.rootpath.resolve()
    up_to_rootdir = [here, *(parent for parent in here.parents if parent.is_relative_to(rootpath))]
    if any((directory / "conftest.py").is_file() for directory in up_to_rootdir):
        return ""
    shipped = shipped_checks_dir()
    if shipped is None or shipped == here or here.is_relative_to(shipped):
        return ""  # the current directory is (inside) the shipped checks: pytest collects them already
    config.args = [*config.args, str(shipped)]
    return f"shipped checks collected from {shipped} (no test path given; name paths to choose what runs)"


def _one_process_instead_of_workers(config: pytest.Config, state: RunState) -> str:
    """Under `-n N`, run the checks in this one process instead, and say so in the header.

    Workers cannot pay off for checks: a check costs about 0.5 ms of CPU in one process, whose probe
    pool already runs every target's exchanges concurrently, while the xdist controller alone spends
    about 1 ms per check receiving and logging its reports (measured: README, Performance). So `-n 2`
    was slower than one process at every size from 10 to 5000 targets, and more cores cannot change
    that: the controller is one process. Only a team's own checks heavy in local work could gain;
    `--keep-workers` keeps the workers for them. A run of other tests (this project's own suite)
    that only has the ini's default environment keeps its workers."""
    workers = config.stash.get(WORKERS_NOT_USED, None)
    if workers is None or state.env is None:
        return ""
    return (
        f"-n {workers} not used: the checks of {state.env.name} run in this one process, which runs their "
        f"probes up to {state.env.model.http.max_concurrency} at once; workers would cost more than they "
        "save (the xdist controller spends more on each check's reports than the check costs here). "
        "--keep-workers keeps them"
    )


def longest_exchange_s(env: LoadedEnvironment) -> tuple[float, str]:
    """The longest single exchange (or chain of them) the environment declares, and which it is."""
    model = env.model
    longest = max(
        ((float(seconds), f"timeouts.{name}") for name, seconds in model.timeouts.model_dump().items()),
        key=lambda pair: pair[0],
    )
    for targets_of, _, _ in TARGET_FIXTURES.values():
        for target in targets_of(model):
            seconds = getattr(target, "timeout_s", None) or 0.0
            where = f"{target.collection}[{target.name}].timeout_s"
            if isinstance(target, DeclaredCheck) and target.kinds:  # its probe block's own timeout
                seconds = getattr(target.probe, "timeout_s", None) or 0.0
                where = f"{target.collection}[{target.name}].{target.kind}.timeout_s"
            if isinstance(target, LatencyTarget):  # rounds of samples at the declared concurrency
                samples = target.samples or model.threshold("PERF2", "samples")
                seconds = -(-samples // target.concurrency) * (target.timeout_s or model.timeouts.http_s)
                where = f"{target.collection}[{target.name}]: {samples:g} samples, {target.concurrency} at once"
            if seconds > longest[0]:
                longest = (float(seconds), where)
    return longest


def _run_deadline(config: pytest.Config, env: LoadedEnvironment) -> deadline.RunDeadline:
    """The option, else the ini setting, else RUN_DEADLINE_FACTOR x the longest declared exchange."""
    if _is_worker(config) and DEADLINE_KEY in config.workerinput:  # type: ignore[attr-defined]
        epoch, seconds, source = config.workerinput[DEADLINE_KEY]  # type: ignore[attr-defined]
        return deadline.RunDeadline(time.monotonic() + (float(epoch) - time.time()), float(seconds), str(source))
    option = config.option.healthsuite_run_deadline
    ini = str(config.getini("healthsuite_run_deadline") or "").strip()
    for value, source in ((option, "--run-deadline"), (ini, "ini healthsuite_run_deadline")):
        if value:
            try:
                seconds = float(value)
            except ValueError:
                seconds = -1.0
            if not 0 < seconds < 1e7:
                example = "--run-deadline 300" if source.startswith("--") else "healthsuite_run_deadline = 300"
                raise pytest.UsageError(f"{source}: {value!r} is not a number of seconds; write e.g. {example}")
            return deadline.RunDeadline(time.monotonic() + seconds, seconds, source)
    longest, where = longest_exchange_s(env)
    seconds = max(RUN_DEADLINE_MIN_S, RUN_DEADLINE_FACTOR * longest)
    source = f"default: {RUN_DEADLINE_FACTOR} x the longest declared exchange, {where} = {longest:g} s"
    if seconds == RUN_DEADLINE_MIN_S:
        source = f"default: at least {RUN_DEADLINE_MIN_S:g} s; the longest declared exchange is {where} = {longest:g} s"
    return deadline.RunDeadline(time.monotonic() + seconds, seconds, source)


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash[STATE]
    env = state.env
    if env is None or state.choice is None:
        return ["healthsuite: no environment selected (--env NAME, HEALTHSUITE_ENV or ini healthsuite_env)"]
    model = env.model
    counts = ", ".join(
        f"{len(getattr(model, key))} {key}" for key in TARGET_COLLECTIONS if getattr(model, key)
    ) or "no targets"
    lines = [
        f"healthsuite: environment {model.name} ({model.kind}) from {env.path} [selected by {state.choice.source}]",
        f"healthsuite: {counts}; mutating checks {'allowed' if model.allow_mutating else 'refused'}",
    ]
    missing = env.missing_variables()
    if missing:
        lines.append(f"healthsuite: unset variables (checks that need them skip): {', '.join(missing)}")
    if not model.http.verify_tls:
        lines.append("healthsuite: WARNING http.verify_tls is off: certificates and host names are not verified")
    if state.run_deadline is not None:
        lines.append(f"healthsuite: run deadline {state.run_deadline.seconds:g} s ({state.run_deadline.source})")
    if state.workers_note:
        lines.append(f"healthsuite: {state.workers_note}")
    if state.shipped_note:
        lines.append(f"healthsuite: {state.shipped_note}")
    lines += [f"healthsuite: {note}" for note in env.notes]
    if state.changes is not None and state.changes.note:
        lines.append(f"healthsuite: history: {state.changes.note}")
    return lines + outputs.report_header(config, env)


# --- parametrization ----------------------------------------------------------------------------


def _prefixed(target: Target) -> str:
    prefix = {Page: "page", HealthEndpoint: "health", ApiEndpoint: "endpoint"}.get(type(target), target.collection[:-1])
    return f"{prefix}-{target.name}"


def _some(target: object) -> list[Target]:
    """An optional single target as a parameter list."""
    return [target] if isinstance(target, Target) else []


# fixture name -> (targets of the environment, what to declare when there are none, id of a target)
TARGET_FIXTURES: dict[str, tuple[Callable[[Environment], Iterable[Target]], str, Callable[[Target], str]]] = {
    "page": (lambda m: m.pages, "`pages`", lambda t: t.name),
    "health_endpoint": (lambda m: m.health, "`health` endpoints", lambda t: t.name),
    "http_endpoint": (lambda m: m.http_targets(), "`pages`, `health` or `endpoints`", _prefixed),
    "database": (lambda m: m.databases, "`databases`", lambda t: t.name),
    "cache": (lambda m: m.caches, "`caches`", lambda t: t.name),
    "smoke_target": (lambda m: m.smoke_targets(), "targets with `smoke: true`", _prefixed),
    "hostname": (lambda m: m.hostnames, "`hostnames`", lambda t: t.name),
    "hostname_with_ranges": (
        lambda m: [h for h in m.hostnames if h.expect_in], "`hostnames` with `expect_in`", lambda t: t.name
    ),
    "hostname_with_cname": (
        lambda m: [h for h in m.hostnames if h.cname is not None], "`hostnames` with `cname`", lambda t: t.name
    ),
    "tls_endpoint": (lambda m: m.tls, "`tls` endpoints", lambda t: t.name),
    "cors_policy": (lambda m: m.cors, "`cors` policies", lambda t: t.name),
    "proxied_path": (lambda m: m.proxies, "`proxies`", lambda t: t.name),
    "service_port": (lambda m: m.ports, "`ports`", lambda t: t.name),
    "status_page": (lambda m: m.status_pages, "`status_pages`", lambda t: t.name),
    "version_source": (lambda m: m.versions, "`versions`", lambda t: t.name),
    "postgres": (
        lambda m: [d for d in m.databases if isinstance(d, PostgresDatabase)],
        "PostgreSQL `databases`",
        lambda t: t.name,
    ),
    "pool_status": (lambda m: m.pools, "`pools`", lambda t: t.name),
    "booking_submission": (lambda m: _some(m.booking and m.booking.submit), "`booking.submit`", lambda t: t.name),
    "tenant_page": (lambda m: m.booking.tenant_pages() if m.booking else [], "`booking.tenants`", lambda t: t.name),
    "payment_provider": (lambda m: _some(m.payments and m.payments.provider), "`payments.provider`", lambda t: t.name),
    "payment_webhook": (lambda m: _some(m.payments and m.payments.webhook), "`payments.webhook`", lambda t: t.name),
    "payment_initialize": (
        lambda m: _some(m.payments and m.payments.initialize), "`payments.initialize`", lambda t: t.name
    ),
    "oidc_discovery": (lambda m: _some(m.auth and m.auth.discovery), "`auth.discovery`", lambda t: t.name),
    "sign_in": (lambda m: _some(m.auth and m.auth.sign_in), "`auth.sign_in`", lambda t: t.name),
    "protected_endpoint": (lambda m: _some(m.auth and m.auth.protected), "`auth.protected`", lambda t: t.name),
    "token_verify": (lambda m: _some(m.auth and m.auth.verify), "`auth.verify`", lambda t: t.name),
    "refresh_tokens": (lambda m: _some(m.auth and m.auth.refresh_tokens), "`auth.refresh_tokens`", lambda t: t.name),
    "metrics_endpoint": (lambda m: m.metrics, "`metrics`", lambda t: t.name),
    "latency_target": (lambda m: m.latency, "`latency`", lambda t: t.name),
    "calendar_api": (lambda m: _some(m.integrations.calendar), "`integrations.calendar`", lambda t: t.name),
    "error_tracker": (lambda m: _some(m.integrations.error_tracker), "`integrations.error_tracker`", lambda t: t.name),
    "dependency": (lambda m: m.integrations.dependencies, "`integrations.dependencies`", lambda t: t.name),
    "sqlite": (
        lambda m: [d for d in m.databases if isinstance(d, SqliteDatabase)], "SQLite `databases`", lambda t: t.name
    ),
    "backup_set": (lambda m: m.backups, "`backups`", lambda t: t.name),
    "app_log": (
        lambda m: [g for g in m.logs if g.format in ("json", "regex")], "json or regex `logs`", lambda t: t.name
    ),
    "nginx_log": (lambda m: [g for g in m.logs if g.format == "nginx"], "nginx `logs`", lambda t: t.name),
    "postgres_log": (lambda m: [g for g in m.logs if g.format == "postgres"], "postgres `logs`", lambda t: t.name),
    "host": (lambda m: m.hosts, "`hosts`", lambda t: t.name),
    "required_variables": (lambda m: _some(m.deployment.variables), "`deployment.variables`", lambda t: t.name),
    "env_file_pair": (lambda m: m.deployment.env_files, "`deployment.env_files`", lambda t: t.name),
    "wrangler_config": (lambda m: _some(m.deployment.wrangler), "`deployment.wrangler`", lambda t: t.name),
    "worker_bundle": (lambda m: _some(m.deployment.bundle), "`deployment.bundle`", lambda t: t.name),
    "declared_check": (lambda m: m.declared_checks, "`declared_checks`", lambda t: t.name),
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    env = metafunc.config.stash[STATE].env
    needs: str | None = getattr(metafunc.function, "healthsuite_needs", None)
    for fixture, (targets_of, what, id_of) in TARGET_FIXTURES.items():
        if fixture not in metafunc.fixturenames:
            continue
        if needs is not None:
            what = f"{what} with `{needs}`"
        if env is None:
            params = [pytest.param(None, id="no-environment", marks=pytest.mark.skip(reason="no environment selected"))]
        else:
            targets = sorted(
                (t for t in targets_of(env.model) if needs is None or declared(t, needs)), key=id_of
            )
            params = [pytest.param(t, id=id_of(t), marks=_own_marks(env, t)) for t in targets] or [
                pytest.param(None, id="none", marks=pytest.mark.skip(reason=f"no {what} declared in {env.path.name}"))
            ]
        metafunc.parametrize(fixture, params)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """An environment without `declared_checks` has no declared check to collect: not one skipped
    placeholder in every run and report (a shipped check's placeholder says what the file lacks)."""
    if collection_path.name != "test_declared.py":
        return None
    if collection_path.parent.name not in ("checks", "healthsuite_checks"):
        return None
    env = config.stash[STATE].env if STATE in config.stash else None
    return True if env is not None and not env.model.declared_checks else None


def _own_marks(env: LoadedEnvironment, target: Target) -> tuple[pytest.MarkDecorator, ...]:
    """A declared check's own markers (its function carries none: checkapi.declared_checks): its diagnosis,
    the diagnosis's category and default severity, and `mutating` for a POST."""
    if not isinstance(target, DeclaredCheck):
        return ()
    entry = env.catalogue.diagnoses.get(target.diagnosis)
    if entry is None:
        return ()
    marks = [pytest.mark.diagnosis(target.diagnosis, id=target.diagnosis), getattr(pytest.mark, entry.category),
             getattr(pytest.mark, entry.severity)]
    if target.mutating:
        marks.append(pytest.mark.mutating)
    return tuple(marks)


# --- collection ---------------------------------------------------------------------------------------


SEVERITY_DECORATORS = {name: getattr(pytest.mark, name) for name in SEVERITY_MARKS}
ALLURE_OPTIONS = ("allure_report_dir", "allure_severities", "allure_epics", "allure_features", "allure_stories",
                  "allure_ids", "allure_labels")


def _allure_in_use(config: pytest.Config) -> bool:
    """Whether allure writes results or selects by label in this run: only then do its labels matter
    (eight marks per check, carried in every report a worker sends)."""
    return config.pluginmanager.hasplugin("allure_pytest") and any(
        getattr(config.option, name, None) for name in ALLURE_OPTIONS
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash[STATE]
    checks = [item for item in items if diagnosis_of(item)]
    state.collected = len(checks)
    if not checks:
        return
    env = state.env
    if env is None:
        raise pytest.UsageError(
            "no environment selected: pass --env NAME (environments/NAME.yaml) or --env path/to/file.yaml, "
            "or set HEALTHSUITE_ENV"
        )
    catalogue = env.catalogue  # the shipped diagnoses and the environment's own
    allure = _allure_in_use(config)
    runbooks: dict[str, str] = {}  # per diagnosis: computed once, not once per check and target
    for item in checks:
        diagnosis_id = diagnosis_of(item) or ""
        entry = catalogue.diagnosis(diagnosis_id)
        if diagnosis_id not in runbooks:
            runbooks[diagnosis_id] = " | ".join(catalogue.runbook_refs(entry, env.model.runbook_base_url))
        target = target_of(item)
        severity = (
            (target.severity if target is not None else None)
            or env.model.severity_overrides.get(diagnosis_id)
            or entry.severity
        )
        # the effective severity replaces the decorator's, so `-m critical` selects what is critical *here*
        if severity != entry.severity:
            item.own_markers[:] = [m for m in item.own_markers if m.name not in SEVERITY_MARKS]
            item.add_marker(SEVERITY_DECORATORS[severity])
        item.user_properties.extend(
            [
                _property("diagnosis", diagnosis_id),
                _property("category", entry.category),
                _property("severity", severity),
                _property("target", target.name if target is not None else ""),
                _property("target_kind", target.collection if target is not None else ""),
                _property("runbook", runbooks[diagnosis_id]),
            ]
        )
        if _is_lean_candidate(item):
            # its run protocol builds no fixture request; pytest's builds one anew when it needs one
            item._request = False  # type: ignore[attr-defined]
            item.funcargs = None  # type: ignore[attr-defined]
        if allure:
            for label_type, value in (
                ("feature", entry.category),
                ("story", f"{diagnosis_id} {entry.title}"),
                ("severity", ALLURE_SEVERITY[severity]),
                ("tag", diagnosis_id),
                ("tag", severity),
                ("diagnosis", diagnosis_id),
                ("category", entry.category),
                ("healthsuite_severity", severity),
            ):
                item.add_marker(pytest.mark.allure_label(value, label_type=label_type))
        if item.get_closest_marker("mutating") and not env.model.allow_mutating:
            item.add_marker(
                pytest.mark.skip(
                    reason=f"mutating check refused: {env.path.name} does not allow mutating checks "
                    f"(kind {env.model.kind}, allow_mutating: false)"
                )
            )
    if state.diagnoses:
        keep: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            diagnosis = diagnosis_of(item)
            (keep if diagnosis is None or diagnosis in state.diagnoses else dropped).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep


@functools.lru_cache(maxsize=65536)
def _property(key: str, value: str) -> tuple[str, str]:
    """One tuple per (key, value), shared by every check that carries it (thousands of checks, a
    handful of diagnoses, categories and severities)."""
    return key, value


def _is_lean_candidate(item: pytest.Item) -> bool:
    return isinstance(item, pytest.Function) and hasattr(item, "_request") and _lean(item)


def _schedules_by_target(config: pytest.Config) -> bool:
    """Whether this controller hands out checks by target (healthsuite.plugin.scheduling): `-n` with dist `load`."""
    return config.stash[STATE].env is not None and config.getvalue("dist") == "load"


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`-n` (dist `load`): every check of one target goes to one worker, each worker's share at once."""
    if not _schedules_by_target(config):
        return None
    from healthsuite.plugin.scheduling import TargetScheduling

    return TargetScheduling(config, log, _aliases(config))


def _aliases(config: pytest.Config) -> dict[str, str]:
    """Target names that share a request, joined into one unit of work (see healthsuite.runner.workunits)."""
    env = config.stash[STATE].env
    if env is None:
        return {}
    targets = [target for targets_of, _, _ in TARGET_FIXTURES.values() for target in targets_of(env.model)]
    return join_names(shared_requests(env, targets))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Tell each worker that its share is known after collection (so it can start its probes then)."""
    if _schedules_by_target(node.config):
        node.workerinput[SHARES_KEY] = True
    run = node.config.stash[STATE].run_deadline
    if run is not None:  # the controller's deadline, on the wall clock: the workers end with the run
        node.workerinput[DEADLINE_KEY] = (time.time() + run.at - time.monotonic(), run.seconds, run.source)


# --- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def healthsuite_env(pytestconfig: pytest.Config) -> LoadedEnvironment:
    """The loaded environment file of this run."""
    env = pytestconfig.stash[STATE].env
    if env is None:
        pytest.skip("no environment selected")
    return env


@pytest.fixture(scope="session")
def probes(pytestconfig: pytest.Config, healthsuite_env: LoadedEnvironment) -> ProbeSession:
    """The run's probes: each (observation, target) probed once, shared by every check."""
    state = pytestconfig.stash[STATE]
    if state.probes is None:  # no check planned a prefetch: the previous run's hints all the same (LOG1-LOG4)
        state.probes = _probe_session(pytestconfig, healthsuite_env)
    return state.probes


def _probe_session(config: pytest.Config, env: LoadedEnvironment) -> ProbeSession:
    """The run's probes, with what the previous run of the environment learned (its report's probe_hints)."""
    return ProbeSession(env, _previous_hints(config, env))


def _previous_hints(config: pytest.Config, env: LoadedEnvironment) -> dict[str, dict[str, str]]:
    """The previous run's probe_hints, read once per run: the probes plan by them, and what this run does
    not renew is carried into its own report (RunReporter._carry_hints_forward)."""
    state = config.stash[STATE]
    if state.previous_hints is None:
        state.previous_hints = previous_probe_hints(_reports_dir(config), env.name)
    return state.previous_hints


@dataclass(frozen=True)
class ExpectedVersion:
    value: str
    source: str  # where it came from, for the message


@pytest.fixture(scope="session")
def expected_version(pytestconfig: pytest.Config) -> ExpectedVersion | None:
    """DEP2's expected version from --expected-version or $HEALTHSUITE_EXPECTED_VERSION (None: neither)."""
    return _expected_version(pytestconfig)


def _expected_version(config: pytest.Config) -> ExpectedVersion | None:
    option = config.option.healthsuite_expected_version
    if option:
        return ExpectedVersion(option.strip(), "--expected-version")
    variable = os.environ.get(EXPECTED_VERSION_VARIABLE, "").strip()
    if variable:
        return ExpectedVersion(variable, f"${EXPECTED_VERSION_VARIABLE}")
    return None


EXPECT_TYPE = pytest.StashKey[type[Expect]]()  # while allure records: healthsuite.plugin.allure_story's


@pytest.fixture
def expect(pytestconfig: pytest.Config, healthsuite_env: LoadedEnvironment) -> Expect:
    """Assertions that fail with the catalogue's message (see healthsuite.checkapi).

    Bound to the check being set up (pytest_runtest_setup below) rather than through `request`: pytest
    builds a fixture definition for `request` anew for every test that asks, a measurable cost per check
    at a thousand targets."""
    item = pytestconfig.stash[STATE].item
    assert item is not None
    return pytestconfig.stash.get(EXPECT_TYPE, Expect)(item, healthsuite_env, healthsuite_env.model.escalation)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.config.stash[STATE].item = item


# --- the lean run protocol of a check (healthsuite.plugin.protocol) ------------------------------------------------

SESSION_ARGUMENTS = {"probes", "expect", "healthsuite_env", "pytestconfig", "expected_version"}
LEAN_FIXTURES = frozenset(SESSION_ARGUMENTS | set(TARGET_FIXTURES))
_LEAN_FUNCTIONS: dict[object, bool] = {}  # a check function -> whether its items can run lean


def _own_plugin(plugin: object) -> bool:
    return plugin is sys.modules[__name__] or plugin is verdicts or isinstance(plugin, RunReporter)


def _lean(item: pytest.Item) -> bool:
    """A check whose fixtures are all the environment's and that carries no mark pytest must act on."""
    if not isinstance(item, pytest.Function) or diagnosis_of(item) is None:
        return False
    function = item.function
    known = _LEAN_FUNCTIONS.get(function)
    if known is None:
        info = item._fixtureinfo  # `request` is in every closure: the fixtures stood in for depend on it
        known = _LEAN_FUNCTIONS[function] = set(info.names_closure) - {"request"} <= LEAN_FIXTURES
    return known and not any(mark.name in protocol.MARKS_THAT_NEED_PYTEST for mark in item.iter_markers())


def _lean_arguments(item: pytest.Function, state: RunState) -> dict[str, Any]:
    env = state.env
    assert env is not None
    if state.probes is None:
        state.probes = _probe_session(item.config, env)
    state.item = item
    arguments: dict[str, Any] = {}
    for name in item._fixtureinfo.argnames:
        if name in TARGET_FIXTURES:
            arguments[name] = item.callspec.params[name]
        elif name == "probes":
            arguments[name] = state.probes
        elif name == "expect":
            arguments[name] = Expect(item, env, env.model.escalation)
        elif name == "healthsuite_env":
            arguments[name] = env
        elif name == "pytestconfig":
            arguments[name] = item.config
        elif name == "expected_version":
            arguments[name] = _expected_version(item.config)
    return arguments


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    state = item.config.stash[STATE]
    # decided when the check is about to run: a mark added after collection (a refused mutating
    # check's skip, a conftest's own) sends it to pytest's protocol
    if state.lean_unavailable or state.env is None or not _lean(item):
        return None
    assert isinstance(item, pytest.Function)
    protocol.run(item, nextitem, _lean_arguments(item, state))
    return True


# --- running ----------------------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    state = pyfuncitem.config.stash[STATE]
    if state.prefetcher is not None:
        run = state.run_deadline
        wait = None if run is None else max(run.at - time.monotonic(), 0.0) + DEADLINE_GRACE_S
        # its exchanges first, if they have not started; past the run's deadline they are cut
        if not _await_exchanges(pyfuncitem, state, state.prefetcher, wait) and run is not None:
            pytest.fail(f"{diagnosis_of(pyfuncitem) or 'check'}: {run.sentence()}", pytrace=False)
    try:
        return (yield)
    except MissingVariable as missing:
        pytest.skip(missing.reason())


PROGRESS_WAKE_S = 1.0  # a waiting check wakes this often to see whether a progress line is due


def _await_exchanges(item: pytest.Function, state: RunState, prefetcher: Prefetcher, wait_s: float | None) -> bool:
    """`prefetcher.expedite` for the check, waking every second of a long wait to say what the run
    waits on when a line is due (healthsuite.runner.progress); False when `wait_s` passed first."""
    since = time.monotonic()
    end = None if wait_s is None else since + wait_s
    while True:
        step = PROGRESS_WAKE_S if end is None else min(PROGRESS_WAKE_S, max(end - time.monotonic(), 0.0))
        if prefetcher.expedite(item.nodeid, step):
            return True
        now = time.monotonic()
        if end is not None and now >= end:
            return False
        if state.progress.due(since, now):
            _say_waiting(item.config, progress.waiting_line(prefetcher.running(), now))


def _say_waiting(config: pytest.Config, line: str | None) -> None:
    """The progress line in pytest's terminal, from the main thread only, past the output capture;
    never under --nagios (one line of output), -q -q or in an xdist worker (its output is not shown)."""
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    if line is None or terminal is None or threading.current_thread() is not threading.main_thread():
        return
    if config.getoption("healthsuite_nagios", False) or config.get_verbosity() <= -2 or _is_worker(config):
        return
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        terminal.write_line(line)
        terminal.flush()


def _redact_report(report: pytest.TestReport, redact: Callable[[str], str]) -> None:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        report.longrepr = (longrepr[0], longrepr[1], redact(longrepr[2]))
    elif longrepr is not None:
        text = str(longrepr)
        cleaned = redact(text)
        if cleaned != text:
            report.longrepr = cleaned
    if report.sections:
        report.sections = [(title, redact(content)) for title, content in report.sections]
    if any(key not in REDACTED_PROPERTIES for key, _ in report.user_properties):
        # a property healthsuite did not record itself (record_property in a team's own check)
        report.user_properties = [(k, redact(v) if isinstance(v, str) else v) for k, v in report.user_properties]


_NO_KEYWORDS: dict[str, Any] = {}
_NO_PROPERTIES: tuple[tuple[str, object], ...] = ()
# the report properties healthsuite records: the catalogue's words and the target's name, and what
# Expect records (observed, expected, facts), which it redacts as it records them
REDACTED_PROPERTIES = frozenset({"diagnosis", "category", "severity", "target", "target_kind", "runbook", "observed",
                                 "expected", "facts", "advice", "hosts", "verdict"})


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    state = item.config.stash[STATE]
    env = state.env
    if env is not None:
        if report.failed:  # where the failing check's exchanges went: a platform incident reads it
            hosts = _hosts_of(item, state)
            if hosts:
                report.user_properties.append(("hosts", " ".join(hosts)))
        _redact_report(report, env.redactor.redact)
    return report


def _hosts_of(item: pytest.Item, state: RunState) -> list[str]:
    """The network hosts a check's plan goes to (none for a check that reads local files, or
    whose plan cannot be resolved); a DNS check's is the name it resolves."""
    diagnosis, target, plan = diagnosis_of(item), target_of(item), plan_of(item)
    if state.env is None or target is None or plan is None or not diagnosis:
        return []
    try:
        if isinstance(target, Hostname):
            return [state.env.resolve(target.host, target.name).lower().rstrip(".")]
        probes = state.probes or ProbeSession(state.env)
        planned = plan(probes, target, functools.partial(state.env.model.threshold, diagnosis))
    except Exception:  # noqa: BLE001 - an unresolvable target: no host to name
        return []
    return sorted({p.host for p in planned if p.host and ":" not in p.host and p.host != "dns"})


def _provider_hosts(env: LoadedEnvironment) -> dict[str, list[str]]:
    """Each status page's provider hosts: its `hosts`, else the hosts of the environment's base URLs."""
    base_hosts: list[str] = []
    for name, url in env.model.base_urls.items():
        try:
            host = urlsplit(env.resolve(url, f"base_urls.{name}")).hostname
        except Exception:  # noqa: BLE001 - an unset variable: that base names no host
            continue
        if host:
            base_hosts.append(host.lower())
    return {page.name: list(page.hosts) or base_hosts for page in env.model.status_pages}


def _message(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    if report.failed or verdicts.is_warning(report):
        return report.longreprtext
    return ""


def _selection(config: pytest.Config) -> str:
    parts = []
    if config.option.markexpr:
        parts.append(f"-m {config.option.markexpr!r}")
    if config.option.keyword:
        parts.append(f"-k {config.option.keyword!r}")
    if config.option.healthsuite_diagnosis:
        parts.append(f"--diagnosis {','.join(config.option.healthsuite_diagnosis)}")
    return " and ".join(parts) or "the selection"


def _own_items(session: pytest.Session) -> list[pytest.Item]:
    """The checks this process will run: all of them serially; under `-n`, this worker's share (none
    when the controller does not hand out shares by target, e.g. `--dist loadfile`: checks then probe
    as they run, still once per target and observation in each worker)."""
    config = session.config
    if not _is_worker(config):
        return session.items
    workerinput: dict[str, Any] = config.workerinput  # type: ignore[attr-defined]
    number = worker_number(str(workerinput.get("workerid", "")))
    if not workerinput.get(SHARES_KEY) or number is None:
        return []
    nodeids = [item.nodeid for item in session.items]
    indices = share_of(nodeids, int(workerinput["workercount"]), number, _aliases(config))
    return [session.items[index] for index in indices]


@pytest.hookimpl(trylast=True)  # under xdist, after the worker has sent its collection to the controller
def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the probes this process's checks need, concurrently (see healthsuite.runner.pool)."""
    config = session.config
    state = config.stash[STATE]
    state.selected = sum(1 for item in session.items if diagnosis_of(item))
    if state.env is None or config.option.collectonly or _xdist_controller(config):
        return
    state.lean_unavailable = protocol.unavailable(config, _own_plugin)
    _freeze_collected_objects(config)
    env = state.env
    work = []
    for item in _own_items(session):
        diagnosis, target, plan = diagnosis_of(item), target_of(item), plan_of(item)
        if diagnosis and target is not None and plan is not None and not item.get_closest_marker("skip"):
            threshold = functools.partial(env.model.threshold, diagnosis)
            work.append(Work(item.nodeid, target, plan, threshold))
    if not work:
        return
    if state.probes is None:
        state.probes = _probe_session(config, state.env)
    settings = state.env.model.http
    workers = int(config.workerinput["workercount"]) if _is_worker(config) else 1  # type: ignore[attr-defined]
    # the environment's limits hold for the run: under -n, each worker gets its share
    state.prefetcher = Prefetcher(max(1, settings.max_concurrency // workers), max(1, settings.max_per_host // workers))
    state.prefetcher.start(state.probes, work, previous_probe_latency(_reports_dir(config), state.env.name))


def pytest_sessionstart(session: pytest.Session) -> None:
    """An xdist controller collects nothing: what it has at the start (modules, the environment) lives
    for the run too."""
    config = session.config
    if config.stash[STATE].env is not None and _xdist_controller(config):
        _freeze_collected_objects(config)


def _freeze_collected_objects(config: pytest.Config) -> None:
    """Leave the objects of start-up and collection (modules, models, the items) out of every later
    garbage collection: they live for the whole run, and on a run of a thousand targets, collecting
    them again and again (and once more when the interpreter exits) cost seconds.

    Unfrozen at the end when the process goes on after the run (pytest.main() from a program, or
    pytester in-process); a command-line run or an xdist worker ends right after, so it stays frozen."""
    gc.freeze()
    if not _process_ends_with_run(config):
        config.add_cleanup(gc.unfreeze)


def _process_ends_with_run(config: pytest.Config) -> bool:
    """An xdist worker, or `pytest ...` / `python -m pytest ...` on the command line."""
    if _is_worker(config):
        return True
    program = Path(sys.argv[0])
    as_pytest = program.name in ("pytest", "py.test") or program.parts[-2:] == ("pytest", "__main__.py")
    return as_pytest and tuple(config.invocation_params.args) == tuple(sys.argv[1:])


def _reports_dir(config: pytest.Config) -> Path:
    option = config.option.healthsuite_reports_dir
    directory = Path(option or config.getini("healthsuite_reports_dir") or "reports")
    if not directory.is_absolute():
        directory = (config.invocation_params.dir if option else config.rootpath) / directory
    return directory


def _xdist_controller(config: pytest.Config) -> bool:
    return not _is_worker(config) and bool(getattr(config.option, "numprocesses", None)) and (
        config.getvalue("dist") != "no"
    )


def _junit_mode(config: pytest.Config) -> str:
    """healthsuite_junit_properties for this run's junit_family (outputs.junit.mode_for)."""
    try:
        return junit.mode_for(str(config.getini("healthsuite_junit_properties")), str(config.getini("junit_family")))
    except ValueError as exc:
        raise pytest.UsageError(f"{exc} (ini)") from None


@pytest.hookimpl(wrapper=True)  # around every plugin's: pytest's junitxml writes its file in its own
def pytest_sessionfinish(session: pytest.Session) -> Generator[None, None, None]:
    result = yield
    _rewrite_junit(session.config)
    return result


def _rewrite_junit(config: pytest.Config) -> None:
    """The JUnit file pytest wrote, made valid under junit-10.xsd and completed from the run's result
    (outputs.junit)."""
    xml, state = config.stash.get(xml_key, None), config.stash.get(STATE, None)
    if xml is None or state is None or state.result is None or not os.path.isfile(xml.logfile):
        return
    run = state.result
    extra: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for record in run.failing():
        names = mangle_test_address(record.id)
        classname = ".".join([xml.prefix, *names[:-1]] if xml.prefix else names[:-1])
        steps = "\n".join(f"{number}. {step}" for number, step in enumerate(record.remediation, start=1))
        extra[(classname, names[-1])] = [("remediation", steps), ("escalation", record.escalation),
                                         ("change", record.change), ("explained_by", record.explained_by)]
    env = run.environment
    suite_properties = [("environment", env.name), ("environment_kind", env.kind), ("healthsuite", __version__)]
    if run.report_path is not None:
        suite_properties.append(("report", str(run.report_path)))
    suite_name = f"healthsuite {env.name}" if config.getini("junit_suite_name") == "pytest" else ""
    try:
        junit.rewrite(Path(xml.logfile), mode=_junit_mode(config), suite_name=suite_name,
                      suite_properties=suite_properties, extra=extra)
        os.chmod(xml.logfile, REPORT_MODE)  # as every report file: it names hosts and failures
    except (OSError, ValueError) as exc:  # pytest wrote it; only the completion is lost
        if state.published is not None:
            state.published.outcomes.append(publish.Outcome("junit", False, run.redact(
                f"healthsuite: JUnit file {xml.logfile} NOT COMPLETED: {type(exc).__name__}: {exc}")))


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or state.published is None:  # no result was published: nothing was judged
        for line in outputs.metrics_of_nothing_judged(config, _env_label(state),
                                                      state.exit_status if state is not None else None):
            sys.stderr.write(line + "\n")
    if state is not None and state.prefetcher is not None:
        state.prefetcher.close()
    if state is not None and state.probes is not None:
        state.probes.close()
    if state is not None and state.run_deadline is not None:
        deadline.set_run_deadline(None)
    if state is not None:
        state.book.close()


def _env_label(state: RunState | None) -> str:
    """The environment's name for a run that may not have loaded it: the file's `name`, else the name or
    file stem it was chosen by."""
    if state is not None and state.env is not None:
        return state.env.name
    if state is not None and state.choice is not None:
        return Path(state.choice.value).stem or state.choice.value
    return "unknown"


def _add_counts(total: dict[str, Any], counts: dict[str, Any]) -> None:
    """Exchange counts (probes.deadline.exchange_counts) of one process added into the run's."""
    for key in ("in_pool", "outside_pool"):
        total[key] = int(total.get(key, 0)) + int(counts.get(key, 0))
    examples = [*total.get("outside_examples", []), *counts.get("outside_examples", [])]
    total["outside_examples"] = examples[: deadline.OUTSIDE_KEPT]


class RunReporter:
    """Per-run hooks that need the config: records, the no-check error, the JSON report, the summary.

    Registered in pytest_configure (like pytest's own junitxml), so nested pytester runs keep their
    own state. Under xdist the controller receives every worker's reports here, and workers send
    their collection counts through `workeroutput`.
    """

    def __init__(self, config: pytest.Config, state: RunState) -> None:
        self.config = config
        self.state = state
        self.no_checks_message = ""

    @pytest.hookimpl(trylast=True)  # after the terminal reporter has counted it
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        properties = {k: v for k, v in report.user_properties if isinstance(v, str)}
        if "diagnosis" in properties:
            self.state.book.add_phase(
                report.nodeid, report.when, report.outcome, report.duration, properties, _message(report)
            )
        if report.passed:
            self._forget(report)

    def _forget(self, report: pytest.TestReport) -> None:
        """Every plugin has had a passing report by now. pytest's terminal reporter keeps each one it is
        given, to count them at the end: those of setup and teardown under the key "", which it never
        reads again (it skips "" when it counts), and those of calls with the item's keyword set. At
        thousands of checks these were most of the run's memory: drop the first, trim the second."""
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        stats = getattr(terminal, "stats", None)
        if not isinstance(stats, dict):
            return
        if report.when != "call":
            stats.pop("", None)
        else:
            report.keywords = _NO_KEYWORDS
            report.user_properties = _NO_PROPERTIES  # type: ignore[assignment]

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", {}).get("healthsuite")
        if output:
            self.state.worker_counts.append((int(output["collected"]), int(output["selected"])))
            for key, seconds in output.get("probe_latency_s", {}).items():
                self.state.probe_latency_s[key] = max(float(seconds), self.state.probe_latency_s.get(key, 0.0))
            _add_counts(self.state.exchanges, output.get("exchanges", {}))
            if output.get("lean_unavailable") and not self.state.worker_protocol:
                self.state.worker_protocol = str(output["lean_unavailable"])
            self.state.lean_unavailable = ""  # the controller ran no check: the workers' word counts
            for key, learned in output.get("probe_hints", {}).items():
                self.state.probe_hints.setdefault(key, {}).update(learned)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        config, state = self.config, self.state
        if state.prefetcher is not None:
            state.probe_latency_s.update(state.prefetcher.latencies())
        if state.probes is not None:
            for key, learned in state.probes.learned.items():
                state.probe_hints.setdefault(key, {}).update(learned)
        if _is_worker(config):
            config.workeroutput["healthsuite"] = {  # type: ignore[attr-defined]
                "collected": state.collected,
                "selected": state.selected,
                "probe_latency_s": state.probe_latency_s,
                "probe_hints": state.probe_hints,
                "exchanges": deadline.exchange_counts(),
                "lean_unavailable": state.lean_unavailable,
            }
            return
        state.exit_status = int(session.exitstatus)
        if not state.worker_counts:
            _add_counts(state.exchanges, deadline.exchange_counts())
        collected, selected = state.collected, state.selected
        if state.worker_counts:  # under xdist every worker collects the same list
            collected = max(c for c, _ in state.worker_counts)
            selected = max(s for _, s in state.worker_counts)
        if config.option.collectonly or state.env is None or not collected:
            return
        if selected == 0:
            session.exitstatus = state.exit_status = pytest.ExitCode.USAGE_ERROR
            self.no_checks_message = (
                f"healthsuite: no check selected: {collected} checks were collected for {state.env.name}, "
                f"and {_selection(config)} deselected all of them. Check the expression (`pytest --markers` "
                "lists markers, `pytest --collect-only -q` lists checks)."
            )
            return
        self._carry_hints_forward()
        self._publish(session)

    def _carry_hints_forward(self) -> None:
        """What earlier runs learned and this one did not renew stays for the next (a run of `-m database`
        keeps where the log checks stopped reading, and PERF4's counters)."""
        state = self.state
        assert state.env is not None
        for key, values in _previous_hints(self.config, state.env).items():
            state.probe_hints[key] = {**values, **state.probe_hints.get(key, {})}

    def _publish(self, session: pytest.Session) -> None:
        """The run's result built once, handed to every output in order (outputs.publish); a reports
        directory that cannot be written ends the run with the usage-error status, after all of them."""
        config, state = self.config, self.state
        env = state.env
        assert env is not None
        finished = datetime.now(UTC)
        state.result = build_result(
            environment=RunEnvironment(env.name, env.model.kind, str(env.path),
                                       state.choice.source if state.choice else "", env.model.allow_mutating),
            book=state.book, started=state.started, finished=finished, exit_status=int(session.exitstatus),
            reports_dir=_reports_dir(config), redact=env.redactor.redact, probe_latency_s=state.probe_latency_s,
            probe_hints=state.probe_hints, run=self._run_facts(finished), provider_hosts=_provider_hosts(env),
            allow_skips=verdicts.allow_skips(config),
        )
        session.exitstatus = state.result.exit_status  # a target not judged: NOT_JUDGED_STATUS (outputs.result)
        state.published = publish.publish(state.result, outputs.settings(config), env)
        if state.published.usage_problems:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
        if config.getoption("healthsuite_nagios", False):
            code, lines = nagios.status(state.result)
            if state.published.usage_problems:
                code = nagios.UNKNOWN
                perfdata = lines[0].split(" | ", 1)[1] if " | " in lines[0] else ""  # the run's counts stay
                status = nagios.unknown(state.published.usage_problems[0].line)[0]
                lines = [status + (f" | {perfdata}" if perfdata else ""), *lines[1:]]
            config.stash[verdicts.NAGIOS_CODE], config.stash[verdicts.NAGIOS_LINES] = code, lines

    def _run_facts(self, finished: datetime) -> dict[str, Any]:
        run = self.state.run_deadline
        facts: dict[str, Any] = {"exchanges": self.state.exchanges}
        # how the checks ran: healthsuite's lean protocol, or pytest's and why (healthsuite.plugin.protocol)
        lean = self.state.lean_unavailable or self.state.worker_protocol
        facts["protocol"] = "lean" if not lean else f"pytest's ({lean})"
        if run is not None:
            facts["deadline_s"] = run.seconds
            facts["deadline_source"] = run.source
            facts["deadline_reached"] = time.monotonic() >= run.at
        return facts

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> Generator[None, None, None]:
        """healthsuite's summary comes last, after pytest's own (its short summary included), so that
        nothing buries it: the table by category and severity, the failures by cause, the report."""
        yield
        self._summary(terminalreporter)

    def _summary(self, terminalreporter: Any) -> None:
        state = self.state
        if self.no_checks_message:
            terminalreporter.write_line(self.no_checks_message, red=True, bold=True)
            return
        if state.result is None:
            return
        for text, markup in summary.lines(state.result):
            if markup.get("section"):
                terminalreporter.section(text, sep="=")
            elif markup.get("subsection"):
                terminalreporter.section(text, sep="-")
            else:
                terminalreporter.write_line(text, **markup)
        if state.result.notices is not None:
            for text, bad in notices.summary_lines(state.result.notices):
                terminalreporter.write_line(text, red=bad)
        for outcome in state.published.outcomes if state.published is not None else ():
            terminalreporter.write_line(outcome.line, red=not outcome.ok, bold=outcome.usage)
