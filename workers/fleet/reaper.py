"""Housekeeping: remove sandbox containers nobody runs any more, and resume runs whose worker died.

Two halves, because containers are per machine and runs are fleet-wide:
- ``reap_containers`` (every worker's main process, on a timer): removes local sandboxes whose run
  is finished, past its deadline, or orphaned (no live lease: its worker died); a paused run's
  sandbox is kept while its approval request stands. With them go their executor socket
  directories, and any socket directory whose sandbox no longer exists (a worker killed between
  creating one and removing it), after a grace for sandboxes still starting. On the same timer
  ``expire_approvals`` sends this machine's paused runs past their approval deadline to be ended.
- ``resume_orphans`` (every worker's main process on the same timer, one host per interval by a
  Redis turn; also the beat-scheduled ``nightshift.reap`` task): re-sends runs that are
  ``starting``/``running`` with no live lease, so a crashed run resumes as attempt N+1 within
  about ``lease_ttl_s + reaper_interval_s`` instead of after the broker's visibility timeout. The
  timer does not wait for a free slot: a beat task queued behind a busy fleet's runs would.
  Only runs of its own fleet (the queue the record names) are sent, to that queue. Right after
  Redis (re)started it waits ``reaper_restart_grace_s``: leases whose TTL ran out during the outage
  are taken back by their live workers' heartbeats first.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import docker
import redis
import structlog
from celery import Celery
from docker.errors import APIError, NotFound
from docker.models.containers import Container

from core import keys
from core import labels as label
from core.approvals import Approvals, decide_and_resume
from core.broker import host_queue, send_run
from core.errors import ApprovalError
from core.events import EventType
from core.records import Records, RunRecord
from core.settings import Settings
from core.states import IN_FLIGHT, Decision, RunState, StopReason
from workers.fleet.judge import redis_just_started, why_run_sandbox_goes
from workers.fleet.lease import lease_held
from workers.fleet.pool_reaper import reap_pool
from workers.metrics import REAPER_ACTIONS
from workers.runtime import Runtime

IN_FLIGHT_SCAN = 10_000  # in-flight runs looked at per pass
TURN_SHARE = 0.9  # a host's turn to re-send orphans lasts this share of the reaper interval
SOCKET_DIR_GRACE_S = 300.0  # a socket directory this young may belong to a sandbox being created
log = structlog.get_logger("nightshift.reaper")


def _why_remove(
    container: Container, records: Records, redis_client: redis.Redis, now: float, trust_leases: bool
) -> str | None:
    labels = container.labels
    return why_run_sandbox_goes(labels.get(label.RUN_ID, ""), labels.get(label.ATTEMPT, ""),
                                float(labels.get(label.DEADLINE, "inf")), records, redis_client, now,
                                trust_leases)


def reap_containers(
    docker_client: docker.DockerClient, records: Records, redis_client: redis.Redis, fleet: str,
    socket_dir: Path | None = None, restart_grace_s: float = 0.0,
) -> int:
    """Remove this fleet's dead sandboxes; with ``socket_dir``, also their socket directories and
    every stale one there whose sandbox is gone. Right after Redis (re)started a missing lease
    proves nothing yet (its live worker is taking it back), so only finished, unknown, stale or
    overdue runs' sandboxes go."""
    removed = 0
    now = time.time()
    trust_leases = not redis_just_started(redis_client, restart_grace_s)
    mine: dict[str, str | list[str] | bool] = {"label": [label.RUN_ID, f"{label.FLEET}={fleet}"]}
    # ignore_removed: a container removed between the listing and its inspection is skipped, not
    # the whole pass
    for container in docker_client.containers.list(all=True, filters=mine, ignore_removed=True):
        reason = _why_remove(container, records, redis_client, now, trust_leases)
        if reason is None:
            continue
        try:
            container.remove(force=True)
            if socket_dir is not None:
                shutil.rmtree(socket_dir / str(container.name), ignore_errors=True)
            removed += 1
            log.info("container removed", container=container.short_id,
                     run_id=container.labels.get(label.RUN_ID), reason=reason)
        except (NotFound, APIError):
            continue
    if socket_dir is not None:
        sweep_socket_dirs(docker_client, socket_dir)
    return removed


def sweep_socket_dirs(
    docker_client: docker.DockerClient, socket_dir: Path, grace_s: float = SOCKET_DIR_GRACE_S
) -> int:
    """Remove the per-sandbox socket directories (named after their container) whose container no
    longer exists, once older than ``grace_s``. Returns how many were removed."""
    if not socket_dir.is_dir():
        return 0
    alive = {c.name for c in docker_client.containers.list(all=True, filters={"label": label.SANDBOX})}
    cutoff, swept = time.time() - grace_s, 0
    for path in socket_dir.iterdir():
        if path.name in alive or path.is_symlink() or not path.is_dir() or path.stat().st_mtime > cutoff:
            continue
        shutil.rmtree(path, ignore_errors=True)
        log.info("socket directory removed", path=str(path))
        swept += 1
    return swept


def _mine(record: RunRecord, settings: Settings) -> bool:
    """Records from before queues were stored belong to whichever fleet finds them."""
    return record.queue in (None, settings.queue_name)


