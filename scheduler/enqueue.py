"""Enqueue validated tasks: record each run ``queued`` first, then send the Celery task by name.
A send that fails marks its record ``failed`` with the reason, so nothing is silently lost.
Tasks enqueued together (one call: one CLI command, cron firing or POST) share a batch id."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from celery import Celery
from redis import Redis

from core import broker, inputs
from core.catalog import migrate_spec
from core.errors import EnqueueError
from core.events import EventType
from core.records import Records
from core.settings import Settings
from core.spec import TaskSpec
from core.states import RunState, StopReason
from scheduler.taskfile import LoadedTask

log = structlog.get_logger("nightshift.enqueue")


def new_run_id(now: float | None = None) -> str:
    """Sortable and unique: UTC time to the millisecond, then 40 random bits.
    e.g. ``20251121T004900123-9f3a2b1c7d``."""
    moment = datetime.fromtimestamp(time.time() if now is None else now, tz=UTC)
    return f"{moment:%Y%m%dT%H%M%S}{moment.microsecond // 1000:03d}-{secrets.token_hex(5)}"


def new_batch_id(now: float | None = None) -> str:
    """Like a run id, with a ``b`` in front so the two are never confused."""
    return f"b{new_run_id(now)}"


@dataclass(frozen=True)
class Batch:
    batch_id: str
    run_ids: list[str]


def enqueue(
    tasks: Iterable[LoadedTask | TaskSpec],
    redis: Redis,
    celery_app: Celery,
    settings: Settings,
    *,
    source: str | None = None,
    batch_id: str | None = None,
) -> list[str]:
    """Enqueue already-validated tasks (see ``taskfile.load_files``) as one batch (``batch_id``, or
    a new one); returns their run ids. A bare ``TaskSpec`` carries no input files."""
    return enqueue_batch(tasks, redis, celery_app, settings, source=source, batch_id=batch_id).run_ids


def enqueue_batch(
    tasks: Iterable[LoadedTask | TaskSpec],
    redis: Redis,
    celery_app: Celery,
    settings: Settings,
    *,
    source: str | None = None,
    batch_id: str | None = None,
) -> Batch:
    """``enqueue``, returning the batch id with the run ids."""
    batch = Batch(batch_id or new_batch_id(), [])
    limits = inputs.Limits.from_settings(settings)
    for task in tasks:
        loaded = task if isinstance(task, LoadedTask) else LoadedTask(task)
        run_id = new_run_id()
        spec, moved_from = migrate_spec(loaded.spec, settings)
        origin = source or loaded.source
        Records(redis).create(run_id, spec, files=loaded.inputs, limits=limits, source=origin,
                              batch_id=batch.batch_id, queue=settings.queue_name)
        if moved_from is not None:
            _record_migration(redis, run_id, moved_from, spec.model or "")
        _send(run_id, spec, redis, celery_app, settings, batch.run_ids)
        batch.run_ids.append(run_id)
    log.info("batch.enqueued", batch_id=batch.batch_id, runs=len(batch.run_ids))
    return batch


def _record_migration(redis: Redis, run_id: str, moved_from: str, moved_to: str) -> None:
    """The rewrite stays on the run: an event in its stream (the stored spec holds the new model)."""
    Records(redis).event(run_id, EventType.MODEL_MIGRATED, from_model=moved_from, to_model=moved_to)
    log.info("run.model_migrated", run_id=run_id, from_model=moved_from, to_model=moved_to)


def _send(
    run_id: str, spec: TaskSpec, redis: Redis, celery_app: Celery, settings: Settings, done: list[str]
) -> None:
    try:
        broker.send_run(celery_app, settings, run_id, spec.priority, spec.budgets.max_wall_s)
    except Exception as exc:
        reason = f"could not send to the broker: {exc}"
        why: dict[str, Any] = {"stop_reason": StopReason.ENQUEUE_FAILED, "error": reason}
        Records(redis, settings.record_retention_s).transition(run_id, RunState.FAILED, **why)
        log.error("run.enqueue_failed", run_id=run_id, error=str(exc))
        raise EnqueueError(reason, list(done), run_id) from exc
    log.info("run.enqueued", run_id=run_id, name=spec.name, priority=spec.priority)
