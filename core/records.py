"""Run records in Redis: one hash per run, states that only move forward, every move logged.

States: ``queued → starting → running → succeeded | failed | budget_exhausted | infeasible |
cancelled | needs_approval``. Terminal states are final. A *new* attempt (a number above the
record's) may move a non-terminal run back to ``starting``: a run redelivered after its worker died
restarts cleanly as attempt N+1, and a duplicate delivery of the same attempt cannot start it twice.
Each transition is one Lua script: check, write the fields, append the event — atomically.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import structlog
from redis import Redis

from core import events, inputs, keys
from core.spec import TaskSpec

QUEUED, STARTING, RUNNING = "queued", "starting", "running"
TERMINAL = frozenset({"succeeded", "failed", "budget_exhausted", "infeasible", "cancelled", "needs_approval"})
STATES = (QUEUED, STARTING, RUNNING, *sorted(TERMINAL))

log = structlog.get_logger("nightshift.records")


class RunNotFound(LookupError):
    """No run record exists for the id."""


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    name: str
    state: str
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
    container_id: str | None = None
    worker: str | None = None
    steps: int = 0
    result: Any = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def is_terminal(self) -> bool:
        return self.terminal

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
UPDATABLE = _FIELDS - {"run_id", "state", "attempt", "created_at", "updated_at", "spec", "name"}


def _encode(name: str, value: Any) -> str:
    return value if name in _PLAIN else json.dumps(value, separators=(",", ":"))


def _decode(raw: Mapping[bytes, bytes]) -> RunRecord:
    values: dict[str, Any] = {}
    for key_b, value_b in raw.items():
        key, value = key_b.decode(), value_b.decode()
        if key in _FIELDS:
            values[key] = value if key in _PLAIN else json.loads(value)
    return RunRecord(**values)


def _checked(updates: Mapping[str, Any]) -> dict[str, str]:
    unknown = sorted(set(updates) - UPDATABLE)
    if unknown:
        raise ValueError(f"not a run record field: {', '.join(unknown)}")
    return {name: _encode(name, value) for name, value in updates.items()}


def create(
    redis: Redis,
    run_id: str,
    spec: TaskSpec,
    *,
    files: Mapping[str, bytes] | None = None,
    limits: inputs.Limits | None = None,
    source: str | None = None,
    now: float | None = None,
) -> RunRecord:
    """Record a new run as ``queued`` with its spec and input files, in one transaction."""
    now = time.time() if now is None else now
    record = RunRecord(
        run_id=run_id,
        name=spec.name,
        state=QUEUED,
        attempt=0,
        priority=spec.priority,
        spec=spec.model_dump(mode="json"),
        tags=list(spec.tags),
        created_at=now,
        updated_at=now,
        source=source,
    )
    mapping: dict[Any, Any] = {k: _encode(k, v) for k, v in record.as_dict().items() if v is not None}
    with redis.pipeline(transaction=True) as pipe:
        pipe.hset(keys.run(run_id), mapping=mapping)
        pipe.zadd(keys.runs_index(), {run_id: now})
        if files:
            inputs.store(pipe, run_id, files, limits or inputs.Limits(2**62, 2**62))
        events.add_to(pipe, run_id, {"type": "state", "state": QUEUED, "attempt": 0, "at": now})
        pipe.execute()
    log.info("run.created", run_id=run_id, name=spec.name, state=QUEUED)
    return record


def get(redis: Redis, run_id: str) -> RunRecord:
    raw: dict[bytes, bytes] = redis.hgetall(keys.run(run_id))  # type: ignore[assignment]
    if not raw:
        raise RunNotFound(run_id)
    return _decode(raw)


def find(redis: Redis, run_id: str) -> RunRecord | None:
    try:
        return get(redis, run_id)
    except RunNotFound:
        return None


# KEYS: run hash, events stream, input files.  ARGV: to, attempt ('' = current), now, expect (',' list or ''),
# event JSON (without "from"), stream max length, then field/value pairs to set.
_TRANSITION = """
local rank = {queued=0, starting=1, running=2}
local function r(state) return rank[state] or 3 end
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
if attempt > cur_attempt then
  if to ~= 'starting' then return refuse end
