"""Budgets are checked before every request, so none is overshot by more than one response, and a
run that hits one ends budget_exhausted naming it. Cancellation is checked at the same moment.
Replies carry explicit usage so the arithmetic is exact; tools run in the in-process FakeSandbox."""

from __future__ import annotations

from typing import Any

import pytest

from core.catalog import resolve_model
from tests.fake_api import FakeAnthropicAPI, Recorded, Reply, reply, text, tool_use
from tests.loop.conftest import MODEL, FakeClock, FakeSandbox, RecordingHooks, Runner
from workers.toolio import ToolOutput

STEP_USAGE = {
    "input_tokens": 600,
    "cache_read_input_tokens": 300,
    "cache_creation_input_tokens": 200,
    "output_tokens": 50,
}


def forever(request: Recorded) -> Reply:
    """A model that never stops clicking."""
    return reply(tool_use("computer", {"action": "left_click", "coordinate": [5, 5]}), usage=STEP_USAGE)


@pytest.fixture(autouse=True)
def endless(api: FakeAnthropicAPI) -> None:
    api.responder = forever


def test_max_steps(api: FakeAnthropicAPI, run: Runner) -> None:
    result = run(budgets={"max_steps": 3})
    assert (result.state, result.stop_reason) == ("budget_exhausted", "budget: max_steps")
    assert result.steps == 3 and len(api.requests) == 3


def test_max_input_tokens_counts_cache_reads_and_writes(api: FakeAnthropicAPI, run: Runner) -> None:
    result = run(budgets={"max_input_tokens": 2000})  # 1100 per step counted; 600 without the cache
    assert (result.state, result.stop_reason) == ("budget_exhausted", "budget: max_input_tokens")
    assert len(api.requests) == 2
    assert result.usage == {
        "input_tokens": 1200,
        "output_tokens": 100,
        "cache_read_tokens": 600,
        "cache_write_tokens": 400,
        "cache_write_1h_tokens": 0,
    }


def test_max_output_tokens(api: FakeAnthropicAPI, run: Runner) -> None:
    result = run(budgets={"max_output_tokens": 120})
    assert (result.state, result.stop_reason) == ("budget_exhausted", "budget: max_output_tokens")
    assert len(api.requests) == 3  # 50, 100 (< 120), 150 (>= 120): overshoot by one response only


def test_max_cost_usd_uses_prices_and_cache_multipliers(api: FakeAnthropicAPI, run: Runner) -> None:
    config = resolve_model(MODEL)
    per_step = (
        600 + 200 * 1.25 + 300 * 0.1
    ) * config.input_usd_per_mtok / 1e6 + 50 * config.output_usd_per_mtok / 1e6
    result = run(budgets={"max_cost_usd": per_step * 2.5})
    assert (result.state, result.stop_reason) == ("budget_exhausted", "budget: max_cost_usd")
    assert len(api.requests) == 3
    assert result.cost_usd == pytest.approx(per_step * 3, rel=1e-4)


class SlowSandbox(FakeSandbox):
    """Every tool call takes 25 seconds of (fake) time."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    def call(self, tool: dict[str, Any], tool_input: Any, *, screenshot: bool | None = None) -> ToolOutput:
        self.clock.now += 25
        return super().call(tool, tool_input, screenshot=screenshot)


def test_max_wall_s(api: FakeAnthropicAPI, run: Runner, clock: FakeClock) -> None:
    result = run(budgets={"max_wall_s": 60}, sandbox=SlowSandbox(clock))
    assert (result.state, result.stop_reason) == ("budget_exhausted", "budget: max_wall_s")
    assert len(api.requests) == 3  # at 0 s, 25 s, 50 s; at 75 s the budget is spent


def test_a_budget_stop_keeps_usage_and_steps(api: FakeAnthropicAPI, run: Runner) -> None:
    result = run(budgets={"max_steps": 2})
    assert result.steps == 2 and result.usage["output_tokens"] == 100 and result.cost_usd > 0


def test_cancellation_is_checked_before_every_request(api: FakeAnthropicAPI, run: Runner) -> None:
    hooks = RecordingHooks(cancel_at_request=3)
    result = run(hooks=hooks)
    assert (result.state, result.stop_reason) == ("cancelled", "cancelled by test")
    assert len(api.requests) == 2 and result.steps == 2


def test_cancellation_before_the_first_request_sends_nothing(api: FakeAnthropicAPI, run: Runner) -> None:
    result = run(hooks=RecordingHooks(cancel_at_request=1))
    assert result.state == "cancelled" and api.requests == [] and result.steps == 0


def test_end_turn_within_budgets_is_a_success(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(reply(text("done"), usage=STEP_USAGE))
    assert run(budgets={"max_steps": 1}).state == "succeeded"
