#!/usr/bin/env bash
# The README's second command installs what the suite's own tests need (the demo needs only part of it:
# scripts/demo.sh), from the project's own files:
#   - Debian packages, through scripts/apt-install.sh (--no-install-recommends; no service is started,
#     none is left enabled at boot, no PostgreSQL cluster is created): the PostgreSQL and Redis *binaries*
#     (the demo and the tests start their own throwaway servers on free ports), python3-venv, and
#     Prometheus blackbox_exporter's binary (the peer in `python -m bench.peer`, which starts it itself
#     on loopback);
#   - Prometheus and its Pushgateway (`prometheus`: /usr/bin/prometheus and promtool; `prometheus-pushgateway`):
#     tests/outputs/test_metrics.py checks --prom-textfile with promtool and --pushgateway end to end, starting
#     both on loopback itself;
#   - Chromium and its WebDriver (`chromium`, `chromium-driver`): tests/outputs/test_html_report.py opens the
#     --html-report page in headless Chromium through Selenium (no service; Selenium Manager never downloads);
#   - Java (default-jre-headless) and npm, and the Allure command line from tools/allure/package-lock.json
#     (`npm ci`): tests/outputs/test_allure_report.py generates a real report from a run's --alluredir results;
#   - check_postgres (`check-postgres`: /usr/bin/check_postgres): tests/safety/test_monitor_quiet.py runs its
#     commitratio action before and after a run to show a run never lowers the commit ratio (no service);
#   - nginx and unbound: tests/checks/test_real_platform.py builds a small real platform from off-the-shelf parts
#     (nginx terminating TLS in front of a Django application served by gunicorn, on PostgreSQL and Redis,
#     its zone served by unbound, a private CA made with plain openssl) on loopback ports;
#   - a virtualenv in .venv with the project, its test extra (what the tests import, the demo's included)
#     and its dev extra (ruff, mypy: .ci/run lints with them) from pyproject.toml.
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
BLACKBOX=/usr/bin/prometheus-blackbox-exporter
[ -x "$BLACKBOX" ] || missing+=(prometheus-blackbox-exporter)
[ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ] || missing+=(prometheus)
[ -x /usr/bin/prometheus-pushgateway ] || missing+=(prometheus-pushgateway)
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)  # the allure command line runs on Java
command -v npm >/dev/null 2>&1 || missing+=(npm)  # and comes from npm (tools/allure)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
[ -x /usr/bin/check_postgres ] || [ -x /usr/bin/check_postgres.pl ] || missing+=(check-postgres)
[ -x /usr/sbin/nginx ] || missing+=(nginx)  # the real platform's proxy (tests/checks/test_real_platform.py)
[ -x /usr/sbin/unbound ] || missing+=(unbound)  # and its DNS server
command -v openssl >/dev/null 2>&1 || missing+=(openssl)  # and its private CA

# PIDs of the processes running blackbox_exporter's binary (by /proc/PID/cmdline, readable for any user)
blackbox_pids() {
  local dir cmd
  for dir in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' 2>/dev/null <"$dir/cmdline") || continue
    case "$cmd" in "$BLACKBOX" | "$BLACKBOX "*) echo "${dir#/proc/}" ;; esac
  done
}

if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  blackbox_before=" $(blackbox_pids | tr '\n' ' ') "
  prometheus_before=" $(for b in prometheus prometheus-pushgateway; do BLACKBOX=/usr/bin/$b blackbox_pids; done | tr '\n' ' ') "
  # --no-install-recommends, no service started, none left enabled at boot, no PostgreSQL cluster created
  bash scripts/apt-install.sh "${missing[@]}"
  if [[ " ${missing[*]} " == *" prometheus-blackbox-exporter "* ]]; then
    # and any blackbox_exporter the install started despite it (only those: not one running before)
    for pid in $(blackbox_pids); do
      if [[ "$blackbox_before" != *" $pid "* ]]; then
        echo "install: stopping blackbox_exporter $pid, started by the package"
        $sudo kill "$pid" 2>/dev/null || true
      fi
    done
  fi
  for binary in prometheus prometheus-pushgateway; do  # likewise, by their binaries' exact path
    [[ " ${missing[*]} " == *" $binary "* ]] || continue
    for pid in $(BLACKBOX=/usr/bin/$binary blackbox_pids); do
      if [[ "$prometheus_before" != *" $pid "* ]]; then
        echo "install: stopping $binary $pid, started by the package"
        $sudo kill "$pid" 2>/dev/null || true
      fi
    done
  done
fi
[ -x "$BLACKBOX" ] && echo "install: $("$BLACKBOX" --version 2>&1 | head -n 1)"

if [ ! -x .venv/bin/python ]; then
  echo "install: python3 -m venv .venv"
  python3 -m venv .venv
fi
# the project is installed again only when what pip reads from it changed (pyproject.toml: the
# dependencies, the packages, the pytest11 entry point) or the virtualenv lacks what it installs (the
# package, the shipped checks, the entry point pytest loads the plugin by): an editable install sees
# the sources' changes by itself
stamp=.venv/.healthsuite-installed
wanted="$(sha256sum pyproject.toml | cut -d' ' -f1) $(.venv/bin/python -c 'import sys; print(sys.version)' | head -n 1)"
installed_check='import healthsuite, healthsuite_checks, importlib.metadata as m
assert any(ep.value == "healthsuite.plugin" for ep in m.entry_points(group="pytest11"))'
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && .venv/bin/python -c "$installed_check" 2>/dev/null; then
  echo "install: .venv is up to date with pyproject.toml (pip skipped)"
else
  echo "install: pip install -e .[test,dev]"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test,dev]"
  echo "$wanted" > "$stamp"
fi
.venv/bin/python -c "import healthsuite, httpx, psycopg, redis, pydantic, uvicorn, trustme; print('install: ok, healthsuite', healthsuite.__version__)"
# the Allure command line (`allure generate`, tests/outputs/test_allure_report.py), pinned by tools/allure/package-lock.json
if command -v npm >/dev/null 2>&1; then  # (npm is missing only if installing it above failed)
  if [ ! -x tools/allure/node_modules/.bin/allure ]; then
    echo "install: npm ci in tools/allure (allure-commandline)"
    (cd tools/allure && npm ci --no-audit --no-fund --silent)
  fi
  echo "install: allure $(tools/allure/node_modules/.bin/allure --version 2>/dev/null || echo '(needs java)')"
else
  echo "install: npm not found: the Allure command line (tools/allure) is not installed"
fi
