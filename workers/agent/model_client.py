"""The Anthropic client, built once per worker process and passed to every ``run_session``.

Built with ``max_retries=0``: the loop retries by itself (workers/agent/requester.py) so that every wait
is reported through ``hooks.on_wait``, can be cancelled, and counts against ``max_wall_s``.
"""

from __future__ import annotations

from typing import Any, Literal

import anthropic
from redis import Redis

from core.catalog import catalog_for
from core.models import ModelConfig
from core.settings import Settings

Provider = Literal["anthropic", "bedrock", "vertex"]
AnthropicClient = anthropic.Anthropic | anthropic.AnthropicBedrock | anthropic.AnthropicVertex


def build_client(
    settings: Settings,
    *,
    provider: Provider | None = None,
    aws_region: str | None = None,
    vertex_region: str | None = None,
    vertex_project_id: str | None = None,
) -> AnthropicClient:
    """A client for ``provider`` (default ``settings.api_provider`` when the settings carry one,
    else first-party). Bedrock uses boto3's credential chain; Vertex uses Google's default
    credentials; either region falls back to the SDK's own environment variables."""
    chosen = provider or getattr(settings, "api_provider", None) or "anthropic"
    common: dict[str, Any] = {"max_retries": 0, "timeout": settings.api_timeout_s}
    if chosen == "bedrock":
        return anthropic.AnthropicBedrock(aws_region=aws_region, **common)
    if chosen == "vertex":
        vertex: dict[str, Any] = {"region": vertex_region} if vertex_region else {}
        if vertex_project_id:
            vertex["project_id"] = vertex_project_id
        return anthropic.AnthropicVertex(**vertex, **common)
    if chosen != "anthropic":
        raise ValueError(f"unknown API provider {chosen!r}; expected anthropic, bedrock or vertex")
    key = settings.anthropic_api_key.get_secret_value() if settings.anthropic_api_key else None
    return anthropic.Anthropic(api_key=key, base_url=settings.anthropic_base_url, **common)


def model_config_for(model: str, settings: Settings, redis: Redis | None = None) -> ModelConfig:
    """The model's catalog row: built-in, under the Models API's cached answer (when ``redis`` is
    given and holds one), under the settings' ``model_configs`` and ``model_prices``."""
    return catalog_for(settings, redis).resolve(model)
