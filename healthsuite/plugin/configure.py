"""Choosing the environment and setting up the run: pytest_configure loads and validates the file (a
UsageError names file, key and fix), decides -n, collects the shipped checks, sets the run deadline, and
writes the header."""

from __future__ import annotations

import copy
import importlib.util
import os
import time
from pathlib import Path

import pytest

from healthsuite.catalogue.diagnoses import load_catalogue
from healthsuite.environment.loaded import LoadedEnvironment
from healthsuite.environment.loader import choose_environment, load_environment, locate
from healthsuite.environment.problems import EnvironmentFileError
from healthsuite.model.declared import DeclaredCheck
from healthsuite.model.environment import (
    TARGET_COLLECTIONS,
)
from healthsuite.model.latency import LatencyTarget
from healthsuite.outputs.records import RecordBook
from healthsuite.plugin import outputs
from healthsuite.plugin.changes import Changes
from healthsuite.plugin.handover import RunReporter
from healthsuite.plugin.parametrize import TARGET_FIXTURES
from healthsuite.plugin.pytest_internals import determine_setup
from healthsuite.plugin.selection import check_mark_expression, diagnosis_filter, registered_markers
from healthsuite.plugin.state import (
    DEADLINE_KEY,
    MARKERS,
    RUN_DEADLINE_FACTOR,
    RUN_DEADLINE_MIN_S,
    SHIPPED_CHECKS,
    STATE,
    WORKERS_NOT_USED,
    RunState,
    is_worker,
    junit_mode,
    reports_dir_of,
)
from healthsuite.probes import deadline
from healthsuite.runner.clock import NOW_VARIABLE, wall_clock


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
    if is_worker(config) or not workers:
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
    registered = registered_markers(config)
    for name, description in MARKERS.items():
        if name.split("(")[0] not in registered:
            config.addinivalue_line("markers", f"{name}: {description}")
    state = RunState()
    try:
        state.clock = wall_clock(os.environ)
    except ValueError as exc:
        raise pytest.UsageError(f"{NOW_VARIABLE}: {exc}: not an ISO 8601 time with an offset; write e.g. "
                                f"2026-12-24T23:00:00+01:00, or unset it") from None
    state.started = state.clock()
    config.stash[STATE] = state
    config.pluginmanager.register(RunReporter(config, state), "healthsuite-run")
    junit_mode(config)
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
        if not is_worker(config) and not config.option.collectonly:  # where the reports are collected
            state.changes = Changes(reports_dir_of(config), state.env.name, state.started)
            config.pluginmanager.register(state.changes, "healthsuite-history")
        state.shipped_note = _collect_shipped_checks(config, state)
        outputs.secrets_known(state.env)
    # after the environment: its own diagnoses add categories (markers) and IDs
    catalogue = state.env.catalogue if state.env is not None else load_catalogue()
    registered = registered_markers(config)
    for name, description in catalogue.categories.items():
        if name not in registered:
            config.addinivalue_line("markers", f"{name}: category {name} (diagnoses_file): {description}")
    check_mark_expression(config, tuple(catalogue.categories))
    state.diagnoses = diagnosis_filter(config, catalogue.diagnoses)


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
    about 1 ms per check receiving and logging its reports (measured: docs/performance.md). So `-n 2`
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
    if is_worker(config) and DEADLINE_KEY in config.workerinput:  # type: ignore[attr-defined]
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
    retries = model.retries
    if retries.attempts > 1 or retries.by_diagnosis:
        by = ", ".join(f"{d} {p.attempts}" for d, p in sorted(retries.by_diagnosis.items()))
        lines.append(f"healthsuite: retries: {retries.attempts} attempts, {retries.backoff} backoff "
                     f"{retries.backoff_s:g} s" + (f"; by diagnosis: {by}" if by else "")
                     + " (transport failures of HTTP, TLS and TCP exchanges only)")
    if state.workers_note:
        lines.append(f"healthsuite: {state.workers_note}")
    if state.shipped_note:
        lines.append(f"healthsuite: {state.shipped_note}")
    lines += [f"healthsuite: {note}" for note in env.notes]
    if state.changes is not None and state.changes.note:
        lines.append(f"healthsuite: history: {state.changes.note}")
    return lines + outputs.report_header(config, env)
