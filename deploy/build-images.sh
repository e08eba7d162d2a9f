#!/usr/bin/env bash
# Build the images deploy/docker-compose.yml runs, on this machine, with no container registry:
#   nightshift-worker  (worker, beat, api)  from deploy/worker.Dockerfile
#   nightshift-redis                        from deploy/redis.Dockerfile
#
#   deploy/build-images.sh           build, or do nothing for an image that matches its sources
#   FORCE=1 deploy/build-images.sh   rebuild both
#   NIGHTSHIFT_WORKER_IMAGE, NIGHTSHIFT_REDIS_IMAGE   the tags (docker-compose.yml reads the same)
#   BASE=...                         a Debian bookworm image; default: a local debian:bookworm-slim,
#                                    else nightshift-base:bookworm (built offline by sandbox_image/build.sh)
#
# Python packages come as wheels collected here by pip (PyPI or whatever pip is set up to use);
# the image build itself reaches no package index. Each image is labelled with the hash of its
# sources and base, like the sandbox image, so an unchanged one is not rebuilt.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
worker_image="${NIGHTSHIFT_WORKER_IMAGE:-nightshift-worker}"
redis_image="${NIGHTSHIFT_REDIS_IMAGE:-nightshift-redis}"
wheels="$here/build/wheels"
hash_label="org.nightshift.source-hash"

log() { echo "build-images.sh: $*" >&2; }

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

pip_cmd() {
  if [ -x "$root/.venv/bin/pip" ]; then echo "$root/.venv/bin/pip"
  elif command -v pip3 >/dev/null; then echo pip3
  else echo "python3 -m pip"; fi
}

pick_base() {
  if [ -n "${BASE:-}" ]; then echo "$BASE"; return; fi
  if have_image debian:bookworm-slim; then echo debian:bookworm-slim; return; fi
  local offline="${OFFLINE_BASE:-nightshift-base:bookworm}"
  have_image "$offline" || OFFLINE_BASE="$offline" bash "$root/sandbox_image/build.sh" base
  echo "$offline"
}

# The hash of the files an image is made of (paths relative to the repo root) and of its base.
source_hash() {
  local base_id="$1"; shift
  (
    cd "$root"
    find "$@" \( -name build -o -name __pycache__ -o -name '*.pyc' \) -prune -o -type f -print \
      | LC_ALL=C sort | xargs -d '\n' sha256sum
    echo "$base_id"
  ) | sha256sum | cut -c1-20
}

up_to_date() {
  local image="$1" hash="$2" current
  current="$(docker image inspect -f "{{index .Config.Labels \"$hash_label\"}}" "$image" 2>/dev/null || true)"
  [ "$current" = "$hash" ] && [ -z "${FORCE:-}" ]
}

# The image's Python is Debian bookworm's python3 (3.11.2): wheels are picked for it, not for the
# Python running pip here. pip checks tags for a target Python but evaluates dependency markers
# with its own, so what only 3.11.2 needs is named here (redis wants async-timeout below 3.11.3).
image_python="3.11.2"
image_python_extras=("async-timeout>=4.0.3")

platform_args() {
  local arch minor
  arch="$(uname -m)"
  for minor in $(seq 17 36); do echo "--platform=manylinux_2_${minor}_${arch}"; done  # bookworm: glibc 2.36
  echo "--platform=manylinux2014_${arch}"
}

collect_wheels() {
  log "collecting wheels with $(pip_cmd)"
  rm -rf "$wheels"
  mkdir -p "$wheels/app" "$wheels/deps"
  $(pip_cmd) wheel --quiet --no-deps --wheel-dir "$wheels/app" "$root"
  # shellcheck disable=SC2046  # one argument per line
  $(pip_cmd) download --quiet --only-binary=:all: --implementation cp --abi cp311 \
    --python-version "$image_python" $(platform_args) --dest "$wheels/deps" \
    "$wheels"/app/nightshift-*.whl "${image_python_extras[@]}"
}

# Build $image from $dockerfile with $context (- for none), replacing the image the tag named.
build() {
  local image="$1" dockerfile="$2" context="$3" base="$4" hash="$5" previous
  previous="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
  log "building $image from $base"
  local args=(--build-arg BASE="$base" --build-arg SOURCE_HASH="$hash" -t "$image")
  if [ "$context" = - ]; then  # a Dockerfile that copies nothing: no context at all
    DOCKER_BUILDKIT=0 docker build -q "${args[@]}" - <"$dockerfile" >/dev/null
  else
    DOCKER_BUILDKIT=0 docker build -q "${args[@]}" -f "$dockerfile" "$context" >/dev/null
  fi
  # the image this tag named before, if nothing else names or uses it now
  if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect -f '{{.Id}}' "$image")" ]; then
    docker image rm "$previous" >/dev/null 2>&1 || true
  fi
}

main() {
  local base base_id worker_hash redis_hash
  base="$(pick_base)"
  base_id="$(docker image inspect -f '{{.Id}}' "$base")"
  worker_hash="$(source_hash "$base_id" pyproject.toml core workers scheduler sandbox_image \
    deploy/worker.Dockerfile)"
  redis_hash="$(source_hash "$base_id" deploy/redis.Dockerfile)"
  if up_to_date "$worker_image" "$worker_hash"; then
    log "$worker_image is up to date ($worker_hash)"
  else
    collect_wheels
    build "$worker_image" "$here/worker.Dockerfile" "$root" "$base" "$worker_hash"
  fi
  if up_to_date "$redis_image" "$redis_hash"; then
    log "$redis_image is up to date ($redis_hash)"
  else
    build "$redis_image" "$here/redis.Dockerfile" - "$base" "$redis_hash"
  fi
}

main "$@"
