#!/usr/bin/env bash
# Stops the local cluster that test/cluster/up.sh started, and leaves nothing of it running:
# the processes recorded in its PID files, the containers and shims its containerd started, the
# mounts under its directories, its network namespaces, bridges and iptables chains, and the
# sysctls it changed. State (certificates, etcd, containerd's images, volumes) is kept for the
# next `up`, unless --purge is given.
#
#   test/cluster/down.sh [--purge]
#
# Idempotent: running it with nothing up does nothing (and still sweeps leftovers of a crash).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=lib.sh
source "$ROOT/test/cluster/lib.sh"

PURGE=false
[ "${1:-}" = --purge ] && PURGE=true

k() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" --request-timeout=10s "$@"; }

# drain_pods: with the controllers stopped (nothing recreates pods), delete every pod through
# the API and let the kubelet tear them down properly: StopPodSandbox runs the CNI DEL (IP
# released, veth and netns gone) and the kubelet unmounts their volumes. The Deployments,
# Jobs... stay in etcd and get their pods back on the next `up`.
drain_pods() {
  pid_alive kube-apiserver && pid_alive kubelet && k get --raw /readyz >/dev/null 2>&1 || return 0
  local n
  n=$(k get pods -A --no-headers 2>/dev/null | wc -l)
  [ "$n" -gt 0 ] || return 0
  log "deleting $n pods through the kubelet"
  k delete pods --all -A --grace-period=2 --wait=true --timeout=90s >/dev/null 2>&1 ||
    log "  pods did not all go in time; containerd's leftovers are removed below"
  # The kubelet unmounts volumes and removes pod dirs shortly after the pods are gone.
  local i
  for ((i = 0; i < 20; i++)); do
    [ -n "$(findmnt -rn -o TARGET | grep "^$STATE/kubelet/pods/" || true)" ] || break
    sleep 0.5
  done
}

# kill_tasks: whatever containers containerd still runs (pods the kubelet could not stop):
# kill and delete their tasks, which ends their shims and unmounts their root filesystems.
kill_tasks() {
  containerd_running || return 0
  local ids id
  ids=$(kctr tasks ls -q 2>/dev/null || true)
  [ -n "$ids" ] || return 0
  log "killing $(echo "$ids" | wc -l) leftover containers"
  for id in $ids; do
    kctr tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
  done
  for id in $ids; do
    kctr tasks delete -f "$id" >/dev/null 2>&1 || true
  done
}

# our_shims: PIDs of containerd shims started by our containerd (they carry its socket address
# on their command line), if any survived it.
our_shims() {
  local p
  for p in /proc/[0-9]*; do
    [[ "$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null)" == *containerd-shim*" -address $CONTAINERD_SOCK "* ]] && basename "$p"
  done
  return 0
}

kill_shims() {
  local pids pid child
  pids=$(our_shims)
  [ -n "$pids" ] || return 0
  log "killing leftover shims: $pids"
  for pid in $pids; do
    # The shim's container processes first (children of the shim), then the shim.
    for child in $(pgrep -P "$pid" || true); do kill -KILL "$child" 2>/dev/null || true; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}

