#!/usr/bin/env bash
# Builds the project's OCI images with buildah from the real Dockerfiles and loads them into the
# local cluster's containerd (test/cluster/up.sh). No registry is reachable here, so the
# Dockerfiles' base `docker.io/library/debian:bookworm-slim` is made locally: a debootstrap'd
# Debian bookworm minbase root, cached as a tarball in the machine cache and committed under that
# name in buildah's storage (both survive a fresh clone of the repo on this machine).
#
#   hack/images.sh [IMAGE...]     IMAGE: base operator mysql-addon mariadb rest-server | all (default)
#
# `all` builds every image whose inputs exist (the operator and addon binaries are built by
# `make images`); naming an image whose inputs are missing is an error.
#
# Environment:
#   HOARD_IMAGE_SRC   where the repo-root Dockerfiles' COPY sources are taken from (default: the
#                     repo). Lets a test point at a throwaway context without touching bin/.
#   DEBIAN_MIRROR     mirror for debootstrap (default http://deb.debian.org/debian).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../test/cluster/lib.sh
source "$ROOT/test/cluster/lib.sh"

BASE_IMAGE=docker.io/library/debian:bookworm-slim
# Bump the key to rebuild the base; it carries no date so every rebuild on a machine reuses it.
BASE_KEY=debian-bookworm-minbase-v1
IMAGES_CACHE=$HOARD_CACHE/images
BASE_TAR=$IMAGES_CACHE/$BASE_KEY.tar.gz
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SRC=${HOARD_IMAGE_SRC:-$ROOT}

# name -> "dockerfile|context source dir"
declare -A IMAGES=(
  [operator]="ghcr.io/hoard-operator/hoard:dev|$SRC/Dockerfile.operator|$SRC"
  [mysql-addon]="ghcr.io/hoard-operator/mysql-addon:dev|$SRC/Dockerfile.mysql-addon|$SRC"
  [mariadb]="hoard.local/mariadb:10.11|$ROOT/test/cluster/images/mariadb/Dockerfile|$ROOT/test/cluster/images/mariadb"
  [rest-server]="hoard.local/rest-server:dev|$ROOT/test/cluster/images/rest-server/Dockerfile|$ROOT"
)
ORDER=(mariadb rest-server operator mysql-addon)

# --- base image -------------------------------------------------------------------------------

