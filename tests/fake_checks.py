"""What the fake Messages API (tests/fake_api.py) refuses because the real API refuses it too:
the mistakes an agent loop can make on the wire."""

from __future__ import annotations

from typing import Any

from core.toolset import COMPUTER_MEMBERS
from tests.fake_usage import image_size


def validate(body: dict[str, Any]) -> str | None:
    """The first reason the real API would refuse this request, or None."""
    checks = (_breakpoints, _nulls, _empty_text, _tool_pairs, _images, _toolset_configs)
    for check in checks:
        problem = check(body)
        if problem:
            return problem
    return None


def _breakpoints(body: dict[str, Any]) -> str | None:
    count = sum(_count_markers(body.get(key)) for key in ("tools", "system", "messages"))
    if count > 4:
        return f"A maximum of 4 blocks with cache_control may be provided. Found {count}."
    return None


def _count_markers(node: Any) -> int:
    if isinstance(node, dict):
        return int("cache_control" in node) + sum(
            _count_markers(v) for k, v in node.items() if k != "cache_control"
        )
    if isinstance(node, list):
        return sum(_count_markers(item) for item in node)
    return 0


def _nulls(body: dict[str, Any]) -> str | None:
    for message in body.get("messages") or []:
        if _has_null(message.get("content")):
            return "messages: content blocks must not contain null fields"
    return None


def _has_null(node: Any) -> bool:
    """A null block field anywhere (a tool's ``input`` is the model's own data and may hold nulls)."""
    if node is None:
        return True
    if isinstance(node, dict):
        return any(_has_null(v) for k, v in node.items() if k != "input")
    if isinstance(node, list):
        return any(_has_null(item) for item in node)
    return False


def _empty_text(body: dict[str, Any]) -> str | None:
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, list) and any(b.get("type") == "text" and not b.get("text") for b in content):
            return "messages: text content blocks must be non-empty"
    return None


def _tool_pairs(body: dict[str, Any]) -> str | None:
    messages = body.get("messages") or []
    for index, message in enumerate(messages):
        if message.get("role") != "assistant" or not isinstance(message.get("content"), list):
            continue
        uses = {b["id"]: b for b in message["content"] if b.get("type") == "tool_use"}
        if not uses or index == len(messages) - 1:
            continue
        following = messages[index + 1].get("content")
        results = [b for b in following or [] if isinstance(b, dict) and b.get("type") == "tool_result"]
        problem = _check_results(uses, results)
        if problem:
            return f"messages.{index + 1}: {problem}"
    return None


def _check_results(uses: dict[str, dict[str, Any]], results: list[dict[str, Any]]) -> str | None:
    answered = [r.get("tool_use_id") for r in results]
    if len(answered) != len(uses) or set(answered) != set(uses):
        missing = sorted(set(uses) - set(answered))
        return f"tool_use ids were found without tool_result blocks immediately after: {missing}"
    for result in results:
        content = result.get("content")
        inner: list[dict[str, Any]] = content if isinstance(content, list) else []
        if result.get("is_error") and any(b.get("type") != "text" for b in inner):
            return "tool_result blocks with is_error may only contain text"
        family = uses[result["tool_use_id"]].get("toolset_name")
        if family and result.get("toolset_name") != family:
            return "toolset tool_result blocks must echo toolset_name"
    return None


def _images(body: dict[str, Any]) -> str | None:
    images = [b for b in _walk(body.get("messages")) if b.get("type") == "image"]
    if len(images) > 100:
        return f"Too many images: {len(images)} (at most 100 per request)"
    sizes = [image_size(b) for b in images]
    if any(max(size) > 8000 for size in sizes):
        return "image dimensions exceed max allowed size: 8000 pixels"
    if len(images) > 20 and any(max(size) > 2000 for size in sizes):
        return "image dimensions exceed max allowed size for many-image requests: 2000 pixels"
    return None


def _walk(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, list):
        return [b for item in node for b in _walk(item)]
    if isinstance(node, dict):
        return [node] + [b for v in node.values() for b in _walk(v)]
    return []


def _toolset_configs(body: dict[str, Any]) -> str | None:
    """A toolset entry's ``configs`` names members, each with a boolean ``enabled``."""
    for tool in body.get("tools") or []:
        if tool.get("type") != "computer_toolset_20260801" or "configs" not in tool:
            continue
        for name, config in tool["configs"].items():
            if name not in COMPUTER_MEMBERS:
                return f"tools.0.configs: unknown computer member {name!r}"
            if not isinstance(config, dict) or not isinstance(config.get("enabled", True), bool):
                return f"tools.0.configs.{name}: expected {{enabled: bool}}"
    return None