def resume_orphans(records: Records, redis_client: redis.Redis, app: Celery, settings: Settings) -> int:
    if redis_just_started(redis_client, settings.reaper_restart_grace_s):
        log.info("reaper waits: Redis just (re)started, live workers take their leases back first")
        return 0
    resumed = 0
    for record in records.list(IN_FLIGHT, limit=IN_FLIGHT_SCAN):
        if not _mine(record, settings) or lease_held(redis_client, record.run_id):
            continue
        max_wall_s = float(record.spec.get("budgets", {}).get("max_wall_s", settings.max_wall_s_cap))
        send_run(app, settings, record.run_id, record.priority, max_wall_s)
        records.event(record.run_id, EventType.RESUMED, reason="worker gone", attempt=record.attempt)
        log.warning("run resumed", run_id=record.run_id, attempt=record.attempt)
        resumed += 1
    return resumed


def resume_on_my_turn(rt: Runtime, app: Celery) -> int:
    """``resume_orphans`` if no other host of the fleet took this interval's turn (0 otherwise)."""
    turn_s = max(1, int(rt.settings.reaper_interval_s * TURN_SHARE))
    if not rt.redis.set(keys.reaper_turn(rt.settings.queue_name), rt.hostname, nx=True, ex=turn_s):
        return 0
    resumed = resume_orphans(rt.records, rt.redis, app, rt.settings)
    REAPER_ACTIONS.labels("resumed").inc(resumed)
    return resumed


def expire_approvals(rt: Runtime, app: Celery) -> int:
    """Paused runs of this machine cancelled meanwhile, or past their approval deadline: decided
    ``cancelled``/``timed_out`` and sent to this machine's queue, where a worker ends them
    (``cancelled``/``failed``), keeps their artifacts and removes their container."""
    approvals, queue, expired = Approvals(rt.redis), host_queue(rt.settings, rt.hostname), 0
    cancelled = [r for r in approvals.pending() if r.queue == queue and rt.records.cancel_requested(r.run_id)]
    ending = [(r, Decision.CANCELLED, "cancel") for r in cancelled]
    ending += [(r, Decision.TIMED_OUT, "deadline") for r in approvals.due(queue)]
    for request, decision, by in ending:
        try:
            decide_and_resume(approvals, app, rt.settings, request.run_id, decision, by=by)
        except ApprovalError:  # decided a moment ago by a human, or by another worker's reaper
            continue
        log.warning("paused run ends", run_id=request.run_id, decision=decision)
        expired += 1
    return expired


def fail_lost_approvals(rt: Runtime, now: float | None = None) -> int:
    """Fleet-wide (beat): a paused run whose machine never ended it after its deadline (a few reaper
    passes late) lived on a machine that is gone: ``failed``, with why."""
    s, approvals, failed = rt.settings, Approvals(rt.redis), 0
    late = (time.time() if now is None else now) - 3 * s.reaper_interval_s - s.lease_ttl_s
    for request in approvals.due(None, late):
        try:
            approvals.decide(request.run_id, Decision.TIMED_OUT, by="deadline (machine gone)")
        except ApprovalError:
            continue
        error = f"{StopReason.APPROVAL_LOST}: {request.host} did not end the run after its deadline"
        rt.records.transition(request.run_id, RunState.FAILED, expect=(RunState.NEEDS_APPROVAL,),
                              stop_reason=StopReason.APPROVAL_LOST, error=error)
        approvals.close(request.run_id)
        rt.redis.delete(keys.run_paused(request.run_id))
        failed += 1
    return failed


def reap_local(rt: Runtime) -> int:
    """This machine's share: dead sandboxes, their socket directories, their egress rules."""
    settings = rt.settings
    removed = reap_containers(rt.docker, rt.records, rt.redis, settings.queue_name,
                              settings.sandbox_socket_dir, settings.reaper_restart_grace_s)
    removed += reap_pool(rt.docker, rt.records, rt.redis, settings.queue_name,
                         settings.reaper_restart_grace_s)
    rt.egress.sweep()
    REAPER_ACTIONS.labels("removed").inc(removed)
    return removed


def reap_once(rt: Runtime, app: Celery) -> dict[str, int]:
    """The beat task's pass: orphans (unless a worker's timer had this interval's turn), this
    machine's containers, expired records, paused runs whose machine is gone."""
    actions = {"resumed": resume_on_my_turn(rt, app), "removed": reap_local(rt), "pruned": rt.records.prune(),
               "approvals_lost": fail_lost_approvals(rt)}
    REAPER_ACTIONS.labels("pruned").inc(actions["pruned"])
    return actions


class ContainerReaper:
    """A daemon timer in each worker's main process: local containers are this machine's job, and
    the fleet's orphans on this host's turn (no pool slot needed)."""

    def __init__(self, rt: Runtime, app: Celery, interval_s: float) -> None:
        self.rt = rt
        self.interval_s = interval_s
        self.app = app
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._loop, name="nightshift-reaper", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                resume_on_my_turn(self.rt, self.app)
                expire_approvals(self.rt, self.app)
                reap_local(self.rt)
            except Exception as exc:  # keep the timer alive through Docker/Redis hiccups
                log.warning("reaper pass failed", error=str(exc))
            self._stop.wait(self.interval_s)
