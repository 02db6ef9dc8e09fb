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
# The namespaces olm_install_modes targets (besides $OLM_HOARD_NS), and where olm_upgrade's
# BackupConfiguration runs on its schedule across the upgrade.
MODE_NAMESPACES="hoard-mode-a hoard-mode-b"
UPGRADE_NS=hoard-upgrade

# olm_manifests: OLM's upstream quickstart manifests from the module cache (the module that
# hack/tools/olm pins), with our image, the opm image flag (its default is an untagged :latest,
# which the kubelet would try to pull) and without the packageserver CSV and the public
# OperatorHub CatalogSource (neither can run without a registry). The CRDs come from the
# module's chart (deploy/chart/crds): the quickstart's lack OLMConfig, which this OLM needs.
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
      # The catalog operator parses flags with cobra, which reads -namespace as -n amespace.
      if (line ~ /^ *- \047?-[a-zA-Z]/) { sub(/- \047?-/, "- --", line); sub(/\047$/, "", line) }
      doc = doc line "\n"
      if (line ~ /- --configmapServerImage=/) doc = doc "          - --opmImage=" img "\n" }
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

# olm_images: OLM's image, then Hoard's bundle image (bundle.Dockerfile), a bundle of the next
# version that replaces it (for olm_upgrade), and a catalog image (catalog.Dockerfile on opm
# from OLM's image) whose channel holds both, named by digest.
olm_images() {
  say "OLM images: $OLM_IMAGE, the bundle (bundle.Dockerfile) and the catalog (catalog.Dockerfile)"
  make -C "$ROOT" --no-print-directory "$BIN/bundlecheck" >/dev/null
  "$ROOT/hack/tools.sh" olm olm-catalog olm-copy-content olm-cpb opm grpc-health-probe
  local ctx=$OLM_WORK/olm-context
  rm -rf "$ctx" && mkdir -p "$ctx"
  cp -L "$BIN/olm" "$BIN/olm-catalog" "$BIN/olm-copy-content" "$BIN/olm-cpb" "$BIN/opm" "$BIN/grpc-health-probe" "$ctx/"
  build_load "$OLM_IMAGE" "$ROOT/test/install/images/olm/Dockerfile" "$ctx" >/dev/null

  BUNDLE_DIGEST=$(build_load "$BUNDLE_REPO:v$VERSION" "$ROOT/bundle.Dockerfile" "$ROOT")
  # The next version: bundle/ as `make bundle VERSION=…` would make it, replacing this one.
  ctx=$OLM_WORK/upgrade-context
  rm -rf "$ctx" && mkdir -p "$ctx"
  "$BIN/bundlecheck" bundle -root "$ROOT" -version "$UPGRADE_VERSION" -replaces "hoard.v$VERSION" \
    -skip-range ">=$VERSION <$UPGRADE_VERSION" -channel "$OLM_CHANNEL" -out "$ctx/bundle" -dockerfile "$ctx/bundle.Dockerfile" >&2
  "$BIN/bundlecheck" validate-bundle "$ctx/bundle" >&2
  UPGRADE_DIGEST=$(build_load "$BUNDLE_REPO:v$UPGRADE_VERSION" "$ctx/bundle.Dockerfile" "$ctx")
  ctx=$OLM_WORK/catalog-context
  rm -rf "$ctx" && mkdir -p "$ctx"
  "$BIN/bundlecheck" catalog -bundle "$ROOT/bundle,$OLM_WORK/upgrade-context/bundle" \
    -bundle-image "$BUNDLE_REPO@$BUNDLE_DIGEST,$BUNDLE_REPO@$UPGRADE_DIGEST" -channel "$OLM_CHANNEL" -out "$ctx/catalog" >&2
  "$BIN/bundlecheck" validate-catalog "$ctx/catalog" >&2
  CATALOG_DIGEST=$(build_load "$CATALOG_REPO:v$VERSION" "$ROOT/catalog.Dockerfile" "$ctx" "OPM_IMAGE=$OLM_IMAGE")
  say "  bundles $BUNDLE_REPO@$BUNDLE_DIGEST (v$VERSION), @$UPGRADE_DIGEST (v$UPGRADE_VERSION); catalog $CATALOG_REPO@$CATALOG_DIGEST"
}

