"""The demo's faults are declared once, in healthsuite/demo/faults/registry.py: docs/demo.md lists the same
names, the CLI lists them from the registry, and every fault names the diagnoses it trips."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from healthsuite.catalogue.diagnoses import load_catalogue
from healthsuite.demo import __main__ as demo_cli
from healthsuite.demo.app import auth, flows, ops
from healthsuite.demo.faults import config_files, logs, pg_activity, pg_data, pg_schema, sqlite
from healthsuite.demo.faults.registry import FAULTS, MASKING_FAULTS, REGISTRY, SWITCHES, select
from healthsuite.testing.dns import DEMO_FAULTS

DEMO = (Path(__file__).resolve().parents[2] / "docs" / "demo.md").read_text(encoding="utf-8")
BREAKING = DEMO[DEMO.index("## Breaking it"):DEMO.index("## Keeping it running")]


def _documented_faults() -> list[str]:
    """The first column of every table of the Breaking it section: `| DB10, DB12 | ... |`."""
    names: list[str] = []
    for line in BREAKING.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or cells[0] in ("fault", "") or set(cells[0]) <= set("-"):
            continue
        names += [name.strip() for name in cells[0].split(",")]
    return names


def test_docs_list_exactly_the_registry_s_faults() -> None:
    documented = _documented_faults()
    duplicated = sorted({name for name in documented if documented.count(name) > 1})
    assert not duplicated, f"listed twice in docs/demo.md: {duplicated}"
    assert not set(documented) - set(FAULTS), f"in docs/demo.md, not in the registry: {sorted(set(documented) - set(FAULTS))}"
    assert not set(FAULTS) - set(documented), f"in the registry, not in docs/demo.md: {sorted(set(FAULTS) - set(documented))}"


def test_docs_name_every_switch() -> None:
    missing = [name for name in SWITCHES if f"break {name}`" not in BREAKING]
    assert not missing, f"switches docs/demo.md does not name (as `... break NAME`): {missing}"


def test_every_part_s_faults_are_in_the_registry() -> None:
    """A fault a part of the demo declares (its FAULTS) is one `--break` knows."""
    for declared in (pg_schema.FAULTS, pg_data.FAULTS, pg_activity.FAULTS, flows.FAULTS, auth.FAULTS, ops.FAULTS,
                     sqlite.FAULTS, logs.FAULTS, config_files.FAULTS, DEMO_FAULTS):
        assert set(declared) <= set(FAULTS)
        assert all(FAULTS[name] == description for name, description in declared.items())


def test_each_fault_trips_catalogue_diagnoses() -> None:
    catalogue = load_catalogue()
    for fault in REGISTRY.values():
        assert fault.description and "\n" not in fault.description, fault.name
        assert fault.trips, fault.name
        if fault.switch:
            assert fault.name == fault.name.lower() and not fault.masking
            continue
        assert fault.trips == (fault.name,), "a diagnosis's fault trips that diagnosis"
        assert catalogue.diagnosis(fault.name).id == fault.name
    assert set(MASKING_FAULTS) == {"DB1", "DB2", "CACHE1"}


def test_select_resolves_names_as_break_takes_them() -> None:
    assert [f.name for f in select(["db1", " ", "Slow", "DB9"])] == ["slow", "DB9", "DB1"]  # switches first, DB1 last
    every = [f.name for f in select(["all"])]
    assert set(every) == set(FAULTS) - set(MASKING_FAULTS) and "slow" not in every
    assert every.index("DB3") > max(every.index(n) for n in pg_schema.FAULTS)  # DB3 after the sessions it counts
    with pytest.raises(ValueError, match="no demo fault for NOPE1; faults: AV1, "):
        select(["AV1", "nope1"])


def test_the_cli_lists_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo_cli.main(["faults"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == list(REGISTRY)


def test_break_help_lists_every_fault_and_switch(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        demo_cli.main(["break", "--help"])
    out = re.sub(r"\s+", " ", capsys.readouterr().out)
    missing = [name for name in REGISTRY if f"{name}: " not in out]
    assert not missing, missing
