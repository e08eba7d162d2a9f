"""Follow runs until each is finished: print every event as it arrives (blocking XREAD), then
drain a run's stream once more after it turns terminal so its last lines are never lost."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from redis import Redis

from core import events
from core.events import EventType
from core.records import Records, RunRecord
from scheduler.present import event_line


def follow(
    redis: Redis,
    run_ids: Sequence[str],
    emit: Callable[[str], None],
    *,
    timeout_s: float | None = None,
    block_ms: int = 1000,
) -> list[RunRecord]:
    """Block until every run is terminal (or ``timeout_s`` passed); returns the latest records in
    the order of ``run_ids``."""
    records = Records(redis)
    names = {run_id: records.get(run_id).name for run_id in run_ids}
    cursors = {run_id: "0" for run_id in run_ids}
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while cursors and (deadline is None or time.monotonic() < deadline):
        _print(events.follow(redis, cursors, block_ms=block_ms), cursors, names, emit)
        for run_id in list(cursors):
            if records.get(run_id).terminal:
                _print(events.read(redis, run_id, cursors[run_id]), cursors, names, emit)
                del cursors[run_id]
    return [records.get(run_id) for run_id in run_ids]


def _print(
    found: list[events.Event], cursors: dict[str, str], names: dict[str, str], emit: Callable[[str], None]
) -> None:
    for event in found:
        cursors[event.run_id] = event.id
        emit(event_line(names[event.run_id], event))


def await_event(
    redis: Redis, run_id: str, kind: EventType, after: str, timeout_s: float
) -> dict[str, Any] | None:
    """The data of the run's first ``kind`` event after the cursor ``after``, or None on timeout."""
    deadline, cursor = time.monotonic() + timeout_s, after
    while time.monotonic() < deadline:
        for event in events.follow(redis, {run_id: cursor}, block_ms=500):
            cursor = event.id
            if event.type == kind:
                return event.data
    return None