# olm_install: OLM's CRDs, then its operators; waits for both to be ready.
olm_install() {
  say "installing OLM $OLM_VERSION (olm-operator, catalog-operator and their CRDs)"
  kubectl apply --server-side --force-conflicts -f "$(olm_dir)/deploy/chart/crds/" >/dev/null
  kubectl wait --for=condition=Established --timeout=60s -f "$(olm_dir)/deploy/chart/crds/" >/dev/null
  # The olm operator waits for its cluster-wide OLMConfig before it handles OperatorGroups.
  kubectl apply -f "$(olm_dir)/deploy/chart/templates/0000_50_olm_02-olmconfig.yaml" >/dev/null
  olm_manifests | kubectl apply --server-side --force-conflicts -f - >/dev/null
  kubectl -n "$OLM_NS" rollout status deploy/olm-operator deploy/catalog-operator --timeout=180s >&2
}

# olm_subscribe: the README's OLM install: a CatalogSource on the catalog image, an
# OperatorGroup for every namespace, a Subscription to the channel with manual approval; the
# InstallPlan it makes is approved and the CSV must reach Succeeded, with the admission guard
# and the hook ClusterRole made its dependents. startingCSV: the channel also holds the next
# version, which olm_upgrade installs later.
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
  startingCSV: hoard.v$VERSION
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
  olm_dependents_owned "hoard.v$VERSION"
}

# OLM_DEPENDENTS: the cluster-scoped objects OLM does not delete with the CSV, which the operator
# makes dependents of the CSV's ClusterRoles (internal/olm, design record 0023).
OLM_DEPENDENTS="validatingadmissionpolicy/hoard-admission-guard validatingadmissionpolicybinding/hoard-admission-guard clusterrole/hoard-hook-exec"

# olm_dependents_owned CSV: each of OLM_DEPENDENTS exists and is owned by ClusterRoles that OLM
# made for CSV (labelled olm.owner=CSV) and by nothing else, within a minute: after an upgrade
# the garbage collector first drops the references to the replaced CSV's ClusterRoles, which
# shows that it looked at the objects and kept them.
olm_dependents_owned() {
  local csv=$1 roles obj owners u i stray
  for obj in $OLM_DEPENDENTS; do
    for ((i = 0; ; i++)); do
      # Read each time: OLM makes the CSV's second ClusterRole (its permissions, in
      # AllNamespaces mode) after the first, and the operator adopts into it when it comes.
      roles=" $(kubectl get clusterroles -l "olm.owner=$csv,olm.owner.kind=ClusterServiceVersion,olm.owner.namespace=$OLM_HOARD_NS" \
        -o jsonpath='{.items[*].metadata.uid}') "
      [ -n "${roles// /}" ] || { say "FAIL: OLM made no ClusterRole for CSV $csv"; return 1; }
      owners=$(kubectl get "$obj" -o jsonpath='{.metadata.ownerReferences[*].uid}') || { say "FAIL: $obj is gone"; return 1; }
      stray=
      for u in $owners; do [[ "$roles" == *" $u "* ]] || stray+=" $u"; done
      [ -n "$owners" ] && [ -z "$stray" ] && break
      if [ "$i" -ge 30 ]; then
        say "FAIL: $obj's owners are [$owners], want only CSV $csv's ClusterRoles [$roles]"
        kubectl get clusterroles -l olm.owner.namespace="$OLM_HOARD_NS" \
          -o custom-columns='NAME:.metadata.name,UID:.metadata.uid,OWNER:.metadata.labels.olm\.owner,DELETING:.metadata.deletionTimestamp' >&2 || true
        return 1
      fi
      sleep 2
    done
  done
  say "  the admission guard and ClusterRole hoard-hook-exec are dependents of CSV $csv's ClusterRoles only"
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
spec: {}
EOF
  kubectl wait mysqladdon "$ADDON_NAME" --for=condition=Deployed --timeout=180s >&2
  upgrade_setup
  run_backup_restore "$OLM_HOARD_NS" hoard-controller-manager
  olm_upgrade
  olm_install_modes
  olm_uninstall_hoard check
  olm_remove
}

