"""The per-check lookups the lean protocol does for itself (healthsuite.plugin.protocol.location,
healthsuite.checkapi.closest_mark_name) answer what pytest's own do, on pytest's real items: inherited test
methods, parametrized marks, marks on the class and the module."""

from __future__ import annotations

import pytest

from healthsuite.checkapi import closest_mark_name
from healthsuite.plugin import protocol

SOURCE = """
import pytest

pytestmark = pytest.mark.low


@pytest.mark.parametrize("n", [1, 2, 3])
def test_plain(n):
    pass


@pytest.mark.critical
class TestA:
    @pytest.mark.parametrize("n", [1, pytest.param(2, marks=pytest.mark.high), 3])
    def test_x(self, n):
        pass


class TestB(TestA):
    pass
"""
NAMES = ("critical", "high", "low")


def items_of(pytester: pytest.Pytester) -> list[pytest.Item]:
    """The source's items as pytest collects them (healthsuite's plugin left out: no environment here)."""
    pytester.makeini("[pytest]\nmarkers =\n    critical\n    high\n    low\n")
    module = pytester.getmodulecol(SOURCE, configargs=("-p", "no:healthsuite.plugin"))
    return pytester.genitems([module])


def test_location_is_pytests_own_for_every_item(pytester: pytest.Pytester) -> None:
    items = items_of(pytester)
    assert len(items) == 9
    # pytest's values, computed without its cache: the file, the function's line, the module path
    file = items[0].location[0]
    expected = [(file, item.reportinfo()[1], item.getmodpath()) for item in items]
    found = [protocol.location(item) for item in items]  # type: ignore[arg-type]
    assert found == expected
    assert [item.location for item in items] == expected  # pytest's own, asked for afterwards: the same
    assert [m for _, _, m in found if m.startswith("TestB.")] == ["TestB.test_x[1]", "TestB.test_x[2]", "TestB.test_x[3]"]


def test_closest_mark_name_is_the_first_of_iter_markers(pytester: pytest.Pytester) -> None:
    items = items_of(pytester)
    found = [closest_mark_name(item, NAMES) for item in items]
    assert found == [next((m.name for m in item.iter_markers() if m.name in NAMES), None) for item in items]
    assert found == ["low"] * 3 + ["critical", "high", "critical"] * 2
    assert closest_mark_name(items[0], ("skip", "xfail")) is None
