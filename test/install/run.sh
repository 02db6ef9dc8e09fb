#!/usr/bin/env bash
# `make e2e-install`: Hoard installed the ways a user installs it, each on the real cluster and
# each passing the same backup and restore as the Helm e2e (test/e2e TestMySQLBackupAndRestore):
#
#   kubectl   kubectl apply -k config/default and tasks/, then kubectl delete -k config/default
#   olm       Operator Lifecycle Manager from the catalog image (test/install/olm.sh)
#
# It shares the cluster with `make e2e` (test/e2e/lib.sh: KUBECONFIG, else the local one-node
# cluster, started if needed and held under the machine's cluster lock for the whole run) and
# resets it before each path and at the end: no Helm release, no Hoard CRDs or objects left from
# another path, no OLM. A later test/e2e/run.sh then helm-installs afresh. A local cluster this
# run started is stopped again at the end (E2E_KEEP_CLUSTER=1 keeps it).
#
#   test/install/run.sh [PATH...]    PATH: kubectl olm (default: both, in that order)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=test/e2e/lib.sh
source "$ROOT/test/e2e/lib.sh"
# shellcheck source=test/install/lib.sh
source "$ROOT/test/install/lib.sh"
export SAY_PREFIX=install
START=$(date +%s)

paths=("$@")
[ "${#paths[@]}" -gt 0 ] || paths=(kubectl olm)
for p in "${paths[@]}"; do
  case $p in kubectl | olm) ;; *) echo "test/install/run.sh: unknown install path $p (kubectl olm)" >&2; exit 2 ;; esac
done

rc=0
TIMES=()
# Set once use_cluster returned, i.e. this run holds the cluster (and its lock): a run stopped
# while it waits for the lock must not touch the cluster another run is using.
HOLDS_CLUSTER=false
finish() {
  local r=$?
  [ "$rc" -ne 0 ] || rc=$r
  if ! $HOLDS_CLUSTER; then
    say "e2e-install stopped (exit $rc) before it had the cluster"
    exit "$rc"
  fi
  local mark
  mark=$(output_mark)
  if [ "$rc" -ne 0 ] && reachable; then
    diagnostics "$DEMO_NS" olm operators >"$BIN/e2e-install/diagnostics.txt" 2>&1 || true
    say "diagnostics saved in bin/e2e-install/diagnostics.txt"
  fi
  # The cluster is shared: whatever happened, leave it without this tier's installs.
  if reachable; then reset_cluster || rc=1; fi
  down_if_started
  local t
  for t in "${TIMES[@]}"; do say "  $t"; done
  [ "$rc" -eq 0 ] || repeat_failure "$mark"
  if [ "$rc" -eq 0 ]; then say "e2e-install PASSED in $(($(date +%s) - START))s"; else say "e2e-install FAILED (exit $rc) after $(($(date +%s) - START))s"; fi
  exit "$rc"
}
keep_output "$BIN/e2e-install/output.log"
trap finish EXIT
trap 'rc=130; exit 130' INT
trap 'rc=143; exit 143' TERM

"$ROOT/hack/preflight.sh" --install client
use_cluster
HOLDS_CLUSTER=true
note_foreign_namespaces
images
for p in "${paths[@]}"; do
  t0=$(date +%s)
  reset_cluster
  "path_$p"
  TIMES+=("$p path: $(($(date +%s) - t0))s")
done
