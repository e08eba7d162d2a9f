"""Run records in Redis: one hash per run, states that only move forward, every move logged.

States (``core.states.RunState``): ``queued → starting → running → [needs_approval → running] →
succeeded | failed | budget_exhausted | infeasible | cancelled``. Terminal states are final;
``needs_approval`` is a pause of the same attempt that only returns to ``running`` (or ends). A *new*
attempt (a number above the record's) may move a non-terminal run back to ``starting``: a run
redelivered after its worker died restarts cleanly as attempt N+1, and a duplicate delivery of the
same attempt cannot start it twice.
Each transition is one Lua script: check, write the fields, append the event — atomically.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

import structlog
from redis import Redis

from core import events, inputs, keys, retention
from core.errors import RunNotFound
from core.events import EventType
from core.redact import NOTHING, Redactor
from core.spec import TaskSpec
from core.states import TERMINAL, RunState, StopReason, Verdict, run_state

log = structlog.get_logger("nightshift.records")


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    name: str
    state: RunState
    attempt: int
    priority: int
    spec: dict[str, Any]
    tags: list[str] = field(default_factory=list)
    created_at: float = 0.0
    updated_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    source: str | None = None
    stop_reason: str | None = None
    error: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    cost_usd: float | None = None
    artifact_prefix: str | None = None
    artifact_url: str | None = None
    report_url: str | None = None  # the attempt's report.html
    container_id: str | None = None
    worker: str | None = None
    steps: int = 0
    result: Any = None
    batch_id: str | None = None
    verdict: Verdict | None = None  # what the checks say (None: no checks, or they could not run)
    checks: list[dict[str, Any]] = field(default_factory=list)  # name, passed, exit code, duration, output
    queue: str | None = None  # the fleet (Celery queue) it was sent to: only that fleet resumes it
    paused_s: float = 0.0  # seconds the attempt waited for approvals: its sandbox's deadline moves by as much

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def spec_json(self) -> str:
        return json.dumps(self.spec)

    def task_spec(self) -> TaskSpec:
        return TaskSpec.model_validate(self.spec)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_FIELDS = {f.name for f in fields(RunRecord)}
_PLAIN = frozenset({"run_id", "name", "state"})  # stored as raw strings; everything else as JSON
# What update() and transition() may set; run_id/state/attempt/created_at belong to the record.
UPDATABLE = _FIELDS - {"run_id", "state", "attempt", "created_at", "updated_at", "spec", "name", "batch_id",
                       "queue"}


def _encode(name: str, value: Any) -> str:
    return value if name in _PLAIN else json.dumps(value, separators=(",", ":"))


def _decode(raw: Mapping[bytes, bytes]) -> RunRecord:
    values: dict[str, Any] = {}
    for key_b, value_b in raw.items():
        key, value = key_b.decode(), value_b.decode()
        if key in _FIELDS:
            values[key] = value if key in _PLAIN else json.loads(value)
    values["state"] = RunState(values["state"])
    if values.get("verdict") is not None:
        values["verdict"] = Verdict(values["verdict"])
    return RunRecord(**values)


def _checked(updates: Mapping[str, Any]) -> dict[str, str]:
    unknown = sorted(set(updates) - UPDATABLE)
    if unknown:
        raise ValueError(f"not a run record field: {', '.join(unknown)}")
    return {name: _encode(name, value) for name, value in updates.items()}


CANCEL_REASON = "cancelled by user"


class Records:
    """Every read and write of run records, bound to one Redis client. A worker writes through
    ``redacted(redactor)``: every field and event it sets passes the run's redactor first."""

    def __init__(self, redis: Redis, retention_s: int = 0, redactor: Redactor = NOTHING) -> None:
        """``retention_s``: a terminal record (hash, events, cancel flag) expires this long after it
        ended (0: kept until deleted); its artifacts are not touched."""
        self.redis = redis
        self.retention_s = retention_s
        self.redactor = redactor

    def redacted(self, redactor: Redactor) -> Records:
        """The same records, with every field and event written passing ``redactor`` first."""
        return Records(self.redis, self.retention_s, redactor)

    def create(
        self,
        run_id: str,
        spec: TaskSpec,
        *,
        files: Mapping[str, bytes] | None = None,
        limits: inputs.Limits | None = None,
        source: str | None = None,
        now: float | None = None,
        batch_id: str | None = None,
        queue: str | None = None,
    ) -> RunRecord:
        """Record a new run as ``queued`` with its spec and input files (and in its batch, and the
        queue it is sent to), in one transaction."""
        now = time.time() if now is None else now
        record = replace(_new_record(run_id, spec, source, now), batch_id=batch_id, queue=queue)
        mapping: dict[Any, Any] = {k: _encode(k, v) for k, v in record.as_dict().items() if v is not None}
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.run(run_id), mapping=mapping)
            pipe.zadd(keys.runs_index(), {run_id: now})
            if batch_id is not None:
                pipe.zadd(keys.batch_runs(batch_id), {run_id: now})
                pipe.zadd(keys.batches_index(), {batch_id: now}, nx=True)
            if files:
                inputs.store(pipe, run_id, files, limits or inputs.Limits(2**62, 2**62))
            event = {"type": EventType.STATE, "state": RunState.QUEUED, "attempt": 0, "at": now}
            events.add_to(pipe, run_id, event)
            pipe.execute()
        log.info("run.created", run_id=run_id, name=spec.name, state=RunState.QUEUED)
        return record

    def get(self, run_id: str) -> RunRecord:
        raw: dict[bytes, bytes] = self.redis.hgetall(keys.run(run_id))  # type: ignore[assignment]
        if not raw:
            raise RunNotFound(run_id)
        return _decode(raw)

    def find(self, run_id: str) -> RunRecord | None:
        try:
            return self.get(run_id)
        except RunNotFound:
            return None

    def transition(
        self,
        run_id: str,
        to_state: RunState,
        attempt: int | None = None,
        *,
        expect: Iterable[RunState] = (),
        max_events: int = events.DEFAULT_MAX_LEN,
        **updates: Any,
    ) -> bool:
        """Move the run to ``to_state`` for ``attempt`` (None: the current attempt) and set
        ``updates`` in the same atomic step. Returns whether it moved; refused moves change
        nothing. A terminal state also drops the run's input files.

        ``expect``: move only from one of these states (e.g. cancel only a ``queued`` run)."""
        to_state = run_state(to_state)
        updates = self.redactor.deep(updates)
        now = time.time()
        argv = _transition_args(to_state, attempt, now, expect, (max_events, self.retention_s), updates)
        run_keys = [keys.run(run_id), keys.run_events(run_id), keys.run_inputs(run_id),
                    keys.run_cancel(run_id)]
        code, before, before_attempt = self.redis.register_script(_TRANSITION)(keys=run_keys, args=argv)
        if code == -1:
            raise RunNotFound(run_id)
        bound = log.bind(run_id=run_id, to=to_state, attempt=attempt)
        if code == 1:
            bound.info("run.transition", **{"from": _text(before)}, **_loggable(updates))
            return True
        bound.info("run.transition_refused", current=_text(before), current_attempt=int(before_attempt))
        return False

    def update(self, run_id: str, **updates: Any) -> None:
        """Set fields (usage, cost, artifact prefix/url, container id, ...) without a state change."""
        mapping = _checked(self.redactor.deep(updates))
        mapping["updated_at"] = _encode("updated_at", time.time())
        written = self.redis.eval(_UPDATE, 1, keys.run(run_id), *[x for p in mapping.items() for x in p])
        if not written:
            raise RunNotFound(run_id)
        log.debug("run.updated", run_id=run_id, fields=sorted(updates))

    def list(
        self, states: Iterable[RunState] | None = None, *, limit: int = 50, before: float | None = None
    ) -> list[RunRecord]:
        """Runs newest first (created before ``before`` when given), only those in ``states``."""
        wanted = None if states is None else {run_state(s) for s in states}
        top = "+inf" if before is None else f"({before}"
        found: list[RunRecord] = []
        offset, page = 0, max(limit, 100)
        while len(found) < limit:
            ids: Any = self.redis.zrevrangebyscore(keys.runs_index(), top, "-inf", start=offset, num=page)
            if not ids:
                break
            offset += len(ids)
            found += [r for r in self._load_many(ids) if wanted is None or r.state in wanted]
        return found[:limit]

    def _load_many(self, ids: Iterable[bytes]) -> builtins.list[RunRecord]:
        with self.redis.pipeline(transaction=False) as pipe:
            for run_id in ids:
                pipe.hgetall(keys.run(_text(run_id)))
            return [_decode(raw) for raw in pipe.execute() if raw]

    def since(self, since: float, *, limit: int = 10_000) -> builtins.list[RunRecord]:
        """Runs created at or after ``since`` (epoch seconds), oldest first."""
        ids: Any = self.redis.zrangebyscore(keys.runs_index(), since, "+inf", start=0, num=limit)
        return self._load_many(ids)

    def batch(self, batch_id: str) -> builtins.list[RunRecord]:
        """The runs of one batch in the order they were enqueued; [] for an unknown batch."""
        ids: Any = self.redis.zrange(keys.batch_runs(batch_id), 0, -1)
        return self._load_many(ids)

    def batches(self, *, limit: int = 20) -> builtins.list[str]:
        """Batch ids, newest first."""
        ids: Any = self.redis.zrevrange(keys.batches_index(), 0, limit - 1)
        return [_text(batch_id) for batch_id in ids]

    def count_by_state(self, *, limit: int = 10_000) -> dict[RunState, int]:
        """How many of the newest ``limit`` runs are in each state."""
        counts: dict[RunState, int] = {}
        for record in self.list(limit=limit):
            counts[record.state] = counts.get(record.state, 0) + 1
        return counts

    def prune(self, limit: int = 1000) -> int:
        """Drop expired records' ids from the runs and batch indexes (the reaper does, each pass)."""
        return retention.prune_runs(self.redis, limit) + retention.prune_batches(self.redis, limit)

    def event(self, run_id: str, type: EventType, **fields: Any) -> None:
        events.append(self.redis, run_id, type, **self.redactor.deep(fields))

    def events(self, run_id: str, after: str = "0") -> builtins.list[dict[str, Any]]:
        return [e.data for e in events.read(self.redis, run_id, after)]

    def request_cancel(self, run_id: str, reason: str = CANCEL_REASON) -> None:
        self.redis.set(keys.run_cancel(run_id), reason)
        events.append(self.redis, run_id, EventType.CANCEL_REQUESTED, reason=reason)
        log.info("run.cancel_requested", run_id=run_id, reason=reason)

    def cancel_requested(self, run_id: str) -> bool:
        """Whether a cancel was requested (the worker checks this between steps and in a watcher)."""
        return bool(self.redis.exists(keys.run_cancel(run_id)))

    def cancel_reason(self, run_id: str) -> str | None:
        """Why a cancel was requested, or None when none was."""
        raw = self.redis.get(keys.run_cancel(run_id))
        return None if raw is None else _text(raw)

    def cancel(self, run_id: str, reason: str = CANCEL_REASON) -> CancelOutcome:
        """Stop a run: ``cancelled`` (it was queued: now final), ``requested`` (it is starting or
        running: its worker stops it and records ``cancelled``), or ``finished`` (nothing to do)."""
        if self.get(run_id).terminal:
            return CancelOutcome.FINISHED
        self.request_cancel(run_id, reason)
        why: dict[str, Any] = {"stop_reason": StopReason.CANCELLED, "error": reason}
        if self.transition(run_id, RunState.CANCELLED, expect=(RunState.QUEUED,), **why):
            return CancelOutcome.CANCELLED
        return CancelOutcome.FINISHED if self.get(run_id).terminal else CancelOutcome.REQUESTED

    def input_file(self, run_id: str, index: int) -> bytes:
        """The bytes of ``spec.files[index]`` (stored by dest at enqueue time)."""
        dest = self.get(run_id).spec["files"][index]["dest"]
        data = self.redis.hget(keys.run_inputs(run_id), dest)
        if data is None:
            raise LookupError(f"run {run_id} has no stored input for {dest}")
        return bytes(data)  # type: ignore[arg-type]

    def inputs(self, run_id: str) -> dict[str, bytes]:
        return inputs.fetch(self.redis, run_id)


