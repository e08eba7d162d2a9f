"""Thinking and context management per model, through the loop: what the request carries, what
the transcript keeps (the server's clearing, thinking summaries), the drop_block opt-out, and the
thinking translation at run time. Tools run in the in-process FakeSandbox."""

from __future__ import annotations

from dataclasses import replace

from tests.fake_api import FakeAnthropicAPI, reply, text, tool_use
from tests.loop.conftest import FAST, DirSink, Runner
from workers.agent.context import ContextOptions
from workers.artifacts.transcript import TranscriptHook


def shots(api: FakeAnthropicAPI, count: int) -> None:
    api.enqueue(*[reply(tool_use("screenshot", {}, toolset=True)) for _ in range(count)], reply(text("done")))


def test_cleared_context_and_thinking_summaries_land_in_the_transcript(
    api: FakeAnthropicAPI, run: Runner, tmp_path: object
) -> None:
    sink = DirSink(tmp_path)  # type: ignore[arg-type]
    shots(api, 6)
    options = replace(FAST, context=ContextOptions(clear_trigger_tokens=7000, keep_tool_uses=2))
    thinking = {"type": "adaptive", "effort": "xhigh", "display": "summarized"}
    result = run(model="claude-sonnet-5-5", thinking=thinking, options=options, hooks=TranscriptHook(sink))
    assert result.state == "succeeded"
    responses = [e for e in sink.events() if e["event"] == "response"]
    applied = [e["context_management"]["applied_edits"] for e in responses]
    assert applied[0] == [] and applied[-1][0]["type"] == "clear_tool_uses_20250919"
    assert applied[-1][0]["cleared_tool_uses"] == 4  # six results, the newest two kept
    summaries = [b["thinking"] for e in responses for b in e["content"] if b["type"] == "thinking"]
    assert len(summaries) == 7 and all(s.startswith("Step ") for s in summaries)
    assert api.requests[0].body["output_config"] == {"effort": "xhigh"}


def test_without_display_the_thinking_text_is_empty(api: FakeAnthropicAPI, run: Runner) -> None:
    shots(api, 1)
    assert run(model="claude-opus-5-5").state == "succeeded"
    assert api.requests[0].body["thinking"] == {"type": "adaptive"}  # always on: never "disabled"
    assert api.requests[1].messages[1]["content"][0] == {
        "type": "thinking", "thinking": "", "signature": api.requests[0].response["content"][0]["signature"],
    }  # fmt: skip


def test_manual_budgets_become_adaptive_on_models_that_refuse_them(
    api: FakeAnthropicAPI, run: Runner
) -> None:
    shots(api, 0)
    assert (
        run(model="claude-opus-5-5", thinking={"type": "enabled", "budget_tokens": 20000}).state
        == "succeeded"
    )
    body = api.requests[0].body
    assert (body["thinking"], body["output_config"]) == ({"type": "adaptive"}, {"effort": "high"})


def test_drop_block_is_opt_in_and_carries_its_beta(api: FakeAnthropicAPI, run: Runner) -> None:
    shots(api, 0)
    run(model="claude-fable-5-1", options=replace(FAST, context=ContextOptions(drop_block=True)))
    request = api.requests[0]
    assert request.body["thinking"]["block_binding"] == {"prefix_mismatch_behavior": "drop_block"}
    assert "thinking-binding-controls-2026-08-01" in request.betas
    assert request.rejected is None


def test_haiku_clears_below_its_long_prompt_tier_and_long_runs_compact(
    api: FakeAnthropicAPI, run: Runner
) -> None:
    shots(api, 0)
    run(model="claude-haiku-5-5", budgets={"max_steps": 200})
    edits = api.requests[0].body["context_management"]["edits"]
    assert edits[0]["trigger"] == {"type": "input_tokens", "value": 90_000}
    assert edits[1] == {"type": "compact_20260112", "trigger": {"type": "input_tokens", "value": 150_000}}
    assert "compact-2026-01-12" in api.requests[0].betas


def test_a_short_run_does_not_ask_for_compaction(api: FakeAnthropicAPI, run: Runner) -> None:
    shots(api, 0)
    run(model="claude-sonnet-5-5", budgets={"max_steps": 20})
    edits = api.requests[0].body["context_management"]["edits"]
    assert [e["type"] for e in edits] == ["clear_tool_uses_20250919"]
    assert "compact-2026-01-12" not in api.requests[0].betas


def test_a_refused_thinking_fails_the_run_before_any_request(api: FakeAnthropicAPI, run: Runner) -> None:
    result = run(model="claude-sonnet-4-6", thinking={"type": "adaptive", "effort": "xhigh"})
    assert (result.state, result.stop_reason) == ("failed", "invalid task")
    assert "low, medium, high, max" in (result.error or "") and api.requests == []
