"""Input files of a run: read on the enqueuing machine, stored in Redis with the record (so any
worker on any machine can place them in its sandbox), deleted once the run is finished."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis import Redis

from core import keys
from core.settings import Settings

_MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    file_bytes: int
    run_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(int(settings.input_file_max_mb * _MB), int(settings.input_run_max_mb * _MB))

    def check_file(self, name: str, size: int) -> str | None:
        if size > self.file_bytes:
            return f"{name} is {_mb(size)}, above the {_mb(self.file_bytes)} limit per file"
        return None

    def check_run(self, files: Mapping[str, bytes]) -> str | None:
        total = sum(len(data) for data in files.values())
        if total > self.run_bytes:
            return f"input files total {_mb(total)}, above the {_mb(self.run_bytes)} limit per run"
        return None


def _mb(size: int) -> str:
    return f"{size / _MB:.1f} MB"


def store(redis: Redis, run_id: str, files: Mapping[str, bytes], limits: Limits) -> None:
    """Store ``files`` (sandbox dest -> bytes); raises ValueError above a limit."""
    for dest, data in files.items():
        error = limits.check_file(dest, len(data))
        if error:
            raise ValueError(error)
    error = limits.check_run(files)
    if error:
        raise ValueError(error)
    if files:
        mapping: dict[Any, Any] = dict(files)
        redis.hset(keys.run_inputs(run_id), mapping=mapping)


def fetch(redis: Redis, run_id: str) -> dict[str, bytes]:
    """The run's input files, dest -> bytes (empty when it has none)."""
    raw: dict[bytes, bytes] = redis.hgetall(keys.run_inputs(run_id))  # type: ignore[assignment]
    return {dest.decode(): data for dest, data in raw.items()}


def delete(redis: Redis, run_id: str) -> None:
    redis.delete(keys.run_inputs(run_id))
