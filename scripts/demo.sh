#!/usr/bin/env bash
# One command for a newcomer: install everything, start the bundled demo of the booking platform
# (target app over HTTPS, its own throwaway PostgreSQL and Redis), run the checks against it with
# `pytest --env demo`, and stop it.
#   bash scripts/demo.sh                         # real checks, all passing
#   bash scripts/demo.sh --break all             # one fault per diagnosis: real failures
#   bash scripts/demo.sh --break DB1 -- -m critical   # after --: any pytest arguments
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/python -m healthsuite.demo run "$@"
