#!/usr/bin/env bash
# Install what healthsuite needs, from the project's own files:
#   - Debian packages: the PostgreSQL and Redis *binaries* (the demo and the tests start their own
#     throwaway servers on free ports; no system cluster is created or started) and python3-venv;
#   - a virtualenv in .venv with the project and its test extras (pyproject.toml).
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
command -v runuser >/dev/null 2>&1 || missing+=(util-linux)

if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "install: apt-get install ${missing[*]}"
  if [[ " ${missing[*]} " == *" postgresql "* && ! -e /etc/postgresql-common/createcluster.conf ]]; then
    # binaries only: do not create (and start) a 'main' cluster on port 5432
    $sudo mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  echo "install: python3 -m venv .venv"
  python3 -m venv .venv
fi
echo "install: pip install -e .[test]"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
.venv/bin/python -c "import healthsuite, httpx, psycopg, redis, pydantic, uvicorn, trustme; print('install: ok, healthsuite', healthsuite.__version__)"
