"""The package works where a team installs it: a wheel built from this checkout, installed into a
fresh virtualenv outside it, runs the shipped checks with `pytest --env /abs/path.yaml` from a
directory of environment files alone (no conftest.py, no copy of this repository), in either option
form, and writes its report where --reports-dir says.

The fresh virtualenv gets the wheel (pip, offline) and nothing else; its dependencies come from this
project's .venv through a .pth line appended to its sys.path (no download), after its own
site-packages, so healthsuite and healthsuite_checks are the installed wheel's."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthsuite.environment.loader import locate
from healthsuite.environment.problems import EnvironmentFileError
from tests.conftest import PROJECT

TIMEOUT_S = 300  # a guard against a hang only: nothing here is judged by how long it takes


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("PYTEST_", "HEALTHSUITE_", "PYTHON", "PIP_")) and k != "VIRTUAL_ENV"}
    return subprocess.run(command, cwd=cwd, env=environ, capture_output=True, text=True, timeout=TIMEOUT_S)


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the wheel is built from: this checkout's files, copied (a build never writes into the checkout)."""
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in ("healthsuite", "checks"):
        shutil.copytree(PROJECT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(PROJECT / name, src / name)
    return src


@pytest.fixture(scope="module")
def wheel(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _ok(_run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
              "--no-build-isolation", "--no-index", "-w", str(out), str(source)], cwd=out))
    (built,) = out.glob("healthsuite-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv outside the checkout with the wheel installed; returns its python."""
    root = tmp_path_factory.mktemp("venv")
    assert not root.is_relative_to(PROJECT)
    _ok(_run([sys.executable, "-m", "venv", "--without-pip", str(root)], cwd=root))
    python = root / "bin" / "python"
    # pip runs under the new interpreter before it can see .venv (nothing there to upgrade or uninstall)
    _ok(_run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--disable-pip-version-check",
              "--no-deps", "--no-index", str(wheel)], cwd=root))
    purelib = Path(_ok(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root)).strip())
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (purelib / "_healthsuite_test_dependencies.pth").write_text("".join(f"{path}\n" for path in ours))
    return python


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b"<!doctype html><title>home</title>ok"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """One page on a free loopback port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def team(tmp_path: Path, site: str) -> Path:
    """A team's repository: environment files, nothing else."""
    assert not tmp_path.is_relative_to(PROJECT)
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "mine.yaml").write_text(
        f'name: mine\nkind: test\nbase_urls: {{app: "{site}"}}\npages: [{{name: home, path: /}}]\n'
    )
    return tmp_path


