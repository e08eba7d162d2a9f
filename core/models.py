"""What a model row says: the tool group it gets, the thinking it accepts, how it treats context,
what it costs and where it is in its lifecycle. The rows live in core/model_rows.py, the lookup
(family rules, settings overrides, the Models API overlay) in core/catalog.py.

The tool group names the computer/bash/editor versions sent together and the beta header the
computer tool needs (TOOLS.md §1, §10.1). Prices are USD per million tokens; cache writes and
reads are multipliers of the input price (TOOLS.md §10.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

TOOLSET_TYPE = "computer_toolset_20260801"

ThinkingType = Literal["off", "enabled", "adaptive"]
Effort = Literal["low", "medium", "high", "xhigh", "max"]
EFFORTS: tuple[Effort, ...] = ("low", "medium", "high", "xhigh", "max")
ImageTier = Literal["standard", "hires"]


class Lifecycle(StrEnum):
    ACTIVE = "active"
    DEPRECATED = "deprecated"
    RETIRED = "retired"


class ImageTiers(StrEnum):
    """Standard: long edge 1568 px, ~1.15 MP, tokens ~ w*h/750. High-res (Opus 4.7 and later,
    every toolset model): long edge 2576 px and at most 4,784 tiles of 28 px (TOOLS.md §10.4)."""

    STANDARD = "standard"
    HIRES = "hires"


@dataclass(frozen=True)
class ToolGroup:
    name: str
    computer: str  # computer tool type, or TOOLSET_TYPE
    bash: str
    editor: str
    beta: str | None  # None: no beta header (toolset, or none needed)

    @property
    def editor_name(self) -> str:
        legacy = self.editor in ("text_editor_20241022", "text_editor_20250124")
        return "str_replace_editor" if legacy else "str_replace_based_edit_tool"

    @property
    def is_toolset(self) -> bool:
        return self.computer == TOOLSET_TYPE


def _group(name: str, computer: str, bash: str, editor: str, beta: str | None) -> ToolGroup:
    return ToolGroup(name, computer, bash, editor, beta)


TOOLSET_GROUP = "computer_use_20260801"
TOOL_GROUPS: dict[str, ToolGroup] = {
    g.name: g
    for g in (
        _group("computer_use_20241022", "computer_20241022", "bash_20241022", "text_editor_20241022",
               "computer-use-2024-10-22"),
        _group("computer_use_20250124_legacy_editor", "computer_20250124", "bash_20250124",
               "text_editor_20250124", "computer-use-2025-01-24"),
        _group("computer_use_20250429", "computer_20250124", "bash_20250124", "text_editor_20250429",
               "computer-use-2025-01-24"),
        _group("computer_use_20250124", "computer_20250124", "bash_20250124", "text_editor_20250728",
               "computer-use-2025-01-24"),
        _group("computer_use_20251124", "computer_20251124", "bash_20250124", "text_editor_20250728",
               "computer-use-2025-11-24"),
        _group(TOOLSET_GROUP, TOOLSET_TYPE, "bash_20250124", "text_editor_20250728", None),
    )
}  # fmt: skip


@dataclass(frozen=True)
class ModelConfig:
    """One catalog row. ``thinking`` is the default when the task sets none. The defaults are the
    script agent's (no model): 2025 tools, no thinking; every Claude row sets its own."""

    id: str = ""
    alias_of: str | None = None  # a dated id or alias: the row it copies
    line: str = ""  # opus / sonnet / haiku / fable / mythos
    tools: str = "computer_use_20250124"
    thinking_types: tuple[ThinkingType, ...] = ("off", "enabled")
    efforts: tuple[Effort, ...] = ()
    thinking: dict[str, Any] = field(default_factory=lambda: {"type": "off"})
    thinking_display: bool = False  # accepts thinking.display (summarized / omitted)
    max_tokens: int = 8192  # what a request sends when the task sets none
    max_tokens_limit: int = 64_000
    context_window: int = 200_000
    image_tier: str = ImageTiers.STANDARD
    binds_thinking: bool = False  # a re-sent thinking block whose prefix changed is a 400
    toolset_only: bool = False  # Claude 5.5 and later: a dated computer tool is a 400
    context_editing: bool = True  # clear_tool_uses_20250919 under its beta
    compaction: bool = False  # compact_20260112 under its beta
    input_usd_per_mtok: float = 3.0
    output_usd_per_mtok: float = 15.0
    cache_write_multiplier: float = 1.25  # 5-minute cache write
    cache_write_1h_multiplier: float = 2.0
    cache_read_multiplier: float = 0.1
    # Above this many prompt tokens (input + cache reads + writes) every token of that request is
    # billed at the long-prompt card.
    long_prompt_threshold_tokens: int | None = None
    long_prompt_input_usd_per_mtok: float | None = None
    long_prompt_output_usd_per_mtok: float | None = None
    lifecycle: str = Lifecycle.ACTIVE
    deprecated_on: str | None = None  # ISO date
    retires_on: str | None = None  # ISO date: retirement (scheduled, or done when retired)
    replacement: str | None = None
    source: str = "built-in"  # built-in / models-api / settings / family rule

    @property
    def thinks_always(self) -> bool:
        return "off" not in self.thinking_types

    @property
    def group(self) -> ToolGroup:
        return TOOL_GROUPS[self.tools]

    def lifecycle_note(self) -> str:
        if self.lifecycle == Lifecycle.RETIRED:
            return (
                f"retired {self.retires_on or ''}".strip() + f"; use {self.replacement or 'a current model'}"
            )
        if self.lifecycle == Lifecycle.DEPRECATED:
            until = f", retires {self.retires_on}" if self.retires_on else ""
            return f"deprecated{until}" + (f"; use {self.replacement}" if self.replacement else "")
        return "active" + (f" (not before {self.retires_on})" if self.retires_on else "")
