"""The probe pool starts while collection goes on (plugin.streaming) only when every collected check is
certain to run: each page is then still asked once, and whatever deselects checks (-k, -m, --diagnosis, a
plugin's own pytest_collection_modifyitems) keeps the pool until collection ends, so a deselected target
is never asked. Requests are counted at the server; nothing here depends on how fast anything is."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from healthsuite.plugin.ordering import BLOCK
from healthsuite.plugin.state import STATE
from healthsuite.testing.asgi_server import ServedApp
from tests.conftest import CHECKS

PAGES = 40


def counting_app(arrivals: list[str], sleeps: dict[str, float] | None = None) -> Starlette:
    async def endpoint(request: Request) -> Response:
        path = "/" + request.path_params["path"]
        arrivals.append(path)
        await asyncio.sleep((sleeps or {}).get(path, 0.005))
        return JSONResponse({"path": path})

    return Starlette(routes=[Route("/{path:path}", endpoint)])


class PoolAtCollectionEnd:
    """Whether the run's probe pool existed when collection ended (before plugin.handover's hook)."""

    started: bool | None = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.started = session.config.stash[STATE].prefetcher is not None


class DeselectsPageOne:
    """A team's own plugin that drops checks after collection, as pytest allows any plugin to."""

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        dropped = [item for item in items if item.nodeid.endswith("n1]")]
        items[:] = [item for item in items if item not in dropped]
        config.hook.pytest_deselected(items=dropped)


def run(pytester: pytest.Pytester, env_file: Callable[[str], Path], tmp_path: Path, *args: str,
        plugins: tuple[Any, ...] = (), sleeps: dict[str, float] | None = None) -> tuple[PoolAtCollectionEnd, Counter[str]]:
    arrivals: list[str] = []
    probe = PoolAtCollectionEnd()
    with ServedApp(counting_app(arrivals, sleeps)) as served:
        pages = "\n".join(f"  - {{name: n{i}, path: /p{i}, content_type: application/json}}" for i in range(PAGES))
        env = env_file(f"name: stream\nkind: test\nbase_urls: {{app: \"{served.url}\"}}\n"
                       f"health: [{{name: api, path: /health}}]\npages:\n{pages}\n")
        result = pytester.runpytest(str(CHECKS), "--env", str(env), "--reports-dir", str(tmp_path / "reports"),
                                    "-p", "no:cacheprovider", *args, plugins=[probe, *plugins])
    assert result.ret == 0, result.stdout.str()[-3000:]
    return probe, Counter(arrivals)


def test_the_pool_starts_during_collection_and_each_target_is_asked_once(
    pytester: pytest.Pytester, env_file: Callable[[str], Path], tmp_path: Path
) -> None:
    probe, asked = run(pytester, env_file, tmp_path)
    assert probe.started is True
    assert asked == Counter({"/health": 1, **{f"/p{i}": 1 for i in range(PAGES)}}), asked


@pytest.mark.parametrize("args", [["-k", "not n1]"], ["-m", "availability"], ["--diagnosis", "AV1,AV2"],
                                  ["--deselect", "checks/test_availability.py::"
                                                 "test_page_answers_with_expected_status_and_type[n1]"]],
                         ids=["-k", "-m", "--diagnosis", "--deselect"])
def test_a_selection_keeps_the_pool_until_collection_ends(
    pytester: pytest.Pytester, env_file: Callable[[str], Path], tmp_path: Path, args: list[str]
) -> None:
    probe, asked = run(pytester, env_file, tmp_path, *args)
    assert probe.started is False
    assert all(count == 1 for count in asked.values()), asked
    if args[0] == "-k":
        assert "/p1" not in asked and asked["/p0"] == 1, asked


def test_a_plugin_that_deselects_keeps_the_pool_and_its_target_is_never_asked(
    pytester: pytest.Pytester, env_file: Callable[[str], Path], tmp_path: Path
) -> None:
    probe, asked = run(pytester, env_file, tmp_path, plugins=(DeselectsPageOne(),))
    assert probe.started is False
    assert "/p1" not in asked, asked  # AV1, AV3 and PERF1 of n1 all dropped: its GET was never planned
    assert asked["/p0"] == 1 and asked["/health"] == 1, asked


def test_after_a_run_that_met_a_slow_target_the_pool_starts_with_every_check_known(
    pytester: pytest.Pytester, env_file: Callable[[str], Path], tmp_path: Path
) -> None:
    """The second run orders its exchanges slowest first (runner.pool.slowest_first), which needs them all."""
    first, _ = run(pytester, env_file, tmp_path, sleeps={"/p7": 1.2})
    second, asked = run(pytester, env_file, tmp_path, sleeps={"/p7": 1.2})  # the same reports directory
    assert (first.started, second.started) == (True, False)
    assert asked["/p7"] == 1 and all(count == 1 for count in asked.values()), asked


def test_more_targets_than_a_block_run_a_block_at_a_time(
    pytester: pytest.Pytester, env_file: Callable[[str], Path], tmp_path: Path
) -> None:
    """plugin.ordering: every check of the first 64 targets (AV1, AV3 and PERF1 of each page) runs before any
    check of the others, so each block's checks run while the next block's exchanges are out."""
    arrivals: list[str] = []
    with ServedApp(counting_app(arrivals)) as served:
        pages = "\n".join(f"  - {{name: n{i}, path: /p{i}, content_type: application/json}}" for i in range(BLOCK + 6))
        env = env_file(f"name: blocks\nkind: test\nbase_urls: {{app: \"{served.url}\"}}\npages:\n{pages}\n")
        result = pytester.runpytest(str(CHECKS), "--env", str(env), "--reports-dir", str(tmp_path / "reports"),
                                    "-p", "no:cacheprovider", "-v")
    assert result.ret == 0, result.stdout.str()[-3000:]
    # the order they ran in, from -v's lines: checks/test_performance.py::test_...[page-n7] PASSED
    ran = [(line.split("[")[1].split("]")[0].removeprefix("page-"), line.split("::")[1].split("[")[0])
           for line in result.stdout.lines if " PASSED" in line and "::" in line]
    first_block = list(dict.fromkeys(target for target, _ in ran))[:BLOCK]
    boundary = max(i for i, (target, _) in enumerate(ran) if target in first_block)
    assert len([r for r in ran[: boundary + 1] if r[0] in first_block]) == 3 * BLOCK, ran[: boundary + 1]
    assert all(target in first_block for target, _ in ran[: boundary + 1]), ran
    assert Counter(arrivals) == Counter({f"/p{i}": 1 for i in range(BLOCK + 6)})
