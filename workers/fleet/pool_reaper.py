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
from core.records import Records
from workers.fleet.judge import redis_just_started, why_run_sandbox_goes
from workers.sandbox.pool import claim_of, discard, socket_dir_of, take_back

log = structlog.get_logger("nightshift.reaper")


def _why_claimed(claim: dict[str, Any], records: Records, client: redis.Redis, now: float,
                 trust_leases: bool) -> str | None:
    return why_run_sandbox_goes(str(claim.get("run_id", "")), str(claim.get("attempt")),
                                float(claim.get("deadline", "inf")), records, client, now, trust_leases)


def _why_idle(container: Container, client: redis.Redis, now: float) -> str | None:
    labels = container.labels
    if not client.exists(keys.pool_owner(labels.get(label.POOL_OWNER, ""))):
        return "pool keeper gone"
    if float(labels.get(label.IDLE_UNTIL, "inf")) < now:
        return "idle past its TTL"
    return None


def _why_remove(container: Container, records: Records, client: redis.Redis, now: float,
                trust_leases: bool) -> str | None:
    claim = claim_of(client, str(container.id))
    if claim is not None:
        return _why_claimed(claim, records, client, now, trust_leases)
    reason = _why_idle(container, client, now)
    if reason is None:
        return None
    labels = container.labels
    taken = take_back(client, labels.get(label.FLEET, ""), labels.get(label.WORKER, ""),
                      labels.get(label.POOL, ""), str(container.id))
    if not taken and claim_of(client, str(container.id)) is not None:
        return None  # a run claimed it just now
    return reason


def reap_pool(docker_client: docker.DockerClient, records: Records, client: redis.Redis, fleet: str,
              restart_grace_s: float = 0.0) -> int:
    """Remove this fleet's pooled sandboxes on this machine that nobody keeps or runs any more; right
    after Redis (re)started, not for a missing lease (as ``reap_containers``)."""
    removed = 0
    now = time.time()
    trust_leases = not redis_just_started(client, restart_grace_s)
    pooled: dict[str, str | list[str] | bool] = {"label": [label.POOL, f"{label.FLEET}={fleet}"]}
    # ignore_removed: a container removed between the listing and its inspection skips nothing
    for container in docker_client.containers.list(all=True, filters=pooled, ignore_removed=True):
        reason = _why_remove(container, records, client, now, trust_leases)
        if reason is None:
            continue
        discard(docker_client, str(container.id), socket_dir_of(container))
        client.hincrby(keys.pool_stats(fleet, container.labels.get(label.WORKER, "")), "reaped", 1)
        removed += 1
        log.info("pooled container removed", container=container.short_id, reason=reason,
                 run_id=(claim_of(client, str(container.id)) or {}).get("run_id"))
    return removed
