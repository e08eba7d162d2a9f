"""The event stream of each run: state transitions (written by ``records.transition`` in the same
atomic step) and progress lines (one per step, rate-limit waits, cancel requests) written by the
worker. ``nightshift run --wait`` follows it with a blocking XREAD.

Every entry holds one field ``e``: a JSON object with at least ``type`` and ``at`` (epoch seconds).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis import Redis

from core import keys

DEFAULT_MAX_LEN = 10_000  # entries kept per run (approximate trimming)


class EventType(StrEnum):
    STATE = "state"  # a transition (written by the records, atomically with it)
    STEP = "step"  # one agent step played
    WAIT = "wait"  # the run waits (rate limit, API retry)
    CANCEL_REQUESTED = "cancel_requested"
    RETRYING = "retrying"  # an attempt hit a transient failure; the next attempt follows
    RESUMED = "resumed"  # the reaper re-sent a run whose worker died
    REPORT_RENDERED = "report_rendered"  # a worker wrote the run's report.html again (url or error)
    SANDBOX = "sandbox"  # the attempt's sandbox: warm (claimed from the host's pool) or cold, and when
    MODEL_MIGRATED = "model_migrated"  # settings.model_migrations rewrote the task's model at enqueue
    APPROVAL_REQUESTED = "approval_requested"  # the run paused to ask a human (what, why, deadline)
    APPROVAL_DECIDED = "approval_decided"  # approved/denied (who, when, note) or timed out


@dataclass(frozen=True)
class Event:
    run_id: str
    id: str  # the stream entry id; pass it back as the cursor to read what came after
    data: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.data.get("type", ""))


def add_to(redis: Redis, run_id: str, event: Mapping[str, Any], max_len: int = DEFAULT_MAX_LEN) -> None:
    """XADD one event (works on a pipeline too)."""
    payload = json.dumps(dict(event), separators=(",", ":"), default=str)
    redis.xadd(keys.run_events(run_id), {"e": payload}, maxlen=max_len, approximate=True)


def append(redis: Redis, run_id: str, type: EventType, **fields: Any) -> None:
    """Append a progress event, e.g. ``append(r, run_id, EventType.STEP, step=3, text="computer: click")``."""
    add_to(redis, run_id, {"type": type, "at": time.time(), **fields})


def last_id(redis: Redis, run_id: str) -> str:
    """The cursor after the run's newest event ("0" when it has none)."""
    newest: Any = redis.xrevrange(keys.run_events(run_id), count=1)
    if not newest:
        return "0"
    entry_id = newest[0][0]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def read(redis: Redis, run_id: str, after: str = "0", count: int = 1000) -> list[Event]:
    """Events after the cursor, oldest first, without blocking."""
    return follow(redis, {run_id: after}, block_ms=None, count=count)


def follow(
    redis: Redis, cursors: Mapping[str, str], block_ms: int | None = 1000, count: int = 1000
) -> list[Event]:
    """Events after each run's cursor (run id -> entry id, "0" for the start), blocking up to
    ``block_ms`` for the first one. Returns [] on timeout."""
    if not cursors:
        return []
    streams = {keys.run_events(run_id): cursor for run_id, cursor in cursors.items()}
    by_key = {keys.run_events(run_id): run_id for run_id in cursors}
    reply: Any = redis.xread(streams, count=count, block=block_ms)  # type: ignore[arg-type]
    found: list[Event] = []
    for key, entries in reply or []:
        run_id = by_key[key.decode() if isinstance(key, bytes) else key]
        found += [_event(run_id, entry_id, values) for entry_id, values in entries]
    return found


def _event(run_id: str, entry_id: bytes | str, values: Mapping[Any, Any]) -> Event:
    raw = values.get(b"e", values.get("e", b"{}"))
    data = json.loads(raw)
    return Event(run_id, entry_id.decode() if isinstance(entry_id, bytes) else entry_id, data)
