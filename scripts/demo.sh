#!/usr/bin/env bash
# The README's first command: install what the demo needs and nothing else, start the bundled demo of
# the booking platform (target app over HTTPS, its own throwaway PostgreSQL and Redis), run the checks
# against it with `pytest --env demo`, print their verdicts and stop it.
#   bash scripts/demo.sh                         # real checks, all passing
#   bash scripts/demo.sh --break all             # one fault per diagnosis: real failures
#   bash scripts/demo.sh --break DB1 -- -m critical   # after --: any pytest arguments
# What it installs, only where missing (docs/demo.md, "What it installs"):
#   - from Debian (scripts/apt-install.sh: --no-install-recommends, no service started, none left enabled
#     at boot, no PostgreSQL cluster created): the PostgreSQL server binaries (`postgresql`), Redis's
#     (`redis-server`) and python3-venv;
#   - a virtualenv in .venv with the project and its demo extra (`pip install -e ".[demo]"`).
# The suite's own tests need much more (browsers, Prometheus, Java...): scripts/install.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  missing+=(postgresql)  # initdb, pg_ctl, postgres and psql (the demo runs its own cluster in .demo/)
fi
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
((${#missing[@]} == 0)) || bash scripts/apt-install.sh "${missing[@]}"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "demo: healthsuite needs Python 3.11 or later, python3 is $(python3 --version 2>&1)" >&2
  exit 1
}

if [ ! -x .venv/bin/python ]; then
  echo "demo: python3 -m venv .venv"
  python3 -m venv .venv
fi
# pip runs again only when pyproject.toml changed or the virtualenv lacks what the demo imports; a
# .venv that scripts/install.sh made (the test extra holds the demo's) is used as it is. No wheel cache
# is kept and nothing is byte-compiled ahead (Python writes the bytecode of what runs, when it runs).
wanted="$(sha256sum pyproject.toml | cut -d' ' -f1) $(.venv/bin/python -c 'import sys; print(sys.version)' | head -n 1)"
installed_check='import healthsuite, healthsuite_checks, starlette, uvicorn, dnslib, importlib.metadata as m
assert any(ep.value == "healthsuite.plugin" for ep in m.entry_points(group="pytest11"))'
if { [ "$(cat .venv/.healthsuite-installed 2>/dev/null)" = "$wanted" ] ||
     [ "$(cat .venv/.healthsuite-demo-installed 2>/dev/null)" = "$wanted" ]; } &&
   .venv/bin/python -c "$installed_check" 2>/dev/null; then
  echo "demo: .venv is up to date with pyproject.toml (pip skipped)"
else
  echo "demo: pip install -e .[demo]"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-cache-dir --no-compile -e ".[demo]"
  echo "$wanted" >.venv/.healthsuite-demo-installed
fi
exec .venv/bin/python -m healthsuite.demo run "$@"
