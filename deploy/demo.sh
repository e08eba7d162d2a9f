#!/usr/bin/env bash
# The main job on one machine: install what is missing, start the fleet (Procfile: redis, worker,
# beat, api under honcho), run the bundled example batch (examples/night.yaml + examples/batch.yaml:
# outputs, one passing and one failing check), write its JUnit file, print the summary and where
# the reports are, and stop the fleet again (KEEP_RUNNING=1 leaves it up). Script tasks always run;
# Claude tasks run only when ANTHROPIC_API_KEY is set.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash deploy/bootstrap.sh
mkdir -p var/redis artifacts

export NIGHTSHIFT_REDIS_PORT="${NIGHTSHIFT_REDIS_PORT:-6379}"
export NIGHTSHIFT_REDIS_URL="redis://127.0.0.1:${NIGHTSHIFT_REDIS_PORT}/0"
export NIGHTSHIFT_ARTIFACTS_DIR="${NIGHTSHIFT_ARTIFACTS_DIR:-$ROOT/artifacts}"
export NIGHTSHIFT_SCHEDULES_FILE="${NIGHTSHIFT_SCHEDULES_FILE:-$ROOT/examples/schedules.yaml}"
export NIGHTSHIFT_WORKER_CONCURRENCY="${NIGHTSHIFT_WORKER_CONCURRENCY:-4}"

if redis-cli -p "$NIGHTSHIFT_REDIS_PORT" ping >/dev/null 2>&1; then
  echo "[demo] a Redis already answers on port $NIGHTSHIFT_REDIS_PORT; set NIGHTSHIFT_REDIS_PORT to another port" >&2
  exit 1
fi
# Redis first and last: honcho stops its processes all at once, and a worker stopping cleanly
# drains its warm pool through Redis. So Redis runs beside honcho, started before the worker and
# stopped after it (the Procfile's redis line, for `honcho start` by hand).
(.venv/bin/honcho start redis >var/redis.log 2>&1 &)
for _ in $(seq 1 100); do redis-cli -p "$NIGHTSHIFT_REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
.venv/bin/honcho start worker beat >var/fleet.log 2>&1 &
FLEET=$!
stop_fleet() {
  kill -TERM "$FLEET" 2>/dev/null || true; wait "$FLEET" 2>/dev/null || true
  redis-cli -p "$NIGHTSHIFT_REDIS_PORT" shutdown >/dev/null 2>&1 || true
}
[ "${KEEP_RUNNING:-0}" = 1 ] || trap stop_fleet EXIT
echo "[demo] fleet started (log: var/fleet.log)"

agents=(--agent script)
if [ -n "${ANTHROPIC_API_KEY:-}" ]; then agents=(); else
  echo "[demo] ANTHROPIC_API_KEY is not set: running the script tasks only"; fi
set +e  # one check fails on purpose: the batch's exit status is not the demo's
.venv/bin/nightshift run examples/night.yaml examples/batch.yaml --wait --junit var/junit.xml "${agents[@]}" \
  | tee var/demo-run.log
set -e
batch="$(sed -n 's/^batch //p' var/demo-run.log | head -1)"
echo; .venv/bin/nightshift batch "$batch"
echo; .venv/bin/nightshift summary --since 1h
echo
echo "[demo] JUnit:        $ROOT/var/junit.xml"
echo "[demo] batch report: $NIGHTSHIFT_ARTIFACTS_DIR/batches/$batch/index.html"
echo "[demo] run reports:  $NIGHTSHIFT_ARTIFACTS_DIR/runs/<run id>/attempt-1/report.html (outputs/ beside each)"