def test_the_wheel_holds_the_plugin_entry_point_and_every_module(source: Path, wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        assert "[pytest11]\nhealthsuite.plugin = healthsuite.plugin" in archive.read(entry_points).decode()
    wanted = {p.relative_to(source).as_posix() for p in (source / "healthsuite").rglob("*.py")}
    wanted |= {f"healthsuite_checks/{p.name}" for p in (source / "checks").glob("*.py")}
    wanted |= {"healthsuite/catalogue/catalogue.yaml", "healthsuite/py.typed"}
    wanted |= {p.relative_to(source).as_posix() for p in (source / "healthsuite" / "model" / "data").glob("*.yaml")}
    assert not wanted - names, f"missing from the wheel (pyproject.toml's [tool.setuptools] packages): {sorted(wanted - names)}"
    assert not any(name.startswith("checks/") for name in names)


@pytest.mark.parametrize("form", ["--env PATH", "--env=PATH"])
def test_the_shipped_checks_run_from_a_directory_of_environment_files(venv: Path, team: Path, form: str) -> None:
    env, reports = team / "environments" / "mine.yaml", team.parent / f"{team.name}-reports"
    reports.mkdir()  # an existing directory outside the team's one
    options = ["--env", str(env), "--reports-dir", str(reports)] if form == "--env PATH" else [
        f"--env={env}", f"--reports-dir={reports}"]
    out = _ok(_run([str(venv), "-m", "pytest", *options, "-p", "no:cacheprovider", "-rs"], cwd=team))
    assert f"healthsuite: environment mine (test) from {env} [selected by --env]" in out
    assert f"rootdir: {team}\n" in out  # not the environment file's directory (pytest #8846)
    shipped = [line for line in out.splitlines() if line.startswith("healthsuite: shipped checks collected from ")]
    assert shipped and Path(shipped[0].split(" from ")[1].split(" (")[0]).is_relative_to(venv.parent.parent), out
    report = json.loads((reports / "latest.json").read_text())
    outcomes = {(c["diagnosis"], c["target"]): c["outcome"] for c in report["checks"]}
    assert outcomes[("AV1", "home")] == "passed" and outcomes[("AV3", "home")] == "passed", outcomes
    assert "failed" not in outcomes.values() and "error" not in outcomes.values(), outcomes
    assert not (team / "reports").exists()


def test_the_installed_package_is_the_wheel_not_the_checkout(venv: Path, team: Path) -> None:
    code = "import healthsuite.plugin, healthsuite_checks; print(healthsuite.plugin.__file__); print(healthsuite_checks.__file__)"
    for line in _ok(_run([str(venv), "-c", code], cwd=team)).split():
        assert Path(line).is_relative_to(venv.parent.parent) and not Path(line).is_relative_to(PROJECT), line


def test_a_name_resolves_in_the_current_directory_and_a_project_of_its_own_collects_its_own(venv: Path, team: Path) -> None:
    named = _ok(_run([str(venv), "-m", "pytest", "--env", "mine", "--collect-only", "-q", "-p", "no:cacheprovider"], cwd=team))
    assert "test_availability.py::test_page_answers_with_expected_status_and_type[home]" in named
    # a conftest.py makes the directory a project of its own: pytest collects its checks, not the shipped ones
    (team / "conftest.py").write_text("")
    (team / "test_own.py").write_text('from healthsuite.checkapi import check\n\n@check("AV1")\ndef test_own(page):\n    pass\n')
    own = _ok(_run([str(venv), "-m", "pytest", "--env", "mine", "--collect-only", "-q", "-p", "no:cacheprovider"], cwd=team))
    assert "test_own.py::test_own[home]" in own and "test_availability.py" not in own, own
    both = _ok(_run([str(venv), "-m", "pytest", "--env=mine", "--collect-only", "-q", "-p", "no:cacheprovider",
                     "--pyargs", "healthsuite_checks", "test_own.py"], cwd=team))
    assert "test_own.py::test_own[home]" in both and "test_page_answers_with_expected_status_and_type[home]" in both, both


def test_a_name_is_looked_up_in_the_rootdir_then_the_current_directory(tmp_path: Path) -> None:
    rootdir, here = tmp_path / "root", tmp_path / "here"
    (rootdir / "environments").mkdir(parents=True)
    (here / "environments").mkdir(parents=True)
    (rootdir / "environments" / "both.yaml").write_text("kind: test\n")
    (here / "environments" / "both.yaml").write_text("kind: test\n")
    (here / "environments" / "mine.yaml").write_text("kind: test\n")
    assert locate("both", rootdir / "environments", here) == rootdir / "environments" / "both.yaml"
    assert locate("mine", rootdir / "environments", here) == here / "environments" / "mine.yaml"
    with pytest.raises(EnvironmentFileError) as info:
        locate("prod", rootdir / "environments", here)
    message = str(info.value)
    assert str(rootdir / "environments" / "prod.yaml") in message and str(here / "environments" / "prod.yaml") in message
    assert "available: both, mine" in message


@pytest.mark.parametrize("form", ["--env PATH", "--env=PATH"])
def test_from_the_checkout_a_path_outside_it_is_an_option_value_and_checks_are_collected_once(
    tmp_path: Path, form: str
) -> None:
    """The editable install's entry point: `--env /elsewhere.yaml --reports-dir /elsewhere` no longer
    reads as test paths (exit 4, unrecognized arguments); testpaths collect checks/ once."""
    env, reports = tmp_path / "prod.yaml", tmp_path / "reports"
    env.write_text("name: prod\nkind: test\npages: [{name: home, url: 'http://127.0.0.1:9/'}]\n")
    reports.mkdir()
    options = ["--env", str(env), "--reports-dir", str(reports)] if form == "--env PATH" else [
        f"--env={env}", f"--reports-dir={reports}"]
    collect = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    out = _ok(_run([*collect, *options], cwd=PROJECT))
    ids = [line for line in out.splitlines() if "::" in line]
    assert ids and all(line.startswith("checks/") for line in ids), out
    assert len(ids) == len(set(ids)) == sum("::" in line for line in _ok(_run([*collect, *options, "checks"], cwd=PROJECT)).splitlines())
    assert "shipped checks collected" not in out
