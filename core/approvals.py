"""Approval requests and decisions in Redis: what a paused run asks, who decided, when, and why.

A worker ``open``s a request when its run pauses (``needs_approval``); the scheduler (CLI, HTTP)
lists ``pending`` ones and ``decide``s; a decision, or the deadline passing, re-sends the run to
the queue of the machine its paused sandbox lives on (``core.broker.host_queue``), where a worker
resumes it and ``close``s the request. Every request and decision is also a run event.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from celery import Celery
from redis import Redis

from core import events, keys
from core.broker import send_resume
from core.errors import ApprovalError
from core.events import EventType
from core.settings import Settings
from core.states import Decision

REQUEST_APPROVAL = "request_approval"  # the client tool a run asks through (Claude and script alike)

@dataclass(frozen=True)
class ApprovalRequest:
    run_id: str
    name: str  # the task's name
    what: str  # what the run wants to do
    why: str  # and why
    step: int
    tool_use_id: str
    requested_at: float
    deadline: float  # epoch seconds: no decision by then ends the run as failed
    host: str  # the machine whose Docker engine holds the paused sandbox
    queue: str  # that machine's queue
    container_id: str
    max_wall_s: float
    screenshot_url: str | None = None
    decision: Decision | None = None
    decided_by: str | None = None
    decided_at: float | None = None
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_FIELDS = {f.name for f in fields(ApprovalRequest)}

# KEYS: approval hash, index.  ARGV: run id, decision, by, at, note.  Decides only an open request.
_DECIDE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'decision') == 1 then return -1 end
redis.call('HSET', KEYS[1], 'decision', ARGV[2], 'decided_by', ARGV[3], 'decided_at', ARGV[4],
           'note', ARGV[5])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""


class Approvals:
    """Every read and write of approval requests, bound to one Redis client."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def open(self, request: ApprovalRequest) -> None:
        mapping: dict[Any, Any] = {k: json.dumps(v) for k, v in request.as_dict().items() if v is not None}
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.run_approval(request.run_id))
            pipe.hset(keys.run_approval(request.run_id), mapping=mapping)
            pipe.zadd(keys.approvals_index(), {request.run_id: request.deadline})
            pipe.execute()
        events.append(self.redis, request.run_id, EventType.APPROVAL_REQUESTED, what=request.what,
                      why=request.why, step=request.step, deadline=request.deadline, host=request.host,
                      screenshot_url=request.screenshot_url)

    def get(self, run_id: str) -> ApprovalRequest | None:
        raw: dict[bytes, bytes] = self.redis.hgetall(keys.run_approval(run_id))  # type: ignore[assignment]
        if not raw:
            return None
        values = {k.decode(): json.loads(v) for k, v in raw.items() if k.decode() in _FIELDS}
        if values.get("decision") is not None:
            values["decision"] = Decision(values["decision"])
        return ApprovalRequest(**values)

    def pending(self, limit: int = 100) -> list[ApprovalRequest]:
        """Requests still waiting for a decision, the nearest deadline first."""
        ids: Any = self.redis.zrange(keys.approvals_index(), 0, limit - 1)
        found = [self.get(run_id.decode()) for run_id in ids]
        return [request for request in found if request is not None and request.decision is None]

    def due(self, queue: str | None, now: float | None = None) -> list[ApprovalRequest]:
        """Pending requests of ``queue``'s machine (None: of any) whose deadline has passed."""
        now = time.time() if now is None else now
        ids: Any = self.redis.zrangebyscore(keys.approvals_index(), "-inf", now)
        found = [self.get(run_id.decode()) for run_id in ids]
        return [r for r in found if r is not None and queue in (None, r.queue) and r.decision is None]

    def decide(self, run_id: str, decision: Decision, by: str, note: str | None = None) -> ApprovalRequest:
        """Record the decision once; ApprovalError when no request is open or it was decided."""
        now = time.time()
        argv = [run_id, json.dumps(decision.value), json.dumps(by), json.dumps(now), json.dumps(note)]
        code = self.redis.eval(_DECIDE, 2, keys.run_approval(run_id), keys.approvals_index(), *argv)
        if code == 0:
            raise ApprovalError(f"run {run_id} is not waiting for an approval")
        if code == -1:
            raise ApprovalError(f"run {run_id}'s approval was already decided")
        events.append(self.redis, run_id, EventType.APPROVAL_DECIDED, decision=decision, by=by, note=note)
        request = self.get(run_id)
        assert request is not None
        return replace(request, decision=decision, decided_by=by, decided_at=now, note=note)

    def close(self, run_id: str) -> None:
        """The worker that resumed the run consumed the decision."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.run_approval(run_id))
            pipe.zrem(keys.approvals_index(), run_id)
            pipe.execute()


def decide_and_resume(
    approvals: Approvals, app: Celery, settings: Settings, run_id: str, decision: Decision, *,
    by: str, note: str | None = None,
) -> ApprovalRequest:
    """Take the decision and send the run to its machine's queue, where a worker resumes it."""
    request = approvals.decide(run_id, decision, by, note)
    send_resume(app, settings, run_id, request.queue, request.max_wall_s)
    return request
