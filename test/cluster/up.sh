#!/usr/bin/env bash
# Brings up a real one-node Kubernetes cluster on this machine, where pods really run:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy (iptables),
# containerd + runc + a CNI bridge, CoreDNS, a pause image, and a default StorageClass.
# Docker, kind and k3s do not run here; everything is built from Debian packages and the Go
# module proxy (hack/tools.sh) and cached on the machine.
#
# Idempotent: what already runs is left alone, what is missing is started. State (certificates,
# etcd, containerd's images, volumes) stays in $HOARD_CLUSTER_DIR across down/up;
# `test/cluster/down.sh` stops exactly what this started (PID files in $HOARD_CLUSTER_RUN/pids).
#
# Prints `export KUBECONFIG=...` on its last line.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=lib.sh
source "$ROOT/test/cluster/lib.sh"

NODE=$(hostname | tr '[:upper:]' '[:lower:]')
ETC=$STATE/etc
START_TS=$(date +%s)

# --- prerequisites ----------------------------------------------------------------------------

install_prereqs() {
  log "packages and tools"
  # The Debian packages (containerd, runc, CNI plugins, iptables, conntrack, procps, ...) and
  # the Kubernetes binaries: the table of area "cluster" in hack/preflight.sh, installed and
  # then checked, so nothing starts with a missing or dangling program.
  "$ROOT/hack/preflight.sh" --install cluster
  mkdir -p "$STATE" "$RUN" "$PKI" "$LOGS" "$PIDS" "$ETC" "$IMAGE_ARCHIVES"
  chmod 0700 "$PKI"
}

# --- host networking --------------------------------------------------------------------------

