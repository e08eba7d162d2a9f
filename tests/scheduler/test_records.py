"""Run records against a real redis-server: states only move forward, atomically, and every move
is an event on the run's stream."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import redis as redis_lib
from structlog.testing import capture_logs

from core import events, inputs
from core.errors import RunNotFound
from core.records import Records, RunRecord
from core.spec import TaskSpec

SPEC = TaskSpec.model_validate(
    {
        "name": "smoke",
        "agent": "script",
        "steps": [{"name": "bash", "input": {"command": "true"}}],
        "tags": ["nightly"],
        "priority": 3,
    }
)


def new_run(redis: redis_lib.Redis, run_id: str = "run-1", **kwargs: Any) -> RunRecord:
    return Records(redis).create(run_id, SPEC, **kwargs)


def states(redis: redis_lib.Redis, run_id: str) -> list[tuple[str | None, str, int]]:
    found = events.read(redis, run_id)
    return [(e.data.get("from"), e.data["state"], e.data["attempt"]) for e in found if e.type == "state"]


def race(url: str, attempts: list[Callable[[redis_lib.Redis], bool]]) -> list[bool]:
    """Run every callable at the same moment, each thread with its own connection."""
    barrier = threading.Barrier(len(attempts))
    results: list[bool] = [False] * len(attempts)

    def worker(index: int) -> None:
        client = redis_lib.Redis.from_url(url)
        barrier.wait()
        results[index] = attempts[index](client)
        client.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_a_new_run_is_queued_with_its_spec(redis_client: redis_lib.Redis) -> None:
    new_run(redis_client, source="examples/batch.yaml")
    record = Records(redis_client).get("run-1")
    assert (record.state, record.attempt, record.name, record.priority) == ("queued", 0, "smoke", 3)
    assert record.tags == ["nightly"] and record.source == "examples/batch.yaml"
    assert record.task_spec() == SPEC
    assert record.created_at > 0 and not record.terminal
    assert states(redis_client, "run-1") == [(None, "queued", 0)]


def test_a_run_moves_forward_to_a_terminal_state_which_is_final(redis_client: redis_lib.Redis) -> None:
    new_run(redis_client)
    assert Records(redis_client).transition("run-1", "starting", 1, worker="w1")
    assert Records(redis_client).transition("run-1", "running", 1, container_id="c0ffee")
    assert not Records(redis_client).transition("run-1", "starting", 1)  # backwards
    assert not Records(redis_client).transition("run-1", "queued", 1)
    assert Records(redis_client).transition("run-1", "succeeded", 1, stop_reason="end_turn", result={"ok": 1})
    assert not Records(redis_client).transition("run-1", "failed", 1)  # terminal is final
    assert not Records(redis_client).transition("run-1", "starting", 2)  # even for a new attempt

    record = Records(redis_client).get("run-1")
    assert (record.state, record.attempt, record.worker, record.container_id) == (
        "succeeded",
        1,
        "w1",
        "c0ffee",
    )
    assert (record.stop_reason, record.result) == ("end_turn", {"ok": 1})
    assert record.started_at and record.finished_at and record.finished_at >= record.started_at
    assert states(redis_client, "run-1") == [
        (None, "queued", 0),
        ("queued", "starting", 1),
        ("starting", "running", 1),
        ("running", "succeeded", 1),
    ]


def test_a_new_attempt_restarts_a_run_whose_worker_died(redis_client: redis_lib.Redis) -> None:
    new_run(redis_client)
    Records(redis_client).transition("run-1", "starting", 1)
    Records(redis_client).transition("run-1", "running", 1)

    assert Records(redis_client).transition("run-1", "starting", 2)
    assert not Records(redis_client).transition("run-1", "succeeded", 1)  # the dead attempt is stale
    assert not Records(redis_client).transition("run-1", "running", 3)  # a new attempt starts first
    assert Records(redis_client).transition("run-1", "running", 2)
    assert Records(redis_client).get("run-1").attempt == 2
    assert states(redis_client, "run-1")[-2:] == [("running", "starting", 2), ("starting", "running", 2)]


def test_only_one_of_many_racing_deliveries_starts_an_attempt(
    redis_server: Any, redis_client: redis_lib.Redis
) -> None:
    new_run(redis_client)
    results = race(redis_server.url, [lambda r: Records(r).transition("run-1", "starting", 1)] * 8)
    assert results.count(True) == 1
    assert states(redis_client, "run-1") == [(None, "queued", 0), ("queued", "starting", 1)]


def test_racing_terminal_transitions_leave_exactly_one_outcome(
    redis_server: Any, redis_client: redis_lib.Redis
) -> None:
    new_run(redis_client)
    Records(redis_client).transition("run-1", "starting", 1)
    outcomes = ["succeeded", "failed", "cancelled", "budget_exhausted"] * 2
    calls = [lambda r, s=s: Records(r).transition("run-1", s, 1, stop_reason=s) for s in outcomes]
    results = race(redis_server.url, calls)

    assert results.count(True) == 1
    winner = outcomes[results.index(True)]
    record = Records(redis_client).get("run-1")
    assert (record.state, record.stop_reason) == (winner, winner)


def test_a_refused_transition_changes_nothing(redis_client: redis_lib.Redis) -> None:
    new_run(redis_client)
    Records(redis_client).transition("run-1", "cancelled", None)
    assert not Records(redis_client).transition("run-1", "failed", None, error="late", cost_usd=9.0)
    record = Records(redis_client).get("run-1")
    assert (record.state, record.error, record.cost_usd) == ("cancelled", None, None)


def test_unknown_runs_states_and_fields_are_refused(redis_client: redis_lib.Redis) -> None:
    with pytest.raises(RunNotFound):
        Records(redis_client).transition("nope", "starting", 1)
    with pytest.raises(RunNotFound):
        Records(redis_client).update("nope", cost_usd=1.0)
    new_run(redis_client)
    with pytest.raises(ValueError, match="unknown state"):
        Records(redis_client).transition("run-1", "paused", 1)
    with pytest.raises(ValueError, match="not a run record field: colour"):
        Records(redis_client).update("run-1", colour="red")


def test_update_sets_usage_cost_and_artifacts_without_moving(redis_client: redis_lib.Redis) -> None:
    new_run(redis_client)
    Records(redis_client).update(
        "run-1",
        usage={"input_tokens": 1200, "output_tokens": 80},
        cost_usd=0.0048,
        artifact_prefix="runs/run-1/attempt-1/",
        artifact_url="file:///srv/artifacts/runs/run-1/attempt-1/",
    )
    record = Records(redis_client).get("run-1")
    assert record.state == "queued"
    assert record.usage == {"input_tokens": 1200, "output_tokens": 80} and record.cost_usd == 0.0048
    assert record.artifact_url == "file:///srv/artifacts/runs/run-1/attempt-1/"


def test_every_transition_is_logged_with_the_run_id(redis_client: redis_lib.Redis) -> None:
    new_run(redis_client)
    with capture_logs() as logs:
        Records(redis_client).transition("run-1", "starting", 1)
        Records(redis_client).transition("run-1", "queued", 1)
    assert [(e["event"], e["run_id"], e["to"]) for e in logs] == [
        ("run.transition", "run-1", "starting"),
        ("run.transition_refused", "run-1", "queued"),
    ]
    assert logs[0]["from"] == "queued"


def test_progress_events_follow_state_events_and_can_be_read_from_a_cursor(
    redis_client: redis_lib.Redis,
) -> None:
    new_run(redis_client)
    Records(redis_client).transition("run-1", "starting", 1)
    events.append(redis_client, "run-1", "step", step=1, text="computer: screenshot")
    first = events.read(redis_client, "run-1")
    assert [e.type for e in first] == ["state", "state", "step"]
    assert first[-1].data["text"] == "computer: screenshot"

    events.append(redis_client, "run-1", "step", step=2, text="bash: echo hello")
    after = events.read(redis_client, "run-1", after=first[-1].id)
    assert [e.data["step"] for e in after] == [2]


def test_follow_blocks_until_an_event_arrives(redis_server: Any, redis_client: redis_lib.Redis) -> None:
    new_run(redis_client)
    cursor = events.read(redis_client, "run-1")[-1].id
    appended = threading.Event()

    def later() -> None:
        other = redis_lib.Redis.from_url(redis_server.url)
        appended.set()
        events.append(other, "run-1", "step", step=1, text="late")
        other.close()

    thread = threading.Thread(target=later)
    thread.start()
    found = events.follow(redis_client, {"run-1": cursor}, block_ms=30_000)
    thread.join()
    assert appended.is_set() and [e.data["text"] for e in found] == ["late"]


def test_cancelling_a_queued_run_is_final_at_once(redis_client: redis_lib.Redis) -> None:
    new_run(redis_client, files={"/tmp/in.txt": b"x"})
    assert Records(redis_client).cancel("run-1", reason="not needed") == "cancelled"
    record = Records(redis_client).get("run-1")
    assert (record.state, record.error) == ("cancelled", "not needed")
    assert Records(redis_client).cancel_reason("run-1") == "not needed"
    assert not Records(redis_client).transition("run-1", "starting", 1)  # its delivery is skipped
    assert inputs.fetch(redis_client, "run-1") == {}


def test_cancelling_a_running_run_asks_its_worker(redis_client: redis_lib.Redis) -> None:
    new_run(redis_client)
    Records(redis_client).transition("run-1", "starting", 1)
    Records(redis_client).transition("run-1", "running", 1)
    assert not Records(redis_client).cancel_requested("run-1")

    assert Records(redis_client).cancel("run-1") == "requested"
    assert Records(redis_client).get("run-1").state == "running"
    assert Records(redis_client).cancel_requested("run-1")
    assert Records(redis_client).cancel_reason("run-1") == "cancelled by user"
    assert Records(redis_client).transition("run-1", "cancelled", 1, stop_reason="cancelled")
    assert Records(redis_client).cancel("run-1") == "finished"


def test_runs_list_newest_first_and_by_state(redis_client: redis_lib.Redis) -> None:
    for index in range(5):
        Records(redis_client).create(f"run-{index}", SPEC, now=1000.0 + index)
    Records(redis_client).transition("run-1", "starting", 1)
    Records(redis_client).transition("run-3", "starting", 1)

    assert [r.run_id for r in Records(redis_client).list()] == [
        "run-4",
        "run-3",
        "run-2",
        "run-1",
        "run-0",
    ]
    assert [r.run_id for r in Records(redis_client).list(["starting"])] == ["run-3", "run-1"]
    assert [r.run_id for r in Records(redis_client).list(limit=2)] == ["run-4", "run-3"]
    assert Records(redis_client).count_by_state() == {"queued": 3, "starting": 2}


def test_input_files_are_kept_until_the_run_finishes(redis_client: redis_lib.Redis) -> None:
    new_run(redis_client, files={"/home/user/a.pdf": b"%PDF-1.4 a", "/tmp/b": b"\x00\xff"})
    Records(redis_client).transition("run-1", "starting", 1)
    Records(redis_client).transition("run-1", "starting", 2)  # a redelivery still finds them
    assert inputs.fetch(redis_client, "run-1") == {"/home/user/a.pdf": b"%PDF-1.4 a", "/tmp/b": b"\x00\xff"}
    Records(redis_client).transition("run-1", "failed", 2)
    assert inputs.fetch(redis_client, "run-1") == {}


def test_input_files_above_the_limits_create_nothing(redis_client: redis_lib.Redis) -> None:
    with pytest.raises(ValueError, match="limit per run"):
        new_run(redis_client, "run-2", files={"/a": b"x" * 6, "/b": b"y" * 6}, limits=inputs.Limits(10, 10))
    with pytest.raises(RunNotFound):
        Records(redis_client).get("run-2")  # nothing half-created


def test_records_bound_to_a_client_offer_the_same_operations(redis_client: redis_lib.Redis) -> None:
    spec = TaskSpec.model_validate(
        {"name": "f", "prompt": "p", "files": [{"src": "/x/a.pdf", "dest": "/home/user/a.pdf"}]}
    )
    runs = Records(redis_client)
    runs.create("run-1", spec, files={"/home/user/a.pdf": b"%PDF"})
    runs.create("run-2", SPEC)
    assert runs.transition("run-2", "starting", attempt=1, worker="w")
    runs.update("run-2", steps=3)
    runs.event("run-2", "step", step=3, tool_calls=1)

    assert runs.input_file("run-1", 0) == b"%PDF"
    assert [r.run_id for r in runs.list(states=("starting", "running"))] == ["run-2"]
    assert runs.get("run-2").steps == 3 and not runs.get("run-2").terminal
    assert [e["type"] for e in runs.events("run-2")] == ["state", "state", "step"]
    assert runs.find("nope") is None and not runs.cancel_requested("run-2")
    assert TaskSpec.model_validate_json(runs.get("run-1").spec_json) == spec