class CancelOutcome(StrEnum):
    CANCELLED = "cancelled"
    REQUESTED = "requested"
    FINISHED = "finished"


def _new_record(run_id: str, spec: TaskSpec, source: str | None, now: float) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        name=spec.name,
        state=RunState.QUEUED,
        attempt=0,
        priority=spec.priority,
        spec=spec.model_dump(mode="json"),
        tags=list(spec.tags),
        created_at=now,
        updated_at=now,
        source=source,
    )


def _transition_args(
    to_state: RunState, attempt: int | None, now: float, expect: Iterable[RunState],
    limits: tuple[int, int], updates: Mapping[str, Any],
) -> list[str]:
    """``limits``: the events stream's max length and the terminal record's retention (s)."""
    pairs = [item for pair in _checked(updates).items() for item in pair]
    event: dict[str, Any] = {"type": EventType.STATE, "state": to_state, "at": now}
    event.update({k: updates[k] for k in ("stop_reason", "error") if updates.get(k) is not None})
    argv = [to_state.value, "" if attempt is None else str(attempt), repr(now), ",".join(expect)]
    return [*argv, json.dumps(event), str(limits[0]), str(limits[1]), *pairs]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _loggable(updates: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in updates.items() if k in ("stop_reason", "error", "cost_usd", "worker")}


