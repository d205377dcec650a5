"""The bundled demo of the booking platform (`python -m healthsuite.demo`).

It needs the `demo` extra (the app's web framework and server, the DNS server); the checks do not, so
a plain `pip install healthsuite` leaves them out, and importing the demo then says what to install.
"""

from __future__ import annotations

from importlib.util import find_spec

# the import names of pyproject.toml's `demo` extra (tests/project/test_extras.py keeps the two equal)
DEMO_EXTRA_MODULES = ("starlette", "uvicorn", "dnslib")

_missing = [name for name in DEMO_EXTRA_MODULES if find_spec(name) is None]
if _missing:
    raise ModuleNotFoundError(
        f"healthsuite's demo needs {', '.join(_missing)}, which the checks do not: "
        "pip install 'healthsuite[demo]' (from a clone: pip install -e '.[demo]', or run bash scripts/demo.sh)",
        name=_missing[0],
    )
