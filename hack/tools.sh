#!/usr/bin/env bash
# Builds pinned tools from hack/tools/<name>/go.mod into a machine-level cache and links them
# into bin/. The cache key is the hash of the tool's go.mod and go.sum, so bumping a version in
# go.mod rebuilds exactly that tool; a fresh clone on a warm machine only makes links.
#
#   hack/tools.sh controller-gen restic ...   build the named tools
#   hack/tools.sh all                         build every tool
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${HOARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hoard}
bin=$root/bin
mkdir -p "$bin" "$cache"
# go fetches modules from the proxy over HTTPS: a fresh Debian has no CA certificates.
"$root/hack/apt.sh" ca-certificates

# name -> "package [package...]" built from hack/tools/<module>/
declare -A pkgs=(
  [controller-gen]="controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen"
  [restic]="restic github.com/restic/restic/cmd/restic"
  # restic 0.12.1, what upstream Stash shipped: the data-path tests write Stash-era
  # repositories with it. The checksum database has no entry for it: its go.sum was made with
  # GONOSUMDB=github.com/restic/restic (builds only read go.sum).
  [restic-0.12]="restic-0.12 github.com/restic/restic/cmd/restic"
  [rest-server]="rest-server github.com/restic/rest-server/cmd/rest-server"
  [versitygw]="versitygw github.com/versity/versitygw/cmd/versitygw"
  [helm]="helm helm.sh/helm/v3/cmd/helm"
  [golangci-lint]="golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
  [kube-apiserver]="kube k8s.io/kubernetes/cmd/kube-apiserver"
  [kube-controller-manager]="kube k8s.io/kubernetes/cmd/kube-controller-manager"
  [kube-scheduler]="kube k8s.io/kubernetes/cmd/kube-scheduler"
  [kubelet]="kube k8s.io/kubernetes/cmd/kubelet"
  [kube-proxy]="kube k8s.io/kubernetes/cmd/kube-proxy"
  [kubectl]="kube k8s.io/kubernetes/cmd/kubectl"
  [coredns]="coredns github.com/coredns/coredns"
  # promtool validates and unit-tests the alert rules (make test-alerts).
  [promtool]="promtool github.com/prometheus/prometheus/cmd/promtool"
  # Operator Lifecycle Manager and what its pods run, for the OLM install test
  # (test/install/olm.sh puts them in images).
  [olm]="olm github.com/operator-framework/operator-lifecycle-manager/cmd/olm"
  [olm-catalog]="olm github.com/operator-framework/operator-lifecycle-manager/cmd/catalog"
  [olm-copy-content]="olm github.com/operator-framework/operator-lifecycle-manager/cmd/copy-content"
  [olm-cpb]="olm github.com/operator-framework/operator-lifecycle-manager/util/cpb"
  [opm]="opm github.com/operator-framework/operator-registry/cmd/opm"
  [grpc-health-probe]="grpc-health-probe github.com/grpc-ecosystem/grpc-health-probe"
  # etcd at the minor Kubernetes 1.34 is released with (3.6), for envtest and the cluster:
  # Debian's 3.4 cannot answer the progress requests the API server needs to serve
  # consistent lists from its watch cache, so every list read etcd (docs/design/0034).
  [etcd]="etcd go.etcd.io/etcd/server/v3"
)

# name -> build tags. promtool without Prometheus's service-discovery plugins (cloud SDKs it
# does not need to check and test rules) builds in a fraction of the time.
declare -A tags=(
  [promtool]="remove_all_sd"
)

build() {
  local name=$1 spec=${pkgs[$1]:-}
  [ -n "$spec" ] || { echo "hack/tools.sh: unknown tool $name" >&2; return 1; }
  local mod=${spec%% *} pkg=${spec#* }
  local dir=$root/hack/tools/$mod
  local key buildtags=${tags[$1]:-}
  # Tags join the key only when set, so the keys of the other tools stay as they were.
  key=$({ cat "$dir/go.mod" "$dir/go.sum"; [ -z "$buildtags" ] || echo "tags=$buildtags"; } | sha256sum | cut -c1-16)
  local out=$cache/tools/$name-$key
  if [ ! -x "$out" ]; then
    local ldflags="-s -w"
    if [ "$mod" = kube ]; then
      local v
      v=$(awk '$1=="require" && $2=="k8s.io/kubernetes" {print $3}' "$dir/go.mod")
      local minor=${v#v1.}; minor=${minor%%.*}
      ldflags="$ldflags -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
    fi
    echo ">> building $name ($pkg)" >&2
    mkdir -p "$cache/tools"
    # A temporary name of this process's own: two targets may build the same tool at once.
    (cd "$dir" && CGO_ENABLED=0 go build -trimpath -tags "$buildtags" -ldflags "$ldflags" -o "$out.tmp.$$" "$pkg")
    mv "$out.tmp.$$" "$out"
  fi
  ln -sfn "$out" "$bin/$name"
}

targets=("$@")
if [ "${#targets[@]}" -eq 0 ] || [ "${targets[0]}" = all ]; then
  targets=("${!pkgs[@]}")
fi
for t in "${targets[@]}"; do
  build "$t"
done
