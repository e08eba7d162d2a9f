"""The Models API into the catalog: ``client.models.list`` (the SDK's ``ModelInfo``: lifecycle,
dates, limits, capabilities) turned into catalog fields and cached in Redis for every process
(core/catalog.py reads it). Run at worker start and daily; a failure keeps the last cache, and
without one the built-in rows serve."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import structlog
from anthropic.types import ModelInfo
from anthropic.types.model_capabilities import ModelCapabilities
from redis import Redis

from core.catalog import save_overlay
from core.models import EFFORTS
from core.settings import Settings

log = structlog.get_logger("nightshift.catalog")


def refresh_catalog(client: anthropic.Anthropic, redis: Redis, settings: Settings) -> int | None:
    """Rows cached, or None when the Models API could not be read (the old cache stays)."""
    try:
        rows = {info.id: overlay_row(info) for info in client.models.list(limit=1000)}
    except anthropic.APIError as exc:
        log.warning("catalog.refresh_failed", error=str(exc))
        return None
    save_overlay(redis, rows, time.time(), settings.catalog_cache_ttl_s)
    log.info("catalog.refreshed", models=len(rows))
    return len(rows)


def overlay_row(info: ModelInfo) -> dict[str, Any]:
    row: dict[str, Any] = {"lifecycle": info.lifecycle}
    if info.line:
        row["line"] = info.line
    if info.deprecated_at:
        row["deprecated_on"] = info.deprecated_at.date().isoformat()
    if info.retires_at:
        row["retires_on"] = info.retires_at.date().isoformat()
    if info.max_tokens:
        row["max_tokens_limit"] = info.max_tokens
    if info.max_input_tokens:
        row["context_window"] = info.max_input_tokens
    if info.capabilities is not None:
        row.update(capability_fields(info.capabilities))
    return row


def capability_fields(caps: ModelCapabilities) -> dict[str, Any]:
    types = caps.thinking.types
    offered = {"off": types.disabled.supported, "enabled": types.enabled.supported,
               "adaptive": types.adaptive.supported}  # fmt: skip
    efforts = [e for e in EFFORTS if caps.effort.supported and _level(caps, e)]
    context = caps.context_management
    return {
        "thinking_types": [name for name, ok in offered.items() if ok]
        if caps.thinking.supported
        else ["off"],
        "efforts": efforts,
        "context_editing": bool(
            context.clear_tool_uses_20250919 and context.clear_tool_uses_20250919.supported
        ),
        "compaction": bool(context.compact_20260112 and context.compact_20260112.supported),
    }


def _level(caps: ModelCapabilities, effort: str) -> bool:
    support = getattr(caps.effort, effort, None)
    return bool(support and support.supported)
