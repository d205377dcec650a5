"""The demo's ports: a taken one is a usage error naming the service, the port and the variable that moves
it (never a raw `OSError: [Errno 98]`), and the defaults lie outside Linux's ephemeral range."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from healthsuite.demo import __main__ as demo_cli
from healthsuite.demo.stack import PORT_SERVICES, PORT_VARIABLES, DemoPorts
from healthsuite.testing.ports import free_port

PROJECT = Path(__file__).resolve().parents[2]
EPHEMERAL = range(32768, 61000)  # Linux's default ip_local_port_range, 32768-60999


@contextmanager
def _taken(udp: bool = False) -> Iterator[socket.socket]:
    """A loopback port held by a real socket (listening, for TCP) until the test ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    if not udp:
        sock.listen()
    try:
        yield sock
    finally:
        sock.close()


@pytest.fixture
def demo_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every demo port a free one, the demo's directory under tmp_path (not yet made)."""
    directory = tmp_path / "demo"
    monkeypatch.setenv("HEALTHSUITE_DEMO_DIR", str(directory))
    for variable in PORT_VARIABLES.values():
        monkeypatch.setenv(variable, str(free_port()))
    return directory


@pytest.mark.parametrize(("field", "udp"), [(field, False) for field in PORT_VARIABLES] + [("dns", True)],
                         ids=[*PORT_VARIABLES, "dns-udp"])
def test_a_taken_port_is_a_usage_error_naming_service_port_and_variable(
    demo_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], field: str, udp: bool
) -> None:
    with _taken(udp) as sock:
        port = sock.getsockname()[1]
        monkeypatch.setenv(PORT_VARIABLES[field], str(port))
        assert demo_cli.main(["up"]) == 2  # as the CLI's other usage errors (an unknown fault, argparse's)
    err = capsys.readouterr().err
    assert f"the demo's {PORT_SERVICES[field]} port 127.0.0.1:{port} is already in use" in err
    assert f"set {PORT_VARIABLES[field]} to a free port" in err
    assert "Errno" not in err and "Traceback" not in err
    assert not demo_env.exists()  # nothing was started


def test_demo_up_on_a_taken_port_exits_2_with_the_variable(demo_env: Path) -> None:
    """The command as a user runs it, with PostgreSQL's port taken."""
    with _taken() as sock:
        port = sock.getsockname()[1]
        env = {**os.environ, "HEALTHSUITE_DEMO_PG_PORT": str(port), "PYTHONPATH": str(PROJECT)}
        done = subprocess.run([sys.executable, "-m", "healthsuite.demo", "up"], env=env, cwd=PROJECT,
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"demo: the demo's PostgreSQL port 127.0.0.1:{port} is already in use (set HEALTHSUITE_DEMO_PG_PORT" in done.stderr
    assert "Traceback" not in done.stderr and "OSError" not in done.stderr


def test_the_default_ports_lie_outside_the_ephemeral_range() -> None:
    defaults = DemoPorts()
    inside = {field: getattr(defaults, field) for field in PORT_VARIABLES if getattr(defaults, field) in EPHEMERAL}
    assert not inside, f"default demo ports a client connection may hold by chance: {inside}"


def test_demo_yaml_defaults_are_the_stack_s() -> None:
    """environments/demo.yaml's `${HEALTHSUITE_DEMO_..._PORT:-N}` fallbacks are the ports the demo listens on."""
    text = (PROJECT / "environments" / "demo.yaml").read_text(encoding="utf-8")
    fallbacks = re.findall(r"\$\{(HEALTHSUITE_DEMO_\w+_PORT):-(\d+)\}", text)
    assert fallbacks
    defaults = {variable: getattr(DemoPorts(), field) for field, variable in PORT_VARIABLES.items()}
    assert all(int(port) == defaults[variable] for variable, port in fallbacks), fallbacks
