#!/usr/bin/env bash
# What each part of `make test` and `make demo` needs on the machine, in one table: the
# programs the scripts and tests run, and where each comes from (a Debian package installed by
# hack/apt.sh, or a pinned tool that hack/tools.sh builds and links into bin/).
#
#   hack/preflight.sh AREA...             check, fast (< 1 s); fail naming every missing program
#                                         and the command that installs it
#   hack/preflight.sh --install AREA...   install what AREA needs, then check
#   hack/preflight.sh --list AREA...      print the Debian packages and tools AREA needs
#
# AREA: host client integration alerts datapath cluster images olm (host is always included).
#
# A bin/ tool counts only when its link resolves to an executable file: links into the machine
# cache (~/.cache/hoard) dangle when the cache is wiped. Programs are looked up as files
# (`type -P` on PATH plus /usr/sbin:/usr/bin:/sbin:/bin), never as shell functions or aliases:
# a function named like a program is how a missing etcd once went unnoticed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)

# AREA  WHAT  FROM
#   WHAT: a program name (found on PATH or in the sbin/bin directories), an absolute path that
#         must be executable (a file for apt:… entries ending in .crt/.gpg), or bin/NAME.
#   FROM: apt:PACKAGE (hack/apt.sh PACKAGE), tool:NAME (hack/tools.sh NAME), make:TARGET (a
#         make target builds it), or go (install Go).
# Order matters for --install: tools are built in this order (the Kubernetes binaries first,
# the longest build).
TABLE='
host        go                                   go
host        make                                 apt:make
host        git                                  apt:git
host        /etc/ssl/certs/ca-certificates.crt   apt:ca-certificates
client      bin/kubectl                          tool:kubectl
client      bin/helm                             tool:helm
integration bin/kube-apiserver                   tool:kube-apiserver
integration bin/etcd                             tool:etcd
integration /usr/bin/prometheus-pushgateway      apt:prometheus-pushgateway
alerts      bin/promtool                         tool:promtool
datapath    bin/restic                           tool:restic
datapath    bin/rest-server                      tool:rest-server
datapath    bin/versitygw                        tool:versitygw
datapath    bin/restic-0.12                      tool:restic-0.12
datapath    mariadbd                             apt:mariadb-server
datapath    mariadb-install-db                   apt:mariadb-server
datapath    mysql                                apt:mariadb-client
datapath    mysqldump                            apt:mariadb-client
datapath    mysqlbinlog                          apt:mariadb-client
cluster     bin/kube-apiserver                   tool:kube-apiserver
cluster     bin/etcd                             tool:etcd
cluster     bin/kube-controller-manager          tool:kube-controller-manager
cluster     bin/kube-scheduler                   tool:kube-scheduler
cluster     bin/kubelet                          tool:kubelet
cluster     bin/kube-proxy                       tool:kube-proxy
cluster     bin/kubectl                          tool:kubectl
cluster     bin/coredns                          tool:coredns
cluster     /usr/bin/containerd                  apt:containerd
cluster     ctr                                  apt:containerd
cluster     /usr/sbin/runc                       apt:runc
cluster     /usr/lib/cni/bridge                  apt:containernetworking-plugins
cluster     /usr/lib/cni/host-local              apt:containernetworking-plugins
cluster     /usr/lib/cni/portmap                 apt:containernetworking-plugins
cluster     /usr/lib/cni/loopback                apt:containernetworking-plugins
cluster     iptables                             apt:iptables
cluster     iptables-save                        apt:iptables
cluster     iptables-restore                     apt:iptables
cluster     ip6tables                            apt:iptables
cluster     ip6tables-save                       apt:iptables
cluster     ip6tables-restore                    apt:iptables
cluster     conntrack                            apt:conntrack
cluster     ip                                   apt:iproute2
cluster     ethtool                              apt:ethtool
cluster     socat                                apt:socat
cluster     modprobe                             apt:kmod
cluster     openssl                              apt:openssl
cluster     curl                                 apt:curl
cluster     jq                                   apt:jq
cluster     pgrep                                apt:procps
cluster     hostname                             apt:hostname
cluster     findmnt                              apt:util-linux
cluster     setsid                               apt:util-linux
cluster     flock                                apt:util-linux
cluster     nsenter                              apt:util-linux
cluster     mount                                apt:mount
cluster     umount                               apt:mount
cluster     buildah                              apt:buildah
cluster     tar                                  apt:tar
images      buildah                              apt:buildah
images      /usr/sbin/runc                       apt:runc
images      ctr                                  apt:containerd
images      jq                                   apt:jq
images      tar                                  apt:tar
images      gzip                                 apt:gzip
images      debootstrap                          apt:debootstrap
images      /usr/share/keyrings/debian-archive-keyring.gpg apt:debian-archive-keyring
images      bin/restic                           tool:restic
images      bin/rest-server                      tool:rest-server
olm         bin/olm                              tool:olm
olm         bin/olm-catalog                      tool:olm-catalog
olm         bin/olm-copy-content                 tool:olm-copy-content
olm         bin/olm-cpb                          tool:olm-cpb
olm         bin/opm                              tool:opm
olm         bin/grpc-health-probe                tool:grpc-health-probe
'

