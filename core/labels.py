"""The Docker labels every sandbox container carries: what the reaper, the tests and an operator
(``docker ps --filter label=nightshift.run_id=...``) read to know whose container it is."""

from __future__ import annotations

SANDBOX = "nightshift.sandbox"  # "1" on every container nightshift started
RUN_ID = "nightshift.run_id"
ATTEMPT = "nightshift.attempt"
DEADLINE = "nightshift.deadline"  # epoch seconds after which the container is removed, run or not
WORKER = "nightshift.worker"  # the host whose worker started it
# The fleet (queue) it belongs to: a reaper only ever touches its own fleet's sandboxes, never
# those of another fleet (or a test) sharing the Docker engine.
FLEET = "nightshift.fleet"


def for_attempt(run_id: str, attempt: int, deadline: int, worker: str, fleet: str) -> dict[str, str]:
    """The labels of one run attempt's sandbox (``SANDBOX`` is added by the launcher)."""
    return {RUN_ID: run_id, ATTEMPT: str(attempt), DEADLINE: str(deadline), WORKER: worker, FLEET: fleet}

# Warm pool (workers/sandbox/pool.py): labels are fixed at ``docker run``, so a pooled sandbox says
# what it is and who keeps it; the run that claims it is written to Redis (keys.pool_claim).
POOL = "nightshift.pool"  # the shape key (image|WxH|network) of a pooled sandbox
POOL_OWNER = "nightshift.pool_owner"  # the keeper instance; its Redis heartbeat says it is alive
IDLE_UNTIL = "nightshift.idle_until"  # epoch seconds: recycled when still unclaimed by then


def for_pool(shape_key: str, owner: str, idle_until: int, worker: str, fleet: str) -> dict[str, str]:
    """The labels of a pooled sandbox before any run claims it."""
    return {POOL: shape_key, POOL_OWNER: owner, IDLE_UNTIL: str(idle_until), WORKER: worker, FLEET: fleet}
