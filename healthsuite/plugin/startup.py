"""The garbage collector held off during start-up (healthsuite.runner.collector): paused when the plugin
is imported (healthsuite/plugin/__init__.py), resumed when the checks start to run, and in any case
when the run's configuration is cleaned up (a usage error, `--help`, pytest.main() from a program)."""

from __future__ import annotations

import pytest

from healthsuite.runner import collector


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    early_config.add_cleanup(collector.resume)


@pytest.hookimpl(tryfirst=True)  # the xdist controller's loop too: it runs until the run ends
def pytest_runtestloop(session: pytest.Session) -> None:
    collector.resume()
