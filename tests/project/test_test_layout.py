"""The suite's own tests mirror the shipped checks, so a diagnosis ID alone leads to its proof: every
diagnosis of the catalogue is defined (`@check("ID"`) in a module checks/test_<name>.py, and each such
module has a mirror tests/checks/test_<name>.py holding at least one test named after the ID.

A test is named after the diagnoses it proves by the IDs that lead its name, `test_NET5_...` or, for a
test that judges several in one run, `test_AUTH1_AUTH2_..._pass_on_the_healthy_demo`. Tests of a pure
assessment function live in tests/assessments/test_<assessment module>.py."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from healthsuite.catalogue.diagnoses import load_catalogue

PROJECT = Path(__file__).resolve().parents[2]
CHECKS = PROJECT / "checks"
MIRRORS = PROJECT / "tests" / "checks"
LEADING_IDS = re.compile(r"^test_((?:[A-Z]+[0-9]+_)+)")


def defining_modules() -> dict[str, set[str]]:
    """The check modules (file names) that define each diagnosis, read as text."""
    found: dict[str, set[str]] = defaultdict(set)
    for module in sorted(CHECKS.glob("test_*.py")):
        for diagnosis in re.findall(r'@check\(\s*"([A-Z]+[0-9]+)"', module.read_text()):
            found[diagnosis].add(module.name)
    return found


def named_ids(mirror: Path) -> set[str]:
    """The IDs leading the names of the test functions of one mirror module."""
    ids: set[str] = set()
    for node in ast.walk(ast.parse(mirror.read_text())):
        if isinstance(node, ast.FunctionDef) and (match := LEADING_IDS.match(node.name)):
            ids.update(match.group(1).rstrip("_").split("_"))
    return ids


def test_every_diagnosis_has_a_test_named_after_it_in_the_mirror_of_its_check_module() -> None:
    defined = defining_modules()
    catalogue = list(load_catalogue().diagnoses)
    assert catalogue and not set(catalogue) - set(defined), "every diagnosis of the catalogue has a check"
    missing = []
    for diagnosis in catalogue:
        for module in sorted(defined[diagnosis]):
            mirror = MIRRORS / module
            if not mirror.is_file() or diagnosis not in named_ids(mirror):
                missing.append(f"{diagnosis} (checks/{module}): no test_{diagnosis}_... in tests/checks/{module}")
    assert not missing, "\n".join(missing)


def test_every_check_module_has_a_mirror() -> None:
    """test_declared.py's mirror is test_declared_checks.py: the plugin leaves any checks/test_declared.py
    uncollected when the environment declares no check of its own."""
    modules = {module.name for module in CHECKS.glob("test_*.py")} - {"test_declared.py"}
    assert {module for module in modules if not (MIRRORS / module).is_file()} == set()
    assert (MIRRORS / "test_declared_checks.py").is_file()
