"""``request_approval`` in the loop against the local Messages API: the session pauses with a state
that survives JSON, and resuming answers the pending call with the decision, on the same request
prefix, with usage and the wall-time budget carried over."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.states import Decision
from tests.fake_api import FakeAnthropicAPI, reply, text, tool_use
from tests.loop.conftest import RecordingHooks, Runner
from workers.agent.approval import AwaitApproval, Resumption, Ruling
from workers.agent.toolrun import AFTER_APPROVAL

ASK = {"what": "accept the cookie banner", "why": "the page cannot be read behind it"}


def _pause(api: FakeAnthropicAPI, run: Runner) -> dict[str, Any]:
    api.enqueue(reply(text("Asking first."), tool_use("request_approval", ASK),
                      tool_use("bash", {"command": "echo later"})))
    with pytest.raises(AwaitApproval) as paused:
        run(budgets={"max_wall_s": 600})
    assert (paused.value.asked.what, paused.value.asked.why) == (ASK["what"], ASK["why"])
    state: dict[str, Any] = json.loads(json.dumps({**paused.value.state, "tool_use": paused.value.tool_use}))
    return state


def test_resuming_answers_the_pending_call_with_the_decision_on_the_same_prefix(
    api: FakeAnthropicAPI, run: Runner, hooks: RecordingHooks
) -> None:
    state = _pause(api, run)
    api.enqueue(reply(text("Accepted and read it.")))
    ruling = Ruling(Decision.APPROVED, "erin", "only the necessary cookies").output()

    result = run(budgets={"max_wall_s": 600}, resume=Resumption(state, ruling, elapsed_s=5.0))

    assert result.state == "succeeded" and result.steps == 2
    first, second = (r.body for r in api.requests)
    assert (second["system"], second["tools"]) == (first["system"], first["tools"])
    answers = {b["tool_use_id"]: b for b in second["messages"][-1]["content"]}
    approval, later = answers.values()
    assert "Approved by erin" in json.dumps(approval) and "only the necessary cookies" in json.dumps(approval)
    assert later.get("is_error") and AFTER_APPROVAL in json.dumps(later)
    assert len(hooks.responses) == 2  # usage carried over the pause: both responses counted
    assert result.usage["output_tokens"] == sum(r["usage"]["output_tokens"] for r in hooks.responses)
    assert [o.text for _, o in hooks.tool_results if "erin" in o.text]


def test_a_denial_is_an_error_result_the_model_sees(api: FakeAnthropicAPI, run: Runner) -> None:
    state = _pause(api, run)
    api.enqueue(reply(text("Then I stop here.")))
    ruling = Ruling(Decision.DENIED, "frank", "we never accept tracking").output()

    run(budgets={"max_wall_s": 600}, resume=Resumption(state, ruling, elapsed_s=5.0))

    approval = api.requests[1].body["messages"][-1]["content"][0]
    assert approval["is_error"] is True
    assert "Denied by frank" in json.dumps(approval) and "we never accept tracking" in json.dumps(approval)


def test_a_pause_that_used_up_the_wall_budget_ends_the_run_on_resume(
    api: FakeAnthropicAPI, run: Runner
) -> None:
    state = _pause(api, run)
    ruling = Ruling(Decision.APPROVED, "erin").output()

    result = run(budgets={"max_wall_s": 600}, resume=Resumption(state, ruling, elapsed_s=601.0))

    assert (result.state, result.stop_reason) == ("budget_exhausted", "budget: max_wall_s")
    assert len(api.requests) == 1  # nothing more was sent
