# shellcheck shell=bash
# The OLM install path of `make e2e-install`: Operator Lifecycle Manager itself (built here from
# the Go module proxy, hack/tools/olm), Hoard's bundle and catalog images, a CatalogSource, an
# OperatorGroup and a Subscription, the backup and restore, the uninstall through OLM, and OLM's
# removal. Sourced by test/install/lib.sh, not run.
#
# No registry is reachable, so every image is built here and imported into the cluster's
# containerd. OLM pulls the catalog and bundle images with imagePullPolicy Always unless they are
# named by digest (its InferImagePullPolicy), so both are named by digest, and the catalog lists
# the bundle by digest: a catalog rendered from bundle/ by `bundlecheck catalog`, exactly as
# `make catalog` does, with the digest in place of the tag.

OLM_VERSION=v0.28.0
# One image for OLM's operators and for what its pods run: opm (bundle unpack Jobs, and the
# catalog image's base), cpb and copy-content (the util image), grpc_health_probe (the registry
# pod's probes).
OLM_IMAGE=hoard.local/olm:$OLM_VERSION
BUNDLE_REPO=ghcr.io/hoard-operator/hoard-bundle
CATALOG_REPO=ghcr.io/hoard-operator/hoard-catalog
OLM_NS=olm
OLM_CHANNEL=candidate
# The namespace the OLM path installs Hoard into; its OperatorGroup selects every namespace
# (AllNamespaces), as the backup test makes its own namespace.
OLM_HOARD_NS=hoard-system
OLM_WORK=${OLM_WORK:-$HOARD_CACHE/install-olm}
# The namespaces olm_install_modes targets (besides $OLM_HOARD_NS).
MODE_NAMESPACES="hoard-mode-a hoard-mode-b"

# olm_manifests: OLM's upstream quickstart manifests from the module cache (the module that
# hack/tools/olm pins), with our image, the opm image flag (its default is an untagged :latest,
# which the kubelet would try to pull) and without the packageserver CSV and the public
# OperatorHub CatalogSource (neither can run without a registry).
olm_dir() {
  (cd "$ROOT/hack/tools/olm" && go list -m -f '{{.Dir}}' github.com/operator-framework/operator-lifecycle-manager)
}

olm_manifests() {
  local dir
  dir=$(olm_dir)
  awk -v img="$OLM_IMAGE" '
    function flush() { if (doc != "" && doc !~ /\nkind: (ClusterServiceVersion|CatalogSource)\n/) printf "---\n%s", doc; doc = "" }
    /^---/ { flush(); next }
    { line = $0
      sub(/quay\.io\/operator-framework\/olm@sha256:[0-9a-f]+/, img, line)
      doc = doc line "\n"
      if (line ~ /- -configmapServerImage=/) doc = doc "          - -opmImage=" img "\n" }
    END { flush() }' "$dir/deploy/upstream/quickstart/olm.yaml"
}

# build_load REF DOCKERFILE CONTEXT [BUILD-ARG...]: buildah bud, export to an OCI archive and
# import it into the cluster's containerd; prints the manifest digest (sha256:…). The image is
# also named REPO@DIGEST in containerd, the name OLM's pods ask for.
build_load() {
  local ref=$1 df=$2 ctx=$3 a digest args=()
  shift 3
  for a in "$@"; do args+=(--build-arg "$a"); done
  buildah bud --quiet --pull=false --network=host --layers "${args[@]}" -f "$df" -t "$ref" "$ctx" >/dev/null
  mkdir -p "$OLM_WORK"
  local archive
  archive=$OLM_WORK/$(echo "$ref" | tr '/:' '__').tar
  rm -f "$archive"
  buildah push --quiet "$ref" "oci-archive:$archive:$ref" >/dev/null
  digest=$(tar -xOf "$archive" index.json | jq -r '.manifests[0].digest')
  load_archive "$archive" "$ref" 2>/dev/null
  kctr images rm "${ref%:*}@$digest" >/dev/null 2>&1 || true
  kctr images tag "$ref" "${ref%:*}@$digest" >/dev/null
  echo "$digest"
}

