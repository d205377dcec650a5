"""The probe pool started while collection is still going: each check is queued as pytest collects it,
so a run's first exchanges overlap the collection of the rest (a second or more at thousands of targets).

Only when nothing can deselect a collected check afterwards, so that a check queued early is a check that
runs: no -k, -m, --deselect, --diagnosis, --lf/--ff/--nf or --sw; no Allure selection (its label options,
ALLURE_TESTPLAN_PATH); no plugin other than those known never to deselect implementing
pytest_collection_modifyitems; and no retries.by_diagnosis (an exchange's attempts depend on every check
that reads it). Otherwise, and in an xdist process, the pool starts once collection is over
(plugin.handover). Nor when the previous run of the environment found a target slower than SLOW_S: the
pool then starts with every check known, slowest first, so a slow or hung target is never left to a
second wave behind checks collected before it. A check refused at collection (a skip mark, a mutating
check the file does not allow) is never queued, streamed or not.
"""

from __future__ import annotations

import functools
import os

import pytest

from healthsuite.checkapi import diagnosis_of, plan_of, target_of
from healthsuite.environment.loaded import LoadedEnvironment
from healthsuite.outputs.json_report import previous_probe_latency
from healthsuite.plans import Threshold
from healthsuite.plugin.fixtures import probe_session_of
from healthsuite.plugin.state import STATE, is_worker, is_xdist_controller, reports_dir_of
from healthsuite.runner.pool import Prefetcher, Work

BATCH = 32  # checks queued together: the pool starts after the first BATCH are collected
SLOW_S = 1.0  # a target the previous run waited this long for is worth ordering the whole run for
HISTORY: pytest.StashKey[dict[str, float]] = pytest.StashKey()

# plugins whose pytest_collection_modifyitems never drops a check unless one of the options below is set:
# pytest's -k/-m (mark), --deselect (main), fixture reordering (funcmanage), --lf/--nf (lfplugin, nfplugin,
# inactive without their options), Hypothesis's marks, Allure's label and test-plan selection
NEVER_DESELECTING = frozenset({"mark", "main", "funcmanage", "lfplugin", "nfplugin", "hypothesispytest",
                               "allure_pytest"})
SELECTING_OPTIONS = ("keyword", "markexpr", "deselect", "lf", "failedfirst", "newfirst", "stepwise",
                     "stepwise_skip", "allure_epics", "allure_features", "allure_stories", "allure_ids",
                     "allure_severities", "allure_labels")


def streams(config: pytest.Config) -> bool:
    """Whether every check collected is certain to run (see the module's docstring)."""
    state = config.stash[STATE]
    if state.env is None or config.option.collectonly or is_worker(config) or is_xdist_controller(config):
        return False
    if state.diagnoses or state.env.model.retries.by_diagnosis or os.environ.get("ALLURE_TESTPLAN_PATH"):
        return False
    if any(getattr(config.option, name, None) for name in SELECTING_OPTIONS):
        return False
    if max(history(config).values(), default=0.0) >= SLOW_S:
        return False
    return all(impl.plugin_name in NEVER_DESELECTING or impl.plugin_name.startswith("healthsuite.")
               for impl in config.pluginmanager.hook.pytest_collection_modifyitems.get_hookimpls())


def history(config: pytest.Config) -> dict[str, float]:
    """The previous run's probe latencies by target (outputs.json_report), read once per run."""
    if HISTORY not in config.stash:
        state = config.stash[STATE]
        assert state.env is not None
        config.stash[HISTORY] = previous_probe_latency(reports_dir_of(config), state.env.name)
    return config.stash[HISTORY]


def work_of(item: pytest.Item, env: LoadedEnvironment, thresholds: dict[str, Threshold]) -> Work | None:
    """What the pool runs for `item`: None for a test that is not a check, a check that reads nothing over
    the network, or one refused at collection (skipped, or mutating where the file does not allow it).
    `thresholds` keeps one threshold per diagnosis, shared by its checks (thousands of them)."""
    diagnosis, target, plan = diagnosis_of(item), target_of(item), plan_of(item)
    if not diagnosis or target is None or plan is None or item.get_closest_marker("skip"):
        return None
    if item.get_closest_marker("mutating") and not env.model.allow_mutating:
        return None
    threshold = thresholds.get(diagnosis)
    if threshold is None:
        threshold = thresholds[diagnosis] = functools.partial(env.model.threshold, diagnosis)
    return Work(item.nodeid, target, plan, threshold)


class Streamer:
    """Queues collected checks on the run's pool, BATCH at a time."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.batch: list[Work] = []
        self.thresholds: dict[str, Threshold] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_itemcollected(self, item: pytest.Item) -> None:
        state = self.config.stash[STATE]
        assert state.env is not None
        work = work_of(item, state.env, self.thresholds)
        if work is not None:
            self.batch.append(work)
            if len(self.batch) >= BATCH:
                self.flush()

    def flush(self) -> None:
        batch, self.batch = self.batch, []
        if not batch:
            return
        env = self.config.stash[STATE].env
        assert env is not None
        pool_of(self.config).add(probe_session_of(self.config, env), batch)


def pool_of(config: pytest.Config, workers: int = 1) -> Prefetcher:
    """The run's probe pool, made on first use with the environment's limits, which hold for the run:
    under -n, each of the `workers` gets its share."""
    state = config.stash[STATE]
    if state.prefetcher is None:
        assert state.env is not None
        settings = state.env.model.http
        state.prefetcher = Prefetcher(max(1, settings.max_concurrency // workers),
                                      max(1, settings.max_per_host // workers))
    return state.prefetcher


@pytest.hookimpl(tryfirst=True)  # before pytest's own, which collects
def pytest_collection(session: pytest.Session) -> None:
    config = session.config
    if streams(config) and not config.pluginmanager.has_plugin("healthsuite-streamer"):
        config.pluginmanager.register(Streamer(config), "healthsuite-streamer")


def finish(config: pytest.Config) -> None:
    """Collection is over: queue what is still in the batch and stop streaming."""
    streamer = config.pluginmanager.get_plugin("healthsuite-streamer")
    if isinstance(streamer, Streamer):
        streamer.flush()
        config.pluginmanager.unregister(streamer)
