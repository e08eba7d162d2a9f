"""How a run keeps its context in bounds, per model (TOOLS.md §10.2, §10.3).

* Models that bind thinking blocks: the history is append-only (removing an earlier screenshot
  invalidates every later thinking block), every screenshot stays, the cache breakpoints ride on
  the newest turns, and the server clears old tool results (``clear_tool_uses_20250919``) and, when
  ``max_steps`` could outgrow the trigger, compacts (``compact_20260112``). On a model with a
  long-prompt price tier the clearing trigger stays below that tier.
* Every other model: today's byte-stable prefix with client-side pruning (workers/agent/caching.py),
  which bench/cost.py showed cheapest there.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from anthropic.types.beta import BetaClearToolUses20250919EditParam, BetaCompact20260112EditParam

from core.models import ModelConfig
from core.settings import Settings
from core.spec import TaskSpec
from workers.agent.caching import API_MAX_IMAGES, CachePolicy
from workers.agent.thinking import BINDING_BETA

CONTEXT_BETA = "context-management-2025-06-27"
COMPACT_BETA = "compact-2026-01-12"
STEP_TOKENS_ESTIMATE = 2_000  # a screenshot (~1,000-1,800 tokens, TOOLS.md §8) plus the turn's text
LONG_PROMPT_MARGIN = 0.9  # clear at 90% of a long-prompt threshold


@dataclass(frozen=True)
class ContextOptions:
    clear_trigger_tokens: int = 120_000
    keep_tool_uses: int = 3
    clear_at_least_tokens: int = 0
    compact_trigger_tokens: int | None = 150_000
    drop_block: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> ContextOptions:
        return cls(
            clear_trigger_tokens=settings.context_clear_trigger_tokens,
            keep_tool_uses=settings.context_clear_keep_tool_uses,
            clear_at_least_tokens=settings.context_clear_at_least_tokens,
            compact_trigger_tokens=settings.context_compact_trigger_tokens,
            drop_block=settings.thinking_drop_mismatched_blocks,
        )


@dataclass(frozen=True)
class ContextPlan:
    cache: CachePolicy
    append_only: bool = False
    betas: tuple[str, ...] = ()
    body: dict[str, Any] = field(default_factory=dict)  # extra_body fields (context_management)
    drop_block: bool = False


def context_plan(
    config: ModelConfig, spec: TaskSpec, cache: CachePolicy, options: ContextOptions
) -> ContextPlan:
    if not config.binds_thinking:
        return ContextPlan(cache)
    kept = replace(cache, keep_images=None, prune_interval=0, max_images=API_MAX_IMAGES,
                   breakpoints_after_images=True)  # fmt: skip
    edits = _edits(config, spec, options)
    betas = [CONTEXT_BETA] if edits else []
    betas += [COMPACT_BETA] if any(e["type"] == "compact_20260112" for e in edits) else []
    betas += [BINDING_BETA] if options.drop_block else []
    body = {"context_management": {"edits": edits}} if edits else {}
    return ContextPlan(kept, True, tuple(betas), body, options.drop_block)


def _edits(config: ModelConfig, spec: TaskSpec, options: ContextOptions) -> list[dict[str, Any]]:
    edits: list[dict[str, Any]] = []
    if config.context_editing:
        edits.append(dict(clear_edit(config, options)))
    if config.compaction and _may_outgrow(spec, options):
        edits.append(dict(compact_edit(options)))
    return edits


def clear_edit(config: ModelConfig, options: ContextOptions) -> BetaClearToolUses20250919EditParam:
    trigger = options.clear_trigger_tokens
    if config.long_prompt_threshold_tokens:
        trigger = min(trigger, int(config.long_prompt_threshold_tokens * LONG_PROMPT_MARGIN))
    edit: BetaClearToolUses20250919EditParam = {
        "type": "clear_tool_uses_20250919",
        "trigger": {"type": "input_tokens", "value": trigger},
        "keep": {"type": "tool_uses", "value": options.keep_tool_uses},
    }
    if options.clear_at_least_tokens:
        edit["clear_at_least"] = {"type": "input_tokens", "value": options.clear_at_least_tokens}
    return edit


def compact_edit(options: ContextOptions) -> BetaCompact20260112EditParam:
    trigger = options.compact_trigger_tokens or 0
    return {"type": "compact_20260112", "trigger": {"type": "input_tokens", "value": trigger}}


def _may_outgrow(spec: TaskSpec, options: ContextOptions) -> bool:
    trigger = options.compact_trigger_tokens
    return trigger is not None and spec.budgets.max_steps * STEP_TOKENS_ESTIMATE >= trigger
