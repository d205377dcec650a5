"""Every diagnosis of the catalogue has a check, and every check's diagnosis is in the catalogue.

The checks are really collected (in-process, against environments/demo.yaml) and their `diagnosis`
markers read, so a check that does not collect, or whose marker is lost, counts as missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthsuite.catalogue.diagnoses import load_catalogue
from healthsuite.checkapi import diagnosis_of

PROJECT = Path(__file__).resolve().parents[2]


def collected_diagnoses(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, demo_ca_dir: Path) -> set[str]:
    monkeypatch.setenv("HEALTHSUITE_DEMO_DIR", str(demo_ca_dir))  # demo.yaml loads without the demo running
    items, reprec = pytester.inline_genitems(
        str(PROJECT / "checks"), "--env", str(PROJECT / "environments" / "demo.yaml"), "-p", "no:cacheprovider"
    )
    failed = [r.nodeid for r in reprec.getreports("pytest_collectreport") if r.failed]
    assert not failed, f"these check modules do not collect: {failed}"
    return {d for d in map(diagnosis_of, items) if d is not None}


def test_every_catalogue_diagnosis_has_a_check_and_no_check_is_unknown(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, demo_ca_dir: Path
) -> None:
    catalogue = set(load_catalogue().diagnoses)
    checked = collected_diagnoses(pytester, monkeypatch, demo_ca_dir)
    missing = sorted(catalogue - checked)
    unknown = sorted(checked - catalogue)
    assert checked, "no check collected"
    problems = []
    if missing:
        problems.append(f"{len(missing)} catalogue diagnosis(es) without a check in checks/: {', '.join(missing)}")
    if unknown:
        problems.append(f"{len(unknown)} check diagnosis ID(s) not in the catalogue: {', '.join(unknown)}")
    assert not problems, "; ".join(problems)
