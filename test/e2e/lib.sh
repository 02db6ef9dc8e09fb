# shellcheck shell=bash
# Shared by test/e2e/run.sh (`make e2e`) and hack/demo.sh (`make demo`): find or start a cluster,
# build and load the images, install Hoard with Helm, and collect diagnostics. Sourced, not run.
#
# Environment:
#   KUBECONFIG        a reachable cluster is used as it is (nothing is built or started; the
#                     images ghcr.io/hoard-operator/{hoard,mysql-addon}:dev and hoard.local/
#                     {mariadb:10.11,rest-server:dev} must be available to its nodes)
#   HOARD_NAMESPACE   where Hoard is installed (default hoard-system)
#   HOARD_RELEASE     Helm release name (default hoard)

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# The local cluster's settings (KUBECONFIG_ADMIN, IMAGE_ARCHIVES) and its lock (cluster_lock).
# shellcheck source=test/cluster/lib.sh
source "$ROOT/test/cluster/lib.sh"
export PATH=$BIN:$PATH
HOARD_NAMESPACE=${HOARD_NAMESPACE:-hoard-system}
HOARD_RELEASE=${HOARD_RELEASE:-hoard}
export HOARD_NAMESPACE HOARD_RELEASE
DEMO_NS=demo
# The chart's default MySQLAddon (values addon.name).
ADDON_NAME=mysql
LOCAL_KUBECONFIG=$KUBECONFIG_ADMIN

# Set by use_cluster: "external" (KUBECONFIG given) or "local"; LOCAL_WAS_UP tells whether the
# local cluster already ran before (then it is left running at the end).
CLUSTER_KIND=
LOCAL_WAS_UP=false

say() { printf '\033[1m[%s %(%H:%M:%S)T]\033[0m %s\n' "${SAY_PREFIX:-e2e}" -1 "$*" >&2; }

reachable() { kubectl --request-timeout=10s get --raw /readyz >/dev/null 2>&1; }

# use_cluster: KUBECONFIG if it reaches a cluster, else the local one-node cluster, started if
# needed (test/cluster/up.sh is idempotent and sweeps what a crashed run left). With the local
# cluster, the machine's cluster lock is held until this script exits, so no other up or down
# (another `make e2e`, `make demo`, `make cluster-down`) pulls the cluster away mid-run.
use_cluster() {
  if [ -n "${KUBECONFIG:-}" ] && [ "$KUBECONFIG" != "$LOCAL_KUBECONFIG" ] && reachable; then
    CLUSTER_KIND=external
    say "using the cluster of KUBECONFIG=$KUBECONFIG"
    return 0
  fi
  export KUBECONFIG=$LOCAL_KUBECONFIG
  cluster_lock
  # Only once the lock is held: a run stopped while it waits must not stop, clean or
  # diagnose the cluster another run is using (its exit trap reads CLUSTER_KIND).
  CLUSTER_KIND=local
  if [ -s "$KUBECONFIG" ] && [ -x "$BIN/kubectl" ] && reachable; then LOCAL_WAS_UP=true; fi
  say "local cluster: test/cluster/up.sh"
  "$ROOT/test/cluster/up.sh" >&2
}

# images: build the images from the Dockerfiles and load them into the local cluster. With an
# external cluster the images are the user's business.
images() {
  [ "$CLUSTER_KIND" = local ] || return 0
  say "images: make images"
  make -C "$ROOT" --no-print-directory images >&2
}

# install_hoard: helm upgrade --install of helm-charts/hoard, then wait for the operator and for
# the default MySQLAddon to have installed the Tasks and Functions. The image's ID goes into a
# pod annotation, so a rebuilt :dev image restarts the operator.
install_hoard() {
  say "installing Hoard: helm upgrade --install $HOARD_RELEASE helm-charts/hoard -n $HOARD_NAMESPACE"
  make -C "$ROOT" --no-print-directory "$BIN/helm" >/dev/null
  # Helm installs a chart's crds/ once and never upgrades them: a cluster kept from an earlier
  # run would miss new fields (the API server drops or refuses them). Apply them first.
  kubectl apply --server-side --force-conflicts --field-manager=hoard-e2e -f "$ROOT/helm-charts/hoard/crds/" >/dev/null
  local id="" f=$IMAGE_ARCHIVES/ghcr.io_hoard-operator_hoard_dev.tar.id
  [ "$CLUSTER_KIND" = local ] && [ -s "$f" ] && id=$(cut -c1-63 "$f" | tr -dc 'a-z0-9:')
  "$BIN/helm" upgrade --install "$HOARD_RELEASE" "$ROOT/helm-charts/hoard" \
    --namespace "$HOARD_NAMESPACE" --create-namespace \
    --set-string "podAnnotations.hoard\.io/image-id=${id:-none}" \
    --wait --timeout 5m >/dev/null
  kubectl -n "$HOARD_NAMESPACE" rollout status "deploy/$HOARD_RELEASE" --timeout=180s >&2
  # A MySQLAddon left terminating by an earlier `helm uninstall` (its finalizer needs the
  # operator, which the uninstall removed at the same time) is finished by the operator now
  # running: wait for it to go, then install again to recreate it.
  if [ -n "$(kubectl get mysqladdon "$ADDON_NAME" -o jsonpath='{.metadata.deletionTimestamp}' 2>/dev/null)" ]; then
    say "MySQLAddon $ADDON_NAME is left terminating from an earlier uninstall: letting the operator finish it"
    kubectl wait mysqladdon "$ADDON_NAME" --for=delete --timeout=180s >&2
    "$BIN/helm" upgrade --install "$HOARD_RELEASE" "$ROOT/helm-charts/hoard" \
      --namespace "$HOARD_NAMESPACE" --reuse-values --wait --timeout 5m >/dev/null
  fi
  kubectl wait mysqladdon "$ADDON_NAME" --for=condition=Deployed --timeout=180s >&2
  kubectl wait task mysql-backup-10.11 mysql-restore-10.11 --for=create --timeout=120s >&2
}

