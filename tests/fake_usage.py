"""Usage as the real Messages API reports it, for the fake server (tests/fake_api.py).

* Input tokens: text ≈ characters / 4; an image ≈ width x height / 750, or one token per 28-px
  tile on the high-resolution tier (TOOLS.md §8, §10.4); Anthropic-defined tools add their
  documented server-side overhead (TOOLS.md §8, per model for the toolset) when ``tool_overhead``
  is on. The minimum cacheable prefix is per model where §10.5 gives one.
* Prompt caching by prefix: the request is a sequence of units (each tool, each system block,
  each message content block). A ``cache_control`` marker on a unit is a breakpoint. The longest
  prefix, ending at a breakpoint or up to 20 units before one, that an earlier request wrote is
  read; every breakpoint after it whose prefix reaches the minimum cacheable length is written.
  Markers themselves are not part of the cached content.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import threading
from dataclasses import dataclass
from typing import Any

from PIL import Image

LOOKBACK_UNITS = 20
# Published overheads: tool definition plus the tool-use system prompt the API injects.
TOOL_OVERHEAD = {
    "computer_20241022": 683 + 499,
    "computer_20250124": 735 + 499,
    "computer_20251124": 735 + 499,
    "computer_toolset_20260801": 4520,
    "bash_20241022": 245,
    "bash_20250124": 245,
    "text_editor_20241022": 700,
    "text_editor_20250124": 700,
    "text_editor_20250429": 700,
    "text_editor_20250728": 700,
}


@dataclass(frozen=True)
class Billing:
    input_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int

    def as_usage(self, output_tokens: int) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.cache_creation_input_tokens,
                "ephemeral_1h_input_tokens": 0,
            },
            "output_tokens": output_tokens,
        }


def text_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


_IMAGE_SIZES: dict[int, tuple[int, int]] = {}


def image_size(block: dict[str, Any]) -> tuple[int, int]:
    data = str((block.get("source") or {}).get("data", ""))
    key = hash(data)
    if key not in _IMAGE_SIZES:
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            _IMAGE_SIZES[key] = image.size
    return _IMAGE_SIZES[key]


def image_tokens(block: dict[str, Any], hires: bool = False) -> int:
    width, height = image_size(block)
    if hires:  # §10.4: ceil(w/28) * ceil(h/28), at most 4,784
        return min(4784, math.ceil(width / 28) * math.ceil(height / 28))
    return math.ceil(width * height / 750)


def block_tokens(block: dict[str, Any], hires: bool = False) -> int:
    kind = block.get("type")
    if kind == "text":
        return text_tokens(str(block.get("text", "")))
    if kind == "image":
        return image_tokens(block, hires)
    if kind == "tool_use":
        return 4 + text_tokens(str(block.get("name", "")) + json.dumps(block.get("input")))
    if kind == "tool_result":
        inner = block.get("content")
        if isinstance(inner, str):
            return 4 + text_tokens(inner)
        return 4 + sum(block_tokens(b, hires) for b in inner or [])
    if kind == "thinking":
        return text_tokens(str(block.get("thinking", "")))
    if kind == "redacted_thinking":
        return text_tokens(str(block.get("data", "")))
    return text_tokens(json.dumps(block))


@dataclass(frozen=True)
class Pricing:
    """The per-model parts of usage: image tier, toolset overhead, minimum cacheable prefix."""

    hires: bool = False
    toolset_overhead: int = TOOL_OVERHEAD["computer_toolset_20260801"]
    min_cacheable: int | None = None


def tool_tokens(tool: dict[str, Any], overhead: bool, pricing: Pricing = Pricing()) -> int:
    kind = str(tool.get("type"))
    extra = TOOL_OVERHEAD.get(kind, 0) if overhead else 0
    if overhead and kind == "computer_toolset_20260801":
        extra = pricing.toolset_overhead
    return extra + text_tokens(json.dumps(strip_markers(tool)))


def strip_markers(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: strip_markers(v) for k, v in node.items() if k != "cache_control"}
    if isinstance(node, list):
        return [strip_markers(item) for item in node]
    return node


def has_marker(node: Any) -> bool:
    if isinstance(node, dict):
        return "cache_control" in node or any(has_marker(v) for v in node.values())
    if isinstance(node, list):
        return any(has_marker(item) for item in node)
    return False


@dataclass(frozen=True)
class Unit:
    digest: str  # hash of the whole prefix up to and including this unit
    cumulative: int  # tokens of the whole prefix up to and including this unit
    breakpoint: bool


def units(body: dict[str, Any], overhead: bool, pricing: Pricing = Pricing()) -> list[Unit]:
    parts: list[tuple[Any, int, bool]] = []
    for tool in body.get("tools") or []:
        parts.append((strip_markers(tool), tool_tokens(tool, overhead, pricing), has_marker(tool)))
    system = body.get("system") or []
    if isinstance(system, str):
        system = [{"type": "text", "text": system}]
    for block in system:
        parts.append((strip_markers(block), block_tokens(block), has_marker(block)))
    for message in body.get("messages") or []:
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        for block in blocks:
            keyed = {"role": message.get("role"), "block": strip_markers(block)}
            parts.append((keyed, block_tokens(block, pricing.hires), has_marker(block)))
    running = hashlib.sha256(str(body.get("model")).encode())
    total, out = 0, []
    for content, tokens, marked in parts:
        running.update(json.dumps(content, sort_keys=True).encode())
        total += tokens
        out.append(Unit(running.copy().hexdigest(), total, marked))
    return out


class PromptCache:
    """Every prefix written so far (no expiry: a test or benchmark runs well inside 5 minutes)."""

    def __init__(self, min_cacheable_tokens: int = 1024, tool_overhead: bool = True) -> None:
        self.min_cacheable_tokens = min_cacheable_tokens
        self.tool_overhead = tool_overhead
        self.written: set[str] = set()
        self.lock = threading.Lock()

    def total(self, body: dict[str, Any], pricing: Pricing = Pricing()) -> int:
        seq = units(body, self.tool_overhead, pricing)
        return seq[-1].cumulative if seq else 0

    def bill(self, body: dict[str, Any], pricing: Pricing = Pricing()) -> Billing:
        seq = units(body, self.tool_overhead, pricing)
        total = seq[-1].cumulative if seq else 0
        minimum = self.min_cacheable_tokens if pricing.min_cacheable is None else pricing.min_cacheable
        with self.lock:
            read_at = self._read_position(seq)
            write_at = self._write(seq, minimum)
        read = seq[read_at].cumulative if read_at >= 0 else 0
        written = seq[write_at].cumulative - read if write_at > read_at else 0
        return Billing(total - read - written, read, written)

    def _read_position(self, seq: list[Unit]) -> int:
        best = -1
        for index, unit in enumerate(seq):
            if not unit.breakpoint:
                continue
            for back in range(index, max(-1, index - LOOKBACK_UNITS - 1), -1):
                if seq[back].digest in self.written:
                    best = max(best, back)
                    break
        return best

    def _write(self, seq: list[Unit], minimum: int) -> int:
        last = -1
        for index, unit in enumerate(seq):
            if unit.breakpoint and unit.cumulative >= minimum:
                self.written.add(unit.digest)
                last = index
        return last


def output_tokens(content: list[dict[str, Any]]) -> int:
    return max(1, sum(block_tokens(block) for block in content))
