"""`python -m bench`: every scenario (bench/all.py);
`python -m bench scale|degraded|shaped|hostile|peer|loader ...`: one."""

import sys

from . import all as everything
from . import degraded, hostile, loader, peer, run, shaped

COMMANDS = {
    "loader": loader.main, "scale": run.main, "degraded": degraded.main, "hostile": hostile.main, "peer": peer.main,
    "shaped": shaped.main,
}

if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
    raise SystemExit(COMMANDS[sys.argv[1]](sys.argv[2:]))
raise SystemExit(everything.main(sys.argv[1:]))
