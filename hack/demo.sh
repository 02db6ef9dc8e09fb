#!/usr/bin/env bash
# `make demo`: Hoard in five minutes. Brings up the local one-node cluster (or uses KUBECONFIG
# when it reaches a cluster), builds and loads the images, installs Hoard with Helm, and runs the
# Stash MySQL guide once: a MariaDB with sample data, a restic REST server, a BackupConfiguration
# that backs up every minute, then a RestoreSession of the latest snapshot into a second
# MariaDB. Prints what a user looks at, compares table checksums and ends with PASS or FAIL.
# Everything stays up for exploring (namespace demo); `make demo-down` removes it.
#
#   hack/demo.sh          run the demo
#   hack/demo.sh down     delete namespace demo and the Helm release, stop the local cluster
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=test/e2e/lib.sh
source "$ROOT/test/e2e/lib.sh"
export SAY_PREFIX=demo
TD=$ROOT/test/e2e/testdata
START=$(date +%s)
N=0
TOTAL=9

step() { N=$((N + 1)); say "step $N/$TOTAL: $*"; }
k() { kubectl -n "$DEMO_NS" "$@"; }
show() {
  printf '\n$ kubectl -n %s %s\n' "$DEMO_NS" "$*"
  k "$@" || true
  echo
}
# wait_for WHAT SECONDS CMD...: poll CMD until it succeeds.
wait_for() {
  local what=$1 timeout=$2 deadline; shift 2
  deadline=$(($(date +%s) + timeout))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || { say "timed out after ${timeout}s waiting for $what"; return 1; }
    sleep 2
  done
}

down() {
  export SAY_PREFIX=demo-down
  if [ -z "${KUBECONFIG:-}" ] || [ "$KUBECONFIG" = "$LOCAL_KUBECONFIG" ]; then
    export KUBECONFIG=$LOCAL_KUBECONFIG
  fi
  if reachable; then
    say "deleting namespace $DEMO_NS and the Helm release $HOARD_RELEASE"
    kubectl delete namespace "$DEMO_NS" --ignore-not-found --wait=true --timeout=180s || true
    uninstall_hoard
  fi
  if [ "$KUBECONFIG" = "$LOCAL_KUBECONFIG" ] && [ -x "$ROOT/test/cluster/down.sh" ]; then
    say "stopping the local cluster (test/cluster/down.sh; make cluster-purge also deletes its state)"
    "$ROOT/test/cluster/down.sh"
  fi
  say "demo removed"
}

# password prints 20 random letters and digits.
password() { tr -dc 'A-Za-z0-9' </dev/urandom | head -c 20 || true; }

# A running session is the newest of the configuration; "Succeeded" when one finished well.
latest_session_phase() {
  k get backupsessions -l stash.appscode.com/invoker-name=sample-mysql-backup \
    --sort-by=.metadata.creationTimestamp -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | tail -1
}
session_succeeded() { [ "$(latest_session_phase)" = Succeeded ]; }
session_finished() { case $(latest_session_phase) in Succeeded | Failed | Skipped) return 0 ;; *) return 1 ;; esac; }
restore_finished() {
  case $(k get restoresession sample-mysql-restore -o jsonpath='{.status.phase}') in Succeeded | Failed) return 0 ;; *) return 1 ;; esac
}
checksum() { sql "$1" 'CHECKSUM TABLE company.employees; SELECT COUNT(*) FROM company.employees;' | tr -s '\t\n' '  ' | sed 's/ $//'; }

result=FAIL
finish() {
  local rc=$?
  if [ "$result" != PASS ]; then
    if [ -n "$CLUSTER_KIND" ] && reachable; then
      mkdir -p "$BIN/demo"
      diagnostics "$DEMO_NS" >"$BIN/demo/diagnostics.txt" 2>&1 || true
      say "diagnostics in bin/demo/diagnostics.txt"
    fi
    printf '\n\033[1;31mFAIL\033[0m: the demo stopped at step %d/%d after %ss (exit %d)\n' "$N" "$TOTAL" "$(($(date +%s) - START))" "$rc"
    exit 1
  fi
}