# The node IP lives on a bridge of our own (no ports: it only carries the address). The kernel
# here has no dummy links; a portless bridge that is up answers for its address all the same.
node_network() {
  if ! ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
    ip link add "$NODE_BRIDGE" type bridge
  fi
  # (No `| grep -q` under pipefail: grep's early exit can fail the pipeline with SIGPIPE.)
  [[ "$(ip -o addr show dev "$NODE_BRIDGE")" == *" $NODE_IP/"* ]] || ip addr add "$NODE_IP/32" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up

  # Forwarding between the pod bridge and the host, and iptables on bridged traffic (service
  # VIPs from pod to pod). The old values go back on `down`.
  local key f
  for key in net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables; do
    f=/proc/sys/${key//.//}
    [ -e "$f" ] || continue
    [ -e "$RUN/sysctl.$key" ] || cat "$f" >"$RUN/sysctl.$key"
    echo 1 >"$f"
  done

  # Pods talk to each other, to the node and to services, never to the outside network: there
  # is nothing for them there, and only addresses on this machine may be reached.
  iptables -w -N HOARD-EGRESS 2>/dev/null || true
  iptables -w -F HOARD-EGRESS
  iptables -w -A HOARD-EGRESS -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j REJECT
  iptables -w -C FORWARD -j HOARD-EGRESS 2>/dev/null || iptables -w -I FORWARD 1 -j HOARD-EGRESS
}

# write_file FILE: stdin to FILE, only if it differs, by an atomic rename. Running components
# watch some of these files: kube-proxy exits when its config file is written at all, and
# containerd reloads the CNI config on every write (and may read it half-written).
write_file() {
  local tmp
  tmp=$(mktemp "$STATE/.write.XXXXXX")
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else chmod 0644 "$tmp"; mv "$tmp" "$1"; fi
}

# --- certificates and kubeconfigs -------------------------------------------------------------

# ca NAME: a self-signed certificate authority $PKI/NAME.{crt,key}.
ca() {
  local name=$1
  [ -s "$PKI/$name.crt" ] && [ -s "$PKI/$name.key" ] && return 0
  log "certificate authority $name"
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  openssl req -x509 -new -nodes -key "$PKI/$name.key" -sha256 -days 3650 -subj "/CN=hoard-cluster-$name" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$PKI/$name.crt" 2>/dev/null
}

# cert NAME SUBJECT USAGE [SAN...]: a key pair signed by the cluster CA ($CA_NAME, default ca).
# USAGE is serverAuth, clientAuth or both. Reissued when the SANs or subject change (another
# host name, another node IP).
cert() {
  local name=$1 subj=$2 usage=$3 ca=${CA_NAME:-ca}; shift 3
  local sans="" want
  [ $# -gt 0 ] && sans=$(IFS=,; echo "$*")
  want="$subj|$usage|$sans"
  if [ -s "$PKI/$name.crt" ] && [ "$(cat "$PKI/$name.spec" 2>/dev/null)" = "$want" ]; then return 0; fi
  local ext=$PKI/$name.ext
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [ -n "$sans" ] && echo "subjectAltName=$sans"
  } >"$ext"
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" -CAcreateserial \
    -sha256 -days 3650 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
  echo "$want" >"$PKI/$name.spec"
}

# kubeconfig FILE CERT SERVER: a kubeconfig with the CA and the client certificate embedded, so
# it can be copied anywhere.
kubeconfig() {
  local file=$1 name=$2 server=$3
  cat >"$file.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: hoard
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $name
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$name.crt")
    client-key-data: $(base64 -w0 "$PKI/$name.key")
contexts:
- name: hoard
  context: {cluster: hoard, user: $name}
current-context: hoard
EOF
  chmod 0600 "$file.tmp"
  if cmp -s "$file.tmp" "$file"; then rm -f "$file.tmp"; else mv "$file.tmp" "$file"; fi
}

pki() {
  log "certificates"
  ca ca
  # The aggregation layer's front proxy has a CA of its own, as in kubeadm; the controller-
  # manager and scheduler read it for delegated authentication (and complain without it).
  ca front-proxy-ca
  CA_NAME=front-proxy-ca cert front-proxy-client "/CN=front-proxy-client" clientAuth
  local api=https://127.0.0.1:$API_PORT
  cert apiserver "/CN=kube-apiserver" serverAuth \
    DNS:kubernetes DNS:kubernetes.default DNS:kubernetes.default.svc "DNS:kubernetes.default.svc.$CLUSTER_DOMAIN" \
    DNS:localhost "DNS:$NODE" IP:127.0.0.1 "IP:$NODE_IP" "IP:$API_SERVICE_IP"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  cert admin "/O=system:masters/CN=kubernetes-admin" clientAuth
  cert controller-manager "/CN=system:kube-controller-manager" clientAuth
  cert scheduler "/CN=system:kube-scheduler" clientAuth
  cert kube-proxy "/CN=system:kube-proxy" clientAuth
  cert kubelet "/O=system:nodes/CN=system:node:$NODE" clientAuth
  # The API server dials the kubelet (logs, exec, port-forward) by the node's address and checks
  # this certificate against the CA: the host name and node IP must be in it.
  cert kubelet-serving "/CN=$NODE" serverAuth "DNS:$NODE" "IP:$NODE_IP" IP:127.0.0.1 DNS:localhost
  if [ ! -s "$PKI/sa.key" ]; then
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
  kubeconfig "$KUBECONFIG_ADMIN" admin "$api"
  kubeconfig "$ETC/controller-manager.kubeconfig" controller-manager "$api"
  kubeconfig "$ETC/scheduler.kubeconfig" scheduler "$api"
  kubeconfig "$ETC/kube-proxy.kubeconfig" kube-proxy "$api"
  kubeconfig "$ETC/kubelet.kubeconfig" kubelet "$api"
}

# --- processes --------------------------------------------------------------------------------

# start NAME CMD...: run CMD in its own session (so an interrupted make does not take it down),
# logging to $LOGS/NAME.log, and record its PID and command line for pid_alive and down.sh.
# Does nothing if NAME already runs with this command line; restarts it if the command line
# changed (a newer up.sh, another binary), so that `up` converges.
start() {
  local name=$1; shift
  # The resolved binary: a rebuilt tool (new cache key) is a changed command line.
  set -- "$(readlink -f "$1")" "${@:2}"
  if pid_alive "$name"; then
    [ "$(cat "$PIDS/$name.cmd" 2>/dev/null)" = "$*" ] && return 0
    log "restarting $name: its command line changed"
    stop "$name"
  fi
  log "starting $name"
  echo "--- $(date -Is) $*" >>"$LOGS/$name.log"
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 7>&- &
  local pid=$! program i
  program=$(basename "$1")
  # The child is bash, then setsid, before it execs the program, and pid_alive would take it
  # for a recycled PID in between ("containerd exited" on a busy machine): wait for the exec.
  for ((i = 0; i < 100; i++)); do
    [ -d "/proc/$pid" ] && [ "$(pid_program "$pid")" != "$program" ] || break
    sleep 0.05
  done
  echo "$pid" >"$PIDS/$name.pid"
  echo "$program" >"$PIDS/$name.exe"
  date +%s >"$PIDS/$name.started"
  echo "$*" >"$PIDS/$name.cmd"
}

# wait_for NAME SECONDS CMD...: poll CMD until it succeeds; fail early, with the component's
# log, if its process died.
wait_for() {
  local name=$1 timeout=$2; shift 2
  local deadline=$(($(date +%s) + timeout))
  until "$@" >/dev/null 2>&1; do
    if [ -e "$PIDS/$name.pid" ] && ! pid_alive "$name"; then
      tail -30 "$LOGS/$name.log" >&2
      die "$name exited"
    fi
    [ "$(date +%s)" -lt "$deadline" ] || { tail -30 "$LOGS/$name.log" >&2 2>/dev/null; die "timed out waiting for $name"; }
    sleep 0.5
  done
}

k() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

# --- containerd and images --------------------------------------------------------------------

containerd_config() {
  mkdir -p "$STATE/containerd" "$RUN/containerd" "$STATE/cni/net.d" "$STATE/cni/ipam"
  write_file "$ETC/containerd.toml" <<EOF
# containerd of the hoard test cluster (test/cluster/up.sh): its own root, state and socket.
version = 2
root = "$STATE/containerd"
state = "$RUN/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$CONTAINERD_SOCK"

[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # This VM refuses negative oom_score_adj; without this every sandbox fails to start
  # ("can't get final child's PID from pipe").
  restrict_oom_score_adj = true
  enable_unprivileged_ports = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
    max_conf_num = 1
EOF
  write_file "$STATE/cni/net.d/10-hoard.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "hoard",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$CNI_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$STATE/cni/ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

start_containerd() {
  containerd_config
  start containerd /usr/bin/containerd --config "$ETC/containerd.toml"
  wait_for containerd 60 containerd_running
}

# scratch_image REF BINARY ENTRYPOINT: a one-binary image made with buildah, kept as an OCI
# archive in the machine cache (rebuilt when the binary changes) and loaded into containerd.
scratch_image() {
  local ref=$1 binary=$2 entry=$3
  local archive key
  archive=$IMAGE_ARCHIVES/$(echo "$ref" | tr '/:' '__').tar
  key=$(sha256sum "$binary" | cut -c1-16)
  if [ ! -s "$archive" ] || [ "$(cat "$archive.key" 2>/dev/null)" != "$key" ]; then
    log "building $ref"
    local c
    c=$(buildah from --pull=false scratch)
    buildah copy --quiet "$c" "$binary" "$entry" >/dev/null
    buildah config --entrypoint "[\"$entry\"]" --os linux --arch amd64 "$c"
    buildah commit --quiet --rm "$c" "$ref" >/dev/null
    rm -f "$archive"
    buildah push --quiet "$ref" "oci-archive:$archive.tmp:$ref" >/dev/null
    mv "$archive.tmp" "$archive"
    echo "$key" >"$archive.key"
  fi
  load_archive "$archive" "$ref"
}

cluster_images() {
  # The pause binary: built from test/cluster/images/pause into the machine cache, keyed by its
  # source, so a warm up skips the Go build.
  local src=$ROOT/test/cluster/images/pause key pause
  key=$(cat "$src/main.go" "$src/go.mod" | sha256sum | cut -c1-16)
  pause=$HOARD_CACHE/cluster/pause-$key
  if [ ! -x "$pause" ]; then
    mkdir -p "$HOARD_CACHE/cluster"
    (cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$pause.tmp" .)
    mv "$pause.tmp" "$pause"
  fi
  scratch_image "$PAUSE_IMAGE" "$pause" /pause
  scratch_image "$COREDNS_IMAGE" "$(readlink -f "$BIN/coredns")" /coredns
  # Images hack/images.sh built while the cluster was down.
  local a
  for a in "$IMAGE_ARCHIVES"/*.tar; do
    [ -e "$a" ] || continue
    load_archive "$a"
  done
}

# --- control plane ----------------------------------------------------------------------------

# etcd_minor BIN: the major.minor of an etcd binary ("3.6").
etcd_minor() { "$1" --version | awk '/^etcd Version:/ {split($3, v, "."); print v[1] "." v[2]}'; }

# etcd_data: an etcd data directory opens only with the minor that wrote it or the next one:
# 3.6 panics on 3.4's ("removed all voters"). This is a test cluster whose contents each run
# installs again, so when the minor changes (Debian's 3.4 before docs/design/0034) the whole
# cluster stops (down.sh: a kubelet registered in the old etcd would never register again)
# and starts from an empty etcd. Before anything starts, like recover.
etcd_data() {
  [ -d "$STATE/etcd/member" ] || return 0
  [ -x "$BIN/etcd" ] || "$ROOT/hack/tools.sh" etcd
  local want have
  want=$(etcd_minor "$BIN/etcd")
  have=$(cat "$STATE/etcd.minor" 2>/dev/null || echo 3.4)
  if [ "$have" != "$want" ]; then
    log "the etcd data was written by etcd $have, which etcd $want cannot open: the cluster starts again from an empty etcd"
    "$ROOT/test/cluster/down.sh"
    rm -rf "$STATE/etcd"
  fi
}

start_etcd() {
  local want
  want=$(etcd_minor "$BIN/etcd")
  mkdir -p "$STATE/etcd"
  chmod 0700 "$STATE/etcd"
  local c=http://127.0.0.1:$ETCD_CLIENT_PORT p=http://127.0.0.1:$ETCD_PEER_PORT
  start etcd "$BIN/etcd" --name hoard --data-dir "$STATE/etcd" \
    --listen-client-urls "$c" --advertise-client-urls "$c" \
    --listen-peer-urls "$p" --initial-advertise-peer-urls "$p" --initial-cluster "hoard=$p" \
    --auto-compaction-retention 1h --quota-backend-bytes 2147483648 --log-level warn
  wait_for etcd 60 curl -fsS "$c/health"
  echo "$want" >"$STATE/etcd.minor"
}

start_apiserver() {
  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --advertise-address "$NODE_IP" --bind-address 0.0.0.0 --secure-port "$API_PORT" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --client-ca-file "$PKI/ca.crt" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --service-account-issuer "https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
    --service-account-key-file "$PKI/sa.pub" \
    --service-account-signing-key-file "$PKI/sa.key" \
    --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" \
    --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User \
    --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$PKI/front-proxy-client.crt" \
    --proxy-client-key-file "$PKI/front-proxy-client.key" \
    --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction \
    --allow-privileged=true \
    --profiling=false \
    --v 1
  wait_for kube-apiserver 120 k get --raw /readyz
}

start_controllers() {
  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$ETC/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$ETC/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$ETC/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 \
    --use-service-account-credentials \
    --root-ca-file "$PKI/ca.crt" \
    --service-account-private-key-file "$PKI/sa.key" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --leader-elect=false \
    --profiling=false \
    --v 1
  start kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig "$ETC/scheduler.kubeconfig" \
    --authentication-kubeconfig "$ETC/scheduler.kubeconfig" \
    --authorization-kubeconfig "$ETC/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 \
    --leader-elect=false \
    --profiling=false \
    --v 1
}

# --- node -------------------------------------------------------------------------------------

start_kubelet() {
  mkdir -p "$STATE/kubelet" "$STATE/pod-logs"
  write_file "$ETC/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
# This VM: cgroup v1 (hybrid) without systemd managing cgroups, and swap settings we do not own.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
clusterDomain: $CLUSTER_DOMAIN
clusterDNS: [$DNS_SERVICE_IP]
podLogsDir: $STATE/pod-logs
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
# A test node with plenty of disk: no image GC or disk-pressure evictions of the imported
# images (they cannot be pulled again).
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  imagefs.available: 1%
  nodefs.inodesFree: 1%
serializeImagePulls: false
rotateCertificates: false
serverTLSBootstrap: false
shutdownGracePeriod: 0s
EOF
  start kubelet "$BIN/kubelet" \
    --config "$ETC/kubelet.yaml" \
    --kubeconfig "$ETC/kubelet.kubeconfig" \
    --root-dir "$STATE/kubelet" \
    --cert-dir "$STATE/kubelet/pki" \
    --hostname-override "$NODE" \
    --node-ip "$NODE_IP" \
    --v 1
}

start_kube_proxy() {
  write_file "$ETC/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $ETC/kube-proxy.kubeconfig
mode: iptables
clusterCIDR: 10.244.0.0/16
hostnameOverride: $NODE
bindAddress: 0.0.0.0
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: [primary]
# Leave the VM's conntrack sysctls as they are (0 = do not touch).
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOF
  start kube-proxy "$BIN/kube-proxy" --config "$ETC/kube-proxy.yaml" --v 1
}

# --- add-ons ----------------------------------------------------------------------------------

# apply FILE: kubectl apply, again for up to a minute while it fails. An API server that has
# just started passes /readyz before its OpenAPI document is complete (kubernetes#104324), and
# kubectl's validation fails until it is; a kept cluster restarts straight into that window.
apply() {
  local out i
  for ((i = 0; i < 60; i++)); do
    out=$(k apply -f "$1" 2>&1) && return 0
    sleep 1
  done
  printf '%s\n' "$out" >&2
  die "kubectl apply -f $1 failed for a minute"
}

addons() {
  log "add-ons: CoreDNS, default StorageClass"
  sed -e "s|@COREDNS_IMAGE@|$COREDNS_IMAGE|g" -e "s|@DNS_SERVICE_IP@|$DNS_SERVICE_IP|g" \
    -e "s|@CLUSTER_DOMAIN@|$CLUSTER_DOMAIN|g" "$ROOT/test/cluster/manifests/coredns.yaml" |
    write_file "$ETC/coredns.yaml"
  apply "$ETC/coredns.yaml"
  apply "$ROOT/test/cluster/manifests/storage.yaml"
  mkdir -p "$STATE/volumes"
  start hostpath-provisioner /bin/bash "$ROOT/test/cluster/hostpath-provisioner.sh" \
    "$BIN/kubectl" "$KUBECONFIG_ADMIN" "$STATE/volumes"
}

# node_ready: Ready, as reported by the kubelet that runs now: after a down/up the Node object
# still says Ready from before, so the status must be newer than the kubelet's start (which
# posts it at once; later it is refreshed only every few minutes when nothing changes).
node_ready() {
  local st hb
  curl -fsS http://127.0.0.1:10248/healthz >/dev/null || return 1
  read -r st hb < <(k get node "$NODE" -o jsonpath='{range .status.conditions[?(@.type=="Ready")]}{.status} {.lastHeartbeatTime}{end}')
  [ "$st" = True ] && [ "$(date -d "$hb" +%s)" -ge "$(cat "$PIDS/kubelet.started" 2>/dev/null || echo 0)" ]
}

# dns_ready: a CoreDNS endpoint is ready behind the kube-dns Service (a Deployment's status can
# be stale from before a down, an EndpointSlice's ready endpoint cannot).
dns_ready() {
  [ -n "$(k -n kube-system get endpointslices -l kubernetes.io/service-name=kube-dns \
    -o jsonpath='{.items[*].endpoints[?(@.conditions.ready==true)].addresses[0]}')" ]
}

# The default ServiceAccount appears only once the controller-manager runs; pods need it.
default_sa() { k -n default get serviceaccount default; }

# recover: when no component of ours runs but a previous cluster left things behind (its
# session ended, the machine's processes were killed), sweep them with down.sh first: stale
# mounts, shims, network namespaces, iptables chains.
recover() {
  local c
  for c in containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy hostpath-provisioner; do
    pid_alive "$c" && return 0
  done
  if [ -n "$(ls -A "$PIDS" 2>/dev/null)" ] || ip link show "$NODE_BRIDGE" >/dev/null 2>&1 ||
    [ -n "$(findmnt -rn -o TARGET | grep -E "^($STATE|$RUN)/" || true)" ]; then
    log "a previous cluster left state behind: cleaning up first"
    "$ROOT/test/cluster/down.sh"
  fi
}

main() {
  need_root
  cluster_lock
  recover
  etcd_data
  install_prereqs
  node_network
  pki
  start_containerd
  cluster_images
  start_etcd
  start_apiserver
  start_controllers
  start_kubelet
  start_kube_proxy
  wait_for kubelet 120 node_ready
  addons
  wait_for kube-controller-manager 60 default_sa
  wait_for kubelet 120 dns_ready

  mkdir -p "$BIN/cluster"
  ln -sfn "$KUBECONFIG_ADMIN" "$BIN/cluster/kubeconfig"
  log "cluster up in $(($(date +%s) - START_TS))s: node $NODE ($NODE_IP), logs in $LOGS"
  echo "export KUBECONFIG=$KUBECONFIG_ADMIN"
}

main "$@"
