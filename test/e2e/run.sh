#!/usr/bin/env bash
# `make e2e`: the Stash MySQL guide for real, and issue 10's fault suite (TestFaults). Uses KUBECONFIG when it reaches a cluster,
# otherwise starts the local one-node cluster (test/cluster/up.sh), builds and loads the images,
# installs Hoard with Helm and runs the Go test in test/e2e (build tag e2e). On failure it
# prints diagnostics (objects, events, pod descriptions, operator and Job logs) and keeps the
# demo namespace for a look; the next run starts that namespace afresh. A local cluster this
# run started is stopped again at the end (E2E_KEEP_CLUSTER=1 keeps it).
#
#   test/e2e/run.sh [go test flags, e.g. -run TestMySQLBackupAndRestore]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=test/e2e/lib.sh
source "$ROOT/test/e2e/lib.sh"
export SAY_PREFIX=e2e
START=$(date +%s)

rc=0
finish() {
  local r=$?
  [ "$rc" -ne 0 ] || rc=$r
  local mark
  mark=$(output_mark)
  if [ "$rc" -ne 0 ] && [ -n "$CLUSTER_KIND" ] && reachable; then
    # The guide's namespace and those of the fault suite (test/e2e/faults_test.go) that a
    # failed case kept.
    # shellcheck disable=SC2046 # one word per namespace
    diagnostics "$DEMO_NS" $(kubectl get namespaces -l hoard.io/e2e=faults -o jsonpath='{.items[*].metadata.name}' 2>/dev/null) \
      2>&1 | tee "$BIN/e2e/diagnostics.txt" || true
    say "diagnostics saved in bin/e2e/diagnostics.txt"
  fi
  down_if_started
  [ "$rc" -eq 0 ] || repeat_failure "$mark"
  if [ "$rc" -eq 0 ]; then say "e2e PASSED in $(($(date +%s) - START))s"; else say "e2e FAILED (exit $rc) after $(($(date +%s) - START))s"; fi
  exit "$rc"
}
keep_output "$BIN/e2e/output.log"
trap finish EXIT
trap 'rc=130; exit 130' INT
trap 'rc=143; exit 143' TERM

# kubectl and helm first: kubectl tells whether KUBECONFIG reaches a cluster. up.sh and
# hack/images.sh install and check their own (hack/preflight.sh) before they start anything.
"$ROOT/hack/preflight.sh" --install client
use_cluster
images
install_hoard
# TestPlugin runs bin/kubectl-hoard (make plugin) and makes a Stash-era repository with
# restic 0.12 (cached in ~/.cache/hoard after the first build).
"$ROOT/hack/tools.sh" restic-0.12
say "go test -tags e2e ./test/e2e"
cd "$ROOT"
# 7>&-: the test starts kubectl port-forwards and the like; one a test fails to reap must not
# keep holding the cluster lock (fd 7) after this run ends.
go test -tags e2e -count=1 -v -timeout 30m ./test/e2e/ "$@" 7>&- || rc=$?