# The make target (or script) that installs everything of an area; named in failures.
declare -A INSTALLER=(
  [host]="make host-deps"
  [client]="make tools (or hack/tools.sh kubectl helm)"
  [integration]="make test-integration (its prerequisites: make bin/kube-apiserver bin/etcd pushgateway-bin)"
  [alerts]="make test-alerts (its prerequisite: make bin/promtool)"
  [datapath]="make datapath-tools"
  [cluster]="make cluster-deps (test/cluster/up.sh runs it)"
  [images]="hack/images.sh (make images)"
  [olm]="make tools (or hack/tools.sh olm olm-catalog olm-copy-content olm-cpb opm grpc-health-probe)"
)

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

mode=check
case ${1:-} in
  --install) mode=install; shift ;;
  --list) mode=list; shift ;;
  -h | --help | "") usage ;;
esac
areas=(host)
for a in "$@"; do
  [ -n "${INSTALLER[$a]:-}" ] || { echo "hack/preflight.sh: unknown area $a (${!INSTALLER[*]})" >&2; exit 2; }
  [ "$a" = host ] || areas+=("$a")
done

# The rows of the requested areas, each WHAT once.
rows=()
declare -A seen=()
while read -r area what from; do
  [ -n "$area" ] || continue
  for a in "${areas[@]}"; do
    if [ "$a" = "$area" ] && [ -z "${seen[$what]:-}" ]; then
      seen[$what]=$area
      rows+=("$area $what $from")
    fi
  done
done <<<"$TABLE"

packages=() tools=() targets=()
declare -A pseen=()
for r in "${rows[@]}"; do
  read -r _ _ from <<<"$r"
  [ -z "${pseen[$from]:-}" ] || continue
  pseen[$from]=1
  case $from in
    apt:*) packages+=("${from#apt:}") ;;
    tool:*) tools+=("${from#tool:}") ;;
    make:*) targets+=("${from#make:}") ;;
  esac
done

if [ "$mode" = list ]; then
  echo "debian: ${packages[*]}"
  echo "tools: ${tools[*]}"
  echo "make targets: ${targets[*]}"
  exit 0
fi

if [ "$mode" = install ]; then
  # Debian packages first: the tool builds need ca-certificates (the Go module proxy is HTTPS).
  "$root/hack/apt.sh" "${packages[@]}"
  [ "${#tools[@]}" -eq 0 ] || "$root/hack/tools.sh" "${tools[@]}"
  [ "${#targets[@]}" -eq 0 ] || make -C "$root" --no-print-directory "${targets[@]}"
fi

# find_program NAME: the executable file NAME on PATH or in the system directories (root's
# programs live in sbin, which a non-root PATH lacks).
find_program() {
  PATH=$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin type -P "$1"
}

# check WHAT: empty when WHAT is there, else why not.
check() {
  local what=$1 target
  case $what in
    bin/*)
      local link=$root/$what
      if [ ! -e "$link" ] && [ ! -L "$link" ]; then
        echo "$what is missing"
      elif ! target=$(readlink -f "$link") || [ ! -e "$target" ]; then
        echo "$what links to $(readlink "$link"), which does not exist"
      elif [ ! -f "$target" ] || [ ! -x "$target" ]; then
        echo "$what resolves to $target, which is not an executable file"
      fi ;;
    *.crt | *.gpg)
      [ -s "$what" ] || echo "$what is missing" ;;
    /*)
      [ -f "$what" ] && [ -x "$what" ] || echo "$what is missing or not executable" ;;
    *)
      find_program "$what" >/dev/null || echo "$what is not installed (not on PATH, nor in /usr/sbin, /usr/bin, /sbin, /bin)" ;;
  esac
}

how() {
  case $1 in
    apt:*) echo "hack/apt.sh ${1#apt:}   (Debian package ${1#apt:})" ;;
    tool:*) echo "hack/tools.sh ${1#tool:}   (builds the version pinned under hack/tools/ into ~/.cache/hoard/tools)" ;;
    make:*) echo "make ${1#make:}" ;;
    go) echo "install Go (see go.mod for the version) and put it on PATH; the scripts cannot install it" ;;
  esac
}

failed=()
declare -A bad_areas=()
for r in "${rows[@]}"; do
  read -r area what from <<<"$r"
  why=$(check "$what")
  if [ -n "$why" ]; then
    failed+=("  $why"$'\n'"      get it: $(how "$from")")
    bad_areas[$area]=1
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  {
    echo "preflight (${areas[*]}): ${#failed[@]} missing:"
    printf '%s\n' "${failed[@]}"
    echo "  or install everything these areas need: hack/preflight.sh --install ${!bad_areas[*]}"
    for a in "${!bad_areas[@]}"; do echo "      ($a: ${INSTALLER[$a]})"; done
  } >&2
  exit 1
fi
