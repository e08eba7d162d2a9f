"""Fixtures for the scheduler side: settings pointing at the real test redis-server, a producer
Celery app, and a reader for what landed in the broker's queue lists."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
import structlog

from core import broker
from core.settings import Settings
from scheduler.cli import main
from scheduler.taskfile import Checks

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_BATCH = ROOT / "examples" / "batch.yaml"
EXAMPLE_SCHEDULES = ROOT / "examples" / "schedules.yaml"


@dataclass(frozen=True)
class QueuedMessage:
    task: str
    args: list[Any]
    priority: int
    queue_key: str
    time_limits: tuple[float | None, float | None] = (None, None)  # (soft, hard)


@pytest.fixture
def settings(redis_server: Any, tmp_path: Path) -> Settings:
    return Settings(redis_url=redis_server.url, artifacts_dir=tmp_path / "artifacts", queue_name="ns-test")


@pytest.fixture
def checks(settings: Settings) -> Checks:
    return Checks(settings, environ={})


@pytest.fixture
def celery_app(settings: Settings) -> Iterator[Any]:
    app = broker.make_celery(settings)
    yield app
    app.close()


def queued_messages(redis: redis_lib.Redis, settings: Settings) -> list[QueuedMessage]:
    """Every message waiting in the queue, decoded from kombu's Redis envelope."""
    found = []
    for key in broker.queue_keys(settings):
        for raw in redis.lrange(key, 0, -1):  # type: ignore[union-attr]
            envelope = json.loads(raw)
            args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
            priority = envelope["properties"].get("priority", 0)
            hard, soft = envelope["headers"].get("timelimit") or (None, None)  # Celery: [hard, soft]
            found.append(QueuedMessage(envelope["headers"]["task"], args, priority, key, (soft, hard)))
    return found


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The ``nightshift`` command run in-process sees this test's Redis and queue."""
    monkeypatch.setenv("NIGHTSHIFT_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("NIGHTSHIFT_QUEUE_NAME", settings.queue_name)
    yield
    structlog.reset_defaults()


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``nightshift ARGV`` in-process: exit code, stdout, stderr."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err
