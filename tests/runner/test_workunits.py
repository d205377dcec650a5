"""Under -n, the checks of one target form one unit of work, and every process computes the same shares."""

from __future__ import annotations

from healthsuite.runner.workunits import assign, join_names, share_of, unit_of, units, worker_number

AV1 = "checks/test_availability.py::test_page_answers_with_expected_status"
AV3 = "checks/test_availability.py::test_endpoint_answers_without_server_error"
DEP1 = "checks/test_deployment.py::test_post_deploy_smoke"
DB3 = "checks/test_database.py::test_connections_under_limit"


def test_a_target_is_one_unit_whatever_its_kind_prefix() -> None:
    assert unit_of(f"{AV1}[home]") == unit_of(f"{AV3}[page-home]") == unit_of(f"{DEP1}[page-home]") == "target:home"
    assert unit_of(f"{DB3}[main]") == unit_of(f"{DEP1}[database-main]") == "target:main"
    assert unit_of(f"{AV3}[endpoint-n1]") != unit_of(f"{AV3}[endpoint-n10]")
    assert unit_of("tests/test_x.py::test_plain") == "tests/test_x.py::test_plain"


def test_targets_sharing_a_request_join_one_unit_transitively() -> None:
    aliases = join_names([{"api", "upstream"}, {"upstream", "gateway"}, {"x", "y"}])
    assert aliases == {"upstream": "api", "gateway": "api", "y": "x"}
    assert unit_of(f"{AV3}[health-upstream]", aliases) == unit_of(f"{AV3}[health-api]", aliases) == "target:api"


def test_shares_cover_every_check_once_balanced_and_in_collection_order() -> None:
    nodeids = [f"{test}[endpoint-n{i}]" for test in (AV3, AV1) for i in range(101)] + [f"{DB3}[main]"] * 1
    nodeids += [f"{DEP1}[database-main]", "checks/test_x.py::test_plain"]
    shares = [share_of(nodeids, 3, worker) for worker in range(3)]
    assert sorted(i for share in shares for i in share) == list(range(len(nodeids)))
    assert all(share == sorted(share) for share in shares)
    sizes = [len(share) for share in shares]
    assert max(sizes) - min(sizes) <= 2, sizes  # units of two checks: balanced within one unit
    owner = assign(nodeids, 3)
    for unit, indices in units(nodeids).items():  # every check of a unit on its unit's worker
        assert {next(w for w, share in enumerate(shares) if i in share) for i in indices} == {owner[unit]}


def test_the_assignment_is_deterministic() -> None:
    nodeids = [f"{AV3}[endpoint-n{i}]" for i in range(50)] + [f"{DB3}[main]", f"{DEP1}[database-main]"]
    assert assign(nodeids, 2) == assign(list(nodeids), 2)
    assert share_of(nodeids, 1, 0) == list(range(len(nodeids)))
    assert share_of(nodeids, 4, 3) != [] and share_of(nodeids, 100, 99) == []


def test_worker_numbers() -> None:
    assert worker_number("gw0") == 0 and worker_number("gw12") == 12
    assert worker_number("master") is None and worker_number("gw") is None