demo() {
  trap finish EXIT
  step "cluster"
  # kubectl and helm first (with git and the CA certificates): kubectl is what tells whether
  # KUBECONFIG reaches a cluster. The local cluster's own packages are installed and checked by
  # test/cluster/up.sh, the images' by hack/images.sh, each before it starts anything.
  "$ROOT/hack/preflight.sh" --install client
  use_cluster
  step "images from the Dockerfiles"
  images
  step "Hoard (Helm chart helm-charts/hoard, with the MySQL addon's Tasks and Functions)"
  install_hoard
  kubectl -n "$HOARD_NAMESPACE" get deploy,svc
  kubectl get mysqladdon

  step "namespace $DEMO_NS: MariaDB sample-mysql (source) and restored-mysql (restore target), a restic REST server, Repository rest-repo"
  kubectl delete namespace "$DEMO_NS" --ignore-not-found --wait=true --timeout=180s
  kubectl create namespace "$DEMO_NS"
  # The manifests' credentials, new on each run (as in the e2e).
  local db_pw restic_pw rest_pw
  db_pw=$(password) restic_pw=$(password) rest_pw=$(password)
  fill() {
    sed -e "s/@NAME@/${1:-}/g" -e "s/@DB_PASSWORD@/$db_pw/g" -e "s/@RESTIC_PASSWORD@/$restic_pw/g" \
      -e "s/@REST_USERNAME@/hoard/g" -e "s/@REST_PASSWORD@/$rest_pw/g" "$2"
  }
  fill sample-mysql "$TD/mariadb.yaml" | k apply -f -
  fill restored-mysql "$TD/mariadb.yaml" | k apply -f -
  fill "" "$TD/storage.yaml" | k apply -f -
  for d in sample-mysql restored-mysql rest-server; do k rollout status "deploy/$d" --timeout=240s; done

  step "sample data in sample-mysql"
  sql sample-mysql "CREATE DATABASE company;
CREATE TABLE company.employees (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(64) NOT NULL, salary INT NOT NULL);
INSERT INTO company.employees (name, salary) VALUES ('John', 4000), ('Jane', 5000), ('Ada', 6000), ('Grace', 7000);"
  SOURCE=$(checksum sample-mysql)
  say "source checksum and row count: $SOURCE"

  step "BackupConfiguration sample-mysql-backup (every minute, keepLast 5); waiting for the first BackupSession (up to a minute until the schedule fires)"
  k apply -f "$TD/backupconfiguration.yaml"
  wait_for "a finished BackupSession" 300 session_finished
  session_succeeded || { show get backupsession -o yaml; return 1; }
  show get backupconfiguration,backupsession
  wait_for "Repository status" 60 sh -c "kubectl -n $DEMO_NS get repository rest-repo -o jsonpath='{.status.snapshotCount}' | grep -q '[1-9]'"
  show get repository

  step "pause the schedule (kubectl patch bc sample-mysql-backup --type merge -p '{\"spec\":{\"paused\":true}}')"
  k patch backupconfiguration sample-mysql-backup --type merge -p '{"spec":{"paused":true}}'
  wait_for "sessions to finish" 300 session_finished

  step "RestoreSession sample-mysql-restore: latest snapshot into restored-mysql"
  k apply -f "$TD/restoresession.yaml"
  wait_for "the RestoreSession" 300 restore_finished
  show get restoresession
  [ "$(k get restoresession sample-mysql-restore -o jsonpath='{.status.phase}')" = Succeeded ] || return 1

  step "compare: CHECKSUM TABLE company.employees, COUNT(*)"
  RESTORED=$(checksum restored-mysql)
  printf '  sample-mysql   (source):   %s\n  restored-mysql (restored): %s\n' "$SOURCE" "$RESTORED"
  [ "$SOURCE" = "$RESTORED" ] || { say "checksums differ"; return 1; }

  show get bc,backupsession,repository,restoresession
  result=PASS
  trap - EXIT
  cat <<EOF
$(printf '\033[1;32mPASS\033[0m'): backed up and restored sample-mysql in $(($(date +%s) - START))s.

Explore (the cluster stays up):
  export KUBECONFIG=$KUBECONFIG
  kubectl -n demo get bc,backupsession,repository,restoresession
  kubectl -n demo patch bc sample-mysql-backup --type merge -p '{"spec":{"paused":false}}'   # resume the schedule
  kubectl get --raw /api/v1/namespaces/$HOARD_NAMESPACE/services/$HOARD_RELEASE-metrics:8080/proxy/metrics | grep ^stash_
  kubectl -n $HOARD_NAMESPACE logs deploy/$HOARD_RELEASE
Remove it: make demo-down
EOF
}

case ${1:-} in
  down) down ;;
  "") demo ;;
  *) echo "usage: $0 [down]" >&2; exit 2 ;;
esac
