#!/usr/bin/env bash
# apt-get install the Debian packages named (scripts/demo.sh and scripts/install.sh pass the ones they
# miss), leaving no service running or enabled and no configuration changed:
#   - --no-install-recommends: what the packages depend on, nothing they merely recommend; the downloaded
#     .deb files are not kept (a temporary Dir::Cache::Archives);
#   - no service starts while they install: a temporary /usr/sbin/policy-rc.d answers 101 ("action
#     forbidden") to invoke-rc.d and deb-systemd-invoke, and is removed after (on failure too);
#   - no PostgreSQL cluster is created: when the PostgreSQL server is among them, postgresql-common is
#     installed first, then /etc/postgresql-common/createcluster.conf says `create_main_cluster = false`
#     while the server installs, and is put back byte for byte after (the demo and the tests initdb their
#     own clusters);
#   - the services the packages enable at boot (postgresql, redis-server, nginx, ...) are disabled again:
#     the systemd links and SysV rc links that appeared during the install are removed (`systemctl
#     disable`, or deb-systemd-helper without systemctl; `update-rc.d NAME disable`), each named.
# Needs root or sudo.
set -euo pipefail
(($#)) || exit 0
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# the .deb files are downloaded into a directory of their own, removed after: apt's cache keeps none of them
archives=""
apt_install() {
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dir::Cache::Archives="$archives/" "$@"
}

# the boot-time links of every service: systemd's *.wants/*.requires links and SysV's S links
boot_links() {
  { find /etc/systemd/system -mindepth 2 -maxdepth 2 \( -path '*.wants/*' -o -path '*.requires/*' \) 2>/dev/null
    ls -1d /etc/rc[2-5].d/S* 2>/dev/null; } | sort || true
}

policy_created=""
conf=/etc/postgresql-common/createcluster.conf
conf_saved=""  # a copy of createcluster.conf while the server installs, "absent" if there was none
restore() {
  if [ -n "$conf_saved" ]; then
    if [ "$conf_saved" = absent ]; then $sudo rm -f "$conf"; else $sudo cp -p "$conf_saved" "$conf" && $sudo rm -f "$conf_saved"; fi
    conf_saved=""
  fi
  if [ -n "$policy_created" ]; then $sudo rm -f /usr/sbin/policy-rc.d; policy_created=""; fi
  if [ -n "$archives" ]; then $sudo rm -rf "$archives"; archives=""; fi
}
trap restore EXIT
trap 'exit 130' INT
trap 'exit 143' TERM  # so that the EXIT trap runs on a kill too
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\n# healthsuite scripts/apt-install.sh: no service starts during its apt-get install\nexit 101\n' |
    $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod 755 /usr/sbin/policy-rc.d
  policy_created=1
fi

archives=$($sudo mktemp -d /var/tmp/healthsuite-apt.XXXXXX)
$sudo mkdir -p "$archives/partial"
$sudo chmod 755 "$archives"  # apt downloads as its own user (_apt)
$sudo chown _apt "$archives/partial" 2>/dev/null || true

before=$(boot_links)
echo "apt: apt-get install --no-install-recommends $*"
$sudo apt-get update -q
server=""
for package in "$@"; do
  case "$package" in postgresql | postgresql-[0-9]*) server=1 ;; esac
done
if [ -n "$server" ]; then
  [ -e /usr/share/postgresql-common/maintscripts-functions ] || apt_install postgresql-common
  # the server's postinst creates (and starts) a 'main' cluster on port 5432 unless this file says not to
  if [ -e "$conf" ]; then
    conf_saved=$($sudo mktemp /etc/postgresql-common/.createcluster.conf.XXXXXX)
    $sudo cp -p "$conf" "$conf_saved"
  else
    conf_saved=absent
    $sudo mkdir -p /etc/postgresql-common
  fi
  echo "create_main_cluster = false  # scripts/apt-install.sh, while the server installs" | $sudo tee -a "$conf" >/dev/null
fi
apt_install "$@"
restore

# the services these packages enabled stay off at boot (the demo and the tests start their own servers)
after=$(boot_links)
added=$(comm -13 <(echo "$before") <(echo "$after") | grep . || true)
disabled=()
for link in $added; do
  name=$(basename "$link")
  case "$link" in
    /etc/rc?.d/S*) name=${name#S[0-9][0-9]}; [ -e "$link" ] || continue
      $sudo update-rc.d "$name" disable >/dev/null 2>&1 || true ;;
    *) [ -L "$link" ] || continue
      if command -v systemctl >/dev/null 2>&1; then
        $sudo systemctl disable --quiet "$name" >/dev/null 2>&1 || $sudo rm -f "$link"
      else
        $sudo deb-systemd-helper disable "$name" >/dev/null 2>&1 || $sudo rm -f "$link"
      fi ;;
  esac
  name=${name%.service}
  [[ " ${disabled[*]} " == *" $name "* ]] || disabled+=("$name")
done
if ((${#disabled[@]})); then
  echo "apt: disabled at boot again (the packages enabled them; nothing was started): ${disabled[*]}"
fi
left=$(comm -13 <(echo "$before") <(boot_links) | grep . || true)
if [ -n "$left" ]; then
  echo "apt: still enabled at boot: $left" >&2
  exit 1
fi
