"""Whether a run's sandbox is still wanted: the one judgement both reapers make, for a run's own
container (its labels name the run) and for a claimed warm one (its claim in Redis names it)."""

from __future__ import annotations

import redis

from core.approvals import Approvals
from core.records import Records
from core.states import RunState
from workers.fleet.lease import lease_held


def redis_just_started(client: redis.Redis, grace_s: float) -> bool:
    """Right after Redis (re)started a missing lease proves nothing yet: its live worker's heartbeat
    is taking it back."""
    if grace_s <= 0:
        return False
    uptime_s = float(client.info("server").get("uptime_in_seconds", 0))
    return uptime_s < grace_s


def why_run_sandbox_goes(run_id: str, attempt: str, deadline: float, records: Records, client: redis.Redis,
                         now: float, trust_leases: bool) -> str | None:
    """Why the sandbox of ``run_id``'s attempt ``attempt`` should be removed, or None to keep it. A
    paused run's is kept while its approval request stands; its deadline moves by the time it waited."""
    record = records.find(run_id)
    if record is not None and record.state == RunState.NEEDS_APPROVAL:
        return None if Approvals(client).get(run_id) is not None else "approval request gone"
    if deadline + (record.paused_s if record else 0.0) < now:
        return "past its deadline"
    if record is None:
        return "run unknown"
    if record.terminal:
        return f"run {record.state}"
    if trust_leases and not lease_held(client, run_id):
        return "no live lease (worker gone)"
    if attempt != str(record.attempt):
        return "stale attempt"
    return None
