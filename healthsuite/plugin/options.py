"""The command-line options and ini settings of healthsuite (--env, --diagnosis, --reports-dir, ...)."""

from __future__ import annotations

import pytest

from healthsuite.plugin.state import EXPECTED_VERSION_VARIABLE, RUN_DEADLINE_FACTOR, RUN_DEADLINE_MIN_S


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("healthsuite", "healthsuite: runbook checks")
    group.addoption(
        "--env",
        dest="healthsuite_env",
        metavar="NAME|PATH",
        help="environment to check: NAME loads environments/NAME.yaml, a path loads that file "
        "(default: $HEALTHSUITE_ENV, then the ini setting healthsuite_env)",
    )
    group.addoption(
        "--diagnosis",
        dest="healthsuite_diagnosis",
        action="append",
        default=[],
        metavar="ID[,ID...]",
        help="run only the checks of these diagnosis IDs (exact match), e.g. --diagnosis AV1,DB1",
    )
    group.addoption(
        "--expected-version",
        dest="healthsuite_expected_version",
        metavar="VERSION",
        help="DEP2: the version that should be deployed, e.g. a git SHA or tag "
        f"(default: ${EXPECTED_VERSION_VARIABLE}, then each version source's `expected`)",
    )
    group.addoption(
        "--reports-dir",
        dest="healthsuite_reports_dir",
        metavar="DIR",
        help="directory of the JSON report (default: ini healthsuite_reports_dir, 'reports' under rootdir)",
    )
    group.addoption(
        "--run-deadline",
        dest="healthsuite_run_deadline",
        metavar="SECONDS",
        help="end the run's exchanges after this many seconds: those still out fail, saying so, and every "
        "report is written (default: ini healthsuite_run_deadline, else "
        f"{RUN_DEADLINE_FACTOR} x the longest declared exchange, at least {RUN_DEADLINE_MIN_S:g} s)",
    )
    group.addoption(
        "--keep-workers",
        dest="healthsuite_keep_workers",
        action="store_true",
        help="under -n, keep the xdist workers even where they cannot pay off (by default the checks then run "
        "in one process, and the header says why)",
    )
    parser.addini("healthsuite_env", "environment when neither --env nor HEALTHSUITE_ENV is given", default="")
    parser.addini("healthsuite_run_deadline", "the run's deadline in seconds (see --run-deadline)", default="")
    parser.addini(
        "healthsuite_lean_protocol",
        "run checks under healthsuite's lean protocol where it changes nothing but the cost (plugin.protocol)",
        default="true",
    )
    parser.addini("healthsuite_reports_dir", "directory of the JSON reports, relative to rootdir", default="reports")
    parser.addini(
        "healthsuite_junit_properties",
        "where --junitxml puts each check's properties: system-out (key: value lines, valid under the strict "
        "junit-10.xsd), testcase (<properties> of the testcase), auto (testcase under junit_family=xunit1, "
        "else system-out)",
        default="auto",
    )