# make_base_tarball: debootstrap a minbase root once per machine and keep it as a tarball, so a
# lost buildah storage (or a new buildah) costs seconds, not the two minutes of debootstrap.
make_base_tarball() {
  [ -s "$BASE_TAR" ] && return 0
  local dir
  dir=$(mktemp -d "$IMAGES_CACHE/rootfs.XXXXXX")
  # debootstrap mounts /proc and /sys in the target; a failed run must not leave them behind.
  ROOTFS_TMP=$dir
  trap drop_rootfs EXIT
  log "debootstrap bookworm minbase (once per machine, ~2 min)"
  debootstrap --variant=minbase bookworm "$dir" "$MIRROR" >"$IMAGES_CACHE/debootstrap.log" 2>&1 ||
    { tail -20 "$IMAGES_CACHE/debootstrap.log" >&2; die "debootstrap failed"; }
  # What Debian's own slim images do: no daemons started by postinst, no docs, no apt caches.
  cat >"$dir/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${MIRROR%/debian}/debian-security bookworm-security main
EOF
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
  chmod 0755 "$dir/usr/sbin/policy-rc.d"
  cat >"$dir/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
APT::Install-Recommends "false";
EOF
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/* "$dir"/var/log/*.log "$dir"/usr/share/doc/* "$dir"/usr/share/man/*
  : >"$dir/etc/resolv.conf"
  echo bookworm-slim >"$dir/etc/hostname"
  tar --numeric-owner --xattrs -C "$dir" -czf "$BASE_TAR.tmp" .
  mv "$BASE_TAR.tmp" "$BASE_TAR"
  drop_rootfs
  trap - EXIT
}

ROOTFS_TMP=
drop_rootfs() {
  [ -n "$ROOTFS_TMP" ] || return 0
  umount -R "$ROOTFS_TMP/proc" "$ROOTFS_TMP/sys" 2>/dev/null || true
  rm -rf --one-file-system "$ROOTFS_TMP"
  ROOTFS_TMP=
}

# base_image: commit the cached root under the Dockerfiles' FROM name, unless it is there.
base_image() {
  local have
  have=$(buildah inspect --type image --format '{{index .ImageAnnotations "org.hoard.base"}}' "$BASE_IMAGE" 2>/dev/null || true)
  [ "$have" = "$BASE_KEY" ] && return 0
  make_base_tarball
  log "committing $BASE_IMAGE from $BASE_KEY"
  local c mnt
  c=$(buildah from --pull=false scratch)
  mnt=$(buildah mount "$c")
  tar --numeric-owner --xattrs -C "$mnt" -xzf "$BASE_TAR"
  buildah umount "$c" >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --cmd /bin/bash --os linux --arch amd64 \
    --annotation "org.hoard.base=$BASE_KEY" "$c"
  buildah commit --quiet --rm "$c" "$BASE_IMAGE" >/dev/null
}

# --- project images ---------------------------------------------------------------------------

# copy_sources DOCKERFILE SRCDIR: the COPY/ADD sources a Dockerfile names (flags and the
# destination dropped), one per line. Only the shell form and the JSON form of single-line
# instructions are understood, which is what this repo's Dockerfiles use.
copy_sources() {
  awk 'toupper($1)=="COPY" || toupper($1)=="ADD" {
         line=$0; sub(/^[ \t]*[A-Za-z]+[ \t]+/, "", line)
         while (line ~ /^--/) { if (line ~ /^--from=/) next; sub(/^--[^ \t]+[ \t]*/, "", line) }
         if (line ~ /^\[/) { gsub(/[\[\]",]/, " ", line) }
         n=split(line, a, /[ \t]+/); m=0
         for (i=1;i<=n;i++) if (a[i]!="") b[++m]=a[i]
         for (i=1;i<m;i++) print b[i]
       }' "$1"
}

# stage_context NAME DOCKERFILE SRCDIR: a build context holding just what the Dockerfile copies,
# with symlinks resolved (bin/restic links into the machine cache, outside any context). The
# path is fixed and timestamps are kept, so unchanged inputs hit buildah's layer cache.
stage_context() {
  local name=$1 df=$2 src=$3 ctx=$IMAGES_CACHE/context/$1 s
  rm -rf "$ctx"
  mkdir -p "$ctx"
  while read -r s; do
    [ -e "$src/$s" ] || die "$name: $df copies $s, which is missing under $src"
    (cd "$src" && cp -rL --preserve=mode,timestamps --parents "$s" "$ctx/")
  done < <(copy_sources "$df")
  echo "$ctx"
}

# inputs_present NAME: the Dockerfile and every file it copies exist.
inputs_present() {
  local spec=${IMAGES[$1]} df src s
  IFS='|' read -r _ df src <<<"$spec"
  [ -f "$df" ] || return 1
  while read -r s; do [ -e "$src/$s" ] || return 1; done < <(copy_sources "$df")
}

# build_image NAME: buildah bud with layer caching, then export to an OCI archive in the machine
# cache and load it into the cluster's containerd when the cluster runs (up.sh loads it later
# otherwise).
build_image() {
  local name=$1 ref df src ctx
  IFS='|' read -r ref df src <<<"${IMAGES[$name]}"
  [ -f "$df" ] || die "$name: no $df"
  ctx=$(stage_context "$name" "$df" "$src")
  log "building $ref from ${df#"$ROOT"/}"
  local old new
  old=$(buildah images --quiet --no-trunc "$ref" 2>/dev/null | head -1 || true)
  # --layers: reuse cached layers (bud's default is to squash per build and cache nothing).
  buildah bud --quiet --pull=false --network=host --layers -f "$df" -t "$ref" "$ctx" >/dev/null
  new=$(buildah images --quiet --no-trunc "$ref" | head -1)
  # The image this replaces would pile up untagged with every Go change. (Not `rmi --prune`:
  # that would also drop the untagged intermediate images that are the layer cache.)
  if [ -n "$old" ] && [ "$old" != "$new" ]; then buildah rmi "$old" >/dev/null 2>&1 || true; fi
  export_image "$ref"
}

# export_image REF: write the image to an OCI archive in the machine cache (unless the archive
# already holds this image ID) and load it into the cluster's containerd.
export_image() {
  local ref=$1 archive id
  archive=$IMAGE_ARCHIVES/$(echo "$ref" | tr '/:' '__').tar
  id=$(buildah images --quiet --no-trunc "$ref" | head -1)
  if [ ! -s "$archive" ] || [ "$(cat "$archive.id" 2>/dev/null)" != "$id" ]; then
    rm -f "$archive"
    buildah push --quiet "$ref" "oci-archive:$archive.tmp:$ref" >/dev/null
    mv "$archive.tmp" "$archive"
    echo "$id" >"$archive.id"
  fi
  load_archive "$archive" "$ref"
}

main() {
  need_root
  # buildah, runc, containerd's ctr, jq, debootstrap and its keyring, and restic and rest-server
  # (copied into images; cheap when the machine cache has them): area "images" of
  # hack/preflight.sh, installed and then checked.
  "$ROOT/hack/preflight.sh" --install images
  mkdir -p "$IMAGES_CACHE" "$IMAGE_ARCHIVES"
  # One build at a time: buildah's storage copes, but two debootstraps into the cache would not.
  exec 8>"$IMAGES_CACHE/.lock"
  flock 8

  local want=("$@") t o
  [ "${#want[@]}" -eq 0 ] && want=(all)
  base_image
  # The base in the cluster too: a plain Debian for test Jobs and debugging pods.
  export_image "$BASE_IMAGE"
  for t in "${want[@]}"; do
    case $t in
      base) ;;
      all)
        for o in "${ORDER[@]}"; do
          if inputs_present "$o"; then build_image "$o"; else log "skipping $o: its Dockerfile or binaries are not there"; fi
        done ;;
      *)
        [ -n "${IMAGES[$t]:-}" ] || die "unknown image $t (base ${ORDER[*]} all)"
        build_image "$t" ;;
    esac
  done
}

main "$@"