# olm_images: OLM's image, then Hoard's bundle image (bundle.Dockerfile) and a catalog image
# (catalog.Dockerfile on opm from OLM's image) whose catalog names the bundle by digest.
olm_images() {
  say "OLM images: $OLM_IMAGE, the bundle (bundle.Dockerfile) and the catalog (catalog.Dockerfile)"
  make -C "$ROOT" --no-print-directory "$BIN/bundlecheck" >/dev/null
  "$ROOT/hack/tools.sh" olm olm-catalog olm-copy-content olm-cpb opm grpc-health-probe
  local ctx=$OLM_WORK/olm-context
  rm -rf "$ctx" && mkdir -p "$ctx"
  cp -L "$BIN/olm" "$BIN/olm-catalog" "$BIN/olm-copy-content" "$BIN/olm-cpb" "$BIN/opm" "$BIN/grpc-health-probe" "$ctx/"
  build_load "$OLM_IMAGE" "$ROOT/test/install/images/olm/Dockerfile" "$ctx" >/dev/null

  BUNDLE_DIGEST=$(build_load "$BUNDLE_REPO:v$VERSION" "$ROOT/bundle.Dockerfile" "$ROOT")
  ctx=$OLM_WORK/catalog-context
  rm -rf "$ctx" && mkdir -p "$ctx"
  "$BIN/bundlecheck" catalog -bundle "$ROOT/bundle" -bundle-image "$BUNDLE_REPO@$BUNDLE_DIGEST" -channel "$OLM_CHANNEL" -out "$ctx/catalog" >&2
  "$BIN/bundlecheck" validate-catalog "$ctx/catalog" >&2
  CATALOG_DIGEST=$(build_load "$CATALOG_REPO:v$VERSION" "$ROOT/catalog.Dockerfile" "$ctx" "OPM_IMAGE=$OLM_IMAGE")
  say "  bundle $BUNDLE_REPO@$BUNDLE_DIGEST, catalog $CATALOG_REPO@$CATALOG_DIGEST"
}

# olm_install: OLM's CRDs, then its operators; waits for both to be ready.
olm_install() {
  say "installing OLM $OLM_VERSION (olm-operator, catalog-operator and their CRDs)"
  kubectl apply --server-side --force-conflicts -f "$(olm_dir)/deploy/upstream/quickstart/crds.yaml" >/dev/null
  kubectl wait --for=condition=Established --timeout=60s -f "$(olm_dir)/deploy/upstream/quickstart/crds.yaml" >/dev/null
  olm_manifests | kubectl apply --server-side --force-conflicts -f - >/dev/null
  kubectl -n "$OLM_NS" rollout status deploy/olm-operator deploy/catalog-operator --timeout=180s >&2
}

# olm_subscribe: the README's OLM install: a CatalogSource on the catalog image, an
# OperatorGroup for every namespace, a Subscription to the channel with manual approval; the
# InstallPlan it makes is approved and the CSV must reach Succeeded.
olm_subscribe() {
  say "OLM: CatalogSource, OperatorGroup (AllNamespaces), Subscription (manual approval) in $OLM_HOARD_NS"
  kubectl apply -f - >&2 <<EOF
apiVersion: operators.coreos.com/v1alpha1
kind: CatalogSource
metadata:
  name: hoard-catalog
  namespace: $OLM_NS
spec:
  sourceType: grpc
  image: $CATALOG_REPO@$CATALOG_DIGEST
  displayName: Hoard
EOF
  kubectl -n "$OLM_NS" wait catalogsource/hoard-catalog --timeout=180s \
    --for=jsonpath='{.status.connectionState.lastObservedState}'=READY >&2
  kubectl create namespace "$OLM_HOARD_NS" --dry-run=client -o yaml | kubectl apply -f - >&2
  kubectl apply -f - >&2 <<EOF
apiVersion: operators.coreos.com/v1
kind: OperatorGroup
metadata:
  name: hoard
  namespace: $OLM_HOARD_NS
spec: {}
---
apiVersion: operators.coreos.com/v1alpha1
kind: Subscription
metadata:
  name: hoard
  namespace: $OLM_HOARD_NS
spec:
  name: hoard
  channel: $OLM_CHANNEL
  source: hoard-catalog
  sourceNamespace: $OLM_NS
  installPlanApproval: Manual
EOF
  local ip
  kubectl -n "$OLM_HOARD_NS" wait subscription/hoard --for=condition=InstallPlanPending --timeout=300s >&2
  ip=$(kubectl -n "$OLM_HOARD_NS" get subscription hoard -o jsonpath='{.status.installPlanRef.name}')
  [ -n "$ip" ] || { say "FAIL: the Subscription made no InstallPlan"; return 1; }
  say "OLM: approving InstallPlan $ip ($(kubectl -n "$OLM_HOARD_NS" get installplan "$ip" -o jsonpath='{.spec.clusterServiceVersionNames}'))"
  kubectl -n "$OLM_HOARD_NS" patch installplan "$ip" --type=merge -p '{"spec":{"approved":true}}' >&2
  kubectl -n "$OLM_HOARD_NS" wait installplan "$ip" --for=jsonpath='{.status.phase}'=Complete --timeout=300s >&2
  kubectl -n "$OLM_HOARD_NS" wait "csv/hoard.v$VERSION" --for=jsonpath='{.status.phase}'=Succeeded --timeout=300s >&2
  kubectl -n "$OLM_HOARD_NS" rollout status deploy/hoard-controller-manager --timeout=180s >&2
}

