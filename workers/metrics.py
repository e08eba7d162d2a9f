"""The workers' Prometheus metrics: a hook that observes every step (latency of steps, tools and the
model, tokens and cost by model, rate-limiter waits), sandbox start times, finished runs, reaper
actions, and the endpoint each worker's main process serves (``NIGHTSHIFT_METRICS_PORT``).

Celery's prefork children share the metrics through prometheus-client's multiprocess mode:
``workers/main.py`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before anything
imports prometheus-client; the main process serves the sum of every child's values. A metric that
fails is logged by ``HookChain`` and the run goes on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from core import keys
from core.broker import connect_redis
from core.metrics import FleetCollector
from core.settings import Settings
from workers.hooks import Hooks, StepSummary
from workers.sandbox.pool import default_shape
from workers.toolio import ToolOutput

log = structlog.get_logger("nightshift.metrics")
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

STEP_SECONDS = Histogram("nightshift_step_seconds", "One agent step: model plus tools", buckets=SECONDS)
TOOL_SECONDS = Histogram("nightshift_tool_seconds", "One tool call in the sandbox", ["tool"], buckets=SECONDS)
MODEL_SECONDS = Histogram("nightshift_model_seconds", "One Messages API request", ["model"], buckets=SECONDS)
SANDBOX_START_SECONDS = Histogram("nightshift_sandbox_start_seconds", "docker run to a ready sandbox",
                                  buckets=SECONDS)
TOKENS = Counter("nightshift_tokens", "Tokens by model and kind", ["model", "kind"])
COST = Counter("nightshift_cost_usd", "Cost in USD by model", ["model"])
WAITS = Counter("nightshift_wait_seconds", "Time runs waited, by reason (rate limiter, retries)", ["reason"])
RUNS_FINISHED = Counter("nightshift_runs_finished", "Attempts ended, by state and verdict",
                        ["state", "verdict"])
REAPER_ACTIONS = Counter("nightshift_reaper_actions", "Runs resumed, sandboxes removed, records pruned",
                         ["action"])
KINDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


class MetricsHook(Hooks):
    def __init__(self, model: str) -> None:
        self.model = model

    def on_response(self, step: int, response: dict[str, Any], elapsed_ms: float) -> None:
        MODEL_SECONDS.labels(self.model).observe(elapsed_ms / 1000)

    def on_tool_result(
        self, step: int, tool_use: dict[str, Any], output: ToolOutput, elapsed_ms: float
    ) -> None:
        TOOL_SECONDS.labels(str(tool_use.get("name"))).observe(elapsed_ms / 1000)

    def on_step_end(self, summary: StepSummary) -> None:
        STEP_SECONDS.observe((summary.model_ms + summary.tools_ms) / 1000)
        for kind in KINDS:
            amount = int(getattr(summary, kind))
            if amount:
                TOKENS.labels(self.model, kind).inc(amount)
        if summary.cost_usd:
            COST.labels(self.model).inc(summary.cost_usd)

    def on_wait(self, reason: str, wait_s: float) -> None:
        WAITS.labels(reason).inc(wait_s)


class SpoolCollector(Collector):
    """Objects waiting in this host's spool for the store (write-behind uploads and outages)."""

    def __init__(self, spool_dir: Path) -> None:
        self.spool_dir = spool_dir

    def collect(self) -> Iterator[GaugeMetricFamily]:
        found = [*self.spool_dir.glob("*.obj"), *self.spool_dir.glob("*.flight")]
        yield GaugeMetricFamily("nightshift_spool_depth", "Objects waiting in the spool", value=len(found))


class PoolCollector(Collector):
    """This host's warm pool: ready sandboxes per shape, and what the pool did (runs that claimed
    a warm sandbox or started cold, sandboxes started, recycled idle, reaped)."""

    def __init__(self, client: redis.Redis, settings: Settings, worker: str) -> None:
        self.redis, self.fleet, self.worker = client, settings.queue_name, worker
        self.default = default_shape(settings).key

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        ready = GaugeMetricFamily("nightshift_pool_ready", "Warm sandboxes ready, by shape", labels=["shape"])
        for shape in self._shapes():
            ready.add_metric([shape], self.redis.llen(keys.pool_ready(self.fleet, self.worker, shape)))
        yield ready
        events = CounterMetricFamily("nightshift_pool", "Warm pool events on this host", labels=["event"])
        stats: dict[bytes, bytes] = self.redis.hgetall(keys.pool_stats(self.fleet, self.worker))  # type: ignore[assignment]
        for name, count in sorted(stats.items()):
            events.add_metric([name.decode()], float(count))
        yield events

    def _shapes(self) -> list[str]:
        raw: list[bytes] = self.redis.zrange(keys.pool_shapes(self.fleet, self.worker), 0, -1)  # type: ignore[assignment]
        asked = [shape.decode() for shape in raw]
        return [self.default, *(shape for shape in asked if shape != self.default)]


def serve_metrics(settings: Settings, hostname: str) -> None:
    """The worker main process's endpoint; a port already taken (a second worker on the host) is
    logged and the worker goes on without one."""
    if not settings.metrics_port:
        return
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    client = connect_redis(settings, 5.0)
    registry.register(FleetCollector(client, settings))
    registry.register(SpoolCollector(Path(settings.spool_dir)))
    registry.register(PoolCollector(client, settings, hostname))
    try:
        start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry)
    except OSError as exc:
        log.warning("metrics endpoint not served", port=settings.metrics_port, error=str(exc))
        return
    log.info("metrics endpoint", url=f"http://{settings.metrics_host}:{settings.metrics_port}/metrics")
