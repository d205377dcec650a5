"""The catalogue is complete and consistent with docs/DIAGNOSES.md and the runbooks."""

from __future__ import annotations

import re

import pytest

from healthsuite.catalogue.diagnoses import CATEGORIES, load_catalogue
from healthsuite.probes.errors import KINDS
from tests.conftest import PROJECT

ROWS = re.findall(
    r"^\| ([A-Z]+[0-9]+) \| .* \| ([a-z]+|\(reporting\)) \|$", (PROJECT / "docs" / "DIAGNOSES.md").read_text(), re.M
)
SECTIONS = dict(
    (diagnosis_id, section)
    for section_block in re.split(r"^## ", (PROJECT / "docs" / "DIAGNOSES.md").read_text(), flags=re.M)[1:]
    for section in [section_block.split("\n", 1)[0].split()[0]]
    for diagnosis_id in re.findall(r"^\| ([A-Z]+[0-9]+) \|", section_block, re.M)
)
SECTION_TO_CATEGORY = {"deployment": "deployment", "booking": "booking"}


def test_catalogue_has_exactly_the_ids_of_diagnoses_md_in_order() -> None:
    assert list(load_catalogue().diagnoses) == [row[0] for row in ROWS]


@pytest.mark.parametrize(("diagnosis_id", "severity"), ROWS)
def test_entry_matches_its_row(diagnosis_id: str, severity: str) -> None:
    catalogue = load_catalogue()
    entry = catalogue.diagnosis(diagnosis_id)
    assert entry.severity == ("low" if severity == "(reporting)" else severity)
    assert entry.reporting == (severity == "(reporting)")
    assert entry.category == SECTIONS[diagnosis_id] and entry.category in CATEGORIES
    for ref in entry.runbooks:
        assert (PROJECT / catalogue.runbooks[ref.runbook].file).is_file()
    assert entry.causes and entry.remediation and entry.verifies


def test_every_failure_kind_has_its_sentence() -> None:
    catalogue = load_catalogue()
    assert set(KINDS) == set(catalogue.failure_kinds)
    for kind in catalogue.failure_kinds.values():
        assert "{address}" in kind.means and kind.remediation


def test_gateway_statuses_are_named() -> None:
    statuses = load_catalogue().http_statuses
    assert {500, 502, 503, 504} <= set(statuses) and statuses[504].name == "Gateway Timeout"


def test_unknown_diagnosis_is_named() -> None:
    with pytest.raises(KeyError, match="unknown diagnosis 'XX1'"):
        load_catalogue().diagnosis("XX1")
