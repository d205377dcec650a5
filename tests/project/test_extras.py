"""pyproject.toml installs what each job needs: the package (a check run) its core dependencies and
nothing the demo, the suite's own tests or the linters alone use; the `demo` extra what
`python -m healthsuite.demo` imports beyond them; and scripts/demo.sh (the README's first command)
installs the demo's share only, while scripts/install.sh installs the tests' and the linters'."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import PROJECT

PYPROJECT = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
CORE = [Requirement(r) for r in PYPROJECT["dependencies"]]
EXTRAS = {name: [Requirement(r) for r in reqs] for name, reqs in PYPROJECT["optional-dependencies"].items()}
# core dependencies no module imports by name, and why a check run needs them anyway
NOT_IMPORTED = {
    "tzdata": "zoneinfo's time-zone database where the OS has none (BIZ1's business hours)",
    "allure-pytest": "the pytest plugin behind --alluredir, loaded by its entry point (healthsuite imports allure-python-commons' allure)",
}


def _names(requirements: list[Requirement]) -> set[str]:
    return {canonicalize_name(r.name) for r in requirements}


def _third_party_imports(paths: list[Path]) -> set[str]:
    """The top-level modules these files import that are neither the standard library nor this project."""
    found: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"healthsuite", "healthsuite_checks", "checks"}


def _distributions(modules: set[str]) -> set[str]:
    owners = metadata.packages_distributions()
    missing = sorted(m for m in modules if m not in owners)
    assert not missing, f"imported but installed by no distribution in this virtualenv: {missing}"
    return {canonicalize_name(d) for m in modules for d in owners[m]}


def _closure(names: set[str]) -> set[str]:
    """These distributions and everything they require (no extras), as installed."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    return seen


def _check_run_sources() -> list[Path]:
    """What a check run executes: the package but its demo and its test helpers, and the shipped checks."""
    package = [p for p in (PROJECT / "healthsuite").rglob("*.py")
               if p.relative_to(PROJECT / "healthsuite").parts[0] not in ("demo", "testing")]
    return package + sorted((PROJECT / "checks").glob("*.py"))


def _demo_sources() -> list[Path]:
    return [*(PROJECT / "healthsuite" / "demo").rglob("*.py"), *(PROJECT / "healthsuite" / "testing").rglob("*.py")]


def test_every_core_dependency_is_what_a_check_run_uses() -> None:
    imported = _distributions(_third_party_imports(_check_run_sources()))
    core = _names(CORE)
    unused = core - _closure(imported) - set(NOT_IMPORTED)
    assert not unused, f"core dependencies no check run imports (an extra's, then?): {sorted(unused)}"
    undeclared = imported - _closure(core)
    assert not undeclared, f"a check run imports what the core dependencies do not install: {sorted(undeclared)}"
    direct = {name for name in core if name in imported or name in NOT_IMPORTED}
    assert direct == core, f"required only through another dependency: {sorted(core - direct)}"


def test_no_extra_is_also_a_core_dependency() -> None:
    core = _names(CORE)
    for extra, requirements in EXTRAS.items():
        both = core & _names(requirements)
        assert not both, f"the {extra} extra repeats core dependencies: {sorted(both)}"
    assert set(EXTRAS) == {"demo", "test", "dev"}, sorted(EXTRAS)


def test_the_demo_extra_is_what_the_demo_imports_beyond_the_core() -> None:
    from healthsuite.demo import DEMO_EXTRA_MODULES

    beyond = _distributions(_third_party_imports(_demo_sources())) - _closure(_names(CORE))
    assert beyond == _names(EXTRAS["demo"]), f"the demo imports {sorted(beyond)}, the demo extra is {sorted(_names(EXTRAS['demo']))}"
    assert _distributions(set(DEMO_EXTRA_MODULES)) == _names(EXTRAS["demo"])


def test_the_test_extra_holds_the_demo_and_ci_installs_test_and_dev() -> None:
    assert "healthsuite[demo]" in [str(r) for r in EXTRAS["test"]]
    linters = {"ruff", "mypy"}
    assert linters <= _names(EXTRAS["dev"]) and not linters & _names(EXTRAS["test"])
    install = (PROJECT / "scripts" / "install.sh").read_text()
    assert '-e ".[test,dev]"' in install


def test_without_the_demo_extra_the_demo_says_what_to_install() -> None:
    """An interpreter without site-packages has none of the extra: `python -m healthsuite.demo` names it."""
    done = subprocess.run(
        [sys.executable, "-S", "-c",
         f"import runpy, sys; sys.path.insert(0, {str(PROJECT)!r}); sys.argv = ['x', 'run'];"
         " runpy.run_module('healthsuite.demo', run_name='__main__', alter_sys=True)"],
        cwd=PROJECT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1, done
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: healthsuite's demo needs starlette, uvicorn, dnslib"), done.stderr
    assert "pip install 'healthsuite[demo]'" in last, last


def test_the_first_command_installs_the_demos_share_only() -> None:
    script = (PROJECT / "scripts" / "demo.sh").read_text()
    apt = set(re.findall(r"missing\+=\(([^)]+)\)", script))
    assert apt == {"postgresql", "redis-server", "python3-venv"}, apt
    assert "bash scripts/apt-install.sh" in script and "bash scripts/install.sh" not in script.split("\nset -euo")[1]
    assert '-e ".[demo]"' in script and "-m healthsuite.demo run" in script
    helper = (PROJECT / "scripts" / "apt-install.sh").read_text()
    assert "--no-install-recommends" in helper and "policy-rc.d" in helper and "create_main_cluster = false" in helper
    install = (PROJECT / "scripts" / "install.sh").read_text()
    assert "bash scripts/apt-install.sh" in install and "apt-get install" not in install.split("\nset -euo")[1]
