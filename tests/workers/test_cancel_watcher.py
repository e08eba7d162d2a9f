"""The cancel watcher: once a cancel is requested it stops the sandbox (once), retries a stop that
failed, and does nothing without a request; in a run, it ends a long tool call in flight."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from core.records import Records
from tests.workers.conftest import (
    assert_ended_clean,
    containers_of,
    new_run,
    running_in_sandbox,
    script,
    wait_for,
)
from workers.fleet.cancel import CancelWatcher
from workers.runner import execute_run
from workers.runtime import Runtime


class CountingRecords(Records):
    """Real records that count how often the watcher looked for a cancel."""

    looks = 0

    def cancel_requested(self, run_id: str) -> bool:
        self.looks += 1
        return super().cancel_requested(run_id)


class Stopper:
    """An ``on_cancel`` that fails its first ``failures`` calls, as a busy Docker engine would."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls = 0
        self.stopped = threading.Event()

    def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError("docker is busy")
        self.stopped.set()


def test_a_cancel_request_stops_the_sandbox_once(redis_client: Any) -> None:
    records, stop = Records(redis_client), Stopper()
    with CancelWatcher(records, "r1", stop, poll_s=0.05):
        records.request_cancel("r1")
        assert stop.stopped.wait(10)

    assert stop.calls == 1


def test_without_a_cancel_request_the_sandbox_is_left_running(redis_client: Any) -> None:
    records, stop = CountingRecords(redis_client), Stopper()
    records.request_cancel("another-run")
    with CancelWatcher(records, "r1", stop, poll_s=0.01):
        wait_for(lambda: records.looks >= 5, 10, "the watcher to look five times")

    assert stop.calls == 0


def test_a_stop_that_fails_is_tried_again_on_the_next_poll(redis_client: Any) -> None:
    records, stop = Records(redis_client), Stopper(failures=2)
    with CancelWatcher(records, "r1", stop, poll_s=0.05):
        records.request_cancel("r1")
        assert stop.stopped.wait(10)

    assert stop.calls == 3


def cancel_mid_call(rt: Runtime, run_id: str) -> dict[str, Any]:
    """Play the run on a worker thread, request a cancel while its ten-minute bash call is in
    flight, and return what ``execute_run`` returned."""
    outcome: list[dict[str, Any]] = []
    worker = threading.Thread(target=lambda: outcome.append(execute_run(run_id, rt)), daemon=True)
    worker.start()
    wait_for(lambda: running_in_sandbox(rt, run_id, "sleep 593"), 90, "the long call to start")

    rt.records.request_cancel(run_id, "stop it")
    worker.join(timeout=60)  # the call itself would take ten minutes

    assert not worker.is_alive(), "the run did not end after its cancel"
    return outcome[0]


@pytest.mark.docker
def test_a_cancel_ends_a_long_bash_call_in_flight_and_the_run_is_cancelled(rt: Runtime) -> None:
    run_id = new_run(rt, script("sleep 593", "echo never"))

    cancel_mid_call(rt, run_id)

    record = rt.records.get(run_id)
    assert (record.state, record.stop_reason, record.steps) == ("cancelled", "cancelled by request", 0)
    assert containers_of(rt, run_id) == []
    assert assert_ended_clean(rt, run_id, 1)["state"] == "cancelled"


@pytest.mark.docker
def test_a_run_cancelled_in_flight_returns_the_state_it_recorded(rt: Runtime) -> None:
    run_id = new_run(rt, script("sleep 593", "echo never"))

    outcome = cancel_mid_call(rt, run_id)

    assert rt.records.get(run_id).state == "cancelled"
    assert outcome == {"run_id": run_id, "attempt": 1, "state": "cancelled"}
