"""The built-in catalog rows: one per model id, plus the dated ids and aliases that copy them.
Every fact cites TOOLS.md §10 (re-checked 2026-11-30); what it does not say is marked ASSUMED and
is replaced by the Models API's own answer when a worker can reach it (core/catalog.py).

Context windows and max_tokens limits are not in TOOLS.md: ASSUMED from the last published model
pages (200K context, 64K output for Claude 4.x; 128K output for Opus 4.6 and later).
"""

from __future__ import annotations

from typing import Any

from core.models import TOOLSET_GROUP, ImageTiers, Lifecycle

# --- shared parts ------------------------------------------------------------------------------------

# §10.2: manual budgets are a 400 on Sonnet 5 and every 5.x; adaptive takes low..max incl. xhigh.
_ADAPTIVE_5: dict[str, Any] = {
    "thinking_types": ("off", "adaptive"),
    "efforts": ("low", "medium", "high", "xhigh", "max"),
    "thinking": {"type": "adaptive"},
    "thinking_display": True,
}
# §10.2: Opus 5.5 and Fable 5.1 think always: "disabled" is a 400.
_ALWAYS_ON = {**_ADAPTIVE_5, "thinking_types": ("adaptive",)}
# §10.2 binding models; §10.4 every toolset model is on the high-res tier.
_TOOLSET = {"tools": TOOLSET_GROUP, "image_tier": ImageTiers.HIRES, "max_tokens": 16384,
            "max_tokens_limit": 128_000, "compaction": True}  # fmt: skip
_BINDS = {"binds_thinking": True}
_ONLY = {"toolset_only": True}  # §10.1: "Claude 5.5 and later" accept only the toolset


def _price(
    inp: float, write: float, read: float, out: float, write_1h: float | None = None
) -> dict[str, float]:
    """Absolute USD/MTok (as TOOLS.md §10.5 lists them) as the row's input-relative multipliers.
    The 1-hour write is 2x input unless a price says otherwise (ASSUMED except for Opus 5.5)."""
    return {
        "input_usd_per_mtok": inp,
        "output_usd_per_mtok": out,
        "cache_write_multiplier": write / inp,
        "cache_read_multiplier": read / inp,
        "cache_write_1h_multiplier": (write_1h / inp) if write_1h else 2.0,
    }


_OPUS_4 = _price(5, 6.25, 0.50, 25)
_SONNET_4 = _price(3, 3.75, 0.30, 15)
_OPUS_OLD = _price(15, 18.75, 1.50, 75)
_FABLE_51 = _price(10, 12.50, 0.25, 50)
_CLAUDE_4_THINKING: dict[str, Any] = {"thinking_types": ("off", "enabled", "adaptive"),
                                      "efforts": ("low", "medium", "high", "max")}  # fmt: skip
_CLAUDE_47_THINKING: dict[str, Any] = {  # ASSUMED: Opus 4.7+ take adaptive only, xhigh included
    "thinking_types": ("off", "adaptive"),
    "efforts": ("low", "medium", "high", "xhigh", "max"),
    "thinking_display": True,
}
_RETIRED = Lifecycle.RETIRED

# --- the rows ----------------------------------------------------------------------------------------

