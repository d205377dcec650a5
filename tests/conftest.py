"""Fixtures of the suite's own tests: the demo stack on free ports, and a runner that runs the real
`checks/` in-process (pytester) against an environment and returns its JSON and JUnit reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from healthsuite.demo.stack import DemoPorts, DemoStack
from healthsuite.outputs import junit
from healthsuite.testing.ports import free_port

pytest_plugins = ["pytester"]

PROJECT = Path(__file__).resolve().parents[1]
CHECKS = PROJECT / "checks"


def _import_the_lazy_drivers() -> None:
    """Every driver the probes import lazily, imported once for the whole suite, before any run.

    run_checks runs pytest in this process (pytester), and pytester drops every module first imported
    during a run when the run ends. A probe module that outlives the run keeps its lazy driver, the old
    copy; a later run imports a new one beside it, and objects of the two do not mix (dnspython then
    says "FormError: not a name" of a perfectly good answer). Imported here, the drivers are part of
    what pytester keeps."""
    import importlib
    import pkgutil

    import healthsuite.probes
    from healthsuite.probes.lazy import LazyModule, preload

    for info in pkgutil.iter_modules(healthsuite.probes.__path__, "healthsuite.probes."):
        module = importlib.import_module(info.name)
        preload(*(value for value in vars(module).values() if isinstance(value, LazyModule)))
    import dns.rdata

    dns.rdata.load_all_types()  # type: ignore[no-untyped-call]  # the record types dnspython would otherwise import on first sight


_import_the_lazy_drivers()


@pytest.fixture(scope="session")
def demo_ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding what demo.yaml needs to load while the demo is not running: the CA bundle
    the demo writes when it starts (http.ca_bundle must be a readable PEM file at load)."""
    from healthsuite.testing.certs import TestCA

    directory = tmp_path_factory.mktemp("demo-ca")
    TestCA.create().write(directory / "ca.pem")
    return directory


def start_demo(tmp_path_factory: pytest.TempPathFactory, prefix: str) -> DemoStack:
    """The demo's app, PostgreSQL and Redis on free ports, in a new directory `prefix`N."""
    # free_port() remembers its ports only within one process: two xdist workers can, rarely, pick
    # the same one. A start that finds a port taken is retried on fresh ports.
    for attempt in range(3):
        ports = DemoPorts(**{name: free_port() for name in DemoPorts.__dataclass_fields__})
        stack = DemoStack(tmp_path_factory.mktemp(prefix), ports)
        try:
            return stack.start()
        except Exception as exc:  # noqa: BLE001
            if attempt == 2 or "in use" not in str(exc).lower() and "listen" not in str(exc).lower():
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def demo_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    """The demo's app, PostgreSQL and Redis on free ports: one per xdist worker, shared by its tests
    (healed between them, but holding what they wrote)."""
    stack = start_demo(tmp_path_factory, "demo")
    yield stack
    stack.stop()


@pytest.fixture
def fresh_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    """A demo of the test's own, as `python -m healthsuite.demo` starts it: for a test whose result
    depends on what the demo holds (table sizes, statistics), which the shared one changes."""
    stack = start_demo(tmp_path_factory, "fresh-demo")
    yield stack
    stack.stop()


@pytest.fixture
def stack(demo_stack: DemoStack) -> Iterator[DemoStack]:
    """The demo stack, healed after the test whatever it broke."""
    demo_stack.heal()
    yield demo_stack
    demo_stack.heal()


@dataclass
class CheckRun:
    result: pytest.RunResult
    report: dict[str, Any]
    reports_dir: Path
    junit: list[dict[str, str]] = field(default_factory=list)  # properties (+ outcome) per testcase

    @property
    def output(self) -> str:
        return self.result.stdout.str() + self.result.stderr.str()

    def records(self, diagnosis: str) -> list[dict[str, Any]]:
        return [r for r in self.report["checks"] if r["diagnosis"] == diagnosis]

    def record(self, diagnosis: str, target: str) -> dict[str, Any]:
        found = [r for r in self.records(diagnosis) if r["target"] == target]
        assert len(found) == 1, f"{diagnosis}/{target}: {len(found)} records in {[r['id'] for r in self.report['checks']]}"
        return found[0]

    def junit_case(self, diagnosis: str, target: str) -> dict[str, str]:
        found = [c for c in self.junit if c.get("diagnosis") == diagnosis and c.get("target") == target]
        assert len(found) == 1, f"{diagnosis}/{target} in junit: {found}"
        return found[0]

    def assert_outcome(self, diagnosis: str, target: str, outcome: str, *, category: str, severity: str) -> dict[str, Any]:
        """The JSON record and the JUnit testcase agree on outcome, category, severity and diagnosis."""
        record = self.record(diagnosis, target)
        assert (record["outcome"], record["category"], record["severity"]) == (outcome, category, severity), record
        case = self.junit_case(diagnosis, target)
        assert (case["outcome"], case["category"], case["severity"]) == (outcome, category, severity), case
        return record


def _parse_junit(path: Path) -> list[dict[str, str]]:
    cases = []
    for case in ET.parse(path).getroot().iter("testcase"):
        # healthsuite_junit_properties: a testcase's <properties>, or the key: value lines of its system-out
        props = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        props.update(junit.parse_lines("".join(out.text or "" for out in case.iter("system-out"))))
        if case.find("failure") is not None:
            props["outcome"] = "failed"
        elif case.find("error") is not None:
            props["outcome"] = "error"
        elif case.find("skipped") is not None:
            props["outcome"] = "skipped"
        else:
            props["outcome"] = "passed"
        props["name"] = case.get("name", "")
        cases.append(props)
    return cases


RunChecks = Callable[..., CheckRun]


@pytest.fixture
def run_checks(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, stack: DemoStack, tmp_path: Path) -> RunChecks:
    """run_checks("--diagnosis", "AV1", env="demo") runs checks/ in-process and reads its reports."""
    counter = iter(range(1000))

    def run(*args: str, env: str | Path = "demo", environ: dict[str, str] | None = None) -> CheckRun:
        for key, value in {**stack.environ(), **(environ or {})}.items():
            monkeypatch.setenv(key, value)
        number = next(counter)
        reports = tmp_path / f"reports-{number}"
        junit = tmp_path / f"junit-{number}.xml"
        result = pytester.runpytest(
            str(CHECKS), "--env", str(env), "--reports-dir", str(reports), f"--junitxml={junit}",
            "-p", "no:cacheprovider", *args,
        )
        latest = reports / "latest.json"
        report = json.loads(latest.read_text()) if latest.exists() else {"checks": []}
        return CheckRun(result, report, reports, _parse_junit(junit) if junit.exists() else [])

    return run


@pytest.fixture
def env_file(tmp_path: Path) -> Callable[[str], Path]:
    """Write an environment file (YAML text) and return its path."""
    counter = iter(range(1000))

    def write(text: str, name: str | None = None) -> Path:
        path = tmp_path / (name or f"env-{next(counter)}.yaml")
        path.write_text(text)
        return path

    return write
