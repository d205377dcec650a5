"""The README's two set-up commands exist, and CI runs the README's test command verbatim; the pages the
README sends a reader to (docs/DIAGNOSES.md, docs/demo.md, docs/ENVIRONMENT.md) say what they must."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import PROJECT

README = (PROJECT / "README.md").read_text()
DIAGNOSES = (PROJECT / "docs" / "DIAGNOSES.md").read_text()
DEMO = (PROJECT / "docs" / "demo.md").read_text()
ENVIRONMENT = (PROJECT / "docs" / "ENVIRONMENT.md").read_text()
SETUP = re.search(r"## Set up.*?```bash\n(.*?)```", README, re.S)


def setup_commands() -> list[str]:
    assert SETUP, "README.md has a '## Set up' section with a bash block"
    return [line.split("#")[0].strip() for line in SETUP.group(1).splitlines() if line.strip()]


def test_readme_has_the_two_setup_commands() -> None:
    """The first runs the demo (installing its share), the second installs what the tests need, then runs them."""
    demo, second = setup_commands()
    assert demo == "bash scripts/demo.sh" and (PROJECT / "scripts" / "demo.sh").is_file()
    install, tests = (part.strip() for part in second.split("&&"))
    assert install == "bash scripts/install.sh" and (PROJECT / "scripts" / "install.sh").is_file()
    assert tests.startswith(".venv/bin/python -m pytest tests")


def test_ci_runs_the_readme_test_command_after_installing() -> None:
    ci = (PROJECT / ".ci" / "run").read_text()
    lines = [line.strip() for line in ci.splitlines()]
    install, tests = (part.strip() for part in setup_commands()[1].split("&&"))
    assert tests in lines, f"{tests!r} is not a line of .ci/run"
    assert install in lines and lines.index(install) < lines.index(tests)
    assert "set -euo pipefail" in lines


def test_the_readme_says_what_the_set_up_changes_and_the_one_line_for_checks() -> None:
    """What the two commands change in the system is stated, and the check-only install is one `pip install` line."""
    section = README[README.index("## Set up"):README.index("## A broken demo")]
    prose = " ".join(section.split())
    for said in ("No service is started", "disabled again", "no PostgreSQL cluster is created", "createcluster.conf",
                 "scripts/apt-install.sh", "healthsuite[demo]", "[test]", "[dev]"):
        assert said in prose, said
    block = re.findall(r"```\n(pip install [^\n]*)\n```", section)
    assert block and block[0].split("#")[0].strip() == "pip install .", block


def test_demo_script_installs_the_demos_share_then_runs_the_demo() -> None:
    """The first command installs what the demo needs (tests/project/test_extras.py says what), not the
    tests' share (scripts/install.sh), then runs the demo."""
    script = (PROJECT / "scripts" / "demo.sh").read_text()
    body = script.split("\nset -euo pipefail\n")[1]
    assert "bash scripts/apt-install.sh" in body and "bash scripts/install.sh" not in body
    assert body.rstrip().endswith('exec .venv/bin/python -m healthsuite.demo run "$@"')


def test_every_marker_the_plugin_needs_is_registered_in_pyproject() -> None:
    from healthsuite.plugin.state import MARKERS

    pyproject = (PROJECT / "pyproject.toml").read_text()
    for name in MARKERS:
        assert f'"{name.split("(")[0]}' in pyproject, name


def test_the_table_of_diagnoses_lists_exactly_the_implemented_checks() -> None:
    """Every diagnosis a check in checks/ carries is a row of docs/DIAGNOSES.md's table (the README links it),
    and no row is a promise."""
    implemented = set(re.findall(r'@check\("([A-Z]+[0-9]+)"', "".join(p.read_text() for p in (PROJECT / "checks").glob("*.py"))))
    assert "(docs/DIAGNOSES.md)" in README, "README.md links the table of implemented diagnoses"
    assert "| ID | title | runbook | check: passes when | severity |" in DIAGNOSES, "docs/DIAGNOSES.md has the table"
    rows = set(re.findall(r"^\| ([A-Z]+[0-9]+) \|", DIAGNOSES, re.M))
    assert rows == implemented, f"missing from docs/DIAGNOSES.md: {sorted(implemented - rows)}; not implemented: {sorted(rows - implemented)}"


def test_the_table_shows_the_catalogue_category_and_severity() -> None:
    from healthsuite.catalogue.diagnoses import load_catalogue

    catalogue = load_catalogue()
    rows = 0
    for block in re.split(r"^## ", DIAGNOSES, flags=re.M)[1:]:
        category = block.split()[0]  # the section: "## booking (application flow)"
        for diagnosis, severity in re.findall(r"^\| ([A-Z]+[0-9]+) \| .* \| ([a-z]+|\(reporting\)) \|$", block, re.M):
            entry = catalogue.diagnosis(diagnosis)
            assert (category, "low" if severity == "(reporting)" else severity) == (entry.category, entry.severity), diagnosis
            rows += 1
    assert rows == len(catalogue.diagnoses)


def test_the_benchmark_is_a_command() -> None:
    """`python -m bench --help` works (the benchmark itself runs outside the suite: it measures speed)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "bench", "--help"], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--sizes" in done.stdout, done.stderr


def test_the_demo_fault_list_names_every_fault() -> None:
    """Every fault `python -m healthsuite.demo break` knows is described in docs/demo.md, which the README's
    Set up section links."""
    from healthsuite.demo.faults.registry import FAULTS  # noqa: PLC0415 - the demo's own list

    assert "(docs/demo.md)" in README[README.index("## Set up"):]
    setup = DEMO[DEMO.index("## Breaking it"):DEMO.index("## Keeping it running")]
    named = set(re.findall(r"\b[A-Z]+[0-9]+\b", setup))
    for prefix, first, last in re.findall(r"\b([A-Z]+)([0-9]+)-(?:[A-Z]+)?([0-9]+)\b", setup):  # SEC1-SEC5
        named |= {f"{prefix}{n}" for n in range(int(first), int(last) + 1)}
    missing = [name for name in FAULTS if name not in named]
    assert not missing, f"faults missing from the README's Set up section: {missing}"


def test_the_environment_example_loads_and_the_reference_is_linked(tmp_path: Path) -> None:
    """docs/ENVIRONMENT.md's short environment file is a valid one; the README links the page."""
    from healthsuite.environment.loader import load_environment

    section = ENVIRONMENT[ENVIRONMENT.index("## A short file"):ENVIRONMENT.index("## Every key")]
    example = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert example, "the short-file section shows an example file"
    path = tmp_path / "staging.yaml"
    path.write_text(example.group(1))
    assert load_environment(path).name == "staging"
    assert "(docs/ENVIRONMENT.md)" in README
