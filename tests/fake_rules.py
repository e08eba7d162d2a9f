"""Per-model rules of the fake Messages API (tests/fake_api.py), each citing TOOLS.md §10:
tool versions, thinking modes, thinking-block binding, context editing betas and edits, image
tiers. Requests for a model the fake does not know (tests/fake_models.py) skip these rules."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from tests.fake_models import TOOLSET, FakeModel
from tests.fake_usage import image_size, strip_markers

BINDING_ERROR = "Invalid signature in thinking block. The block is bound to a different conversation"
CONTEXT_BETA = "context-management-2025-06-27"  # §10.3
COMPACT_BETA = "compact-2026-01-12"  # §10.3
BINDING_BETA = "thinking-binding-controls-2026-08-01"  # §10.2
HIRES_EDGE, HIRES_TILES, TILE = 2576, 4784, 28  # §10.4


def check(body: dict[str, Any], betas: list[str], model: FakeModel) -> str | None:
    """The first per-model reason for a 400, or None."""
    for rule in (_tools, _thinking, _effort, _betas, _toolset_images):
        problem = rule(body, betas, model)
        if problem:
            return problem
    return None


def _tools(body: dict[str, Any], betas: list[str], model: FakeModel) -> str | None:
    """§10.1: Claude 5.5 and later accept only the toolset; older models never the toolset."""
    types = [
        str(t.get("type")) for t in body.get("tools") or [] if str(t.get("type")).startswith("computer_")
    ]
    refused = [t for t in types if t not in model.computer]
    return f"'{model.id}' does not support tool types: {', '.join(refused)}." if refused else None


def _thinking(body: dict[str, Any], betas: list[str], model: FakeModel) -> str | None:
    """§10.2: manual budgets are a 400 on Sonnet 5 and every 5.x; always-on models refuse disabled."""
    kind = (body.get("thinking") or {}).get("type")
    if kind is None or kind in model.thinking:
        return None
    return f"thinking.type: '{kind}' is not supported for {model.id}; use one of {', '.join(model.thinking)}"


def _effort(body: dict[str, Any], betas: list[str], model: FakeModel) -> str | None:
    """§10.2: output_config.effort in low | medium | high | xhigh | max, where the model has effort."""
    effort = (body.get("output_config") or {}).get("effort")
    if effort is None or effort in model.efforts:
        return None
    return f"output_config.effort: '{effort}' is not supported for {model.id}"


def _betas(body: dict[str, Any], betas: list[str], model: FakeModel) -> str | None:
    """§10.3: context editing and compaction each need their beta; §10.2: so does block_binding."""
    edits = [e.get("type") for e in (body.get("context_management") or {}).get("edits") or []]
    if edits and CONTEXT_BETA not in betas:
        return f"context_management: requires the {CONTEXT_BETA} beta"
    if "compact_20260112" in edits and COMPACT_BETA not in betas:
        return f"context_management.edits: compact_20260112 requires the {COMPACT_BETA} beta"
    if (body.get("thinking") or {}).get("block_binding") and BINDING_BETA not in betas:
        return f"thinking.block_binding: requires the {BINDING_BETA} beta"
    return None


def _toolset_images(body: dict[str, Any], betas: list[str], model: FakeModel) -> str | None:
    """§10.4: the toolset rejects oversized screenshots (2576 px, 4,784 tiles); it does not downscale."""
    if not any(t.get("type") == TOOLSET for t in body.get("tools") or []):
        return None
    for block in all_blocks(body.get("messages")):
        if block.get("type") == "image":
            width, height = image_size(block)
            if max(width, height) > HIRES_EDGE or tiles(width, height) > HIRES_TILES:
                return f"image {width}x{height} exceeds the toolset's limit (2576 px, 4784 tiles)"
    return None


def tiles(width: int, height: int) -> int:
    return math.ceil(width / TILE) * math.ceil(height / TILE)


def all_blocks(node: Any) -> list[dict[str, Any]]:
    """Every dict nested anywhere in ``node`` (content blocks and what they hold)."""
    if isinstance(node, list):
        return [b for item in node for b in all_blocks(item)]
    if isinstance(node, dict):
        return [node] + [b for v in node.values() for b in all_blocks(v)]
    return []


# --- thinking-block binding (§10.2) -------------------------------------------------------------


def prefix_digest(body: dict[str, Any], upto: int) -> str:
    """ "A block stays valid only while the top-level system prompt, the tools, and the messages
    before it are unchanged" (cache_control markers are not content)."""
    prefix = [body.get("model"), body.get("system"), body.get("tools"), (body.get("messages") or [])[:upto]]
    return hashlib.sha256(json.dumps(strip_markers(prefix), sort_keys=True).encode()).hexdigest()[:32]


