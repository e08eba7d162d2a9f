"""The fake Messages API refuses what the real API refuses on late-2026 models (TOOLS.md §10),
checked through the real SDK so the loop tests can trust it."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from tests.fake_api import FakeAnthropicAPI, reply, text, tool_use
from tests.fake_rules import BINDING_ERROR

TOOLSET = {"type": "computer_toolset_20260801"}


def create(client: anthropic.Anthropic, **body: Any) -> Any:
    fields = {"model": "claude-opus-5-5", "max_tokens": 1024, "messages": [{"role": "user", "content": "hi"}]}
    return client.beta.messages.create(**(fields | body))


def test_a_5_5_model_refuses_the_dated_computer_tool(
    api: FakeAnthropicAPI, client: anthropic.Anthropic
) -> None:
    dated = {
        "type": "computer_20251124",
        "name": "computer",
        "display_width_px": 1024,
        "display_height_px": 768,
    }
    with pytest.raises(anthropic.BadRequestError, match="does not support tool types: computer_20251124"):
        create(client, tools=[dated], betas=["computer-use-2025-11-24"])


@pytest.mark.parametrize(
    ("model", "thinking"),
    [
        ("claude-sonnet-5-5", {"type": "enabled", "budget_tokens": 2048}),
        ("claude-opus-5-5", {"type": "disabled"}),
    ],
)
def test_thinking_modes_per_model(
    model: str, thinking: dict[str, Any], api: FakeAnthropicAPI, client: anthropic.Anthropic
) -> None:
    with pytest.raises(anthropic.BadRequestError, match=r"thinking\.type"):
        create(client, model=model, thinking=thinking)


def test_a_retired_model_is_not_found(api: FakeAnthropicAPI, client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError):
        create(client, model="claude-sonnet-4-5")


def test_context_editing_needs_its_beta(api: FakeAnthropicAPI, client: anthropic.Anthropic) -> None:
    edit = {"edits": [{"type": "clear_tool_uses_20250919"}]}
    with pytest.raises(anthropic.BadRequestError, match="context-management-2025-06-27"):
        create(client, tools=[TOOLSET], extra_body={"context_management": edit})


def _two_turns(api: FakeAnthropicAPI, client: anthropic.Anthropic, **extra: Any) -> list[dict[str, Any]]:
    api.enqueue(reply(tool_use("screenshot", {}, toolset=True)), reply(text("done")))
    first = [{"role": "user", "content": [{"type": "text", "text": "look"}]}]
    answer = create(client, tools=[TOOLSET], messages=first, **extra).model_dump(exclude_none=True)["content"]
    assert answer[0]["type"] == "thinking" and answer[0]["signature"]
    result = {"type": "tool_result", "tool_use_id": answer[1]["id"], "toolset_name": "computer",
              "content": [{"type": "text", "text": "ok"}]}  # fmt: skip
    return [*first, {"role": "assistant", "content": answer}, {"role": "user", "content": [result]}]


def test_a_thinking_block_is_bound_to_its_prefix(api: FakeAnthropicAPI, client: anthropic.Anthropic) -> None:
    history = _two_turns(api, client)
    history[0]["content"][0]["text"] = "look (edited)"  # e.g. a screenshot pruned on the client
    with pytest.raises(anthropic.BadRequestError, match=BINDING_ERROR):
        create(client, tools=[TOOLSET], messages=history)


def test_an_unchanged_prefix_keeps_the_block_valid(
    api: FakeAnthropicAPI, client: anthropic.Anthropic
) -> None:
    history = _two_turns(api, client)
    assert create(client, tools=[TOOLSET], messages=history).stop_reason == "end_turn"


def test_drop_block_opts_out_and_reports_the_drop(api: FakeAnthropicAPI, client: anthropic.Anthropic) -> None:
    history = _two_turns(api, client)
    history[0]["content"][0]["text"] = "look (edited)"
    binding = {"type": "adaptive", "block_binding": {"prefix_mismatch_behavior": "drop_block"}}
    message = create(client, tools=[TOOLSET], messages=history, thinking=binding,
                     betas=["thinking-binding-controls-2026-08-01"])  # fmt: skip
    assert [(t.type, t.path) for t in message.input_transformations] == [
        ("thinking_dropped", "messages.1.content.0")
    ]


def test_the_models_api_lists_lifecycle_and_capabilities(
    api: FakeAnthropicAPI, client: anthropic.Anthropic
) -> None:
    models = {m.id: m for m in client.models.list()}
    assert models["claude-sonnet-4-5"].lifecycle == "retired"
    opus = client.models.retrieve("claude-opus-5-5")
    assert opus.capabilities is not None and not opus.capabilities.thinking.types.disabled.supported
