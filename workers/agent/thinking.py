"""Thinking per request: off, enabled with ``budget_tokens``, or adaptive with an effort, as
core/thinking.py plans it for the model (the task's ``thinking`` wins over the row's default).
On models that bind thinking blocks the documented opt-out (``drop_block``) rides along when the
settings ask for it (TOOLS.md §10.2)."""

from __future__ import annotations

from typing import Any

from core.models import ModelConfig
from core.spec import TaskSpec, Thinking
from core.thinking import plan_thinking

DEFAULT_BUDGET_TOKENS = 4096
MIN_ANSWER_TOKENS = 4096  # room left for the answer when max_tokens must grow past the budget
BINDING_BETA = "thinking-binding-controls-2026-08-01"


def effective_thinking(spec: TaskSpec, config: ModelConfig) -> Thinking:
    """What is sent; raises core.thinking.ThinkingRefused (a ValueError) when the model cannot."""
    return plan_thinking(spec.thinking, config).thinking


def thinking_body(
    thinking: Thinking, max_tokens: int, *, drop_block: bool = False
) -> tuple[dict[str, Any], int]:
    """The ``extra_body`` fields for ``thinking`` and the max_tokens to send (the API needs
    max_tokens > budget_tokens, so it grows if needed)."""
    if thinking.type == "enabled":
        budget = thinking.budget_tokens or DEFAULT_BUDGET_TOKENS
        enabled = _config({"type": "enabled", "budget_tokens": budget}, thinking, drop_block)
        return {"thinking": enabled}, max(max_tokens, budget + MIN_ANSWER_TOKENS)
    if thinking.type == "adaptive":
        adaptive: dict[str, Any] = {"thinking": _config({"type": "adaptive"}, thinking, drop_block)}
        if thinking.effort:
            adaptive["output_config"] = {"effort": thinking.effort}
        return adaptive, max_tokens
    return {}, max_tokens


def _config(base: dict[str, Any], thinking: Thinking, drop_block: bool) -> dict[str, Any]:
    if thinking.display:
        base["display"] = thinking.display
    if drop_block:
        base["block_binding"] = {"prefix_mismatch_behavior": "drop_block"}
    return base
