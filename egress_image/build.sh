#!/usr/bin/env bash
# Build the egress proxy image (nightshift-egress:latest) from the same base as the sandbox image;
# does nothing when the image matches the sources. FORCE=1 rebuilds.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
image="${NIGHTSHIFT_EGRESS_IMAGE:-nightshift-egress:latest}"
base="${BASE:-}"
if [ -z "$base" ]; then
  for candidate in debian:bookworm-slim nightshift-base:bookworm; do
    if docker image inspect "$candidate" >/dev/null 2>&1; then base="$candidate"; break; fi
  done
fi
[ -n "$base" ] || bash "$here/../sandbox_image/build.sh" base
base="${base:-nightshift-base:bookworm}"
hash="$( (cd "$here" && sha256sum Dockerfile squid.conf egress_helper.py; docker image inspect -f '{{.Id}}' "$base") \
  | sha256sum | cut -c1-20)"
current="$(docker image inspect -f '{{index .Config.Labels "org.nightshift.source-hash"}}' "$image" 2>/dev/null || true)"
if [ "$current" = "$hash" ] && [ -z "${FORCE:-}" ]; then echo "build.sh: $image is up to date" >&2; exit 0; fi
DOCKER_BUILDKIT=0 docker build --build-arg BASE="$base" --build-arg SOURCE_HASH="$hash" -t "$image" "$here"
