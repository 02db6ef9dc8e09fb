#!/usr/bin/env bash
# A dynamic provisioner for the one-node test cluster (provisioner name hoard.local/hostpath,
# StorageClass `standard`, see manifests/storage.yaml). Started by up.sh, stopped by down.sh.
#
#   hostpath-provisioner.sh KUBECTL KUBECONFIG DIR
#
# Every two seconds: for each Pending claim of this provisioner, make DIR/pvc-<uid> (mode 0777,
# so pods of any uid can write: hostPath volumes ignore fsGroup) and a PersistentVolume bound to
# the claim; for each Released volume of ours, remove its directory and the volume. Kubernetes'
# in-tree hostPath provisioner would keep volumes in /tmp with mode 0750 root, which non-root
# pods cannot write, hence this.
set -uo pipefail # no -e: one failed kubectl call must not end the loop

KUBECTL=$1
export KUBECONFIG=$2
DIR=$3
NAME=hoard.local/hostpath

# Pending claims whose class names this provisioner (the PV controller annotates them):
# "namespace name uid size class modes". (Go templates, not shell expansions, in quotes.)
# shellcheck disable=SC2016
PENDING='{{range .items}}{{$c := .}}{{if eq .status.phase "Pending"}}{{with .metadata.annotations}}{{if eq (printf "%v" (index . "volume.kubernetes.io/storage-provisioner")) "'$NAME'"}}{{$c.metadata.namespace}} {{$c.metadata.name}} {{$c.metadata.uid}} {{$c.spec.resources.requests.storage}} {{$c.spec.storageClassName}} {{range $i, $m := $c.spec.accessModes}}{{if $i}},{{end}}{{$m}}{{end}}{{"\n"}}{{end}}{{end}}{{end}}{{end}}'
# Released volumes of ours whose policy is Delete: "name path".
# shellcheck disable=SC2016
RELEASED='{{range .items}}{{$v := .}}{{if eq .status.phase "Released"}}{{if eq .spec.persistentVolumeReclaimPolicy "Delete"}}{{with .metadata.annotations}}{{if eq (printf "%v" (index . "pv.kubernetes.io/provisioned-by")) "'$NAME'"}}{{$v.metadata.name}} {{$v.spec.hostPath.path}}{{"\n"}}{{end}}{{end}}{{end}}{{end}}{{end}}'

log() { printf '%s %s\n' "$(date -Is)" "$*"; }

provision() {
  local ns name uid size class modes pv
  "$KUBECTL" get pvc -A -o go-template="$PENDING" 2>/dev/null |
    while read -r ns name uid size class modes; do
      [ -n "$uid" ] || continue
      pv=pvc-$uid
      "$KUBECTL" get pv "$pv" >/dev/null 2>&1 && continue
      mkdir -p "$DIR/$pv" && chmod 0777 "$DIR/$pv"
      if "$KUBECTL" create -f - >/dev/null <<EOF; then
apiVersion: v1
kind: PersistentVolume
metadata:
  name: $pv
  annotations:
    pv.kubernetes.io/provisioned-by: $NAME
spec:
  capacity:
    storage: $size
  accessModes: [${modes}]
  persistentVolumeReclaimPolicy: Delete
  storageClassName: $class
  volumeMode: Filesystem
  claimRef:
    apiVersion: v1
    kind: PersistentVolumeClaim
    namespace: $ns
    name: $name
    uid: $uid
  hostPath:
    path: $DIR/$pv
    type: Directory
EOF
        log "provisioned $pv for $ns/$name ($size)"
      fi
    done
}

reclaim() {
  local pv path
  "$KUBECTL" get pv -o go-template="$RELEASED" 2>/dev/null |
    while read -r pv path; do
      [ -n "$pv" ] || continue
      # Only ever delete inside our own directory.
      case $path in "$DIR"/pvc-*) rm -rf --one-file-system "$path" ;; esac
      "$KUBECTL" delete pv "$pv" --wait=false >/dev/null 2>&1 && log "deleted $pv"
    done
}

trap 'exit 0' TERM INT
log "hostpath provisioner $NAME: volumes in $DIR"
while :; do
  provision
  reclaim
  sleep 2 &
  wait $! # so SIGTERM ends the loop at once
done
