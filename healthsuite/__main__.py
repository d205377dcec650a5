"""`python -m healthsuite COMMAND ...`: the suite's commands beside pytest.

    python -m healthsuite init --base-url https://staging.example.com   # a starting environment file
    python -m healthsuite --help

The checks themselves run under pytest (`pytest --env NAME`); the demo is `python -m healthsuite.demo`."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# command -> (module with main(argv) -> int, what it does)
COMMANDS = {
    "init": ("healthsuite.init.command", "write a starting environment file from what is live (read only)"),
}
USAGE_ERROR = 4


def usage() -> str:
    width = max(map(len, COMMANDS))
    listed = "\n".join(f"  {name:<{width}}  {what}" for name, (_, what) in COMMANDS.items())
    return (
        "usage: python -m healthsuite COMMAND [options]   (python -m healthsuite COMMAND --help)\n\n"
        f"commands:\n{listed}\n\n"
        "The checks run under pytest: pytest --env NAME. The demo: python -m healthsuite.demo --help."
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage(), file=sys.stdout if args else sys.stderr)
        return 0 if args else USAGE_ERROR
    command, *rest = args
    if command not in COMMANDS:
        print(f"healthsuite: error: unknown command {command!r} (fix: one of {', '.join(COMMANDS)}; "
              "python -m healthsuite --help)", file=sys.stderr)
        return USAGE_ERROR
    module = importlib.import_module(COMMANDS[command][0])
    result: int = module.main(rest)
    return result


if __name__ == "__main__":
    sys.exit(main())