# upgrade_setup: the guide's MariaDB, REST server and BackupConfiguration (every minute) in
# namespace $UPGRADE_NS, with credentials of this run; its sessions run on their schedule while
# the backup test runs, so olm_upgrade need not wait for the first one.
upgrade_setup() {
  say "upgrade: a BackupConfiguration on its schedule in $UPGRADE_NS before the upgrade"
  local db rp ru rpw f
  db=$(openssl rand -hex 12) rp=$(openssl rand -hex 12) ru=u$(openssl rand -hex 4) rpw=$(openssl rand -hex 12)
  kubectl create namespace "$UPGRADE_NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  for f in mariadb.yaml storage.yaml; do
    sed -e "s|@NAME@|sample-mysql|g" -e "s|@DB_PASSWORD@|$db|g" -e "s|@RESTIC_PASSWORD@|$rp|g" \
      -e "s|@REST_USERNAME@|$ru|g" -e "s|@REST_PASSWORD@|$rpw|g" \
      -e "s|rest-server\.$DEMO_NS\.svc|rest-server.$UPGRADE_NS.svc|g" "$ROOT/test/e2e/testdata/$f" |
      kubectl -n "$UPGRADE_NS" apply -f - >/dev/null
  done
  # Its own REST server: the test's Repository must not share the backup test's repository.
  [[ "$(kubectl -n "$UPGRADE_NS" get repository rest-repo -o jsonpath='{.spec.backend.rest.url}')" == *".$UPGRADE_NS.svc:"* ]] ||
    { say "FAIL: the upgrade's Repository does not name $UPGRADE_NS's REST server"; return 1; }
  kubectl -n "$UPGRADE_NS" rollout status deploy/sample-mysql deploy/rest-server --timeout=240s >&2
  kubectl -n "$UPGRADE_NS" apply -f "$ROOT/test/e2e/testdata/backupconfiguration.yaml" >&2
}

# sessions_after NS EPOCH: "name phase" of each BackupSession in NS created at or after EPOCH.
sessions_after() {
  kubectl -n "$1" get backupsessions -o json |
    jq -r --argjson t "$2" '.items[] | select((.metadata.creationTimestamp | fromdateiso8601) >= $t) | "\(.metadata.name) \(.status.phase // "New")"'
}

# wait_backup_after NS EPOCH TIMEOUT: a BackupSession created at or after EPOCH has Succeeded;
# fails at once if one created since has Failed.
wait_backup_after() {
  local deadline=$(($(date +%s) + $3)) s
  while :; do
    s=$(sessions_after "$1" "$2")
    if grep -q ' Failed$' <<<"$s"; then say "FAIL: a backup in $1 after the upgrade failed: $s"; return 1; fi
    if grep -q ' Succeeded$' <<<"$s"; then say "  $(grep ' Succeeded$' <<<"$s" | head -1)"; return 0; fi
    [ "$(date +%s)" -lt "$deadline" ] || { say "FAIL: no backup in $1 succeeded since $(date -d "@$2" +%T): ${s:-none}"; return 1; }
    sleep 2
  done
}

