"""The pytest plugin (the `pytest11` entry point): one module per concern, each registered as a plugin.

- options: --env, --diagnosis, --reports-dir and the ini settings
- selection: markers and diagnosis IDs that -m and --diagnosis may name
- configure: the environment chosen and validated (a UsageError names file, key and fix), -n decided,
  the shipped checks collected, the run's deadline, the header
- parametrize: target fixtures (page, database, ...) parametrized from the environment
- collection: effective severity (overrides visible to -m), report properties, allure labels, refusal
  of mutating checks
- ordering: an environment of more than 64 targets runs its checks 64 targets at a time, so that each
  block's checks run while the next block's exchanges are out
- workers: under -n, every check of one target on one worker (scheduling, healthsuite.runner.workunits)
- fixtures: the environment, the probe session, `expect`
- execution: the lean protocol (protocol, the one module that uses pytest's internals), waiting on the
  probe pool (healthsuite.runner.pool) for a check's own exchanges, redacted reports
- streaming: the probe pool started during collection, each check queued as it is collected, when
  nothing can deselect a collected check afterwards
- handover: the probe pool started after collection (when it was not during); at the end, the run's
  result built once and handed to every output (healthsuite.outputs.publish), the JUnit rewrite and the summary
- verdicts, maintenance, outputs, allure_story, changes: the exit status, failures during a maintenance
  window, the output options, allure, history
- heartbeat: a scheduled run's splay before its first exchange, and its start and end pings
- startup: the garbage collector, paused from here until the checks run (healthsuite.runner.collector)
"""

import pytest

from healthsuite.plugin import pytest_internals
from healthsuite.runner import collector

collector.pause()  # before the plugin's modules are imported: start-up creates objects, not garbage
pytest_internals.rewrite_only_the_plugin("healthsuite", __name__)  # the machinery loads as plain Python

pytest_plugins = [
    *(f"healthsuite.plugin.{name}" for name in (
        "options", "selection", "configure", "parametrize", "collection", "ordering", "workers", "fixtures",
        "execution", "streaming", "handover",
    )),
    "healthsuite.plugin.verdicts", "healthsuite.plugin.maintenance", "healthsuite.plugin.outputs",
    "healthsuite.plugin.allure_story", "healthsuite.plugin.heartbeat", "healthsuite.plugin.startup",
]

# pytest marks each module of pytest_plugins for assertion rewriting just before it imports it; but
# configure and collection import their siblings (handover, parametrize, verdicts, ...) first, and a
# module marked once imported makes pytest warn "Module already imported so cannot be rewritten" (on
# every run from an editable install, whose modules pytest does not mark at start-up). Marked here,
# before any of them is imported, they are rewritten like any plugin module and nothing warns.
pytest.register_assert_rewrite(*pytest_plugins)
