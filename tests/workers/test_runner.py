"""One delivery of a run (``execute_run`` and its ``Attempt``): which deliveries play, and that every
outcome ends recorded, with its artifacts written and its container removed. Script tasks play
through the real sandbox image; no model is involved."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator

import pytest
from billiard.pool import SIG_SOFT_TIMEOUT, soft_timeout_sighandler

from core.errors import SandboxStartError
from tests.workers.conftest import (
    MakeRuntime,
    assert_ended_clean,
    attempt_dir,
    containers_of,
    event_types,
    new_run,
    result_of,
    running_in_sandbox,
    script,
    wait_for,
)
from workers.fleet.lease import Lease
from workers.runner import LeaseBusy, RetryRun, execute_run
from workers.runtime import Runtime

pytestmark = pytest.mark.docker

# A start timeout no sandbox can meet: the container is created, its executor never answers in
# time, and the launcher raises SandboxStartError (a transient failure, so retryable).
NO_START = {"sandbox_start_timeout_s": 0.001}


# --- deliveries that must not play -----------------------------------------------------------------


def test_a_finished_run_is_skipped_and_its_record_left_untouched(rt: Runtime) -> None:
    run_id = new_run(rt, script("echo never"))
    rt.records.transition(run_id, "starting", attempt=1)
    rt.records.transition(run_id, "succeeded", attempt=1, stop_reason="script complete")
    before, events_before = rt.records.get(run_id), rt.records.events(run_id)

    outcome = execute_run(run_id, rt)

    assert outcome == {"run_id": run_id, "state": "succeeded", "skipped": "already finished"}
    assert rt.records.get(run_id) == before
    assert rt.records.events(run_id) == events_before
    assert containers_of(rt, run_id) == []
    assert not attempt_dir(rt, run_id, 2).exists()


@pytest.mark.parametrize("state", ["queued", "running"])  # running: a dead worker's run, resent
def test_a_cancel_requested_before_the_start_records_cancelled_and_starts_no_sandbox(
    rt: Runtime, state: str
) -> None:
    run_id = new_run(rt, script("echo never"))
    if state == "running":
        rt.records.transition(run_id, "starting", attempt=1)
        rt.records.transition(run_id, "running", attempt=1)
    attempt = rt.records.get(run_id).attempt
    rt.records.request_cancel(run_id, "changed my mind")

    outcome = execute_run(run_id, rt)

    record = rt.records.get(run_id)
    assert outcome == {"run_id": run_id, "state": "cancelled"}
    assert (record.state, record.attempt) == ("cancelled", attempt)
    assert record.stop_reason == "cancelled by request"
    assert containers_of(rt, run_id) == []
    assert not attempt_dir(rt, run_id, attempt + 1).exists()


def test_a_run_whose_lease_another_holder_has_is_retried_when_the_lease_would_expire(rt: Runtime) -> None:
    run_id = new_run(rt, script("echo never"))
    other = Lease(rt.redis, run_id, 60)
    assert other.acquire()
    before = rt.records.get(run_id)

    with pytest.raises(LeaseBusy) as busy:
        execute_run(run_id, rt)

    assert 55 < busy.value.countdown_s <= 61  # when the holder's lease would expire, not dropped
    assert rt.records.get(run_id) == before
    assert containers_of(rt, run_id) == []
    assert rt.redis.get(other.key) == other.token.encode()  # the holder's lease is still its own


def test_a_missing_secret_fails_the_run_before_any_sandbox_starts(rt: Runtime) -> None:
    name = "NS_TEST_SECRET_THAT_IS_NOT_SET"
    assert name not in os.environ
    run_id = new_run(rt, script("echo never", secrets=[name]))

    execute_run(run_id, rt)

    record = rt.records.get(run_id)
    assert (record.state, record.stop_reason, record.attempt) == ("failed", "MissingSecret", 1)
    assert name in (record.error or "")
    assert assert_ended_clean(rt, run_id, 1)["state"] == "failed"


# --- outcomes of a played attempt --------------------------------------------------------------------


def test_a_script_run_succeeds_records_its_attempt_and_removes_its_sandbox(rt: Runtime) -> None:
    run_id = new_run(rt, script("echo one", "echo two"))

    outcome = execute_run(run_id, rt)

    record = rt.records.get(run_id)
    assert outcome == {"run_id": run_id, "attempt": 1, "state": "succeeded"}
    assert (record.state, record.attempt, record.steps) == ("succeeded", 1, 2)
    assert record.worker == rt.hostname and record.container_id
    assert record.artifact_prefix == f"runs/{run_id}/attempt-1/"
    result = assert_ended_clean(rt, run_id, 1)
    assert (result["state"], result["attempt"], result["steps"]) == ("succeeded", 1, 2)
    assert "two" in (attempt_dir(rt, run_id, 1) / "transcript.jsonl").read_text()


def test_a_sandbox_that_will_not_start_is_retried_as_a_new_attempt(make_runtime: MakeRuntime) -> None:
    rt = make_runtime(max_attempts=3, **NO_START)
    run_id = new_run(rt, script("echo never"))

    with pytest.raises(RetryRun) as first:
        execute_run(run_id, rt)
    with pytest.raises(RetryRun) as second:
        execute_run(run_id, rt)

    assert isinstance(first.value.cause, SandboxStartError)
    delay_s = rt.settings.retry_delay_s
    assert (first.value.countdown_s, second.value.countdown_s) == (delay_s, 2 * delay_s)  # longer each time
    record = rt.records.get(run_id)
    assert (record.state, record.attempt) == ("starting", 2)  # not final: the retry runs attempt 3
    for attempt in (1, 2):
        assert assert_ended_clean(rt, run_id, attempt)["state"] == "retrying"
    retries = [e for e in rt.records.events(run_id) if e["type"] == "retrying"]
    assert [e["attempt"] for e in retries] == [1, 2]


def test_on_the_last_attempt_a_sandbox_that_will_not_start_fails_the_run(make_runtime: MakeRuntime) -> None:
    rt = make_runtime(max_attempts=2, **NO_START)
    run_id = new_run(rt, script("echo never"))
    with pytest.raises(RetryRun):
        execute_run(run_id, rt)

    outcome = execute_run(run_id, rt)

    record = rt.records.get(run_id)
    assert outcome == {"run_id": run_id, "attempt": 2, "state": "failed"}
    assert (record.state, record.attempt, record.stop_reason) == ("failed", 2, "SandboxStartError")
    assert assert_ended_clean(rt, run_id, 2)["state"] == "failed"
    assert result_of(rt, run_id, 1)["state"] == "retrying"  # the earlier attempt's artifacts stay
    assert event_types(rt, run_id).count("retrying") == 1


def test_a_setup_command_that_errs_fails_the_run_naming_the_command(rt: Runtime) -> None:
    run_id = new_run(rt, script("echo never", setup=["echo ready", "exit 3"]))

    execute_run(run_id, rt)

    record = rt.records.get(run_id)
    assert (record.state, record.stop_reason, record.steps) == ("failed", "SetupFailed", 0)
    assert (record.error or "").startswith("setup command 2 failed: ")
    result = assert_ended_clean(rt, run_id, 1)
    assert (result["state"], result["error"]) == ("failed", record.error)


def test_a_setup_command_exiting_non_zero_fails_the_run(rt: Runtime) -> None:
    run_id = new_run(rt, script("echo played", setup=["test -e /no/such/file"]))

    execute_run(run_id, rt)

    record = rt.records.get(run_id)
    assert (record.state, record.stop_reason, record.steps) == ("failed", "SetupFailed", 0)
    assert (record.error or "").startswith("setup command 1 failed: ")


@pytest.fixture
def soft_time_limit() -> Iterator[None]:
    """Celery's soft time limit as its pool delivers it: a signal whose handler raises
    SoftTimeLimitExceeded in the main thread, wherever the run is."""
    previous = signal.signal(SIG_SOFT_TIMEOUT, soft_timeout_sighandler)
    yield
    signal.signal(SIG_SOFT_TIMEOUT, previous)


def test_the_soft_time_limit_ends_the_run_failed_and_removes_its_sandbox(
    rt: Runtime, soft_time_limit: None
) -> None:
    run_id = new_run(rt, script("sleep 591"))
    done = threading.Event()

    def pass_the_limit_mid_call() -> None:
        wait_for(lambda: done.is_set() or running_in_sandbox(rt, run_id, "sleep 591"), 90, "the call")
        if not done.is_set():
            os.kill(os.getpid(), SIG_SOFT_TIMEOUT)

    limiter = threading.Thread(target=pass_the_limit_mid_call, daemon=True)
    limiter.start()
    try:
        outcome = execute_run(run_id, rt)
    finally:
        done.set()
        limiter.join()

    record = rt.records.get(run_id)
    assert outcome["state"] == "failed"
    assert (record.state, record.stop_reason, record.error) == (
        "failed",
        "time limit",
        "the run passed its time limit",
    )
    result = assert_ended_clean(rt, run_id, 1)
    assert (result["state"], result["stop_reason"]) == ("failed", "time limit")
