# shellcheck shell=bash disable=SC2034 # settings used by the scripts that source this
# Shared settings and helpers of the local one-node cluster (test/cluster/up.sh, down.sh) and of
# hack/images.sh. Sourced, not run.
#
# Everything the cluster keeps lives under $HOARD_CLUSTER_DIR (state that survives down/up:
# certificates, etcd data, containerd's images, volumes) and $HOARD_CLUSTER_RUN (sockets, PID
# files), never in the repo: CI clones the repo afresh, while the machine (and so this state and
# the machine cache) is kept.

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN=$ROOT/bin
HOARD_CACHE=${HOARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hoard}
HOARD_CLUSTER_DIR=${HOARD_CLUSTER_DIR:-/var/lib/hoard-cluster}
HOARD_CLUSTER_RUN=${HOARD_CLUSTER_RUN:-/run/hoard-cluster}

STATE=$HOARD_CLUSTER_DIR
RUN=$HOARD_CLUSTER_RUN
PKI=$STATE/pki
LOGS=$STATE/logs
PIDS=$RUN/pids
KUBECONFIG_ADMIN=$STATE/admin.kubeconfig

# containerd of the cluster: its own config, root, state and socket, so that it never meets a
# system containerd and `down` knows exactly which daemon is its own.
CONTAINERD_SOCK=$RUN/containerd/containerd.sock

# Addresses. The node IP sits on a bridge that up.sh creates (hoardnode0): the VM's own eth0
# address differs between machines and belongs to the sandbox network, while this one is ours,
# stable, and in the certificates.
NODE_IP=10.250.0.1
NODE_BRIDGE=hoardnode0
CNI_BRIDGE=hoardcni0
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
CLUSTER_DOMAIN=cluster.local
API_PORT=6443
# etcd on ports that envtest's random ports and a system etcd (2379) do not use.
ETCD_CLIENT_PORT=23790
ETCD_PEER_PORT=23800

# Images the cluster itself needs (built by up.sh from scratch; no registry is reachable).
PAUSE_IMAGE=hoard.local/pause:3.10
COREDNS_IMAGE=hoard.local/coredns:1.12.4

# OCI archives that hack/images.sh builds; up.sh imports any that containerd lacks.
IMAGE_ARCHIVES=$HOARD_CACHE/images/oci

log() { printf '\033[1m[cluster %(%H:%M:%S)T]\033[0m %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# cluster_lock: one up/down at a time on this machine (two `make demo`s, or an up while a down
# drains). Held on fd 7 until the script exits; the daemons up.sh starts must not inherit it.
cluster_lock() {
  [ -n "${HOARD_CLUSTER_LOCKED:-}" ] && return 0
  exec 7>/run/hoard-cluster.lock
  if ! flock -n 7; then
    log "another up/down of the cluster is running: waiting for it"
    flock 7
  fi
  export HOARD_CLUSTER_LOCKED=1
}

need_root() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (containerd, kubelet, iptables and mounts need it)"
}

# ctr against the cluster's containerd, in the namespace the CRI plugin uses.
kctr() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

containerd_running() {
  [ -S "$CONTAINERD_SOCK" ] && kctr version >/dev/null 2>&1
}

# pid_alive NAME: the process recorded in $PIDS/NAME.pid is running and is still the program
# it was (a recycled PID must not count).
pid_alive() {
  local f=$PIDS/$1.pid pid
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  [ -d "/proc/$pid" ] || return 1
  [ "$(pid_program "$pid")" = "$(cat "$PIDS/$1.exe" 2>/dev/null)" ]
}

# pid_program PID: the base name of the program PID runs (empty once it is gone).
pid_program() {
  local exe
  exe=$(head -c 4096 "/proc/$1/cmdline" 2>/dev/null | tr '\0' '\n' | head -1)
  [ -z "$exe" ] || basename "$exe"
}

# group_alive PGID: a live (not zombie) process is left in the process group. The exited
# leader stays a zombie until init reaps it, which can take a while here.
group_alive() {
  local p st
  for p in $(pgrep -g "$1" 2>/dev/null || true); do
    st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || true)
    [ -n "$st" ] && [ "$st" != Z ] && return 0
  done
  return 1
}

# stop NAME [SECONDS]: SIGTERM the process group up.sh started for NAME (it ran under setsid, so
# its PID is the group's), SIGKILL it after SECONDS, and forget it.
stop() {
  local name=$1 timeout=${2:-20} pid i
  if pid_alive "$name"; then
    pid=$(cat "$PIDS/$name.pid")
    log "stopping $name ($pid)"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 10; i++)); do
      group_alive "$pid" || break
      sleep 0.1
    done
    if group_alive "$pid"; then
      log "  $name did not stop in ${timeout}s: SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do group_alive "$pid" || break; sleep 0.1; done
    fi
  fi
  rm -f "$PIDS/$name.pid" "$PIDS/$name.exe" "$PIDS/$name.started" "$PIDS/$name.cmd"
}

# import_archive FILE: load an OCI archive into the cluster's containerd (k8s.io namespace).
import_archive() {
  kctr images import "$1" >/dev/null
}

# archive_ref FILE: the image name an OCI archive made by `buildah push ... oci-archive:F:REF`
# carries.
archive_ref() {
  tar -xOf "$1" index.json | jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"] // empty'
}

# load_archive FILE [REF]: import an OCI archive into the cluster's containerd unless containerd
# already has this exact manifest under that name (a warm `up` then imports nothing).
load_archive() {
  local archive=$1 ref=${2:-} want have
  [ -n "$ref" ] || ref=$(archive_ref "$archive")
  containerd_running || { log "  $ref: cluster not running; test/cluster/up.sh will load it"; return 0; }
  want=$(tar -xOf "$archive" index.json | jq -r '.manifests[0].digest')
  have=$(kctr images ls "name==$ref" 2>/dev/null | awk 'NR==2 {print $3}')
  if [ "$want" != "$have" ]; then
    import_archive "$archive"
    log "  loaded $ref into the cluster"
  fi
}
