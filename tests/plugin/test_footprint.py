"""plugin.footprint: what thousands of check items hold. Items parametrized alike share one call spec, a
check that ran lets go of what only its run read, and the probe cache's answers share their short strings;
every report still says what it said (checked on a real run against a loopback server)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from healthsuite.checkapi import diagnosis_of, target_of
from healthsuite.probes.http import HttpObservation
from healthsuite.probes.session import shared_text, with_shared_text
from tests.conftest import CHECKS
from tests.localhttp import Answer, serving


class Items:
    """The session's items, kept for after the run."""

    items: list[pytest.Item] = []

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.items = list(session.items)


def test_items_share_call_specs_and_let_go_of_their_run_and_the_reports_keep_it(
    pytester: pytest.Pytester, env_file: Callable[[str], Path], tmp_path: Path
) -> None:
    kept = Items()
    with serving(lambda _: Answer(content_type="application/json", body=b"{}")) as url:
        pages = "\n".join(f"  - {{name: n{i}, path: /p{i}, content_type: application/json}}" for i in range(3))
        env = env_file(f"name: footprint\nkind: test\nbase_urls: {{app: \"{url}\"}}\npages:\n{pages}\n")
        junit = tmp_path / "junit.xml"
        result = pytester.runpytest(str(CHECKS), "--env", str(env), "--reports-dir", str(tmp_path / "reports"),
                                    "-p", "no:cacheprovider", f"--junitxml={junit}", plugins=[kept])
    assert result.ret == 0, result.stdout.str()[-3000:]
    by_check = {(diagnosis_of(item), getattr(target_of(item), "name", "")): item for item in kept.items}
    av1, av3, perf1 = by_check[("AV1", "n0")], by_check[("AV3", "n0")], by_check[("PERF1", "n0")]
    # AV3 and PERF1 of one page (both parametrized by `http_endpoint`): one call spec, the same parameters and id
    assert av3.callspec is perf1.callspec  # type: ignore[attr-defined]
    assert perf1.callspec.id == "page-n0" and target_of(av3) is target_of(perf1) is target_of(av1)  # type: ignore[attr-defined]
    assert by_check[("AV3", "n1")].callspec is not av3.callspec  # type: ignore[attr-defined]
    # once run, the item holds none of its keywords, markers or properties ...
    assert not av1.own_markers and not av1.user_properties and not dict(av1.keywords)
    # ... and its reports still carry them
    report = json.loads((tmp_path / "reports" / "latest.json").read_text())
    record = next(r for r in report["checks"] if r["diagnosis"] == "AV1" and r["target"] == "n0")
    assert (record["outcome"], record["category"], record["severity"]) == ("passed", "availability", "critical")
    xml = junit.read_text()
    assert 'name="AV1 page n0 [critical]: test_page_answers_with_expected_status_and_type[n0]"' in xml
    assert "diagnosis: AV1\ncategory: availability\ntarget: n0" in xml


def test_cached_answers_share_their_short_strings_and_keep_long_ones() -> None:
    def answer(value: str) -> HttpObservation:
        return HttpObservation("GET", "http://x/", 200, "OK", {"content-type": value, "x-long": value * 40},
                               http_version="HTTP/1.1")

    first, second = with_shared_text(answer("appli" + "cation/json")), with_shared_text(answer("application/json"))
    assert first.headers["content-type"] is second.headers["content-type"]
    assert first.headers == answer("application/json").headers and first.body == b""
    assert first.headers["x-long"] is not second.headers["x-long"]  # over 64 characters: each its own
    assert shared_text("z" * 65) == "z" * 65
