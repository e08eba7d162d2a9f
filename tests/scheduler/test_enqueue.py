"""Enqueue: the record first, then the Celery message by name through kombu into real Redis."""

from __future__ import annotations

from typing import Any

import pytest
import redis as redis_lib

from core import broker, inputs
from core.records import Records
from core.settings import Settings
from scheduler.enqueue import EnqueueError, enqueue, new_run_id
from scheduler.taskfile import Checks, load_file
from tests.conftest import free_port
from tests.scheduler.conftest import EXAMPLE_BATCH, queued_messages


def test_run_ids_sort_in_creation_order_and_never_repeat() -> None:
    ids = [new_run_id(now=1_763_686_140.0 + i / 1000) for i in range(2000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    same_moment = {new_run_id(now=1_763_686_140.0) for _ in range(2000)}
    assert len(same_moment) == 2000


def test_enqueue_records_each_run_then_sends_it_by_name(
    redis_client: redis_lib.Redis, settings: Settings, celery_app: Any, checks: Checks
) -> None:
    tasks = load_file(EXAMPLE_BATCH, checks)
    run_ids = enqueue(tasks, redis_client, celery_app, settings)

    assert [Records(redis_client).get(r).state for r in run_ids] == ["queued", "queued"]
    assert [Records(redis_client).get(r).name for r in run_ids] == ["hello-desktop", "release-date"]
    messages = queued_messages(redis_client, settings)
    assert sorted((m.task, m.args[0]) for m in messages) == sorted(("nightshift.run", r) for r in run_ids)
    assert broker.queue_depth(redis_client, settings) == 2
    pdf = EXAMPLE_BATCH.parent.joinpath("report.pdf").read_bytes()
    assert inputs.fetch(redis_client, run_ids[1]) == {"/home/user/Documents/report.pdf": pdf}


def test_the_task_priority_travels_with_the_message(
    redis_client: redis_lib.Redis, settings: Settings, celery_app: Any, checks: Checks
) -> None:
    spec = load_file(EXAMPLE_BATCH, checks)[0].spec.model_copy(update={"priority": 2})
    (run_id,) = enqueue([spec], redis_client, celery_app, settings)
    (message,) = queued_messages(redis_client, settings)
    expected_list = f"{settings.queue_name}{broker.QUEUE_SEP}2"  # kombu's list for priority step 2
    assert (message.args, message.priority, message.queue_key) == ([run_id], 2, expected_list)


def test_a_send_that_fails_marks_its_run_failed_with_the_reason(
    redis_client: redis_lib.Redis, settings: Settings, checks: Checks
) -> None:
    dead_broker = broker.make_celery(
        settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    )
    tasks = load_file(EXAMPLE_BATCH, checks)

    with pytest.raises(EnqueueError) as exc:
        enqueue(tasks, redis_client, dead_broker, settings)

    assert exc.value.run_ids == []
    record = Records(redis_client).get(exc.value.failed)
    assert (record.state, record.stop_reason) == ("failed", "enqueue_failed")
    assert record.error and "could not send to the broker" in record.error
    assert len(Records(redis_client).list()) == 1  # the second task was never recorded


def test_celery_time_limits_are_derived_from_the_run_wall_budget(
    redis_client: redis_lib.Redis, settings: Settings, celery_app: Any, checks: Checks
) -> None:
    spec = load_file(EXAMPLE_BATCH, checks)[0].spec  # max_wall_s: 300
    enqueue([spec], redis_client, celery_app, settings)
    (message,) = queued_messages(redis_client, settings)
    grace, after = settings.time_limit_grace_s, settings.after_agent_max_s  # outputs and checks
    assert message.time_limits == (300 + after + grace, 300 + after + 2 * grace)
