"""Every stop reason the Messages API can return, and what the loop does with it.

The API is the local fake server spoken to by the real SDK; tools run in the in-process
FakeSandbox (no container) because these scenarios are about loop logic only."""

from __future__ import annotations

from typing import Any

from core.errors import SandboxGoneError, ToolTimeoutError
from tests.fake_api import FakeAnthropicAPI, Reply, reply, text, tool_use
from tests.fake_usage import strip_markers
from tests.loop.conftest import FakeSandbox, RecordingHooks, Runner, png
from workers.agent.loop import CONTINUE_NUDGE
from workers.agent.toolrun import CUT_OFF
from workers.toolio import ToolOutput


def last_user_blocks(api: FakeAnthropicAPI, index: int = -1) -> list[dict[str, Any]]:
    message = api.requests[index].messages[-1]
    assert message["role"] == "user"
    return strip_markers(message["content"])


def test_end_turn_succeeds_with_the_final_text(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(reply(text("The dialog is open.")))
    result = run()
    assert (result.state, result.stop_reason) == ("succeeded", "end_turn")
    assert result.result == {"text": "The dialog is open."}
    assert result.steps == 1 and len(api.requests) == 1


def test_tool_use_runs_every_block_in_order_and_answers_them_in_one_message(
    api: FakeAnthropicAPI, run: Runner, sandbox: FakeSandbox
) -> None:
    first = tool_use("bash", {"command": "ls /home/user"})
    second = tool_use("computer", {"action": "left_click", "coordinate": [10, 20]})
    api.enqueue(reply(text("Two things."), first, second), reply(text("done")))
    result = run()
    assert result.state == "succeeded"
    assert [call.tool["name"] for call in sandbox.calls] == ["bash", "computer"]
    assert sandbox.calls[0].input == {"command": "ls /home/user"}
    answers = last_user_blocks(api)
    assert [b["tool_use_id"] for b in answers] == [first["id"], second["id"]]
    assert answers[0]["content"] == [{"type": "text", "text": "ok"}]
    assert answers[1]["content"][0]["type"] == "image"
    assert all(api.requests[1].rejected is None for _ in answers)


def test_response_blocks_go_back_without_null_fields(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(reply(text("Looking."), tool_use("computer", {"action": "screenshot"})), reply(text("done")))
    run()
    assistant = api.requests[1].messages[1]
    assert assistant["content"][0] == {"type": "text", "text": "Looking."}
    assert "caller" not in assistant["content"][1]


def test_half_written_tool_call_is_never_executed(
    api: FakeAnthropicAPI, run: Runner, sandbox: FakeSandbox
) -> None:
    complete = tool_use("bash", {"command": "echo hi"})
    truncated = tool_use("computer", {"action": "type", "text": "a very long te"})
    api.enqueue(reply(complete, truncated, stop_reason="max_tokens"), reply(text("done")))
    result = run()
    assert result.state == "succeeded"
    assert [call.tool["name"] for call in sandbox.calls] == ["bash"]
    answers = last_user_blocks(api)
    assert [b["tool_use_id"] for b in answers] == [complete["id"], truncated["id"]]
    assert answers[1]["is_error"] is True
    assert answers[1]["content"] == [{"type": "text", "text": CUT_OFF}]


def test_max_tokens_in_text_asks_the_model_to_continue(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(
        reply(text("Here is a very long expla"), stop_reason="max_tokens"), reply(text("Short answer."))
    )
    result = run()
    assert result.result == {"text": "Short answer."}
    assert last_user_blocks(api) == [{"type": "text", "text": CONTINUE_NUDGE}]


def test_pause_turn_resends_the_paused_turn(api: FakeAnthropicAPI, run: Runner, sandbox: FakeSandbox) -> None:
    api.enqueue(reply(text("Still working"), stop_reason="pause_turn"), reply(text("done")))
    result = run()
    assert result.state == "succeeded" and result.steps == 2
    resent = api.requests[1].messages
    assert resent[-1] == {"role": "assistant", "content": [{"type": "text", "text": "Still working"}]}
    assert sandbox.calls == []


def test_refusal_stops_the_run_with_that_reason(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(reply(text("I can't help with that."), stop_reason="refusal"), reply(text("unused")))
    result = run()
    assert (result.state, result.stop_reason) == ("failed", "refusal")
    assert len(api.requests) == 1


def test_unknown_stop_reason_stops_cleanly(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(reply(text("?"), stop_reason="teleported"))
    result = run()
    assert result.state == "failed"
    assert result.stop_reason == "unexpected stop_reason: teleported"
    assert result.error and "teleported" in result.error


def test_error_results_carry_text_only(api: FakeAnthropicAPI, run: Runner, sandbox: FakeSandbox) -> None:
    sandbox.script.append(ToolOutput(text="xdotool: no such window", is_error=True, image=png()))
    api.enqueue(reply(tool_use("computer", {"action": "left_click"})), reply(text("done")))
    assert run().state == "succeeded"
    (answer,) = last_user_blocks(api)
    assert answer["is_error"] is True
    assert answer["content"] == [{"type": "text", "text": "xdotool: no such window"}]


def test_unknown_tool_name_is_answered_as_an_error(
    api: FakeAnthropicAPI, run: Runner, sandbox: FakeSandbox
) -> None:
    api.enqueue(reply(tool_use("teleport", {"to": "mars"})), reply(text("done")))
    assert run().state == "succeeded"
    assert sandbox.calls == []
    assert last_user_blocks(api)[0]["content"] == [{"type": "text", "text": "Tool teleport is invalid"}]


def test_sandbox_gone_fails_the_run_with_a_clear_error(
    api: FakeAnthropicAPI, run: Runner, sandbox: FakeSandbox
) -> None:
    sandbox.script.append(SandboxGoneError("container exited with code 137"))
    api.enqueue(reply(tool_use("computer", {"action": "screenshot"})), reply(text("unused")))
    result = run()
    assert (result.state, result.stop_reason) == ("failed", "SandboxGoneError")
    assert result.error == "SandboxGoneError: container exited with code 137"
    assert result.steps == 1 and len(api.requests) == 1


def test_tool_timeout_fails_the_run(api: FakeAnthropicAPI, run: Runner, sandbox: FakeSandbox) -> None:
    sandbox.script.append(ToolTimeoutError("no answer within 180s"))
    api.enqueue(reply(tool_use("bash", {"command": "sleep 999"})))
    result = run()
    assert result.state == "failed" and "no answer within 180s" in (result.error or "")


def test_a_bug_in_a_tool_never_escapes(api: FakeAnthropicAPI, run: Runner, sandbox: FakeSandbox) -> None:
    sandbox.script.append(RuntimeError("unexpected"))
    api.enqueue(reply(tool_use("bash", {"command": "true"})))
    result = run()
    assert (result.state, result.stop_reason) == ("failed", "internal_error")


def test_a_body_that_is_not_json_is_retried(
    api: FakeAnthropicAPI, run: Runner, hooks: RecordingHooks
) -> None:
    api.enqueue(Reply(status=200, raw_body=b"<html>proxy error</html>"), reply(text("done")))
    result = run()
    assert result.state == "succeeded"
    assert len(api.requests) == 2 and len(hooks.waits) == 1
