"""The domain modules are plain Python: importing them never imports pytest."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

DOMAIN = [
    "healthsuite.model.templates", "healthsuite.environment.redaction", "healthsuite.catalogue.diagnoses", "healthsuite.model.environment",
    "healthsuite.environment.loader", "healthsuite.probes", "healthsuite.assessments", "healthsuite.assessments.failure",
    "healthsuite.outputs", "healthsuite.outputs.publish", "healthsuite.environment.schema", "healthsuite.runner.progress",
    "healthsuite.runner.pool", "healthsuite.runner.workunits", "healthsuite.runner.splay", "healthsuite.outputs.heartbeat",
    "healthsuite.catalogue.causes",
    "healthsuite.testing.ports", "healthsuite.testing.cleanup", "healthsuite.testing.processes",
    "healthsuite.testing.throwaway", "healthsuite.testing.postgres_server", "healthsuite.testing.redis_server",
    "healthsuite.testing.listeners",
]


@pytest.mark.parametrize("module", DOMAIN)
def test_domain_module_does_not_import_pytest(module: str) -> None:
    code = f"import sys, {module}; sys.exit(1 if 'pytest' in sys.modules or '_pytest' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0, f"{module} imports pytest"


DRIVERS = ("psycopg", "redis", "dns", "OpenSSL", "cryptography", "jwt", "prometheus_client", "httpx")


def test_the_plugin_and_the_checks_import_no_driver_until_a_probe_needs_it() -> None:
    """An xdist controller, `--collect-only` and `-m payments` never pay for drivers they do not use
    (healthsuite.probes.lazy); a probe imports its driver on first use."""
    code = (
        "import sys, healthsuite.plugin, healthsuite.checkapi, healthsuite.runner.pool\n"
        f"loaded = sorted({{m.split('.')[0] for m in sys.modules}} & set({DRIVERS!r}))\n"
        "assert not loaded, loaded\n"
        "from healthsuite.probes import redis\n"
        "redis.address_of('redis://127.0.0.1:1/0'); assert 'redis' not in sys.modules\n"
        "redis.ping('redis://127.0.0.1:1/0', None, None, 0.5); assert 'redis' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# The layers, lowest first, one folder each; a module imports only from its own layer and the ones below.
LAYERS = (
    ("testing", ("healthsuite.testing",)),  # loopback servers for tests, the bench and the demo: no healthsuite
    ("catalogue", ("healthsuite", "healthsuite.catalogue")),
    ("model", ("healthsuite.model",)),
    ("environment", ("healthsuite.environment",)),
    ("probes", ("healthsuite.probes",)),
    ("assessments", ("healthsuite.assessments",)),
    ("checks API", ("healthsuite.checkapi", "healthsuite.plans")),
    # the outputs: functions of a run's result (healthsuite.outputs.result), never of the plugin or pytest
    ("outputs", ("healthsuite.outputs",)),
    ("runner", ("healthsuite.runner",)),
    ("plugin", ("healthsuite.plugin",)),
    ("demo", ("healthsuite.demo",)),
    ("commands", ("healthsuite.__main__", "healthsuite.init")),
)
FOLDERS = {"testing", "catalogue", "model", "environment", "probes", "assessments", "outputs", "runner", "plugin", "demo",
           "init"}


def test_every_folder_of_the_package_is_a_layer() -> None:
    """The tree and this test say the same thing: a new folder needs its place among the layers."""
    root = Path(__file__).resolve().parents[2] / "healthsuite"
    folders = {p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == FOLDERS
    flat = sorted(p.stem for p in root.glob("*.py"))
    assert flat == ["__init__", "__main__", "checkapi", "plans"], flat  # the package face and the checks' API


def test_only_the_adapter_module_imports_pytest_internals() -> None:
    """pytest's internals (`_pytest`) are reached through healthsuite.plugin.pytest_internals alone."""
    root = Path(__file__).resolve().parents[2] / "healthsuite"
    offending = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            if any(n.split(".")[0] == "_pytest" for n in names) and path.name != "pytest_internals.py":
                offending.append(str(path.relative_to(root)))
    assert not offending, offending


def test_no_module_imports_another_s_private_name() -> None:
    """`from healthsuite.x import _name` is a reach into another module's insides."""
    root = Path(__file__).resolve().parents[2] / "healthsuite"
    offending = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("healthsuite")):
                offending += [f"{path.relative_to(root)}: {a.name}" for a in node.names
                              if a.name.startswith("_") and not a.name.startswith("__")]
    assert not offending, offending


def _layer(module: str) -> int:
    best, found = -1, len(LAYERS)
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), index
    return found


def _imports(path: Path, module: str) -> Iterator[str]:
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            if node.module:
                yield ".".join([*base, node.module])
            else:
                yield from (".".join([*base, alias.name]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("healthsuite"):
            yield str(node.module)
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("healthsuite"))


def test_each_layer_imports_only_its_own_and_the_layers_below() -> None:
    """commands -> demo -> plugin -> runner -> outputs -> checks API -> assessments -> probes -> environment ->
    model -> catalogue -> testing: the folders read as the layers do."""
    root = Path(__file__).resolve().parents[2] / "healthsuite"
    upward = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent).with_suffix("")
        module = ".".join(relative.parts[:-1] if relative.name == "__init__" else relative.parts)
        for imported in _imports(path, module):
            if imported.startswith("healthsuite") and _layer(imported) > _layer(module):
                upward.append(f"{module} ({LAYERS[_layer(module)][0]}) imports {imported} "
                              f"({LAYERS[_layer(imported)][0]})")
    assert not upward, "\n".join(upward)


def test_the_outputs_import_neither_the_plugin_nor_pytest() -> None:
    """Every output module is a function of the run's result: no pytest, no `_pytest`, no plugin state."""
    root = Path(__file__).resolve().parents[2] / "healthsuite" / "outputs"
    offending = []
    for path in sorted(root.glob("*.py")):
        module = f"healthsuite.outputs.{path.stem}" if path.stem != "__init__" else "healthsuite.outputs"
        for imported in _imports(path, module):
            if imported.startswith("healthsuite.plugin"):
                offending.append(f"{module} imports {imported}")
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            offending += [f"{module} imports {n}" for n in names if n.split(".")[0] in ("pytest", "_pytest")]
    assert not offending, "\n".join(offending)
    names = sorted(p.stem for p in root.glob("*.py"))
    code = "import sys\n" + "".join(f"import healthsuite.outputs.{n}\n" for n in names if n != "__init__") + (
        "sys.exit(1 if {'pytest', '_pytest'} & set(sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0, "an output module imports pytest"
