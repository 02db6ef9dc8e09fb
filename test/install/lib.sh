# shellcheck shell=bash
# The install paths of `make e2e-install` (test/install/run.sh), the reset between them and the
# check that an uninstall left nothing behind. Sourced after test/e2e/lib.sh, not run.

# shellcheck source=test/install/olm.sh
source "$ROOT/test/install/olm.sh"

# The bundle's version (CSV hoard.vVERSION), as `make bundle` wrote it.
VERSION=$(awk '$1 == "name:" && $2 ~ /^hoard\.v/ {sub(/^hoard\.v/, "", $2); print $2; exit}' "$ROOT/bundle/manifests/hoard.clusterserviceversion.yaml")
# The version olm_upgrade upgrades to: the next patch release.
UPGRADE_VERSION=${VERSION%.*}.$((${VERSION##*.} + 1))

# The kinds Hoard's CRDs serve (config/crd), by group.
HOARD_CRD_GROUPS='stash.appscode.com|repositories.stash.appscode.com|appcatalog.appscode.com|addons.hoard.io|operations.hoard.io'
# Namespaced kinds the operator creates for users (labelled app.kubernetes.io/managed-by=hoard)
# or an install creates for the operator (labelled app.kubernetes.io/name=hoard).
OWNED_KINDS=deployments,replicasets,pods,services,serviceaccounts,secrets,configmaps,roles,rolebindings,cronjobs,jobs,persistentvolumeclaims,networkpolicies,leases.coordination.k8s.io
CLUSTER_KINDS=clusterroles,clusterrolebindings,validatingadmissionpolicies,validatingadmissionpolicybindings

# Namespaces of other suites that were there before this run (a failed run of theirs keeps its
# namespace for a look): what Hoard made in them is theirs, not left by this tier's paths. Set
# by note_foreign_namespaces once the run holds the cluster.
FOREIGN_NAMESPACES=
note_foreign_namespaces() {
  local ours=" default kube-system kube-public kube-node-lease $HOARD_NAMESPACE $DEMO_NS $MODE_NAMESPACES $UPGRADE_NS $OLM_NS operators " n
  FOREIGN_NAMESPACES=
  for n in $(kubectl get namespaces -o jsonpath='{.items[*].metadata.name}'); do
    [[ "$ours" == *" $n "* ]] || FOREIGN_NAMESPACES+=" $n"
  done
  [ -z "$FOREIGN_NAMESPACES" ] || say "other suites' namespaces, not checked for leftovers:$FOREIGN_NAMESPACES"
}

# hoard_crds: the names of Hoard's CRDs on the cluster.
hoard_crds() {
  kubectl get crd -o name | grep -E "\.($HOARD_CRD_GROUPS)\$" || true
}

# run_backup_restore NAMESPACE DEPLOYMENT: the Helm e2e's backup and restore
# (TestMySQLBackupAndRestore), and its search of everything it recorded for the credentials it
# used (TestSecretsNotLeaked), against the operator in NAMESPACE run by DEPLOYMENT (the test
# finds its metrics Service as DEPLOYMENT-metrics). It deletes namespace demo on a pass; the
# wait here lets the running operator finish the Stash objects' finalizers first.
run_backup_restore() {
  say "go test -tags e2e -run 'TestMySQLBackupAndRestore|TestSecretsNotLeaked' ./test/e2e (operator $1/deploy/$2)"
  (cd "$ROOT" && HOARD_NAMESPACE=$1 HOARD_RELEASE=$2 go test -tags e2e -count=1 -v -timeout 20m \
    -run '^(TestMySQLBackupAndRestore|TestSecretsNotLeaked)$' ./test/e2e/)
  kubectl delete namespace "$DEMO_NS" --ignore-not-found --wait=true --timeout=180s >&2
}

# --- kubectl ----------------------------------------------------------------------------------

# path_kubectl: the README's `kubectl apply` install, the backup and restore, and the uninstall.
path_kubectl() {
  say "kubectl path: kubectl apply --server-side -k config/default; kubectl apply --server-side -f tasks/mysql-addon.yaml"
  (
    cd "$ROOT" || exit
    # Server-side: the CRDs are too large for client-side apply's last-applied annotation.
    kubectl apply --server-side -k config/default
    kubectl wait --for=condition=Established --timeout=60s crd/tasks.stash.appscode.com crd/functions.stash.appscode.com
    kubectl apply --server-side -f tasks/mysql-addon.yaml
    kubectl -n hoard-system rollout status deploy/hoard-controller-manager --timeout=180s
  ) >&2
  run_backup_restore hoard-system hoard-controller-manager
  say "kubectl path: kubectl delete -f tasks/mysql-addon.yaml; kubectl delete -k config/default"
  (
    cd "$ROOT" || exit
    kubectl delete -f tasks/mysql-addon.yaml --wait=true --timeout=120s
    kubectl delete -k config/default --wait=true --timeout=180s
  ) >&2
  assert_nothing_left "kubectl delete -k config/default" crds
}

# --- checks and reset -------------------------------------------------------------------------

# leftovers [crds] [namespace-kept]: one line per Hoard object on the cluster: the operator's
# namespace (unless namespace-kept: an OLM install's namespace is the user's), objects labelled
# as Hoard's or as made by it in any namespace, cluster-scoped objects named hoard-* (but the
# ClusterRoles OLM makes for an OperatorGroup named hoard, which are OLM's), and, with "crds",
# Hoard's CRDs.
leftovers() {
  local l
  [ "${2:-}" = namespace-kept ] || kubectl get namespace "$HOARD_NAMESPACE" -o name 2>/dev/null || true
  for l in app.kubernetes.io/managed-by=hoard app.kubernetes.io/name=hoard; do
    kubectl get "$OWNED_KINDS" -A -l "$l" --no-headers \
      -o custom-columns=NS:.metadata.namespace,KIND:.kind,NAME:.metadata.name 2>/dev/null |
      awk -v foreign=" $FOREIGN_NAMESPACES " 'index(foreign, " " $1 " ") == 0 {print $2 "/" $3 " -n " $1}' || true
  done
  kubectl get "$CLUSTER_KINDS" -l 'olm.owner.kind!=OperatorGroup' -o name 2>/dev/null | grep -E '/hoard[-.]' || true
  [ "${1:-}" != crds ] || hoard_crds
}

# assert_nothing_left WHAT [crds] [namespace-kept]: fail listing what an uninstall (WHAT) left
# behind, once the garbage collector has had a minute for what it removes.
assert_nothing_left() {
  local left i
  for ((i = 0; i < 30; i++)); do
    left=$(leftovers "${2:-}" "${3:-}")
    [ -n "$left" ] || break
    sleep 2
  done
  if [ -n "$left" ]; then
    say "FAIL: $1 left these behind:"
    echo "$left" >&2
    return 1
  fi
  say "$1 left nothing of Hoard behind"
}

# reset_cluster: the cluster as a path expects it: no Helm release of Hoard (the e2e tier's),
# nothing of the kubectl or OLM paths, no OLM, and no Hoard CRDs (and so none of their objects).
# The test namespace goes first, while an operator still runs to finish its objects.
reset_cluster() {
  say "reset: no Hoard, no OLM, no Hoard CRDs"
  # shellcheck disable=SC2086 # one word per namespace
  kubectl delete namespace "$DEMO_NS" $MODE_NAMESPACES "$UPGRADE_NS" --ignore-not-found --wait=true --timeout=180s >&2 || true
  # Namespaces another suite deleted without waiting (the e2e's cases end with --wait=false)
  # must finish while an operator still runs to release its finalizers (Snapshots, sessions);
  # otherwise the CRD deletion below waits for its timeout and then strips them.
  local terminating
  terminating=$(kubectl get namespaces -o json | jq -r '.items[] | select(.metadata.deletionTimestamp) | "namespace/" + .metadata.name')
  # shellcheck disable=SC2086 # one word per namespace
  [ -z "$terminating" ] || kubectl wait $terminating --for=delete --timeout=180s >&2 || true
  if "$BIN/helm" status "$HOARD_RELEASE" -n "$HOARD_NAMESPACE" >/dev/null 2>&1; then
    uninstall_hoard
  fi
  olm_uninstall_hoard
  olm_remove
  kubectl delete -k "$ROOT/config/default" --ignore-not-found --wait=true --timeout=180s >/dev/null 2>&1 || true
  local crds
  crds=$(hoard_crds)
  if [ -n "$crds" ]; then
    # shellcheck disable=SC2086 # one word per CRD
    if ! kubectl delete $crds --wait=true --timeout=120s >&2; then
      # Objects whose operator is gone keep their finalizers forever: drop them, then wait.
      say "reset: objects of Hoard's CRDs are stuck on finalizers with no operator left: removing the finalizers"
      local kinds
      kinds=$(hoard_crds | sed 's|.*/||' | paste -sd, -)
      kubectl get "$kinds" -A -o json |
        jq -r '.items[] | select(.metadata.finalizers) | "\(.kind | ascii_downcase).\(.apiVersion | split("/")[0]) \(.metadata.name) \(.metadata.namespace // "")"' |
        while read -r kind name ns; do
          kubectl patch "$kind" "$name" ${ns:+-n "$ns"} --type=merge -p '{"metadata":{"finalizers":null}}' >&2 || true
        done
      # shellcheck disable=SC2086
      kubectl wait $crds --for=delete --timeout=120s >&2
    fi
  fi
  kubectl delete namespace "$HOARD_NAMESPACE" --ignore-not-found --wait=true --timeout=120s >&2
  assert_nothing_left "reset" crds
}