# KEYS: run hash, events stream, input files, cancel flag.  ARGV: to, attempt ('' = current), now,
# expect (',' list or ''), event JSON (without "from"), stream max length, retention (s, 0 = keep),
# then field/value pairs to set.
_TRANSITION = """
local rank = {queued=0, starting=1, running=2, needs_approval=2}
local function r(state) return rank[state] or 3 end
local function pause_move(a, b)  -- running <-> needs_approval: the one move between equal ranks
  return r(a) == 2 and r(b) == 2 and a ~= b
end
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, '', '0'} end
local cur = redis.call('HGET', KEYS[1], 'state')
local cur_attempt = tonumber(redis.call('HGET', KEYS[1], 'attempt'))
local to = ARGV[1]
local attempt = cur_attempt
if ARGV[2] ~= '' then attempt = tonumber(ARGV[2]) end
local refuse = {0, cur, tostring(cur_attempt)}
if r(cur) == 3 or attempt < cur_attempt then return refuse end
if ARGV[4] ~= '' and not string.find(',' .. ARGV[4] .. ',', ',' .. cur .. ',', 1, true) then
  return refuse
end
if to == 'needs_approval' and (cur ~= 'running' or attempt ~= cur_attempt) then return refuse end
if attempt > cur_attempt then
  if to ~= 'starting' then return refuse end
elseif r(to) <= r(cur) and not pause_move(cur, to) then
  return refuse
end
redis.call('HSET', KEYS[1], 'state', to, 'attempt', attempt, 'updated_at', ARGV[3])
if to == 'starting' then redis.call('HSET', KEYS[1], 'started_at', ARGV[3]) end
if r(to) == 3 then
  redis.call('HSET', KEYS[1], 'finished_at', ARGV[3])
  redis.call('DEL', KEYS[3])  -- a finished run never needs its input files again
end
for i = 8, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local event = cjson.decode(ARGV[5])
event['from'] = cur
event['attempt'] = attempt
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'e', cjson.encode(event))
local retention = tonumber(ARGV[7])
if r(to) == 3 and retention > 0 then
  for k = 1, 4, 1 do if k ~= 3 then redis.call('EXPIRE', KEYS[k], retention) end end
end
return {1, cur, tostring(cur_attempt)}
"""


_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""
