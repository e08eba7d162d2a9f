#!/bin/bash
# Build the Ceph S3 test image from Debian bookworm plus Debian's ceph-mon/ceph-osd/radosgw.
# Base, first found: $BASE; a local debian:bookworm-slim; a local nightshift-base:bookworm
# (the offline base sandbox_image/build.sh also makes); else nightshift-base:bookworm built here
# with debootstrap (root). No registry needed.
# Usage: tests/store/ceph/build.sh [TAG]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TAG=${1:-nightshift-ceph-test:latest}
OFFLINE_BASE=${OFFLINE_BASE:-nightshift-base:bookworm}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

build_offline_base() {
  command -v debootstrap >/dev/null || { echo "no base image and no debootstrap (apt-get install debootstrap)" >&2; exit 1; }
  local rootfs
  rootfs=$(mktemp -d /tmp/ns-base-XXXXXX)
  debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >&2
  tar -C "$rootfs" -c . | docker import - "$OFFLINE_BASE" >/dev/null
  rm -rf "$rootfs"
}

pick_base() {
  if [ -n "${BASE:-}" ]; then echo "$BASE"; return; fi
  if have_image debian:bookworm-slim; then echo debian:bookworm-slim; return; fi
  have_image "$OFFLINE_BASE" || build_offline_base
  echo "$OFFLINE_BASE"
}

DOCKER_BUILDKIT=0 docker build -q --build-arg BASE="$(pick_base)" -t "$TAG" "$HERE"
