#!/usr/bin/env bash
# `make test-fresh-machine`: proves that the install steps of `make test` and `make demo` work
# on a Debian machine that has none of their packages. It builds a debootstrap --variant=minbase
# bookworm root (no git, no curl, no CA certificates, no procps, no iproute2...), gives it only
# what a user brings (Go in /usr/local/go, make, a clone of the committed HEAD) and the host's
# network settings, and runs in a chroot exactly the install steps the README's commands run:
#
#   preflight before installing   must FAIL (the root really lacks everything)
#   apt-get install make          the README's one manual step
#   make host-deps                git, ca-certificates
#   make tools                    hack/tools.sh all: every pinned tool, etcd included
#   make datapath-tools           MariaDB server and client, restic, rest-server, versitygw
#   make pushgateway-bin          prometheus-pushgateway
#   make cluster-deps             what test/cluster/up.sh installs before it starts anything
#   hack/images.sh base           debootstrap'd image base, committed with buildah
#   hack/images.sh rest-server    a real `buildah bud` of a Dockerfile (COPY only)
#   hack/images.sh mariadb        `buildah bud` with a RUN step (apt-get in a container, runc)
#   make preflight                every area's programs present, every bin/ link resolves
#   make build                    the operator and addon build in the clone (no GOFLAGS carried)
#
# and prints a table of each step with its result and time. Nothing is started: containerd,
# etcd and the kubelet are not run in the chroot (the cluster needs the host's network and
# cgroups; `make test`'s e2e tier runs them on the real machine).
#
# What the chroot gets from the host, and why:
#   - /usr/local/go (read-only bind mount): Go is a requirement the scripts cannot install.
#   - the committed HEAD of this repo (git clone, never the working tree).
#   - apt sources: the host's Debian entries (/etc/apt/sources.list*), and its Acquire proxy and
#     validity settings; /etc/resolv.conf and /etc/hosts.
#   - the host's local CA certificates (/usr/local/share/ca-certificates): where the network
#     intercepts TLS, these are what makes the Go module proxy reachable. They take effect only
#     when the project's own steps install ca-certificates (its postinst picks them up).
#   - GOPROXY, GOSUMDB, GOPRIVATE, GONOSUMDB, GONOPROXY, GOINSECURE and the *_proxy variables.
#   Not carried: GOFLAGS (the host's -buildvcs=false would hide a missing git), GOCACHE,
#   GOMODCACHE and HOARD_CACHE (all fresh in the chroot, so every tool is really downloaded and
#   built). FRESH_SHARE_MODCACHE=1 serves modules from the host's module cache first (read-only,
#   GOPROXY=file://...) to save the downloads.
#
# The pristine root is cached as a tarball in $HOARD_CACHE/freshmachine, keyed by the day and
# the debootstrap version, so a rerun on the same day starts in seconds.
#
# Environment: FRESH_DIR (work directory, default /var/tmp/hoard-freshmachine), FRESH_KEEP=1
# (keep the chroot afterwards), FRESH_SHARE_MODCACHE=1, DEBIAN_MIRROR (for debootstrap).
# Logs and the summary go to bin/freshmachine/.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HOARD_CACHE=${HOARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hoard}
CACHE=$HOARD_CACHE/freshmachine
WORK=${FRESH_DIR:-/var/tmp/hoard-freshmachine}
CHROOT=$WORK/root
LOGS=$ROOT/bin/freshmachine
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
GOROOT_HOST=$(go env GOROOT)
SRC=/root/hoard