elseif r(to) <= r(cur) then
  return refuse
end
redis.call('HSET', KEYS[1], 'state', to, 'attempt', attempt, 'updated_at', ARGV[3])
if to == 'starting' then redis.call('HSET', KEYS[1], 'started_at', ARGV[3]) end
if r(to) == 3 then
  redis.call('HSET', KEYS[1], 'finished_at', ARGV[3])
  redis.call('DEL', KEYS[3])  -- a finished run never needs its input files again
end
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local event = cjson.decode(ARGV[5])
event['from'] = cur
event['attempt'] = attempt
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'e', cjson.encode(event))
return {1, cur, tostring(cur_attempt)}
"""


def transition(
    redis: Redis,
    run_id: str,
    to_state: str,
    attempt: int | None,
    *,
    expect: Iterable[str] = (),
    max_events: int = events.DEFAULT_MAX_LEN,
    **updates: Any,
) -> bool:
    """Move the run to ``to_state`` for ``attempt`` (None: the current attempt) and set ``updates``
    in the same atomic step. Returns whether it moved; refused moves change nothing. A terminal
    state also drops the run's input files.

    ``expect``: move only from one of these states (e.g. cancel only a ``queued`` run)."""
    if to_state not in STATES:
        raise ValueError(f"unknown state {to_state!r}")
    now = time.time()
    pairs = [item for pair in _checked(updates).items() for item in pair]
    event = {"type": "state", "state": to_state, "at": now}
    event.update({k: updates[k] for k in ("stop_reason", "error") if updates.get(k) is not None})
    argv = [to_state, "" if attempt is None else str(attempt), repr(now), ",".join(expect)]
    argv += [json.dumps(event), str(max_events), *pairs]
    script = redis.register_script(_TRANSITION)
    run_keys = [keys.run(run_id), keys.run_events(run_id), keys.run_inputs(run_id)]
    code, before, before_attempt = script(keys=run_keys, args=argv)
    if code == -1:
        raise RunNotFound(run_id)
    bound = log.bind(run_id=run_id, to=to_state, attempt=attempt)
    from_state, from_attempt = _text(before), int(_text(before_attempt))
    if code == 1:
        bound.info("run.transition", **{"from": from_state}, **_loggable(updates))
        return True
    bound.info("run.transition_refused", current=from_state, current_attempt=from_attempt)
    return False


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _loggable(updates: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in updates.items() if k in ("stop_reason", "error", "cost_usd", "worker")}


def update(redis: Redis, run_id: str, **updates: Any) -> None:
    """Set fields (usage, cost, artifact prefix/url, container id, ...) without a state change."""
    mapping = _checked(updates)
    mapping["updated_at"] = _encode("updated_at", time.time())
    written = redis.eval(_UPDATE, 1, keys.run(run_id), *[x for p in mapping.items() for x in p])
    if not written:
        raise RunNotFound(run_id)
    log.debug("run.updated", run_id=run_id, fields=sorted(updates))


_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""


def list_runs(
    redis: Redis, *, state: str | None = None, limit: int = 50, before: float | None = None
) -> list[RunRecord]:
    """Runs newest first, optionally only those in ``state``."""
    top = "+inf" if before is None else f"({before}"
    found: list[RunRecord] = []
    offset, page = 0, max(limit, 100)
    while len(found) < limit:
        index = keys.runs_index()
        ids: Any = redis.zrevrangebyscore(index, top, "-inf", start=offset, num=page)
        if not ids:
            break
        offset += len(ids)
        found += [r for r in _load_many(redis, ids) if state is None or r.state == state]
    return found[:limit]


def _load_many(redis: Redis, ids: Iterable[bytes]) -> list[RunRecord]:
    with redis.pipeline(transaction=False) as pipe:
        for run_id in ids:
            pipe.hgetall(keys.run(_text(run_id)))
        return [_decode(raw) for raw in pipe.execute() if raw]


def count_by_state(redis: Redis, *, limit: int = 10_000) -> dict[str, int]:
    """How many of the newest ``limit`` runs are in each state."""
    counts: dict[str, int] = {}
    for record in list_runs(redis, limit=limit):
        counts[record.state] = counts.get(record.state, 0) + 1
    return counts


def request_cancel(redis: Redis, run_id: str, reason: str = "cancelled by user") -> None:
    redis.set(keys.run_cancel(run_id), reason)
    events.append(redis, run_id, "cancel_requested", reason=reason)
    log.info("run.cancel_requested", run_id=run_id, reason=reason)


def cancel_requested(redis: Redis, run_id: str) -> bool:
    """Whether a cancel was requested (the worker checks this between steps and in a watcher)."""
    return bool(redis.exists(keys.run_cancel(run_id)))


def cancel_reason(redis: Redis, run_id: str) -> str | None:
    """Why a cancel was requested, or None when none was."""
    raw = redis.get(keys.run_cancel(run_id))
    return None if raw is None else _text(raw)


def cancel(redis: Redis, run_id: str, reason: str = "cancelled by user") -> str:
    """Stop a run: ``cancelled`` (it was queued: now final), ``requested`` (it is starting or
    running: its worker stops it and records ``cancelled``), or ``finished`` (nothing to do)."""
    if get(redis, run_id).terminal:
        return "finished"
    request_cancel(redis, run_id, reason)
    if transition(redis, run_id, "cancelled", None, expect=(QUEUED,), stop_reason="cancelled", error=reason):
        return "cancelled"
    return "finished" if get(redis, run_id).terminal else "requested"


def input_file(redis: Redis, run_id: str, index: int) -> bytes:
    """The bytes of ``spec.files[index]`` (stored by dest at enqueue time)."""
    dest = get(redis, run_id).spec["files"][index]["dest"]
    data = redis.hget(keys.run_inputs(run_id), dest)
    if data is None:
        raise LookupError(f"run {run_id} has no stored input for {dest}")
    return bytes(data)  # type: ignore[arg-type]


class Records:
    """The same operations bound to one Redis client, for code that passes one object around
    (the workers' runtime). Each method is the module function of the same meaning."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def create(self, run_id: str, spec: TaskSpec, **kwargs: Any) -> RunRecord:
        return create(self.redis, run_id, spec, **kwargs)

    def get(self, run_id: str) -> RunRecord:
        return get(self.redis, run_id)

    def find(self, run_id: str) -> RunRecord | None:
        return find(self.redis, run_id)

    def transition(self, run_id: str, to_state: str, attempt: int | None = None, **updates: Any) -> bool:
        return transition(self.redis, run_id, to_state, attempt, **updates)

    def update(self, run_id: str, **updates: Any) -> None:
        update(self.redis, run_id, **updates)

    def list(self, states: Iterable[str] | None = None, limit: int = 1000) -> list[RunRecord]:
        wanted = None if states is None else set(states)
        found = list_runs(self.redis, limit=100_000 if wanted else limit)
        return [r for r in found if wanted is None or r.state in wanted][:limit]

    def event(self, run_id: str, type: str, **fields: Any) -> None:
        events.append(self.redis, run_id, type, **fields)

    def events(self, run_id: str, after: str = "0") -> builtins.list[dict[str, Any]]:
        return [e.data for e in events.read(self.redis, run_id, after)]

    def request_cancel(self, run_id: str, reason: str = "cancelled by user") -> None:
        request_cancel(self.redis, run_id, reason)

    def cancel_requested(self, run_id: str) -> bool:
        return cancel_requested(self.redis, run_id)

    def cancel_reason(self, run_id: str) -> str | None:
        return cancel_reason(self.redis, run_id)

    def cancel(self, run_id: str, reason: str = "cancelled by user") -> str:
        return cancel(self.redis, run_id, reason)

    def input_file(self, run_id: str, index: int) -> bytes:
        return input_file(self.redis, run_id, index)

    def inputs(self, run_id: str) -> dict[str, bytes]:
        return inputs.fetch(self.redis, run_id)
