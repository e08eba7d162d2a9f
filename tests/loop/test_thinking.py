"""Extended thinking: the request fields per mode, and thinking blocks sent back unchanged.
Tools run in the in-process FakeSandbox."""

from __future__ import annotations

import json

import anthropic

from core.models import ModelConfig
from tests.fake_api import FakeAnthropicAPI, redacted_thinking, reply, text, thinking, tool_use
from tests.fake_usage import strip_markers
from tests.loop.conftest import FAST, FakeClock, FakeSandbox, RecordingHooks, Runner, make_spec
from workers.agent.loop import run_session

SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+u//8+/==" * 3
THOUGHT = (
    'The "Save" button is greyed out\u2014maybe a required field is empty.\n\tCheck \\ the form \U0001f50d.'
)


def test_thinking_off_sends_no_thinking_fields(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(reply(text("done")))
    run()
    assert "thinking" not in api.requests[0].body and "output_config" not in api.requests[0].body


def test_enabled_thinking_sends_the_budget_and_room_to_answer(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(reply(text("done")))
    run(thinking={"type": "enabled", "budget_tokens": 10000}, max_tokens=8000)
    body = api.requests[0].body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 10000}
    assert body["max_tokens"] > 10000


def test_adaptive_thinking_sends_the_effort(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(reply(text("done")))
    run(thinking={"type": "adaptive", "effort": "medium"})
    body = api.requests[0].body
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {"effort": "medium"}


def test_the_model_config_default_applies_when_the_task_sets_none(
    api: FakeAnthropicAPI, client: anthropic.Anthropic, sandbox: FakeSandbox, clock: FakeClock
) -> None:
    api.enqueue(reply(text("done")))
    config = ModelConfig(tools="computer_use_20251124", thinking={"type": "adaptive", "effort": "low"})
    run_session(
        make_spec(), sandbox, client, RecordingHooks(), model_config=config, options=FAST, clock=clock
    )
    assert api.requests[0].body["output_config"] == {"effort": "low"}


def test_thinking_blocks_round_trip_byte_for_byte(api: FakeAnthropicAPI, run: Runner) -> None:
    think = thinking(THOUGHT, SIGNATURE)
    hidden = redacted_thinking(
        "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj"
    )
    call = tool_use("computer", {"action": "screenshot"})
    api.enqueue(reply(think, hidden, text("Let me look."), call), reply(text("done")))
    assert run(thinking={"type": "enabled", "budget_tokens": 2048}).state == "succeeded"
    sent = strip_markers(api.requests[1].messages[1]["content"])
    assert sent[0] == think and sent[1] == hidden
    assert json.dumps(sent[0], ensure_ascii=False) == json.dumps(think, ensure_ascii=False)
    assert list(sent[0]) == ["type", "thinking", "signature"]
