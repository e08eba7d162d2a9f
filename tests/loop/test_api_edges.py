"""The loop against the Messages API's edge cases (issue 9): ``x-should-retry`` honoured both
ways, a max_tokens cut after complete tool_use blocks, a refusal's ``stop_details`` kept, and a
tool input nested deeper than JSON encoders go answered as a tool error."""

from __future__ import annotations

from dataclasses import replace

from tests.fake_api import FakeAnthropicAPI, Reply, error, reply, text, tool_use
from tests.fake_usage import strip_markers
from tests.loop.conftest import FAST, FakeClock, FakeSandbox, RecordingHooks, Runner
from workers.agent.loop import CONTINUE_NUDGE
from workers.agent.toolgate import TOO_DEEP
from workers.agent.toolrun import CUT_OFF


def test_a_429_marked_do_not_retry_ends_the_run_at_once(
    api: FakeAnthropicAPI, run: Runner, clock: FakeClock
) -> None:
    api.enqueue(error(429, "quota exhausted", headers={"x-should-retry": "false"}), reply(text("unused")))
    result = run()
    assert (result.state, result.stop_reason) == ("failed", "api_error")
    assert len(api.requests) == 1 and clock.sleeps == []


def test_a_529_marked_do_not_retry_is_not_retried(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(error(529, "Overloaded", headers={"x-should-retry": "False"}), reply(text("unused")))
    assert run().state == "failed" and len(api.requests) == 1


def test_a_client_error_marked_retry_is_retried(api: FakeAnthropicAPI, run: Runner, clock: FakeClock) -> None:
    api.enqueue(error(400, "try again", headers={"x-should-retry": "true"}), reply(text("done")))
    assert run().state == "succeeded"
    assert len(api.requests) == 2 and len(clock.sleeps) == 1


def test_a_cut_after_complete_calls_runs_them_and_continues(
    api: FakeAnthropicAPI, run: Runner, sandbox: FakeSandbox
) -> None:
    first = tool_use("computer", {"action": "left_click", "coordinate": [5, 5]})
    second = tool_use("bash", {"command": "ls"})
    api.enqueue(reply(first, text("and now"), second, text("then I will"), stop_reason="max_tokens"))
    api.enqueue(reply(text("done")))
    assert run().state == "succeeded"
    assert [c.tool["name"] for c in sandbox.calls] == ["computer", "bash"]
    assert api.requests[1].rejected is None
    content = strip_markers(api.requests[1].messages[-1]["content"])
    assert [b.get("tool_use_id") for b in content[:2]] == [first["id"], second["id"]]
    assert not any(b.get("is_error") for b in content[:2])
    assert content[2] == {"type": "text", "text": CONTINUE_NUDGE}


def test_a_parallel_turn_cut_inside_its_last_call_answers_that_one_as_an_error(
    api: FakeAnthropicAPI, run: Runner, sandbox: FakeSandbox
) -> None:
    done = tool_use("computer", {"action": "screenshot"})
    cut = tool_use("computer", {"action": "type"})
    api.enqueue(reply(done, text("next"), cut, stop_reason="max_tokens"), reply(text("done")))
    assert run().state == "succeeded"
    assert len(sandbox.calls) == 1 and api.requests[1].rejected is None
    answers = {b["tool_use_id"]: b for b in strip_markers(api.requests[1].messages[-1]["content"])}
    assert answers[cut["id"]]["is_error"] is True
    assert answers[cut["id"]]["content"] == [{"type": "text", "text": CUT_OFF}]
    assert "is_error" not in answers[done["id"]]


def test_a_refusal_keeps_its_stop_details(api: FakeAnthropicAPI, run: Runner, hooks: RecordingHooks) -> None:
    details = {"type": "refusal", "category": "cyber", "explanation": "This request may enable harm."}
    api.enqueue(Reply(content=[text("I can't help")], stop_reason="refusal", stop_details=details))
    result = run()
    assert (result.state, result.stop_reason) == ("failed", "refusal")
    assert result.result == {"stop_details": details}
    assert result.error is not None and "cyber" in result.error and "may enable harm" in result.error
    assert hooks.responses[0]["stop_details"] == details  # what the transcript writes


def deep(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


# A body too deep for the fake to re-encode as events: these two read the response whole.
WHOLE = replace(FAST, stream=False)


def raw_reply(tool_input_json: str, tool_id: str = "toolu_deep") -> Reply:
    message = (
        '{"id":"msg_deep","type":"message","role":"assistant","model":"claude-sonnet-4-6",'
        f'"content":[{{"type":"tool_use","id":"{tool_id}","name":"computer","input":{tool_input_json}}}],'
        '"stop_reason":"tool_use","stop_sequence":null,'
        '"usage":{"input_tokens":10,"output_tokens":10}}'
    )
    return Reply(status=200, raw_body=message.encode())


def test_a_deeply_nested_input_is_a_tool_error(
    api: FakeAnthropicAPI, run: Runner, sandbox: FakeSandbox
) -> None:
    api.enqueue(raw_reply(deep(900)), reply(text("done")))
    result = run(options=WHOLE)
    assert result.state == "succeeded", result.error
    assert sandbox.calls == []
    (answer,) = strip_markers(api.requests[1].messages[-1]["content"])
    assert answer["is_error"] is True and answer["content"] == [{"type": "text", "text": TOO_DEEP}]
    assert api.requests[1].messages[-2]["content"][0]["input"] == {}


def test_a_response_too_deep_to_decode_is_retried(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(raw_reply(deep(1100)), reply(text("done")))
    result = run(options=WHOLE)
    assert result.state == "succeeded" and len(api.requests) == 2
