#!/bin/bash
# Build the Ceph S3 test image: nightshift-base:bookworm (debootstrap minbase, made here when the
# lead's sandbox_image/build.sh cannot) plus Debian's ceph-mon/ceph-osd/radosgw.
# Usage: tests/store/ceph/build.sh [TAG]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
TAG=${1:-nightshift-ceph-test:latest}
BASE=nightshift-base:bookworm

have_base() { docker image inspect "$BASE" >/dev/null 2>&1; }

if ! have_base && [ -x "$ROOT/sandbox_image/build.sh" ]; then
  "$ROOT/sandbox_image/build.sh" base || true
fi
if ! have_base; then
  command -v debootstrap >/dev/null || { echo "debootstrap missing: apt-get install debootstrap" >&2; exit 1; }
  ROOTFS=$(mktemp -d /tmp/ns-base-XXXXXX)
  trap 'rm -rf "$ROOTFS"' EXIT
  debootstrap --variant=minbase bookworm "$ROOTFS" http://deb.debian.org/debian
  tar -C "$ROOTFS" -c . | docker import - "$BASE"
fi
DOCKER_BUILDKIT=0 docker build -q -t "$TAG" "$HERE"
