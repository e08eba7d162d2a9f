"""Index upkeep for expired run records: a terminal record's hash and events expire after the
retention (``Records.transition``); this drops their ids from the runs index and their batches, so
Redis memory stays flat however many runs pass through. Artifacts are never touched."""

from __future__ import annotations

from typing import Any

from redis import Redis

from core import keys


def _missing(redis: Redis, run_ids: list[Any]) -> list[Any]:
    with redis.pipeline(transaction=False) as pipe:
        for run_id in run_ids:
            pipe.exists(keys.run(_text(run_id)))
        return [run_id for run_id, alive in zip(run_ids, pipe.execute(), strict=True) if not alive]


def prune_runs(redis: Redis, limit: int) -> int:
    """Drop the ids of expired records among the ``limit`` oldest runs from the runs index."""
    oldest: list[Any] = redis.zrange(keys.runs_index(), 0, limit - 1)
    gone = _missing(redis, oldest)
    if gone:
        redis.zrem(keys.runs_index(), *gone)
    return len(gone)


def prune_batches(redis: Redis, limit: int) -> int:
    """Among the ``limit`` oldest batches, drop expired runs; a batch with none left goes."""
    dropped = 0
    batch_ids: list[Any] = redis.zrange(keys.batches_index(), 0, limit - 1)
    for batch_id in batch_ids:
        key = keys.batch_runs(_text(batch_id))
        members: list[Any] = redis.zrange(key, 0, -1)
        gone = _missing(redis, members)
        if gone:
            redis.zrem(key, *gone)
        if len(gone) == len(members):
            redis.delete(key)
            redis.zrem(keys.batches_index(), batch_id)
            dropped += 1
    return dropped


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
