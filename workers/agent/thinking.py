"""Extended thinking per request: off, enabled with ``budget_tokens``, or adaptive with an effort.
The task's ``thinking`` wins over the model config's default."""

from __future__ import annotations

from typing import Any

from core.models import ModelConfig
from core.spec import TaskSpec, Thinking

DEFAULT_BUDGET_TOKENS = 4096
MIN_ANSWER_TOKENS = 4096  # room left for the answer when max_tokens must grow past the budget


def effective_thinking(spec: TaskSpec, config: ModelConfig) -> Thinking:
    return spec.thinking or Thinking.model_validate(config.thinking or {"type": "off"})


def thinking_body(thinking: Thinking, max_tokens: int) -> tuple[dict[str, Any], int]:
    """The ``extra_body`` fields for ``thinking`` and the max_tokens to send (the API needs
    max_tokens > budget_tokens, so it grows if needed)."""
    if thinking.type == "enabled":
        budget = thinking.budget_tokens or DEFAULT_BUDGET_TOKENS
        body = {"thinking": {"type": "enabled", "budget_tokens": budget}}
        return body, max(max_tokens, budget + MIN_ANSWER_TOKENS)
    if thinking.type == "adaptive":
        adaptive: dict[str, Any] = {"thinking": {"type": "adaptive"}}
        if thinking.effort:
            adaptive["output_config"] = {"effort": thinking.effort}
        return adaptive, max_tokens
    return {}, max_tokens