# path_olm: OLM, the install from the catalog, the backup and restore, and the uninstall.
path_olm() {
  olm_images
  olm_install
  olm_subscribe
  # The bundle cannot carry Tasks (they are objects of Hoard's own CRDs): a MySQLAddon installs them.
  say "OLM: MySQLAddon mysql installs the Tasks and Functions"
  kubectl apply -f - >&2 <<EOF
apiVersion: addons.hoard.io/v1alpha1
kind: MySQLAddon
metadata:
  name: $ADDON_NAME
EOF
  kubectl wait mysqladdon "$ADDON_NAME" --for=condition=Deployed --timeout=180s >&2
  run_backup_restore "$OLM_HOARD_NS" hoard-controller-manager
  olm_install_modes
  olm_uninstall_hoard
  assert_nothing_left "uninstall through OLM"
  olm_remove
}

# olm_install_modes: the CSV advertises AllNamespaces (the backup and restore ran under it),
# OwnNamespace, SingleNamespace and MultiNamespace. For each of the others the OperatorGroup is
# retargeted; OLM must bring the CSV back to Succeeded with the operator restarted on the new
# targets, and the operator must act on a BackupConfiguration in every target namespace (it
# gets a RepositoryFound condition: its Repository does not exist) and on none elsewhere (no
# status at all). The probes go before the next mode, while the operator still serves them.
olm_install_modes() {
  local a=${MODE_NAMESPACES% *} b=${MODE_NAMESPACES#* } spec mode targets n want got json
  for n in "$a" "$b"; do kubectl create namespace "$n" --dry-run=client -o yaml | kubectl apply -f - >/dev/null; done
  for spec in "OwnNamespace:$OLM_HOARD_NS" "SingleNamespace:$a" "MultiNamespace:$a,$b"; do
    mode=${spec%%:*} targets=${spec#*:}
    say "OLM install mode $mode: OperatorGroup hoard targets $targets"
    json="\"${targets//,/\",\"}\""
    kubectl -n "$OLM_HOARD_NS" patch operatorgroup hoard --type=merge -p "{\"spec\":{\"targetNamespaces\":[$json]}}" >&2
    kubectl -n "$OLM_HOARD_NS" wait deploy/hoard-controller-manager --timeout=180s \
      --for=jsonpath="{.spec.template.metadata.annotations.olm\.targetNamespaces}=$targets" >&2
    kubectl -n "$OLM_HOARD_NS" wait "csv/hoard.v$VERSION" --for=jsonpath='{.status.phase}'=Succeeded --timeout=180s >&2
    kubectl -n "$OLM_HOARD_NS" rollout status deploy/hoard-controller-manager --timeout=180s >&2
    for n in "$OLM_HOARD_NS" "$a" "$b"; do
      kubectl -n "$n" apply -f - >/dev/null <<EOF
apiVersion: stash.appscode.com/v1beta1
kind: BackupConfiguration
metadata:
  name: install-mode-probe
spec:
  schedule: "0 0 1 1 *"
  task: {name: mysql-backup-10.11}
  repository: {name: no-such-repository}
  target: {ref: {apiVersion: appcatalog.appscode.com/v1alpha1, kind: AppBinding, name: no-such-target}}
  retentionPolicy: {name: keep-last-1, keepLast: 1}
EOF
    done
    for n in "$OLM_HOARD_NS" "$a" "$b"; do
      [[ ",$targets," == *",$n,"* ]] || continue
      kubectl -n "$n" wait bc/install-mode-probe --for=condition=RepositoryFound=False --timeout=120s >&2
    done
    for n in "$OLM_HOARD_NS" "$a" "$b"; do
      want=acted; [[ ",$targets," == *",$n,"* ]] || want=ignored
      got=acted; [ -n "$(kubectl -n "$n" get bc install-mode-probe -o jsonpath='{.status.conditions}')" ] || got=ignored
      if [ "$got" != "$want" ]; then say "FAIL: $mode ($targets): the operator $got namespace $n's BackupConfiguration"; return 1; fi
      say "  $mode: namespace $n $got"
    done
    for n in "$OLM_HOARD_NS" "$a" "$b"; do kubectl -n "$n" delete bc install-mode-probe --wait=true --timeout=60s >/dev/null; done
  done
  kubectl delete namespace "$a" "$b" --wait=true --timeout=120s >&2
}

# olm_uninstall_hoard: the uninstall through OLM: the MySQLAddon (while the operator runs to
# remove its Tasks and finalizer), the Subscription and the CSV; then the OperatorGroup,
# the CatalogSource and the namespace. CRDs stay, as OLM leaves them.
olm_uninstall_hoard() {
  kubectl get crd subscriptions.operators.coreos.com >/dev/null 2>&1 || return 0
  say "uninstall through OLM: MySQLAddon, Subscription, CSV"
  kubectl delete mysqladdon --all --wait=true --timeout=120s >&2 2>/dev/null || true
  kubectl -n "$OLM_HOARD_NS" delete subscription hoard --ignore-not-found --wait=true --timeout=60s >&2
  kubectl -n "$OLM_HOARD_NS" delete csv "hoard.v$VERSION" --ignore-not-found --wait=true --timeout=120s >&2
  kubectl -n "$OLM_HOARD_NS" delete operatorgroup hoard --ignore-not-found --wait=true --timeout=60s >&2
  kubectl -n "$OLM_NS" delete catalogsource hoard-catalog --ignore-not-found --wait=true --timeout=60s >&2 || true
  kubectl delete namespace "$OLM_HOARD_NS" --ignore-not-found --wait=true --timeout=120s >&2
}

# olm_remove: OLM itself goes again (the cluster is shared): its operators and namespaces, its
# CRDs, and the ClusterRoles it made for OperatorGroups. olm_left lists what would remain.
olm_remove() {
  kubectl get crd subscriptions.operators.coreos.com >/dev/null 2>&1 ||
    kubectl get namespace "$OLM_NS" >/dev/null 2>&1 || return 0
  say "removing OLM"
  olm_manifests | kubectl delete --ignore-not-found --wait=true --timeout=120s -f - >/dev/null 2>&1 || true
  kubectl delete --ignore-not-found --wait=true --timeout=120s -f "$(olm_dir)/deploy/upstream/quickstart/crds.yaml" >/dev/null
  kubectl delete clusterroles,clusterrolebindings -l olm.owner.kind --ignore-not-found >/dev/null
  kubectl delete namespace "$OLM_NS" operators --ignore-not-found --wait=true --timeout=120s >/dev/null
  local left
  left=$(olm_left)
  if [ -n "$left" ]; then say "FAIL: OLM's removal left:"; echo "$left" >&2; return 1; fi
}

olm_left() {
  kubectl get crd -o name | grep '\.operators\.coreos\.com$' || true
  kubectl get namespace "$OLM_NS" operators -o name 2>/dev/null || true
  kubectl get clusterroles,clusterrolebindings -l olm.owner.kind -o name 2>/dev/null || true
  kubectl get clusterroles,clusterrolebindings -o name | grep -E '/(system:controller:operator-lifecycle-manager|olm-operator-binding-olm|aggregate-olm-(edit|view))$' || true
}
