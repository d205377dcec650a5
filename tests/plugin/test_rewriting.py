"""pytest's assertion rewriting covers the plugin's modules, the checks and conftest files, and not the rest
of the machinery (plugin.pytest_internals.rewrite_only_the_plugin): those load as plain Python. A check's
failing assert keeps pytest's rewritten message. Run in a fresh process, the project on the path (as an installed package is found, through pytest's hook)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import CHECKS, PROJECT

LOADERS = '''
import json, os, sys

def pytest_collection_finish(session):
    kinds = {name: type(getattr(module, "__loader__", None)).__name__
             for name, module in list(sys.modules.items())
             if name.startswith(("healthsuite", "checks", "test_")) or name == "conftest"}
    with open(os.environ["LOADERS_OUT"], "w") as out:
        json.dump(kinds, out)
'''


def _loaders(directory: Path, *args: str) -> tuple[dict[str, str], subprocess.CompletedProcess[str]]:
    (directory / "loaders_probe.py").write_text(LOADERS)
    found = directory / "loaders.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "loaders_probe", "-p", "no:cacheprovider", *args],
        cwd=directory, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join((str(directory), str(PROJECT))), "LOADERS_OUT": str(found)},
    )
    return json.loads(found.read_text()) if found.is_file() else {}, done


def test_the_machinery_loads_plain_and_the_plugin_and_checks_are_rewritten(tmp_path: Path) -> None:
    kinds, done = _loaders(tmp_path, str(CHECKS), "--collect-only", "-q")
    assert kinds, done.stdout[-2000:] + done.stderr[-2000:]
    assert kinds["healthsuite.plugin.options"] == "AssertionRewritingHook"
    for module in ("healthsuite.probes.session", "healthsuite.model.environment", "healthsuite.runner.pool",
                   "healthsuite.outputs.records"):
        assert kinds[module] == "SourceFileLoader", (module, kinds[module])
    assert kinds["checks.test_availability"] == "AssertionRewritingHook"
    assert "PytestAssertRewriteWarning" not in done.stdout + done.stderr


def test_a_failing_assert_in_a_test_keeps_pytests_rewritten_message(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text(
        "from healthsuite.probes import session\n\n"
        "def test_it():\n    value = session.__name__\n    assert value == 'other'\n"
    )
    kinds, done = _loaders(tmp_path, "test_plain.py", "-q")
    assert done.returncode == 1, done.stdout[-2000:]
    assert "AssertionError: assert 'healthsuite.probes.session' == 'other'" in done.stdout
    assert kinds["test_plain"] == "AssertionRewritingHook"
    assert kinds["healthsuite.probes.session"] == "SourceFileLoader"
