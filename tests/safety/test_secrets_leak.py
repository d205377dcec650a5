"""No secret of the demo (its passwords, API keys, tokens) reaches the terminal, the JSON report, JUnit
or Allure, whether the checks pass or fail: every value of the demo's secrets.env is searched for."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthsuite.demo.stack import DemoStack
from tests.conftest import RunChecks


def demo_secrets(stack: DemoStack) -> dict[str, str]:
    secrets = {}
    for line in (stack.directory / "secrets.env").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            secrets[key] = value
    assert secrets and all(len(v) >= 8 for v in secrets.values()), secrets.keys()
    return secrets


@pytest.mark.parametrize("broken", [False, True], ids=["healthy", "broken"])
def test_no_secret_in_any_output(run_checks: RunChecks, stack: DemoStack, tmp_path: Path, broken: bool) -> None:
    if broken:
        stack.break_(["all"])
    allure = tmp_path / "allure"
    run = run_checks("-rA", "-o", "junit_logging=all", "-vv", f"--alluredir={allure}")
    assert run.report["checks"], run.output
    if broken:
        assert run.report["summary"]["failed"] > 10
    texts = {"terminal": run.output}
    for path in [*run.reports_dir.rglob("*"), *allure.rglob("*"), *tmp_path.glob("junit-*.xml")]:
        if path.is_file():
            texts[str(path)] = path.read_text(errors="replace")
    for name, value in demo_secrets(stack).items():
        leaks = [where for where, text in texts.items() if value in text]
        assert not leaks, f"{name} appears in {leaks}"
