"""Every Redis key nightshift uses, in one place."""

from __future__ import annotations

PREFIX = "ns"


def run(run_id: str) -> str:
    """Hash: the run record (state, stop reason, usage, cost, artifact prefix, timestamps)."""
    return f"{PREFIX}:run:{run_id}"


def run_events(run_id: str) -> str:
    """Stream: state transitions and one progress line per step (followed by ``run --wait``)."""
    return f"{PREFIX}:run:{run_id}:events"


def run_inputs(run_id: str) -> str:
    """Hash: files to place in the sandbox (dest -> bytes), stored at enqueue time."""
    return f"{PREFIX}:run:{run_id}:inputs"


def run_cancel(run_id: str) -> str:
    """String: set when a cancel was requested (value: who/why)."""
    return f"{PREFIX}:run:{run_id}:cancel"


def run_retry(run_id: str) -> str:
    """String with TTL: set while the run's next attempt waits in Celery's retry countdown, so the
    reaper does not take the lease-less run for an orphan and send it twice."""
    return f"{PREFIX}:run:{run_id}:retry"


def run_lease(run_id: str) -> str:
    """String with TTL: the token of the worker running the run now (duplicates back off)."""
    return f"{PREFIX}:run:{run_id}:lease"


def runs_index() -> str:
    """Sorted set: run ids scored by creation time."""
    return f"{PREFIX}:runs"


def batch_runs(batch_id: str) -> str:
    """Sorted set: the run ids of one batch (one enqueue call, cron firing or POST), by creation time."""
    return f"{PREFIX}:batch:{batch_id}"


def batches_index() -> str:
    """Sorted set: batch ids scored by creation time."""
    return f"{PREFIX}:batches"


def batch_render_lock(batch_id: str) -> str:
    """Lock: held while a worker renders the batch's index.html (the last render sees every run)."""
    return f"{PREFIX}:batch:{batch_id}:render"


def schedule_slot(schedule_name: str, slot_iso: str) -> str:
    """String with TTL: set once when a cron slot fires (a second beat cannot fire it again)."""
    return f"{PREFIX}:cron:{schedule_name}:{slot_iso}"


def schedule_last(schedule_name: str) -> str:
    """String: the last slot fired for a schedule (a missed slot is not fired twice)."""
    return f"{PREFIX}:cron:{schedule_name}:last"


def rate_window(kind: str, minute: int) -> str:
    """Counter with TTL: fleet-wide API usage of ``kind`` (requests/input/output) in one minute."""
    return f"{PREFIX}:rate:{kind}:{minute}"


def model_catalog() -> str:
    """String (JSON, with TTL): the Models API's rows as the workers last fetched them."""
    return f"{PREFIX}:models:catalog"


def rate_pause() -> str:
    """Fleet-wide: until when (Redis clock, epoch seconds) no worker sends a request, because the
    API's rate-limit headers said a limit is spent."""
    return f"{PREFIX}:rate:pause"


def run_approval(run_id: str) -> str:
    """Hash: the run's pending approval request (what, why, host queue, deadline) and, once made,
    the decision (who, when, note)."""
    return f"{PREFIX}:run:{run_id}:approval"


def run_paused(run_id: str) -> str:
    """String (JSON): what a paused run needs to go on (the agent's state, the artifacts written)."""
    return f"{PREFIX}:run:{run_id}:paused"


def approvals_index() -> str:
    """Sorted set: run ids waiting for a decision, scored by their approval deadline."""
    return f"{PREFIX}:approvals"


def pool_ready(fleet: str, worker: str, shape_key: str) -> str:
    """List: the ready, unclaimed pooled sandboxes of one shape on one worker host (JSON entries)."""
    return f"{PREFIX}:pool:{fleet}:{worker}:ready:{shape_key}"


def pool_shapes(fleet: str, worker: str) -> str:
    """Sorted set: the shapes runs asked for on this host, scored by when they last asked."""
    return f"{PREFIX}:pool:{fleet}:{worker}:shapes"


def pool_wake(fleet: str, worker: str) -> str:
    """List: a claim pushes here so the host's keeper refills at once."""
    return f"{PREFIX}:pool:{fleet}:{worker}:wake"


def pool_stats(fleet: str, worker: str) -> str:
    """Hash: the host's pool counters (claimed warm, cold starts, started, recycled, idle)."""
    return f"{PREFIX}:pool:{fleet}:{worker}:stats"


def pool_claim(container_id: str) -> str:
    """String with TTL (JSON): the run that claimed a pooled sandbox (run id, attempt, deadline)."""
    return f"{PREFIX}:pool:claim:{container_id}"


def pool_owner(owner: str) -> str:
    """String with TTL: a live pool keeper's heartbeat; gone means its idle sandboxes are orphans."""
    return f"{PREFIX}:pool:owner:{owner}"


def reaper_turn(fleet: str) -> str:
    """String with TTL: the worker host whose reaper re-sends the fleet's orphaned runs this interval
    (one per interval, whichever comes first; the others only tidy their own machine)."""
    return f"{PREFIX}:reaper:{fleet}:turn"
