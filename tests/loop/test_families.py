"""One 30-step run per current model family through the real SDK against the fake Messages API,
which enforces the late-2026 rules (tests/fake_rules.py): the right tools, thinking blocks that
stay valid (binding models get an append-only history), and a recorded cost equal to the model's
price of the usage, from the price list of TOOLS.md §10.5 written out here (not from the catalog).
Tools run in the in-process FakeSandbox."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.fake_api import FakeAnthropicAPI, Recorded, Reply, reply, text, tool_use
from tests.fake_rules import all_blocks
from tests.fake_usage import strip_markers
from tests.loop.conftest import Runner

STEPS = 30
# TOOLS.md §10.5, USD per MTok: input, 5-minute cache write, cache read, output.
PRICES = {
    "claude-opus-5-5": (4, 5, 0.20, 20),
    "claude-sonnet-5-5": (2, 2.50, 0.10, 10),
    "claude-haiku-5-5": (0.10, 0.125, 0.01, 0.50),
    "claude-fable-5-1": (10, 12.50, 0.25, 50),
    "claude-sonnet-4-6": (3, 3.75, 0.30, 15),
}
HAIKU_LONG = (0.50, 0.625, 0.05, 2.50)  # Haiku 5.5 above 100K prompt tokens
BINDING = {"claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5", "claude-fable-5-1"}


def clicker(toolset: bool) -> Any:
    """Steps 1..29 click (toolset members or the dated computer tool); step 30 answers."""

    def respond(request: Recorded) -> Reply:
        step = 1 + sum(1 for m in request.messages if m["role"] == "assistant")
        if step >= STEPS:
            return reply(text("The form is submitted. Done."))
        if toolset:
            click = tool_use("left_click", {"coordinate": [10 + step, 20]}, toolset=True)
            return reply(text(f"Step {step}."), click, tool_use("screenshot", {}, toolset=True))
        return reply(
            text(f"Step {step}."), tool_use("computer", {"action": "left_click", "coordinate": [10, step]})
        )

    return respond


def price(model: str, usage: dict[str, Any]) -> float:
    prompt = usage["input_tokens"] + usage["cache_read_input_tokens"] + usage["cache_creation_input_tokens"]
    card = HAIKU_LONG if model == "claude-haiku-5-5" and prompt > 100_000 else PRICES[model]
    inp, write, read, out = card
    billed = (usage["input_tokens"] * inp + usage["cache_creation_input_tokens"] * write
              + usage["cache_read_input_tokens"] * read + usage["output_tokens"] * out)  # fmt: skip
    return billed / 1e6


@pytest.mark.parametrize("model", sorted(PRICES))
def test_a_30_step_run_succeeds_and_costs_its_price(model: str, api: FakeAnthropicAPI, run: Runner) -> None:
    api.responder = clicker(toolset=model != "claude-sonnet-4-6")
    result = run(model=model, budgets={"max_steps": 40})
    assert (result.state, result.steps) == ("succeeded", STEPS), result.error
    assert [r.rejected for r in api.requests] == [None] * STEPS
    expected = sum(price(model, r.response["usage"]) for r in api.requests if r.response)
    assert result.cost_usd == pytest.approx(expected, rel=0.01)
    assert result.cost_usd > 0


@pytest.mark.parametrize("model", sorted(BINDING))
def test_binding_models_get_an_append_only_history_and_server_side_clearing(
    model: str, api: FakeAnthropicAPI, run: Runner
) -> None:
    api.responder = clicker(toolset=True)
    assert run(model=model).state == "succeeded"
    sent = [strip_markers(r.body["messages"]) for r in api.requests]
    for earlier, later in itertools.pairwise(sent):
        assert later[: len(earlier)] == earlier  # no earlier turn was edited
    last = api.requests[-1]
    assert sum(1 for b in all_blocks(last.body["messages"]) if b.get("type") == "image") == STEPS - 1
    thinking = [b for m in last.body["messages"] if m["role"] == "assistant" for b in m["content"]
                if b["type"] == "thinking"]  # fmt: skip
    assert len(thinking) == STEPS - 1  # every signed block went back, and the fake accepted it
    edits = last.body["context_management"]["edits"]
    assert edits[0]["type"] == "clear_tool_uses_20250919"
    assert "context-management-2025-06-27" in last.betas


def test_older_models_keep_client_side_pruning(api: FakeAnthropicAPI, run: Runner) -> None:
    api.responder = clicker(toolset=False)
    assert run(model="claude-sonnet-4-6").state == "succeeded"
    last = api.requests[-1]
    assert sum(1 for b in all_blocks(last.body["messages"]) if b.get("type") == "image") == 1
    assert "context_management" not in last.body and last.betas == ["computer-use-2025-11-24"]

