#!/usr/bin/env bash
# Installs Debian packages that are not installed yet. Serialised with a lock so parallel
# make targets do not fight over dpkg.
set -euo pipefail
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
echo ">> apt-get install ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
exec 9>/tmp/hoard-apt.lock
flock 9
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
  apt-get -o DPkg::Lock::Timeout=600 update -qq
fi
# Keep Debian from starting services (etcd, mariadb) the tests start themselves.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