def signature_for(body: dict[str, Any]) -> str:
    return "fakesig." + prefix_digest(body, len(body.get("messages") or []))


def binding_failures(body: dict[str, Any]) -> list[str]:
    """Paths (``messages.i.content.j``) of re-sent thinking blocks whose prefix changed."""
    failed = []
    for index, message in enumerate(body.get("messages") or []):
        content = message.get("content") if message.get("role") == "assistant" else None
        for position, block in enumerate(content if isinstance(content, list) else []):
            if block.get("type") == "thinking" and block.get("signature") != signature_for_prefix(
                body, index
            ):
                failed.append(f"messages.{index}.content.{position}")
    return failed


def signature_for_prefix(body: dict[str, Any], index: int) -> str:
    return "fakesig." + prefix_digest(body, index)


def drop_blocks(body: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """The opt-out (``prefix_mismatch_behavior: drop_block``): the failing blocks removed."""
    doomed = {tuple(int(p) for p in path.split(".")[1::2]) for path in paths}
    messages = []
    for index, message in enumerate(body.get("messages") or []):
        content = message.get("content")
        if isinstance(content, list):
            content = [b for j, b in enumerate(content) if (index, j) not in doomed]
        messages.append({**message, "content": content})
    return {**body, "messages": messages}


def wants_drop(body: dict[str, Any]) -> bool:
    binding = (body.get("thinking") or {}).get("block_binding") or {}
    return bool(binding.get("prefix_mismatch_behavior") == "drop_block")


def opening_thinking(body: dict[str, Any], model: FakeModel) -> dict[str, Any] | None:
    """§10.2: 5.x responses start with a signed thinking block; its text is empty unless
    ``display: "summarized"`` was asked."""
    thinking = body.get("thinking") or {}
    if not model.thinks_5x or (thinking.get("type") in (None, "disabled") and "disabled" in model.thinking):
        return None
    step = 1 + sum(1 for m in body.get("messages") or [] if m.get("role") == "assistant")
    summary = (
        f"Step {step}: the screen shows what I expected." if thinking.get("display") == "summarized" else ""
    )
    return {"type": "thinking", "thinking": summary, "signature": signature_for(body)}


# --- server-side context editing (§10.3) ------------------------------------------------------------

CLEARED = "[cleared by context management]"


def clear_tool_uses(
    body: dict[str, Any], input_tokens: int, block_tokens: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``clear_tool_uses_20250919``: above ``trigger`` input tokens the oldest tool results are
    cleared, the newest ``keep`` tool uses kept (defaults 100,000 and 3), if at least
    ``clear_at_least`` tokens go. Returns the body the model sees and the applied edits."""
    edit = next((e for e in _edits(body) if e.get("type") == "clear_tool_uses_20250919"), None)
    if edit is None or input_tokens <= (edit.get("trigger") or {}).get("value", 100_000):
        return body, []
    keep = (edit.get("keep") or {}).get("value", 3)
    slots = _result_slots(body)
    doomed = slots[: max(0, len(slots) - keep)]
    cleared = [block_tokens(body["messages"][i]["content"][j]) for i, j in doomed]
    if not doomed or sum(cleared) < ((edit.get("clear_at_least") or {}).get("value") or 0):
        return body, []
    applied = {"type": "clear_tool_uses_20250919", "cleared_tool_uses": len(doomed),
               "cleared_input_tokens": sum(cleared)}  # fmt: skip
    return _cleared(body, set(doomed)), [applied]


def _edits(body: dict[str, Any]) -> list[dict[str, Any]]:
    return list((body.get("context_management") or {}).get("edits") or [])


def _result_slots(body: dict[str, Any]) -> list[tuple[int, int]]:
    slots = []
    for index, message in enumerate(body.get("messages") or []):
        content = message.get("content")
        if message.get("role") == "user" and isinstance(content, list):
            slots += [(index, j) for j, b in enumerate(content) if b.get("type") == "tool_result"]
    return slots


def _cleared(body: dict[str, Any], doomed: set[tuple[int, int]]) -> dict[str, Any]:
    messages = []
    for index, message in enumerate(body["messages"]):
        content = message.get("content")
        if isinstance(content, list):
            content = [
                {**b, "content": [{"type": "text", "text": CLEARED}]} if (index, j) in doomed else b
                for j, b in enumerate(content)
            ]
        messages.append({**message, "content": content})
    return {**body, "messages": messages}
