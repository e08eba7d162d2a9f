"""Prompt-cache breakpoints and screenshot pruning.

Two rules keep the cached prefix byte-stable:

* Pruning is monotonic and happens in one go: once an image is replaced by ``IMAGE_MARKER`` it is
  never touched again, and with ``prune_interval`` > 0 images are dropped only when more than
  ``keep_images + prune_interval`` are live, straight down to ``keep_images``.
* With ``breakpoints_after_images`` False (the default), message breakpoints sit only before the
  oldest live image, so the cached prefix never contains an image that will later be pruned: the
  prefix only ever grows, and the few live screenshots ride uncached after it. (An image that
  stays live for more than ``max_uncached_turns`` turns, e.g. while the model only uses bash, is
  cached after all, so a long text-only stretch does not go uncached.)

The default (keep one screenshot, cache everything before it) bills each screenshot once at the
plain input price instead of a 1.25x cache write plus 0.1x per later step (bench/cost.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EPHEMERAL = {"type": "ephemeral"}
IMAGE_MARKER = "[older screenshot omitted]"
API_MAX_BREAKPOINTS = 4
API_MAX_IMAGES = 100
MANY_IMAGES = 20  # above this many images every image must be <= 2000 px per side


@dataclass(frozen=True)
class CachePolicy:
    keep_images: int | None = 1  # None: never prune (up to max_images)
    prune_interval: int = 0  # 0: prune every step
    max_images: int = MANY_IMAGES
    message_breakpoints: int = 3
    cache_system: bool = True
    breakpoints_after_images: bool = False
    # A live image older than this many user turns (e.g. one screenshot, then many bash calls) no
    # longer holds the breakpoints back: it is cached once, and rewritten once when pruned.
    max_uncached_turns: int = 3

    def __post_init__(self) -> None:
        if self.keep_images is not None and self.keep_images < 1:
            raise ValueError("keep_images must be at least 1 (or None to keep all)")
        if not 1 <= self.max_images <= API_MAX_IMAGES:
            raise ValueError(f"max_images must be within 1..{API_MAX_IMAGES}")
        if (self.keep_images or 0) + self.prune_interval > self.max_images:
            raise ValueError("keep_images + prune_interval must not exceed max_images")
        if self.message_breakpoints + int(self.cache_system) > API_MAX_BREAKPOINTS:
            raise ValueError(f"at most {API_MAX_BREAKPOINTS} cache breakpoints in total")


# A live image: (message index, the list holding it, its index in that list).
ImageSlot = tuple[int, list[dict[str, Any]], int]


def image_slots(messages: list[dict[str, Any]]) -> list[ImageSlot]:
    """Every live image block in user messages, oldest first (top level or inside tool results)."""
    slots: list[ImageSlot] = []
    for index, message in enumerate(messages):
        content = message.get("content")
        if message.get("role") != "user" or not isinstance(content, list):
            continue
        for position, block in enumerate(content):
            if block.get("type") == "image":
                slots.append((index, content, position))
            elif block.get("type") == "tool_result" and isinstance(block.get("content"), list):
                inner = block["content"]
                slots.extend((index, inner, i) for i, b in enumerate(inner) if b.get("type") == "image")
    return slots


def prune_images(messages: list[dict[str, Any]], policy: CachePolicy) -> int:
    """Replace the oldest live images by a text marker as the policy says; returns how many."""
    slots = image_slots(messages)
    keep = _keep_count(slots, len(messages) - 1, policy)
    limit = policy.max_images if policy.keep_images is None else keep + policy.prune_interval
    if len(slots) <= min(limit, policy.max_images):
        return 0
    doomed = slots[: len(slots) - keep]
    for _, holder, position in doomed:
        holder[position] = {"type": "text", "text": IMAGE_MARKER}
    return len(doomed)


def drop_all_but_newest(messages: list[dict[str, Any]]) -> int:
    """Emergency pruning (after the API rejected the images): keep only the newest message's."""
    slots = image_slots(messages)
    newest = slots[-1][0] if slots else -1
    doomed = [slot for slot in slots if slot[0] != newest]
    for _, holder, position in doomed:
        holder[position] = {"type": "text", "text": IMAGE_MARKER}
    return len(doomed)


def _keep_count(slots: list[ImageSlot], last_index: int, policy: CachePolicy) -> int:
    """Images to keep: the policy's count, but never fewer than the newest message carries."""
    newest = sum(1 for slot in slots if slot[0] == last_index)
    wanted = policy.max_images if policy.keep_images is None else policy.keep_images
    return min(max(wanted, newest), policy.max_images)


def system_blocks(text: str, policy: CachePolicy) -> list[dict[str, Any]]:
    """The system prompt as one block; its breakpoint caches tools and system together."""
    block: dict[str, Any] = {"type": "text", "text": text}
    if policy.cache_system:
        block["cache_control"] = EPHEMERAL
    return [block]


def with_breakpoints(messages: list[dict[str, Any]], policy: CachePolicy) -> list[dict[str, Any]]:
    """A copy of ``messages`` with ``cache_control`` on the last block of the most recent eligible
    user messages. The history itself is never marked, so old markers cannot pile up."""
    marked = list(messages)
    for index in breakpoint_indexes(messages, policy):
        message = messages[index]
        content = list(message["content"])
        content[-1] = {**content[-1], "cache_control": EPHEMERAL}
        marked[index] = {**message, "content": content}
    return marked


def breakpoint_indexes(messages: list[dict[str, Any]], policy: CachePolicy) -> list[int]:
    horizon = _cache_horizon(messages, policy)
    eligible = [
        index
        for index in range(horizon)
        if messages[index].get("role") == "user" and _has_blocks(messages[index])
    ]
    return eligible[-policy.message_breakpoints :] if policy.message_breakpoints else []


def _cache_horizon(messages: list[dict[str, Any]], policy: CachePolicy) -> int:
    """Breakpoints go on messages before this index: before the oldest live image, unless the
    policy caches images or that image has sat uncached for too many turns."""
    slots = image_slots(messages)
    if not slots or policy.breakpoints_after_images:
        return len(messages)
    oldest = slots[0][0]
    turns_since = sum(1 for m in messages[oldest + 1 :] if m.get("role") == "user")
    return len(messages) if turns_since > policy.max_uncached_turns else oldest


def _has_blocks(message: dict[str, Any]) -> bool:
    content = message.get("content")
    return isinstance(content, list) and bool(content)


def count_breakpoints(request: dict[str, Any]) -> int:
    """How many ``cache_control`` markers a request carries (tools, system, messages, nested)."""
    return _count(request.get("tools")) + _count(request.get("system")) + _count(request.get("messages"))


def _count(node: Any) -> int:
    if isinstance(node, dict):
        own = 1 if "cache_control" in node else 0
        return own + sum(_count(value) for key, value in node.items() if key != "cache_control")
    if isinstance(node, list):
        return sum(_count(item) for item in node)
    return 0