# olm_upgrade: the Subscription's next InstallPlan (hoard.v$UPGRADE_VERSION, which replaces
# hoard.v$VERSION) is approved while upgrade_setup's BackupConfiguration runs; the old CSV must
# go and the new one succeed, the admission guard and the hook ClusterRole stay (now dependents
# of the new CSV's ClusterRoles only), the BackupConfiguration's CronJob stay the same object
# with the same schedule, and the next scheduled backup after the upgrade succeed.
olm_upgrade() {
  local cj=stash-trigger-sample-mysql-backup before after ip since
  say "upgrade: a backup on schedule before it"
  wait_backup_after "$UPGRADE_NS" 0 240
  before=$(kubectl -n "$UPGRADE_NS" get cronjob "$cj" -o jsonpath='{.metadata.uid} {.spec.schedule} {.spec.suspend}')
  say "upgrade: hoard.v$VERSION -> hoard.v$UPGRADE_VERSION through the Subscription's next InstallPlan"
  kubectl -n "$OLM_HOARD_NS" wait subscription/hoard --for=jsonpath='{.status.currentCSV}'="hoard.v$UPGRADE_VERSION" --timeout=180s >&2
  kubectl -n "$OLM_HOARD_NS" wait subscription/hoard --for=condition=InstallPlanPending --timeout=180s >&2
  ip=$(kubectl -n "$OLM_HOARD_NS" get subscription hoard -o jsonpath='{.status.installPlanRef.name}')
  [[ "$(kubectl -n "$OLM_HOARD_NS" get installplan "$ip" -o jsonpath='{.spec.clusterServiceVersionNames}')" == *"hoard.v$UPGRADE_VERSION"* ]] ||
    { say "FAIL: InstallPlan $ip does not install hoard.v$UPGRADE_VERSION"; return 1; }
  kubectl -n "$OLM_HOARD_NS" patch installplan "$ip" --type=merge -p '{"spec":{"approved":true}}' >&2
  kubectl -n "$OLM_HOARD_NS" wait installplan "$ip" --for=jsonpath='{.status.phase}'=Complete --timeout=300s >&2
  kubectl -n "$OLM_HOARD_NS" wait "csv/hoard.v$UPGRADE_VERSION" --for=jsonpath='{.status.phase}'=Succeeded --timeout=300s >&2
  kubectl -n "$OLM_HOARD_NS" wait "csv/hoard.v$VERSION" --for=delete --timeout=180s >&2
  kubectl -n "$OLM_HOARD_NS" rollout status deploy/hoard-controller-manager --timeout=180s >&2
  # The replaced CSV's ClusterRoles are gone; the guard and the hook role must not have gone
  # with them.
  olm_dependents_owned "hoard.v$UPGRADE_VERSION"
  since=$(date +%s)
  after=$(kubectl -n "$UPGRADE_NS" get cronjob "$cj" -o jsonpath='{.metadata.uid} {.spec.schedule} {.spec.suspend}')
  say "upgrade: CronJob $cj before: $before; after: $after"
  [ "$after" = "$before" ] || { say "FAIL: the upgrade changed the BackupConfiguration's CronJob"; return 1; }
  say "upgrade: the next scheduled backup after it"
  wait_backup_after "$UPGRADE_NS" "$since" 240
  kubectl delete namespace "$UPGRADE_NS" --wait=true --timeout=180s >&2
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
    # The installed CSV: hoard.v$UPGRADE_VERSION once olm_upgrade ran.
    kubectl -n "$OLM_HOARD_NS" wait "csv/$(kubectl -n "$OLM_HOARD_NS" get subscription hoard -o jsonpath='{.status.installedCSV}')" \
      --for=jsonpath='{.status.phase}'=Succeeded --timeout=180s >&2
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

# olm_uninstall_hoard [check]: the uninstall through OLM, exactly the README's: the MySQLAddon
# (while the operator runs to remove its Tasks and finalizer), the Subscription and the
# installed CSV; with "check", nothing of Hoard but its CRDs may then be left (the namespace is
# the user's): OLM deletes the CSV's ClusterRoles, and the garbage collector the admission guard
# and ClusterRole hoard-hook-exec, their dependents (olm_dependents_owned). Then the
# OperatorGroup, the CatalogSource and the namespace go.
olm_uninstall_hoard() {
  kubectl get crd subscriptions.operators.coreos.com >/dev/null 2>&1 || return 0
  say "uninstall through OLM: MySQLAddon, Subscription, CSV"
  kubectl delete mysqladdon --all --wait=true --timeout=120s >&2 2>/dev/null || true
  local csv
  csv=$(kubectl -n "$OLM_HOARD_NS" get subscription hoard -o jsonpath='{.status.installedCSV}' 2>/dev/null || true)
  kubectl -n "$OLM_HOARD_NS" delete subscription hoard --ignore-not-found --wait=true --timeout=60s >&2
  [ -z "$csv" ] || kubectl -n "$OLM_HOARD_NS" delete csv "$csv" --ignore-not-found --wait=true --timeout=120s >&2
  [ "${1:-}" != check ] || assert_nothing_left "uninstall through OLM (Subscription, CSV $csv)" "" namespace-kept
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
  kubectl delete --ignore-not-found --wait=true --timeout=120s -f "$(olm_dir)/deploy/chart/crds/" >/dev/null
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
