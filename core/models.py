"""Which tools each model gets, and what it costs. Built-in tables, extendable from settings.

The tool group names the computer/bash/editor versions sent together and the beta header the
computer tool needs (TOOLS.md §1). Prices are USD per million tokens; cache writes (5-minute) and
cache reads are multipliers of the input price. Verify prices against your contract before
relying on ``max_cost_usd``; override them with NIGHTSHIFT_MODEL_PRICES.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TOOLSET_TYPE = "computer_toolset_20260801"


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


TOOL_GROUPS: dict[str, ToolGroup] = {
    g.name: g
    for g in (
        ToolGroup(
            "computer_use_20241022",
            "computer_20241022",
            "bash_20241022",
            "text_editor_20241022",
            "computer-use-2024-10-22",
        ),
        ToolGroup(
            "computer_use_20250124_legacy_editor",
            "computer_20250124",
            "bash_20250124",
            "text_editor_20250124",
            "computer-use-2025-01-24",
        ),
        ToolGroup(
            "computer_use_20250429",
            "computer_20250124",
            "bash_20250124",
            "text_editor_20250429",
            "computer-use-2025-01-24",
        ),
        ToolGroup(
            "computer_use_20250124",
            "computer_20250124",
            "bash_20250124",
            "text_editor_20250728",
            "computer-use-2025-01-24",
        ),
        ToolGroup(
            "computer_use_20251124",
            "computer_20251124",
            "bash_20250124",
            "text_editor_20250728",
            "computer-use-2025-11-24",
        ),
        ToolGroup("computer_use_20260801", TOOLSET_TYPE, "bash_20250124", "text_editor_20250728", None),
    )
}


@dataclass(frozen=True)
class ModelConfig:
    """How to talk to one model family. ``thinking`` is the default when the task sets none."""

    tools: str = "computer_use_20250124"
    max_tokens: int = 8192
    thinking: dict[str, Any] = field(default_factory=lambda: {"type": "off"})
    input_usd_per_mtok: float = 3.0
    output_usd_per_mtok: float = 15.0
    cache_write_multiplier: float = 1.25
    cache_read_multiplier: float = 0.1
    # Image-token tier: "legacy" (w*h/750) or "hires" (28-px tiles, Opus 4.7+).
    image_tier: str = "legacy"


_SONNET = {"input_usd_per_mtok": 3.0, "output_usd_per_mtok": 15.0}
_OPUS_OLD = {"input_usd_per_mtok": 15.0, "output_usd_per_mtok": 75.0}
_OPUS_NEW = {"input_usd_per_mtok": 5.0, "output_usd_per_mtok": 25.0}
_HAIKU = {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 5.0}

# Model id prefixes (a dated id such as claude-sonnet-4-5-20250929 matches claude-sonnet-4-5).
BUILTIN_MODELS: dict[str, dict[str, Any]] = {
    "claude-3-5-sonnet": {"tools": "computer_use_20241022", "max_tokens": 4096, **_SONNET},
    "claude-3-7-sonnet": {"tools": "computer_use_20250124_legacy_editor", **_SONNET},
    "claude-sonnet-4-5": {"tools": "computer_use_20250124", "max_tokens": 16384, **_SONNET},
    "claude-sonnet-4-6": {"tools": "computer_use_20251124", "max_tokens": 16384, **_SONNET},
    "claude-sonnet-4": {"tools": "computer_use_20250124", "max_tokens": 16384, **_SONNET},
    "claude-sonnet-5": {"tools": "computer_use_20260801", "max_tokens": 16384, **_SONNET},
    "claude-haiku-4-5": {"tools": "computer_use_20250124", "max_tokens": 4096, **_HAIKU},
    "claude-opus-4-1": {"tools": "computer_use_20250124", "max_tokens": 16384, **_OPUS_OLD},
    "claude-opus-4-5": {"tools": "computer_use_20251124", "max_tokens": 16384, **_OPUS_NEW},
    "claude-opus-4-6": {"tools": "computer_use_20251124", "max_tokens": 16384, **_OPUS_NEW},
    "claude-opus-4-7": {
        "tools": "computer_use_20251124",
        "max_tokens": 16384,
        "image_tier": "hires",
        **_OPUS_NEW,
    },
    "claude-opus-4-8": {
        "tools": "computer_use_20260801",
        "max_tokens": 16384,
        "image_tier": "hires",
        **_OPUS_NEW,
    },
    "claude-opus-4": {"tools": "computer_use_20250124", "max_tokens": 16384, **_OPUS_OLD},
    "claude-opus-5": {
        "tools": "computer_use_20260801",
        "max_tokens": 16384,
        "image_tier": "hires",
        **_OPUS_NEW,
    },
}


def _merged(extra: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    table = {name: dict(values) for name, values in BUILTIN_MODELS.items()}
    for name, values in (extra or {}).items():
        table[name] = {**table.get(name, {}), **values}
    return table


def find_model(model: str, extra: dict[str, dict[str, Any]] | None = None) -> ModelConfig | None:
    """The config whose name is the longest prefix of ``model``; None when nothing matches."""
    table = _merged(extra)
    matches = [name for name in table if model == name or model.startswith(name + "-")]
    if not matches:
        return None
    return ModelConfig(**table[max(matches, key=len)])


def resolve_model(model: str, extra: dict[str, dict[str, Any]] | None = None) -> ModelConfig:
    """Like ``find_model`` but falls back to a sane default (current-generation tools, Sonnet
    prices) so the loop can still run a model nobody has configured yet."""
    return find_model(model, extra) or ModelConfig()


def known_models(extra: dict[str, dict[str, Any]] | None = None) -> list[str]:
    return sorted(_merged(extra))
