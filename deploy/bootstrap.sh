#!/usr/bin/env bash
# Installs what a fresh Debian (bookworm) machine lacks to run nightshift, idempotently:
# Debian packages (Docker engine, Redis, debootstrap, Chromium for the report tests), a running dockerd, the Python venv,
# and the sandbox image. Sourced by deploy/demo.sh and deploy/test.sh; safe to run again.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*" >&2; }
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

need_pkgs=()
command -v dockerd >/dev/null || need_pkgs+=(docker.io)
command -v redis-server >/dev/null || need_pkgs+=(redis-server)
command -v debootstrap >/dev/null || need_pkgs+=(debootstrap)
command -v python3 >/dev/null || need_pkgs+=(python3 python3-venv)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_pkgs+=(python3-venv)
command -v curl >/dev/null || need_pkgs+=(curl)
command -v chromium >/dev/null || need_pkgs+=(chromium)  # the report tests open pages in headless Chromium
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "apt-get install ${need_pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: /tmp/nightshift-dockerd.log)"
  (nohup $SUDO dockerd >/tmp/nightshift-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; see /tmp/nightshift-dockerd.log"; exit 1; }
fi

if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.nightshift-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  log "pip install -e .[dev]"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi

log "sandbox image"
bash sandbox_image/build.sh

log "egress proxy image (squid from Debian: the way out of allowlisted sandboxes)"
bash egress_image/build.sh
