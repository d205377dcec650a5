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


DRIVERS = ("psycopg", "redis", "dns", "OpenSSL", "cryptography", "jwt", "prometheus_client", "httpx")


def test_the_plugin_and_the_checks_import_no_driver_until_a_probe_needs_it() -> None:
    """An xdist controller, `--collect-only` and `-m payments` never pay for drivers they do not use
    (healthsuite.lazy); a probe imports its driver on first use."""
    code = (
        "import sys, healthsuite.plugin, healthsuite.checkapi, healthsuite.prefetch\n"
        f"loaded = sorted({{m.split('.')[0] for m in sys.modules}} & set({DRIVERS!r}))\n"
        "assert not loaded, loaded\n"
        "from healthsuite.probes import redis\n"
        "redis.address_of('redis://127.0.0.1:1/0'); assert 'redis' not in sys.modules\n"
        "redis.ping('redis://127.0.0.1:1/0', None, None, 0.5); assert 'redis' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