# uninstall_hoard: the MySQLAddon first, while the operator still runs to remove its Tasks and
# Functions and its finalizer, then the release.
uninstall_hoard() {
  kubectl delete mysqladdon --all --wait=true --timeout=120s >&2 || true
  "$BIN/helm" uninstall "$HOARD_RELEASE" -n "$HOARD_NAMESPACE" --wait --timeout 3m >&2 || true
}

# keep_output FILE: from here on, everything the script prints also goes to FILE, so that
# repeat_failure can print the failure once more at the very end: diagnostics run to hundreds of
# lines, and CI shows only the output's last ones.
keep_output() {
  mkdir -p "$(dirname "$1")"
  OUTPUT_LOG=$1
  exec > >(tee "$OUTPUT_LOG") 2>&1
}

# output_mark: how many lines keep_output's FILE holds now (0 without keep_output).
output_mark() { if [ -n "${OUTPUT_LOG:-}" ]; then wc -l <"$OUTPUT_LOG"; else echo 0; fi; }

# repeat_failure MARK: the Go tests that failed and the 20 lines the script printed before MARK
# (output_mark taken before the diagnostics), i.e. the step that failed and its error; called
# last, just before the verdict.
repeat_failure() {
  [ "$1" -gt 0 ] || return 0
  echo "=================== the failure (the last lines before the diagnostics) ==================="
  head -n "$1" "$OUTPUT_LOG" | grep -E -- '--- FAIL:' | tail -n 10 || true
  head -n "$1" "$OUTPUT_LOG" | tail -n 20
  echo "=================== end of the failure ==================="
}

# diagnostics [NAMESPACE...]: what to look at when something failed: objects, events, pod
# descriptions, operator logs and the logs of every backup/restore Job pod.
diagnostics() {
  local n p
  echo "=================== diagnostics ($(date -Is)) ==================="
  kubectl get nodes -o wide 2>&1
  kubectl get pods -A -o wide 2>&1
  kubectl get mysqladdon,tasks,functions 2>&1 | head -40
  for n in "$HOARD_NAMESPACE" "$@"; do
    echo "------------------- namespace $n -------------------"
    kubectl -n "$n" get all,pvc,cronjobs,bc,backupsession,restoresession,repository,appbinding -o wide 2>&1
    kubectl -n "$n" get bc,backupsession,restoresession,repository -o yaml 2>&1
    kubectl -n "$n" get events --sort-by=.lastTimestamp 2>&1 | tail -60
    kubectl -n "$n" describe pods 2>&1 | tail -300
    for p in $(kubectl -n "$n" get pods -o name 2>/dev/null); do
      echo "--- logs $n/$p"
      kubectl -n "$n" logs "$p" --all-containers --prefix --tail=200 2>&1
    done
  done
  echo "=================== end of diagnostics ==================="
}

# sql DEPLOY STATEMENTS: run SQL as root in a MariaDB pod of the demo namespace.
sql() {
  # shellcheck disable=SC2016 # expanded in the pod
  kubectl -n "$DEMO_NS" exec -i "deploy/$1" -c mariadb -- sh -c 'exec mariadb -uroot -p"$MYSQL_ROOT_PASSWORD" -N -B' <<<"$2"
}

# down_if_started: stop the local cluster again when this run started it (CI starts with
# nothing running and must end that way); a cluster that ran before is left running.
down_if_started() {
  [ "$CLUSTER_KIND" = local ] && ! $LOCAL_WAS_UP || return 0
  [ "${E2E_KEEP_CLUSTER:-}" = 1 ] && { say "leaving the cluster up (E2E_KEEP_CLUSTER=1)"; return 0; }
  say "stopping the local cluster this run started (test/cluster/down.sh; state is kept)"
  "$ROOT/test/cluster/down.sh" >&2 || true
}
