"""The reaper's half for pooled sandboxes (workers/sandbox/pool.py), whose fixed labels name no run.

A claimed one is judged like any run's sandbox through its claim in Redis (finished run, past the
deadline, no live lease, stale attempt). An unclaimed one goes when its keeper is gone (the
heartbeat expired: the worker died without draining) or it is idle past its ``idle_until``; it is
first taken off the ready list, so a run can never claim a sandbox being removed.
"""

from __future__ import annotations

import time
from typing import Any

import docker
import redis
import structlog
from docker.models.containers import Container

from core import keys
from core import labels as label
from core.approvals import Approvals
from core.records import Records
from core.states import RunState
from workers.fleet.lease import lease_held
from workers.sandbox.pool import claim_of, discard, socket_dir_of, take_back

log = structlog.get_logger("nightshift.reaper")


def _why_claimed(claim: dict[str, Any], records: Records, client: redis.Redis, now: float) -> str | None:
    run_id = str(claim.get("run_id", ""))
    record = records.find(run_id)
    if record is not None and record.state == RunState.NEEDS_APPROVAL:  # paused: kept until decided
        return None if Approvals(client).get(run_id) is not None else "approval request gone"
    if float(claim.get("deadline", "inf")) + (record.paused_s if record else 0.0) < now:
        return "past its deadline"
    if record is None:
        return "run unknown"
    if record.terminal:
        return f"run {record.state}"
    if not lease_held(client, run_id):
        return "no live lease (worker gone)"
    if str(claim.get("attempt")) != str(record.attempt):
        return "stale attempt"
    return None


def _why_idle(container: Container, client: redis.Redis, now: float) -> str | None:
    labels = container.labels
    if not client.exists(keys.pool_owner(labels.get(label.POOL_OWNER, ""))):
        return "pool keeper gone"
    if float(labels.get(label.IDLE_UNTIL, "inf")) < now:
        return "idle past its TTL"
    return None


def _why_remove(container: Container, records: Records, client: redis.Redis, now: float) -> str | None:
    claim = claim_of(client, str(container.id))
    if claim is not None:
        return _why_claimed(claim, records, client, now)
    reason = _why_idle(container, client, now)
    if reason is None:
        return None
    labels = container.labels
    taken = take_back(client, labels.get(label.FLEET, ""), labels.get(label.WORKER, ""),
                      labels.get(label.POOL, ""), str(container.id))
    if not taken and claim_of(client, str(container.id)) is not None:
        return None  # a run claimed it just now
    return reason


def reap_pool(docker_client: docker.DockerClient, records: Records, client: redis.Redis, fleet: str) -> int:
    """Remove this fleet's pooled sandboxes on this machine that nobody keeps or runs any more."""
    removed = 0
    now = time.time()
    pooled: dict[str, str | list[str] | bool] = {"label": [label.POOL, f"{label.FLEET}={fleet}"]}
    for container in docker_client.containers.list(all=True, filters=pooled):
        reason = _why_remove(container, records, client, now)
        if reason is None:
            continue
        discard(docker_client, str(container.id), socket_dir_of(container))
        client.hincrby(keys.pool_stats(fleet, container.labels.get(label.WORKER, "")), "reaped", 1)
        removed += 1
        log.info("pooled container removed", container=container.short_id, reason=reason,
                 run_id=(claim_of(client, str(container.id)) or {}).get("run_id"))
    return removed
