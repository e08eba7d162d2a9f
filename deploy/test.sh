#!/usr/bin/env bash
# The test command: installs what is missing (deploy/bootstrap.sh), then runs lint, types and the
# whole test suite against real Redis, a real Docker engine, real sandbox containers and a real
# S3-compatible server (Ceph RGW, started by the tests).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash deploy/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/mypy core workers scheduler sandbox_image egress_image
exec .venv/bin/pytest -q -p no:cacheprovider "$@"