log() { printf '\033[1m[fresh-machine %(%H:%M:%S)T]\033[0m %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot, mounts)"
case $CHROOT in / | //* | "") die "refusing FRESH_DIR=$WORK" ;; esac
mkdir -p "$WORK" "$CACHE" "$LOGS"
exec 6>"$WORK/.lock"
flock -n 6 || die "another test/freshmachine/run.sh is running ($WORK/.lock)"

# --- the table ----------------------------------------------------------------------------------

STEPS=() RESULTS=() TIMES=() NOTES=()
FAILED=0
record() { # NAME RESULT SECONDS NOTE
  STEPS+=("$1") RESULTS+=("$2") TIMES+=("$3") NOTES+=("$4")
  log "$1: $2 in ${3}s${4:+ ($4)}"
}

table() {
  local i
  printf '%-3s %-44s %-26s %7s  %s\n' "#" "step" "result" "seconds" "log / note"
  printf '%s\n' "-------------------------------------------------------------------------------------------------------"
  for i in "${!STEPS[@]}"; do
    printf '%-3s %-44s %-26s %7s  %s\n' "$((i + 1))" "${STEPS[$i]}" "${RESULTS[$i]}" "${TIMES[$i]}" "${NOTES[$i]}"
  done
}

# host_step NAME FUNCTION: a step on the host (building and configuring the root). Run in the
# background and waited for, so that `set -e` holds inside it (it would not in an `||` list).
host_step() {
  local name=$1 t0 rc=0 logf
  shift
  logf=$LOGS/$(printf '%02d' $((${#STEPS[@]} + 1)))-host.log
  log "$name"
  t0=$(date +%s)
  ("$@") >"$logf" 2>&1 &
  wait $! || rc=$?
  if [ "$rc" -eq 0 ]; then
    record "$name" pass $(($(date +%s) - t0)) "${logf#"$ROOT"/}"
  else
    record "$name" "FAIL (exit $rc)" $(($(date +%s) - t0)) "${logf#"$ROOT"/}"
    tail -30 "$logf" >&2
    FAILED=1
    finish
  fi
}

# --- the pristine root ----------------------------------------------------------------------------

unmount_all() {
  local m
  [ -d "$CHROOT" ] || return 0
  # Processes this run left inside the chroot (a build interrupted by ^C): their root is ours.
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$CHROOT" ] && kill -KILL "${p#/proc/}" 2>/dev/null || true
  done
  for m in $(findmnt -rn -o TARGET | grep -E "^$CHROOT(/|$)" | sort -r || true); do
    umount "$m" 2>/dev/null || umount -l "$m" || true
  done
}

remove_root() {
  unmount_all
  if [ -n "$(findmnt -rn -o TARGET | grep -E "^$CHROOT(/|$)" || true)" ]; then
    die "mounts left under $CHROOT; not deleting it"
  fi
  rm -rf --one-file-system "$CHROOT"
}

pristine_tarball() {
  if [ -s "$TARBALL" ]; then
    echo "cached: $TARBALL"
    return 0
  fi
  local dir=$WORK/debootstrap
  rm -rf --one-file-system "$dir"
  debootstrap --variant=minbase bookworm "$dir" "$MIRROR"
  umount -R "$dir/proc" "$dir/sys" 2>/dev/null || true
  tar --numeric-owner --xattrs -C "$dir" -czf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
  rm -rf --one-file-system "$dir"
  # Older days' roots are not needed any more.
  find "$CACHE" -maxdepth 1 -name 'bookworm-minbase-*.tar.gz' ! -name "${TARBALL##*/}" -delete
  echo "built: $TARBALL"
}

unpack() {
  remove_root
  mkdir -p "$CHROOT"
  tar --numeric-owner --xattrs -C "$CHROOT" -xzf "$TARBALL"
  echo "packages in the root: $(chroot "$CHROOT" dpkg-query -W -f='${Package}\n' | wc -l)"
}

# configure: what a user's machine has around the project: network settings, Go, the clone.
configure() {
  # A fresh machine's apt has no package lists (container images ship none; debootstrap's are
  # for its own mirror line only): hack/apt.sh must fetch them.
  rm -rf "$CHROOT"/var/lib/apt/lists/*
  rm -f "$CHROOT/etc/apt/sources.list"
  local f n=0
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    if grep -qiE '^[^#]*(deb\.debian\.org|security\.debian\.org|/debian(-security)?/?( |$))' "$f"; then
      mkdir -p "$CHROOT/$(dirname "$f")"
      cp "$f" "$CHROOT$f"
      echo "apt source carried: $f"
      n=$((n + 1))
    else
      echo "apt source skipped (not Debian's): $f"
    fi
  done
  if [ "$n" -eq 0 ]; then
    printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s-security bookworm-security main\n' \
      "$MIRROR" "$MIRROR" "$MIRROR" >"$CHROOT/etc/apt/sources.list"
    echo "apt source: $MIRROR (the host has no Debian entries)"
  fi
  apt-config dump | grep -E '^Acquire::((http|https|ftp)::Proxy|Check-Valid-Until|Check-Date|Retries) ' \
    >"$CHROOT/etc/apt/apt.conf.d/00hoard-host-network" || true
  echo "apt settings carried: $(tr '\n' ' ' <"$CHROOT/etc/apt/apt.conf.d/00hoard-host-network")"
  if [ -d /usr/local/share/ca-certificates ]; then
    mkdir -p "$CHROOT/usr/local/share/ca-certificates"
    cp -a /usr/local/share/ca-certificates/. "$CHROOT/usr/local/share/ca-certificates/"
    echo "local CA certificates carried: $(ls /usr/local/share/ca-certificates | tr '\n' ' ')"
  fi
  cp -L /etc/resolv.conf "$CHROOT/etc/resolv.conf"
  cp -L /etc/hosts "$CHROOT/etc/hosts"
  [ ! -e "$CHROOT/etc/ssl/certs/ca-certificates.crt" ] || die "the pristine root already has CA certificates"

  # Mounts. The root itself first, as a mount point of its own: containers/storage (buildah)
  # makes "/" private in a mount namespace when it unpacks a layer, which fails with EINVAL
  # when "/" is a mere directory of the host's file system. Then the kernel's file systems, a
  # fresh /run, and Go read-only.
  mount --bind "$CHROOT" "$CHROOT"
  mount --make-private "$CHROOT"
  mount -t proc proc "$CHROOT/proc"
  mount --rbind /sys "$CHROOT/sys" && mount --make-rslave "$CHROOT/sys"
  mount --rbind /dev "$CHROOT/dev" && mount --make-rslave "$CHROOT/dev"
  mount -t tmpfs -o mode=0755 tmpfs "$CHROOT/run"
  mkdir -p "$CHROOT/usr/local/go"
  mount --bind "$GOROOT_HOST" "$CHROOT/usr/local/go"
  mount -o remount,bind,ro "$CHROOT/usr/local/go"
  if [ "${FRESH_SHARE_MODCACHE:-}" = 1 ]; then
    mkdir -p "$CHROOT/mnt/host-modcache"
    mount --bind "$(go env GOMODCACHE)/cache/download" "$CHROOT/mnt/host-modcache"
    mount -o remount,bind,ro "$CHROOT/mnt/host-modcache"
  fi
  echo "go: $("$GOROOT_HOST/bin/go" version)"

  # The committed HEAD, never the working tree (others' uncommitted work is not the project).
  git clone --quiet --no-hardlinks "file://$ROOT" "$CHROOT$SRC"
  echo "repo: $(git -C "$CHROOT$SRC" log -1 --format='%H %s')"
}

unpack_and_configure() {
  unpack
  configure
}

# --- running in the chroot ------------------------------------------------------------------------

ENVV=(HOME=/root "PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive)
carry_env() {
  local v val goproxy
  for v in GOPROXY GOSUMDB GOPRIVATE GONOSUMDB GONOPROXY GOINSECURE; do
    val=$(go env "$v")
    [ -n "$val" ] && ENVV+=("$v=$val")
  done
  if [ "${FRESH_SHARE_MODCACHE:-}" = 1 ]; then
    goproxy=$(go env GOPROXY)
    ENVV+=("GOPROXY=file:///mnt/host-modcache,${goproxy:-https://proxy.golang.org,direct}")
  fi
  for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY ALL_PROXY all_proxy; do
    [ -n "${!v:-}" ] && ENVV+=("$v=${!v}")
  done
  return 0
}

# step NAME [expect-fail] -- CMD: CMD in the chroot, in the clone, with the carried environment.
step() {
  local name=$1 expect=pass t0 rc=0 logf res
  shift
  [ "$1" = expect-fail ] && { expect=fail; shift; }
  [ "$1" = -- ] && shift
  logf=$LOGS/$(printf '%02d' $((${#STEPS[@]} + 1)))-$(echo "$name" | tr -c 'a-zA-Z0-9\n' '-' | tr -s '-' | cut -c1-40).log
  log "$name: $*"
  t0=$(date +%s)
  echo "\$ $*" >"$logf"
  chroot "$CHROOT" /usr/bin/env -i "${ENVV[@]}" /bin/bash -c "cd $SRC && $*" >>"$logf" 2>&1 </dev/null || rc=$?
  if [ "$expect" = pass ]; then
    if [ "$rc" -eq 0 ]; then res=pass; else res="FAIL (exit $rc)"; FAILED=1; tail -25 "$logf" >&2; fi
  else
    # Failed, and because things are missing (not because the script broke).
    if [ "$rc" -ne 0 ] && grep -q '^preflight (.*missing:' "$logf"; then
      res="pass (failed as expected)"
    else
      res="FAIL (exit $rc)"; FAILED=1; tail -25 "$logf" >&2
    fi
  fi
  record "$name" "$res" $(($(date +%s) - t0)) "${logf#"$ROOT"/}"
}

finish() {
  trap - EXIT
  unmount_all
  if [ "${FRESH_KEEP:-}" = 1 ]; then log "kept the chroot in $CHROOT (mounts removed)"; else remove_root; fi
  echo
  table | tee "$LOGS/summary.txt"
  echo "total: $(($(date +%s) - START))s; logs in ${LOGS#"$ROOT"/}/"
  if [ "$FAILED" -ne 0 ]; then echo "fresh machine: FAIL"; exit 1; fi
  echo "fresh machine: PASS"
  exit 0
}

START=$(date +%s)
rm -f "$LOGS"/*.log "$LOGS/summary.txt"
trap 'FAILED=1; finish' EXIT
trap 'exit 130' INT TERM

"$ROOT/hack/apt.sh" debootstrap debian-archive-keyring
TARBALL=$CACHE/bookworm-minbase-$(date -u +%Y%m%d)-debootstrap-$(dpkg-query -W -f='${Version}' debootstrap).tar.gz
host_step "pristine bookworm minbase root (debootstrap)" pristine_tarball
host_step "unpack; Go, clone of HEAD, network settings" unpack_and_configure
carry_env

A="host client integration alerts datapath cluster images olm"
step "preflight before installing (must fail)" expect-fail -- "hack/preflight.sh $A"
step "apt-get install make (README prerequisite)" -- "apt-get update -qq && apt-get install -y -qq --no-install-recommends make"
step "make host-deps" -- "make host-deps"
step "make tools (hack/tools.sh all)" -- "make tools"
step "make datapath-tools" -- "make datapath-tools"
step "make pushgateway-bin" -- "make pushgateway-bin"
step "make cluster-deps (test/cluster/up.sh)" -- "make cluster-deps"
step "hack/images.sh base (debootstrap+buildah)" -- "hack/images.sh base"
step "hack/images.sh rest-server (buildah bud)" -- "hack/images.sh rest-server"
step "hack/images.sh mariadb (bud with RUN)" -- "hack/images.sh mariadb"
step "make preflight (all areas)" -- "make preflight"
step "make build" -- "make build && go version -m bin/hoard | grep -E 'vcs\\.(revision|modified)'"
finish
