"""The domain modules are plain Python: importing them never imports pytest."""

from __future__ import annotations

import subprocess
import sys

import pytest

DOMAIN = [
    "healthsuite.templates", "healthsuite.redaction", "healthsuite.catalogue", "healthsuite.environment",
    "healthsuite.envfile", "healthsuite.probes", "healthsuite.assessments", "healthsuite.failure",
    "healthsuite.reports", "healthsuite.schema",
]


@pytest.mark.parametrize("module", DOMAIN)
def test_domain_module_does_not_import_pytest(module: str) -> None:
    code = f"import sys, {module}; sys.exit(1 if 'pytest' in sys.modules or '_pytest' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0, f"{module} imports pytest"