# kill_pod_processes: processes still in the kubelet's pod cgroups (their shim is gone, e.g.
# after a crash or the end of the session that ran the cluster).
kill_pod_processes() {
  local pids
  mapfile -t pids < <(cat /sys/fs/cgroup/*/kubepods/cgroup.procs /sys/fs/cgroup/*/kubepods/*/cgroup.procs \
    /sys/fs/cgroup/*/kubepods/*/*/cgroup.procs /sys/fs/cgroup/*/kubepods/*/*/*/cgroup.procs 2>/dev/null | sort -un || true)
  [ "${#pids[@]}" -gt 0 ] || return 0
  log "killing leftover pod processes: ${pids[*]}"
  kill -KILL "${pids[@]}" 2>/dev/null || true
  sleep 0.5
}

# unmount_ours: every mount under the cluster's directories, deepest first.
unmount_ours() {
  local m mounts
  mounts=$(findmnt -rn -o TARGET | grep -E "^($STATE|$RUN)(/|$)" | sort -r || true)
  for m in $mounts; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "  could not unmount $m"
  done
}

# remove_netns: CNI network namespaces left by sandboxes containerd did not stop (containerd
# names them cni-<uuid>; nothing else on this machine makes those). Only ones with no process.
remove_netns() {
  local ns
  for ns in /run/netns/cni-*; do
    [ -e "$ns" ] || continue
    [ -z "$(ip netns pids "$(basename "$ns")" 2>/dev/null)" ] || continue
    ip netns delete "$(basename "$ns")" 2>/dev/null || { umount "$ns" 2>/dev/null; rm -f "$ns"; }
  done
}

# sweep_iptables CMD: the chains of kube-proxy (after its own --cleanup), the kubelet
# (KUBE-*), the CNI plugins (CNI-*) and up.sh (HOARD-*): rules that jump to them from other
# chains first, then the chains.
sweep_iptables() {
  local ipt=$1 table rule rules chains c
  command -v "$ipt" >/dev/null || return 0
  for table in filter nat mangle; do
    rules=$("$ipt-save" -t "$table" 2>/dev/null | grep -E '^-A ' | grep -vE '^-A (KUBE-|CNI-|HOARD-)' |
      grep -E -- '-j (KUBE-|CNI-|HOARD-)' || true)
    while read -r rule; do
      [ -n "$rule" ] || continue
      # iptables-save quotes comments the way a shell does.
      eval "\"$ipt\" -w -t \"$table\" -D ${rule#-A }" 2>/dev/null || true
    done <<<"$rules"
    chains=$("$ipt-save" -t "$table" 2>/dev/null | awk '/^:(KUBE-|CNI-|HOARD-)/ {print substr($1, 2)}' || true)
    for c in $chains; do "$ipt" -w -t "$table" -F "$c" 2>/dev/null || true; done
    for c in $chains; do "$ipt" -w -t "$table" -X "$c" 2>/dev/null || true; done
  done
}

network_cleanup() {
  if [ -x "$BIN/kube-proxy" ]; then
    "$BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  fi
  sweep_iptables iptables
  sweep_iptables ip6tables
  remove_netns
  local l
  for l in "$CNI_BRIDGE" "$NODE_BRIDGE"; do
    ip link show "$l" >/dev/null 2>&1 && ip link delete "$l"
  done
  # veths of pods whose netns went away go with it; any left on our bridge went with the bridge.
  local f key
  for f in "$RUN"/sysctl.*; do
    [ -e "$f" ] || continue
    key=${f#"$RUN"/sysctl.}
    cat "$f" >"/proc/sys/${key//.//}" 2>/dev/null || true
    rm -f "$f"
  done
}

# remove_cgroups: the kubelet's (empty) kubepods hierarchy in every cgroup v1 controller.
remove_cgroups() {
  local d
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods /sys/fs/cgroup/unified/kubepods; do
    [ -d "$d" ] || continue
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

main() {
  need_root
  cluster_lock
  mkdir -p "$PIDS"
  # Nothing may recreate or reschedule pods while they are drained.
  stop hostpath-provisioner 5
  stop kube-controller-manager
  stop kube-scheduler
  drain_pods
  stop kubelet
  stop kube-proxy
  kill_tasks
  stop kube-apiserver
  stop etcd
  stop containerd
  kill_shims
  kill_pod_processes
  unmount_ours
  network_cleanup
  remove_cgroups
  # The kubelet links every container log into /var/log/containers; ours point into $STATE.
  find /var/log/containers -maxdepth 1 -lname "$STATE/*" -delete 2>/dev/null || true
  if $PURGE; then
    log "purging $STATE"
    rm -rf --one-file-system "$STATE" "$RUN"
    rm -f "$BIN/cluster/kubeconfig"
  fi
  log "cluster down"
}

main "$@"