BUILTIN_ROWS: dict[str, dict[str, Any]] = {
    # Claude 5.5: only the toolset (§10.1), binding (§10.2), prices and dates (§10.5).
    "claude-opus-5-5": {"line": "opus", **_TOOLSET, **_ONLY, **_ALWAYS_ON, **_BINDS,
                        **_price(4, 5, 0.20, 20, write_1h=8), "retires_on": "2027-09-22"},
    "claude-sonnet-5-5": {"line": "sonnet", **_TOOLSET, **_ONLY, **_ADAPTIVE_5, **_BINDS,
                          **_price(2, 2.50, 0.10, 10), "retires_on": "2027-09-28"},
    "claude-haiku-5-5": {"line": "haiku", **_TOOLSET, **_ONLY, **_ADAPTIVE_5, **_BINDS, "max_tokens": 8192,
                         **_price(0.10, 0.125, 0.01, 0.50), "retires_on": "2027-10-07",
                         "long_prompt_threshold_tokens": 100_000,
                         "long_prompt_input_usd_per_mtok": 0.50, "long_prompt_output_usd_per_mtok": 2.50},
    # Fable / Mythos 5.x: toolset or computer_20251124; Fable 5.1 thinks always and binds;
    # Mythos 5.1 does not check bindings (§10.2).
    "claude-fable-5-1": {"line": "fable", **_TOOLSET, **_ALWAYS_ON, **_BINDS, **_FABLE_51,
                         "retires_on": "2027-09-01"},
    "claude-mythos-5-1": {"line": "mythos", **_TOOLSET, **_ADAPTIVE_5, **_FABLE_51,
                          "retires_on": "2027-09-01"},
    # 5.2: in the SDK's model list, no doc page (§10.1): the 5.5 rule and 5.1 prices, ASSUMED.
    "claude-fable-5-2": {"line": "fable", **_TOOLSET, **_ONLY, **_ALWAYS_ON, **_BINDS, **_FABLE_51},
    "claude-mythos-5-2": {"line": "mythos", **_TOOLSET, **_ONLY, **_ADAPTIVE_5, **_BINDS, **_FABLE_51},
    "claude-fable-5": {"line": "fable", **_TOOLSET, **_ADAPTIVE_5, **_price(10, 12.50, 1, 50)},
    "claude-mythos-5": {"line": "mythos", **_TOOLSET, **_ADAPTIVE_5, **_price(10, 12.50, 1, 50)},
    "claude-opus-5": {"line": "opus", **_TOOLSET, **_ADAPTIVE_5, **_OPUS_4},
    "claude-sonnet-5": {"line": "sonnet", **_TOOLSET, **_ADAPTIVE_5, **_price(2, 2.50, 0.20, 10)},
    "claude-opus-4-8": {"line": "opus", **_TOOLSET, **_CLAUDE_47_THINKING, **_OPUS_4},
    "claude-opus-4-7": {"line": "opus", "tools": "computer_use_20251124", "image_tier": ImageTiers.HIRES,
                        "max_tokens": 16384, "max_tokens_limit": 128_000, **_CLAUDE_47_THINKING, **_OPUS_4},
    "claude-opus-4-6": {"line": "opus", "tools": "computer_use_20251124", "max_tokens": 16384,
                        "max_tokens_limit": 128_000, **_CLAUDE_4_THINKING, **_OPUS_4},
    "claude-opus-4-5": {"line": "opus", "tools": "computer_use_20251124", "max_tokens": 16384,
                        "thinking_types": ("off", "enabled"), "efforts": ("low", "medium", "high"),
                        **_OPUS_4, "lifecycle": Lifecycle.DEPRECATED, "retires_on": "2027-01-22",
                        "replacement": "claude-opus-5-5"},
    "claude-sonnet-4-6": {"line": "sonnet", "tools": "computer_use_20251124", "max_tokens": 16384,
                          **_CLAUDE_4_THINKING, **_SONNET_4},
    "claude-sonnet-4-5": {"line": "sonnet", "tools": "computer_use_20250124", "max_tokens": 16384,
                          **_SONNET_4, "lifecycle": _RETIRED, "retires_on": "2026-11-30",
                          "replacement": "claude-sonnet-5-5"},
    "claude-haiku-4-5": {"line": "haiku", "tools": "computer_use_20250124", "max_tokens": 4096,
                         **_price(1, 1.25, 0.10, 5)},
    # Retired on the first-party API (§10.5); replacements are the line's newest model (our choice).
    "claude-opus-4-1": {"line": "opus", "tools": "computer_use_20250124", "max_tokens": 16384,
                        **_OPUS_OLD, "lifecycle": _RETIRED, "replacement": "claude-opus-5-5"},
    "claude-opus-4": {"line": "opus", "tools": "computer_use_20250124", "max_tokens": 16384,
                      **_OPUS_OLD, "lifecycle": _RETIRED, "replacement": "claude-opus-5-5"},
    "claude-sonnet-4": {"line": "sonnet", "tools": "computer_use_20250124", "max_tokens": 16384, **_SONNET_4,
                        "lifecycle": _RETIRED, "replacement": "claude-sonnet-5-5"},
    "claude-3-7-sonnet": {"line": "sonnet", "tools": "computer_use_20250124_legacy_editor", **_SONNET_4,
                          "lifecycle": _RETIRED, "replacement": "claude-sonnet-5-5"},
    "claude-3-5-sonnet": {"line": "sonnet", "tools": "computer_use_20241022", "max_tokens": 4096,
                          "thinking_types": ("off",), **_SONNET_4, "lifecycle": _RETIRED,
                          "replacement": "claude-sonnet-5-5"},
}  # fmt: skip

# Dated ids and aliases (the SDK's model list and _data/deprecated_models.py): same row.
ALIASES: dict[str, str] = {
    "claude-sonnet-4-5-20250929": "claude-sonnet-4-5",
    "claude-opus-4-5-20251101": "claude-opus-4-5",
    "claude-haiku-4-5-20251001": "claude-haiku-4-5",
}

# The newest generation of each line: what an unknown id of that line behaves like.
NEWEST: dict[str, str] = {
    "opus": "claude-opus-5-5",
    "sonnet": "claude-sonnet-5-5",
    "haiku": "claude-haiku-5-5",
    "fable": "claude-fable-5-2",
    "mythos": "claude-mythos-5-2",
}
NEWEST_OVERALL = "claude-sonnet-5-5"
