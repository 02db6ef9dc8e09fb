#!/usr/bin/env bash
# Proves the local cluster runs real workloads: a MariaDB pod (hoard.local/mariadb:10.11) with
# its data on a PVC of the default StorageClass answers `select 1` through its Service name from
# a Job in another pod (cluster DNS + kube-proxy), the Job reaches Complete, `kubectl logs`
# shows its output, and a second Job writes to and reads back a PVC.
#
#   test/cluster/smoke.sh        (KUBECONFIG defaults to the one up.sh wrote)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=lib.sh
source "$ROOT/test/cluster/lib.sh"
export KUBECONFIG=${KUBECONFIG:-$KUBECONFIG_ADMIN}
NS=hoard-smoke
k() { "$BIN/kubectl" "$@"; }

step() { log "smoke: $*"; }
fail() {
  log "smoke: FAILED: $*"
  k -n "$NS" get all,pvc -o wide >&2 || true
  k -n "$NS" describe pods >&2 || true
  exit 1
}

step "namespace $NS (fresh)"
k delete namespace "$NS" --ignore-not-found --wait=true --timeout=120s >/dev/null
k create namespace "$NS" >/dev/null

step "MariaDB on a PVC of the default StorageClass, behind a Service"
k -n "$NS" apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Secret
metadata: {name: mariadb-auth}
stringData: {password: "s3cret-Pw!"}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: mariadb-data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: mariadb}
spec:
  selector: {matchLabels: {app: mariadb}}
  strategy: {type: Recreate}
  template:
    metadata: {labels: {app: mariadb}}
    spec:
      containers:
        - name: mariadb
          image: hoard.local/mariadb:10.11
          imagePullPolicy: Never
          env:
            - name: MYSQL_ROOT_PASSWORD
              valueFrom: {secretKeyRef: {name: mariadb-auth, key: password}}
          ports: [{containerPort: 3306, name: mysql}]
          readinessProbe:
            exec: {command: [sh, -c, 'mariadb-admin -h127.0.0.1 -uroot -p"$MYSQL_ROOT_PASSWORD" ping']}
            periodSeconds: 2
          volumeMounts: [{name: data, mountPath: /var/lib/mysql}]
      volumes:
        - name: data
          persistentVolumeClaim: {claimName: mariadb-data}
---
apiVersion: v1
kind: Service
metadata: {name: mariadb}
spec:
  selector: {app: mariadb}
  ports: [{port: 3306, targetPort: mysql}]
EOF
k -n "$NS" wait pvc/mariadb-data --for=jsonpath='{.status.phase}'=Bound --timeout=60s >/dev/null ||
  fail "PVC did not bind"
k -n "$NS" rollout status deploy/mariadb --timeout=180s >/dev/null || fail "MariaDB did not become ready"

step "a Job queries it by Service name"
k -n "$NS" apply -f - >/dev/null <<'EOF'
apiVersion: batch/v1
kind: Job
metadata: {name: query}
spec:
  backoffLimit: 3
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: client
          image: hoard.local/mariadb:10.11
          imagePullPolicy: Never
          command: [sh, -c]
          args: ['mariadb -h mariadb.hoard-smoke.svc -uroot -p"$PW" -N -e "select 1 as ok; select @@version"']
          env:
            - name: PW
              valueFrom: {secretKeyRef: {name: mariadb-auth, key: password}}
EOF
k -n "$NS" wait job/query --for=condition=Complete --timeout=120s >/dev/null || fail "query Job did not complete"
# The pod that succeeded (a retry would show as an extra pod: reported, not fatal).
pod=$(k -n "$NS" get pods -l job-name=query --field-selector=status.phase=Succeeded -o name | head -1)
tries=$(k -n "$NS" get pods -l job-name=query -o name | wc -l)
[ "$tries" -eq 1 ] || log "smoke: note: the query Job needed $tries pods"
out=$(k -n "$NS" logs "$pod")
printf '    %s\n' "$out" >&2
[ "$(echo "$out" | head -1)" = 1 ] || fail "unexpected query output"

step "a Job writes to a PVC and reads it back"
k -n "$NS" apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: scratch}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 100Mi}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: write}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      securityContext: {runAsUser: 65532, runAsGroup: 65532}
      containers:
        - name: writer
          image: docker.io/library/debian:bookworm-slim
          imagePullPolicy: Never
          command: [sh, -c, 'echo hello-from-$(id -u) > /data/f && cat /data/f']
          volumeMounts: [{name: d, mountPath: /data}]
      volumes:
        - name: d
          persistentVolumeClaim: {claimName: scratch}
EOF
k -n "$NS" wait job/write --for=condition=Complete --timeout=120s >/dev/null || fail "write Job did not complete"
[ "$(k -n "$NS" logs job/write)" = hello-from-65532 ] || fail "unexpected write output"

step "cleanup"
k delete namespace "$NS" --wait=true --timeout=120s >/dev/null
echo "smoke: 1 passed, 0 failed"
