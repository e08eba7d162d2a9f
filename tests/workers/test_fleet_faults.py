"""Faults one worker meets, against real Redis and Docker: a cancel in the middle of a tool call,
budgets carried from a dead attempt to the next, records that expire after their retention,
several fleets on one Redis, and a container that vanishes while the reaper lists them."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from core import keys
from core import labels as label
from core.spec import TaskSpec
from scheduler.cli import main as cli_main
from tests.fake_api import FakeAnthropicAPI, reply, text
from tests.workers.conftest import (
    MakeRuntime,
    attempt_dir,
    containers_of,
    new_run,
    result_of,
    running_in_sandbox,
    script,
    sent_runs,
    wait_for,
)
from tests.workers.test_reaper import reap, run_in, stand_in
from workers.app import create_app
from workers.fleet.reaper import resume_orphans
from workers.runner import execute_run
from workers.runtime import Runtime

pytestmark = pytest.mark.docker


# --- cancel during a tool call --------------------------------------------------------------------


def test_a_cancel_during_a_tool_call_keeps_the_steps_played_in_record_and_result(rt: Runtime) -> None:
    run_id = new_run(rt, script("echo first", "echo second", "sleep 120 && echo never"))
    worker = threading.Thread(target=execute_run, args=(run_id, rt))
    worker.start()
    wait_for(lambda: running_in_sandbox(rt, run_id, "sleep 120"), 90, "the third step's command")

    rt.records.request_cancel(run_id, "enough")
    worker.join(timeout=60)

    record = rt.records.get(run_id)
    assert not worker.is_alive()
    assert (record.state, record.steps) == ("cancelled", 2)
    assert result_of(rt, run_id, 1)["steps"] == 2
    assert containers_of(rt, run_id) == []


# --- budgets per run ----------------------------------------------------------------------------------


def claude_run(rt: Runtime, max_cost_usd: float, spent_usd: float) -> str:
    """A Claude run whose attempt 1 died after spending ``spent_usd`` (as its steps recorded it)."""
    spec = {"name": "budget", "prompt": "look", "model": "claude-sonnet-4-6",
            "budgets": {"max_cost_usd": max_cost_usd, "max_steps": 5}}
    run_id = new_run(rt, TaskSpec.model_validate(spec))
    rt.records.transition(run_id, "starting", attempt=1)
    rt.records.transition(run_id, "running", attempt=1)
    rt.records.update(run_id, steps=3, usage={"input_tokens": 4000, "output_tokens": 300}, cost_usd=spent_usd)
    return run_id


def test_a_resumed_attempt_gets_only_what_earlier_attempts_left(make_runtime: MakeRuntime) -> None:
    with FakeAnthropicAPI() as api:
        rt = make_runtime(anthropic_api_key="test-key", anthropic_base_url=api.base_url)
        run_id = claude_run(rt, max_cost_usd=0.25, spent_usd=0.25)

        execute_run(run_id, rt)

        record = rt.records.get(run_id)
        assert (record.state, record.attempt) == ("budget_exhausted", 2)
        assert "max_cost_usd" in (record.stop_reason or "")
        assert api.accepted == []  # nothing left: not one more paid request
        assert record.cost_usd == pytest.approx(0.25)
        assert record.usage["input_tokens"] == 4000


def test_usage_and_cost_are_summed_across_attempts_in_the_record(make_runtime: MakeRuntime) -> None:
    with FakeAnthropicAPI() as api:
        api.enqueue(reply(text("done"), usage={"input_tokens": 1000, "output_tokens": 100}))
        rt = make_runtime(anthropic_api_key="test-key", anthropic_base_url=api.base_url)
        run_id = claude_run(rt, max_cost_usd=1.0, spent_usd=0.2)

        execute_run(run_id, rt)

        record = rt.records.get(run_id)
        this_attempt = result_of(rt, run_id, 2)
        assert (record.state, record.attempt) == ("succeeded", 2)
        assert this_attempt["cost_usd"] > 0
        assert record.cost_usd == pytest.approx(0.2 + this_attempt["cost_usd"])
        assert record.usage["input_tokens"] == 4000 + this_attempt["usage"]["input_tokens"]
        assert record.usage["output_tokens"] == 300 + this_attempt["usage"]["output_tokens"]


# --- retention ------------------------------------------------------------------------------------------


def test_a_finished_record_expires_after_the_retention_and_leaves_its_artifacts(
    make_runtime: MakeRuntime,
) -> None:
    rt = make_runtime(record_retention_s=2)
    run_id = new_run(rt, script("echo kept"))
    execute_run(run_id, rt)
    assert rt.records.get(run_id).state == "succeeded"
    ttl = rt.redis.ttl(keys.run(run_id))
    assert 0 < ttl <= 2 and 0 < rt.redis.ttl(keys.run_events(run_id)) <= 2

    wait_for(lambda: not rt.redis.exists(keys.run(run_id), keys.run_events(run_id)), 10, "expiry")
    assert rt.records.prune() >= 1

    assert rt.redis.zscore(keys.runs_index(), run_id) is None
    assert rt.records.find(run_id) is None
    assert (attempt_dir(rt, run_id, 1) / "result.json").exists()  # artifacts stay


def test_a_live_record_never_expires(make_runtime: MakeRuntime) -> None:
    rt = make_runtime(record_retention_s=1)
    record = run_in(rt, "running")
    assert rt.redis.ttl(keys.run(record.run_id)) == -1
    assert rt.records.prune() == 0


def test_nightshift_list_pages_through_runs(rt: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    ids = [new_run(rt, script(f"echo {i}")) for i in range(5)]
    url = rt.settings.redis_url
    capsys.readouterr()

    assert cli_main(["--redis-url", url, "list", "--limit", "2", "--json"]) == 0
    first = capsys.readouterr()
    page1 = [r["run_id"] for r in json.loads(first.out)]
    before = first.err.split("--before ", 1)[1].split()[0]
    assert cli_main(["--redis-url", url, "list", "--limit", "2", "--json", "--before", before]) == 0
    page2 = [r["run_id"] for r in json.loads(capsys.readouterr().out)]

    assert page1 == ids[::-1][:2] and page2 == ids[::-1][2:4]


# --- several fleets on one Redis --------------------------------------------------------------------


def test_the_reaper_resumes_only_runs_of_its_own_fleets_queue(make_runtime: MakeRuntime) -> None:
    ours, theirs = make_runtime(), make_runtime(queue_name="another-fleet")
    mine = run_in(ours, "running")
    other = run_in(theirs, "running")
    assert (mine.queue, other.queue) == (ours.settings.queue_name, "another-fleet")
    celery_app = create_app(ours.settings)
    try:
        assert resume_orphans(ours.records, ours.redis, celery_app, ours.settings) == 1
    finally:
        celery_app.close()

    assert [m["args"] for m in sent_runs(ours)] == [[mine.run_id]]
    assert sent_runs(theirs) == []


# --- a container vanishing during the reaper's listing ---------------------------------------------


def test_a_container_removed_while_the_reaper_lists_never_skips_the_pass(rt: Runtime) -> None:
    vanishing = run_in(rt, "failed")
    finished = run_in(rt, "succeeded")
    gone = stand_in(rt, vanishing.run_id)
    dead = stand_in(rt, finished.run_id)
    inspect = rt.docker.api.inspect_container
    removed: list[str] = []

    def remove_first_then_inspect(container: Any) -> Any:
        """A real removal racing the listing: one listed container goes before it is inspected."""
        if not removed:
            removed.append(gone.id)
            gone.remove(force=True)
        return inspect(container)

    rt.docker.api.inspect_container = remove_first_then_inspect  # type: ignore[method-assign]
    try:
        reap(rt)
    finally:
        rt.docker.api.inspect_container = inspect  # type: ignore[method-assign]

    assert removed and containers_of(rt, finished.run_id) == []
    assert dead.id not in [c.id for c in rt.docker.containers.list(all=True, filters={"label": label.RUN_ID})]
