"""The paused state and approval requests against a real redis-server: ``needs_approval`` is a
pause of the same attempt that only returns to ``running`` or ends; a request is decided once."""

from __future__ import annotations

import time

import pytest
import redis as redis_lib

from core.approvals import ApprovalRequest, Approvals
from core.errors import ApprovalError
from core.records import Records
from core.states import Decision, RunState
from scheduler import approvals as view
from scheduler.cli import main
from tests.conftest import RedisServer
from tests.scheduler.test_records import SPEC, states


def _running(redis: redis_lib.Redis, run_id: str = "run-1") -> Records:
    records = Records(redis)
    records.create(run_id, SPEC)
    assert records.transition(run_id, RunState.STARTING, 1)
    assert records.transition(run_id, RunState.RUNNING, 1)
    return records


def _request(
    run_id: str = "run-1", deadline: float | None = None, queue: str = "q.host.a"
) -> ApprovalRequest:
    now = time.time()
    return ApprovalRequest(
        run_id=run_id, name="smoke", what="send the email", why="the task says so", step=2,
        tool_use_id="toolu_1", requested_at=now, deadline=deadline or now + 60, host="a", queue=queue,
        container_id="c" * 64, max_wall_s=300)


def test_a_run_pauses_and_goes_on_in_the_same_attempt(redis_client: redis_lib.Redis) -> None:
    records = _running(redis_client)
    assert records.transition("run-1", RunState.NEEDS_APPROVAL, 1)
    assert not records.get("run-1").terminal  # a pause, not an ending
    assert not records.transition("run-1", RunState.STARTING, 1)  # only back to running (or an end)
    assert records.transition("run-1", RunState.RUNNING, 1)
    assert records.transition("run-1", RunState.NEEDS_APPROVAL, 1)  # it may ask again
    assert records.transition("run-1", RunState.FAILED, 1)
    assert not records.transition("run-1", RunState.RUNNING, 1)
    assert [s for _, s, _ in states(redis_client, "run-1")] == [
        "queued", "starting", "running", "needs_approval", "running", "needs_approval", "failed"]


def test_only_a_running_run_can_pause(redis_client: redis_lib.Redis) -> None:
    records = Records(redis_client)
    records.create("run-1", SPEC)
    assert not records.transition("run-1", RunState.NEEDS_APPROVAL, 0)
    assert records.transition("run-1", RunState.STARTING, 1)
    assert not records.transition("run-1", RunState.NEEDS_APPROVAL, 1)
    assert records.get("run-1").state == RunState.STARTING


def test_a_request_is_decided_once_and_leaves_the_pending_list(redis_client: redis_lib.Redis) -> None:
    approvals = Approvals(redis_client)
    approvals.open(_request())
    assert [r.run_id for r in approvals.pending()] == ["run-1"]

    decided = approvals.decide("run-1", Decision.DENIED, "bob", "not today")

    assert (decided.decision, decided.decided_by, decided.note) == (Decision.DENIED, "bob", "not today")
    assert approvals.pending() == []
    with pytest.raises(ApprovalError, match="already decided"):
        approvals.decide("run-1", Decision.APPROVED, "mallory")
    with pytest.raises(ApprovalError, match="not waiting"):
        approvals.decide("run-2", Decision.APPROVED, "alice")
    (event,) = [e for e in Records(redis_client).events("run-1") if e["type"] == "approval_decided"]
    assert (event["decision"], event["by"], event["note"]) == ("denied", "bob", "not today")


def test_only_this_machines_requests_past_their_deadline_are_due(redis_client: redis_lib.Redis) -> None:
    approvals = Approvals(redis_client)
    now = time.time()
    approvals.open(_request("late", deadline=now - 1))
    approvals.open(_request("elsewhere", deadline=now - 1, queue="q.host.b"))
    approvals.open(_request("early", deadline=now + 60))
    assert [r.run_id for r in approvals.due("q.host.a")] == ["late"]


def test_the_cli_lists_waiting_runs_and_refuses_a_decision_nobody_asked_for(
    redis_client: redis_lib.Redis, redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    redis_url = redis_server.url
    Approvals(redis_client).open(_request())
    assert main(["--redis-url", redis_url, "approvals"]) == 0
    listed = capsys.readouterr().out
    assert "run-1" in listed and "send the email" in listed and "the task says so" in listed

    assert main(["--redis-url", redis_url, "approve", "run-9", "--note", "x"]) == 1
    assert "run-9 is not waiting for an approval" in capsys.readouterr().err
    assert view.table([]) == "no run is waiting for an approval"
