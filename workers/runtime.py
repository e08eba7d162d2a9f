"""The clients one worker process needs, built once per process and passed in everywhere."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import anthropic
import docker
import redis

from core.broker import connect_redis
from core.catalog import Catalog, catalog_for
from core.errors import ConfigError
from core.records import Records
from core.settings import Settings
from workers.agent.model_client import AnthropicClient, build_client
from workers.artifacts.build import build_store
from workers.artifacts.store import ArtifactStore
from workers.sandbox.egress import EgressProxy
from workers.sandbox.launcher import SandboxLauncher


@dataclass
class Runtime:
    settings: Settings
    redis: redis.Redis
    records: Records
    docker: docker.DockerClient
    launcher: SandboxLauncher
    egress: EgressProxy
    store: ArtifactStore
    hostname: str
    _model_client: AnthropicClient | None = None

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        client = connect_redis(settings)
        docker_client = docker.DockerClient(base_url=settings.docker_url) if settings.docker_url \
            else docker.from_env()
        return cls(
            settings=settings,
            redis=client,
            records=Records(client, settings.record_retention_s),
            docker=docker_client,
            launcher=SandboxLauncher(docker_client, settings),
            egress=EgressProxy(docker_client, settings),
            store=build_store(settings),
            hostname=socket.gethostname(),
        )

    @property
    def model_client(self) -> AnthropicClient:
        """The Anthropic client, built on first use: script-only fleets need no API key."""
        if self._model_client is None:
            if self.settings.api_provider == "anthropic" and not self.settings.anthropic_api_key:
                raise ConfigError("ANTHROPIC_API_KEY is not set on this worker; Claude tasks need it")
            self._model_client = build_client(self.settings)
        return self._model_client

    def catalog(self) -> Catalog:
        """The model catalog with the Models API's cached answer (read from Redis each call)."""
        return catalog_for(self.settings, self.redis)

    def refresh_catalog(self) -> int | None:
        """Refresh the cached Models API answer (first-party API only; others keep the built-in rows)."""
        if self.settings.api_provider != "anthropic" or not self.settings.anthropic_api_key:
            return None
        from workers.agent.catalog_refresh import refresh_catalog

        client = self.model_client
        if not isinstance(client, anthropic.Anthropic):  # Bedrock/Vertex: no Models API
            return None
        return refresh_catalog(client, self.redis, self.settings)
