"""The bundled demo: `python -m healthsuite.demo run` starts the demo stack, runs the checks against
it with `--env demo`, and stops it.

    python -m healthsuite.demo run                      # real checks, all passing
    python -m healthsuite.demo run --break all          # one fault per diagnosis (but DB1, DB2, CACHE1): real failures
    python -m healthsuite.demo run -- -m critical       # anything after -- goes to pytest
    python -m healthsuite.demo up [--break DB1]         # keep it running; Ctrl-C stops it
    python -m healthsuite.demo break DB1                # break a running demo (from another terminal)
    python -m healthsuite.demo break slow               # every app answer 2.5 s late, every DNS answer 1.5 s
    python -m healthsuite.demo heal                     # undo every fault of a running demo
    python -m healthsuite.demo faults                   # every fault and switch, and what it trips
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from .faults.registry import FAULTS, MASKING_FAULTS, REGISTRY, SWITCHES
from .stack import PORT_VARIABLES, DemoPorts, DemoStack

PROJECT = Path(__file__).resolve().parents[2]


def _ports() -> DemoPorts:
    defaults = DemoPorts()
    return DemoPorts(
        **{
            field: int(os.environ.get(variable, getattr(defaults, field)))
            for field, variable in PORT_VARIABLES.items()
        }
    )


def _directory() -> Path:
    return Path(os.environ.get("HEALTHSUITE_DEMO_DIR", PROJECT / ".demo"))


def _start(faults: str) -> DemoStack:
    stack = DemoStack(_directory(), _ports())
    started = time.monotonic()
    print(f"demo: starting the booking-platform demo in {stack.directory} ...", flush=True)
    stack.start(faults.split(",") if faults else ())
    assert stack.app is not None
    print(
        f"demo: up in {time.monotonic() - started:.1f} s: app {stack.app.url}, "
        f"PostgreSQL 127.0.0.1:{stack.ports.postgres}, "
        f"Redis 127.0.0.1:{stack.ports.redis}, plain HTTP 127.0.0.1:{stack.ports.http}, "
        f"DNS 127.0.0.1:{stack.ports.dns}"
        + (f"; broken: {', '.join(sorted(stack.broken))}" if stack.broken else ""),
        flush=True,
    )
    return stack


def run(args: argparse.Namespace) -> int:
    stack = _start(args.break_)
    try:
        pytest_args = [a for a in args.pytest_args if a != "--"]
        command = [sys.executable, "-m", "pytest", "--env", "demo", *pytest_args]
        print(f"demo: {' '.join(command[1:])}", flush=True)
        env = {**os.environ, **stack.environ()}
        return subprocess.call(command, cwd=PROJECT, env=env)
    finally:
        stack.stop()
        print("demo: stopped", flush=True)


def up(args: argparse.Namespace) -> int:
    stack = _start(args.break_)
    defaults = {**DemoStack(PROJECT / ".demo").environ(), "HEALTHSUITE_DEMO_DIR": str((PROJECT / ".demo").resolve())}
    exports = " ".join(f"{k}={v}" for k, v in stack.environ().items() if defaults.get(k) != v)
    print(
        "demo: running. In another terminal:\n"
        f"  {exports + ' ' if exports else ''}pytest --env demo -m critical\n"
        "  python -m healthsuite.demo break DB1      # stop its PostgreSQL; `heal` undoes it\n"
        "Ctrl-C stops the demo.",
        flush=True,
    )
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        while not stopping.wait(3600):
            pass
    finally:
        stack.stop()
        print("demo: stopped", flush=True)
    return 0


def _admin(method: str, payload: dict[str, object] | None = None) -> dict[str, object]:
    """Talk to a running demo's fault switch (loopback only, trusting the demo's own CA)."""
    context = ssl.create_default_context(cafile=str(_directory() / "ca.pem"))
    request = urllib.request.Request(
        f"https://127.0.0.1:{_ports().https}/__demo/faults",
        method=method,
        data=json.dumps(payload).encode() if payload is not None else None,
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, context=context, timeout=30) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def _tell(method: str, payload: dict[str, object] | None, key: str) -> int:
    """Send one request to a running demo and print which faults it reports under `key`."""
    try:
        names = _admin(method, payload)[key]
    except OSError as exc:
        print(f"demo: is the demo running (python -m healthsuite.demo up)? {exc}", file=sys.stderr)
        return 1
    print(f"demo: {key}: {', '.join(names) or 'nothing'}")  # type: ignore[arg-type]
    return 0


def break_(args: argparse.Namespace) -> int:
    return _tell("POST", {"break": args.faults.split(",")}, "broken")


def heal(args: argparse.Namespace) -> int:
    return _tell("DELETE", None, "healed")


def faults(args: argparse.Namespace) -> int:
    """Every fault and switch of the registry: its name, the diagnoses it trips, what it breaks."""
    for fault in REGISTRY.values():
        notes = ["switch"] if fault.switch else ["not part of all"] if fault.masking else []
        trips = "" if fault.trips == (fault.name,) else f" (trips {', '.join(fault.trips)})"
        print(f"{fault.name:<7} {fault.description}{trips}" + "".join(f" [{note}]" for note in notes))
    return 0


def main(argv: list[str] | None = None) -> int:
    faults_help = (
        f"comma-separated diagnosis IDs to break, or all (every one but {', '.join(MASKING_FAULTS)}, which would "
        "hide other faults behind one connection error): "
        + "; ".join(f"{k}: {v}" for k, v in FAULTS.items())
        + ". Switches, not diagnoses (never part of all; combinable, e.g. slow,DB1; heal undoes them): "
        + "; ".join(f"{k}: {v}" for k, v in SWITCHES.items())
    ).replace("%", "%%")  # argparse formats help with %: "80 % of" would be a conversion
    parser = argparse.ArgumentParser(prog="python -m healthsuite.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p_run = commands.add_parser("run", help="start the demo, run the checks against it, stop it")
    p_run.add_argument("--break", dest="break_", default=os.environ.get("HEALTHSUITE_DEMO_BREAK", ""), help=faults_help)
    p_run.add_argument("pytest_args", nargs=argparse.REMAINDER, help="arguments for pytest, after --")
    p_run.set_defaults(func=run)
    p_up = commands.add_parser("up", help="start the demo and keep it running")
    p_up.add_argument("--break", dest="break_", default="", help=faults_help)
    p_up.set_defaults(func=up)
    p_break = commands.add_parser("break", help="inject faults into a running demo")
    p_break.add_argument("faults", help=faults_help)
    p_break.set_defaults(func=break_)
    commands.add_parser("heal", help="undo every fault of a running demo").set_defaults(func=heal)
    commands.add_parser("faults", help="list every fault and switch, and the diagnoses each trips").set_defaults(
        func=faults
    )
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (RuntimeError, ValueError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
