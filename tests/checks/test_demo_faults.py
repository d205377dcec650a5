"""`--env demo` shows every diagnosis failing as well as passing: each demo fault (`--break ID`)
fails its own diagnosis, with the catalogue's category and the environment's severity."""

from __future__ import annotations

import pytest

from healthsuite.catalogue.diagnoses import load_catalogue
from healthsuite.demo.faults.registry import FAULTS
from healthsuite.demo.stack import DemoStack
from tests.conftest import RunChecks


@pytest.mark.parametrize("diagnosis", sorted(FAULTS))
def test_each_demo_fault_fails_its_diagnosis(run_checks: RunChecks, stack: DemoStack, diagnosis: str) -> None:
    stack.break_([diagnosis])
    run = run_checks("--diagnosis", diagnosis)
    records = run.records(diagnosis)
    assert records, f"no {diagnosis} check ran against the demo"
    failed = [r for r in records if r["outcome"] == "failed"]
    assert failed, f"--break {diagnosis} ({FAULTS[diagnosis]}) failed none of {[r['target'] for r in records]}"
    entry = load_catalogue().diagnosis(diagnosis)
    assert all(r["category"] == entry.category for r in failed)
    assert "Traceback" not in run.output
    stack.heal()
    healed = run_checks("--diagnosis", diagnosis)
    assert all(r["outcome"] == "passed" for r in healed.records(diagnosis)), healed.output
