"""``nightshift models``: the catalog as a table (or JSON), one row per model id."""

from __future__ import annotations

import dataclasses
import json

from core.models import ModelConfig

COLUMNS = (
    "model",
    "tools",
    "thinking",
    "effort",
    "binds",
    "image",
    "$ in/w5m/w1h/read/out per MTok",
    "lifecycle",
)


def table(rows: list[ModelConfig]) -> str:
    cells = [COLUMNS, *[_cells(row) for row in rows]]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells
    )


def as_json(rows: list[ModelConfig]) -> str:
    return json.dumps([dataclasses.asdict(row) for row in rows], indent=2)


def _cells(row: ModelConfig) -> tuple[str, ...]:
    return (
        row.id + (f" (= {row.alias_of})" if row.alias_of else ""),
        row.group.computer + (" only" if row.toolset_only else ""),
        "/".join(row.thinking_types) + (" (always)" if row.thinks_always else ""),
        ",".join(row.efforts) or "-",
        "yes" if row.binds_thinking else "no",
        str(row.image_tier),
        prices(row),
        row.lifecycle_note() + ("" if row.source == "built-in" else f" [{row.source}]"),
    )


def prices(row: ModelConfig) -> str:
    base = row.input_usd_per_mtok
    parts = (base, base * row.cache_write_multiplier, base * row.cache_write_1h_multiplier,
             base * row.cache_read_multiplier, row.output_usd_per_mtok)  # fmt: skip
    text = "/".join(_usd(p) for p in parts)
    if row.long_prompt_threshold_tokens and row.long_prompt_input_usd_per_mtok:
        text += (
            f"; >{row.long_prompt_threshold_tokens // 1000}K: x{row.long_prompt_input_usd_per_mtok / base:g}"
        )
    return text


def _usd(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")
