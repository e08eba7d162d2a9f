#!/usr/bin/env bash
# Build the sandbox image (nightshift-sandbox:latest) with no container registry needed.
#
#   sandbox_image/build.sh            build, or do nothing when the image matches the sources
#   FORCE=1 sandbox_image/build.sh    rebuild even when up to date
#   BASE=debian:bookworm-slim ...     pick the base image explicitly
#   sandbox_image/build.sh base       (re)build only the offline base (OFFLINE_BASE names its tag)
#
# Base image, first found: $BASE; a local debian:bookworm-slim; a local nightshift-base:bookworm;
# debian:bookworm-slim pulled from a registry; else one built offline with debootstrap (root).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
image="${NIGHTSHIFT_SANDBOX_IMAGE:-nightshift-sandbox:latest}"
registry_base="debian:bookworm-slim"
offline_base="${OFFLINE_BASE:-nightshift-base:bookworm}"
mss_version="${MSS_VERSION:-10.2.0}"
wheels="$here/build/wheels"

log() { echo "build.sh: $*" >&2; }

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

pip_cmd() {
  if [ -x "$root/.venv/bin/pip" ]; then echo "$root/.venv/bin/pip"
  elif command -v pip3 >/dev/null; then echo pip3
  else echo "python3 -m pip"; fi
}

fetch_wheels() {
  if ls "$wheels"/mss-"$mss_version"-*.whl >/dev/null 2>&1; then return; fi
  mkdir -p "$wheels"
  rm -f "$wheels"/mss-*.whl
  log "downloading the mss $mss_version wheel"
  $(pip_cmd) download --quiet --no-deps --only-binary=:all: --dest "$wheels" "mss==$mss_version"
}

build_offline_base() {
  command -v debootstrap >/dev/null || { log "no base image and no debootstrap (apt-get install debootstrap)"; exit 1; }
  local dir
  dir="$(mktemp -d)"
  log "building $offline_base with debootstrap (about a minute)"
  debootstrap --variant=minbase bookworm "$dir" http://deb.debian.org/debian >&2
  slim_rootfs "$dir"
  tar -C "$dir" -c . | docker import - "$offline_base" >/dev/null
  rm -rf "$dir"
}

# What debian:bookworm-slim leaves out too: package caches and lists, docs, man pages, translations.
slim_rootfs() {
  local dir="$1"
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/cache/apt/*.bin "$dir"/var/lib/apt/lists/* \
    "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/var/log/*
  find "$dir"/usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
  find "$dir"/usr/share/locale -mindepth 1 -maxdepth 1 -not -name 'en*' -not -name locale.alias \
    -exec rm -rf {} +
  cp "$here/desktop/dpkg-nodoc.cfg" "$dir/etc/dpkg/dpkg.cfg.d/01-nodoc"
}

pick_base() {
  if [ -n "${BASE:-}" ]; then echo "$BASE"; return; fi
  if have_image "$registry_base"; then echo "$registry_base"; return; fi
  if have_image "$offline_base"; then echo "$offline_base"; return; fi
  if timeout 60 docker pull "$registry_base" >/dev/null 2>&1; then echo "$registry_base"; return; fi
  build_offline_base
  echo "$offline_base"
}

source_hash() {
  local base_id="$1"
  (
    cd "$here"
    find . \( -name build -o -name __pycache__ -o -name '*.pyc' \) -prune -o -type f -print \
      | LC_ALL=C sort | xargs -d '\n' sha256sum
    ls build/wheels
    echo "$base_id"
  ) | sha256sum | cut -c1-20
}

main() {
  if [ "${1:-}" = "base" ]; then
    build_offline_base
    return
  fi
  fetch_wheels
  local base base_id hash current
  base="$(pick_base)"
  base_id="$(docker image inspect -f '{{.Id}}' "$base")"
  hash="$(source_hash "$base_id")"
  current="$(docker image inspect -f '{{index .Config.Labels "org.nightshift.source-hash"}}' "$image" 2>/dev/null || true)"
  if [ "$current" = "$hash" ] && [ -z "${FORCE:-}" ]; then
    log "$image is up to date ($hash)"
    return
  fi
  log "building $image from $base"
  DOCKER_BUILDKIT=0 docker build --build-arg BASE="$base" --build-arg SOURCE_HASH="$hash" \
    -t "$image" "$here"
  docker image prune --force --filter "label=org.nightshift.source-hash" >/dev/null || true
}

main "$@"
