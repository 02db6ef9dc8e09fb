#!/usr/bin/env bash
# Installs Debian packages that are not installed yet. Serialised with a lock so parallel
# make targets do not fight over dpkg.
set -euo pipefail
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
[ "$(id -u)" -eq 0 ] || { echo "hack/apt.sh: ${missing[*]} not installed; run as root to install them" >&2; exit 1; }
echo ">> apt-get install ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
exec 9>/tmp/hoard-apt.lock
flock 9
refresh_lists() { apt-get -o DPkg::Lock::Timeout=600 update -qq; }
# A fresh machine (or a container image) has no package lists at all.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
  refresh_lists
fi
# Keep Debian from starting services (etcd, mariadb) the tests start themselves.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt_install() { apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
# Lists younger than a day can still name a version the mirror has replaced since (a security
# update): then refresh them once and try again.
if ! apt_install; then
  echo ">> apt-get install failed: refreshing the package lists and retrying" >&2
  refresh_lists
  apt_install
fi
