"""Fleet-wide Prometheus metrics read from Redis at scrape time, served by the API and by every
worker (``prometheus-client``): runs by state and verdict, and the queue's depth."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis import Redis

from core import broker
from core.records import Records
from core.settings import Settings

SCAN = 10_000  # newest runs counted per scrape


class FleetCollector(Collector):
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.records = Records(redis)
        self.redis = redis
        self.settings = settings

    def collect(self) -> Iterator[GaugeMetricFamily]:
        runs = GaugeMetricFamily("nightshift_runs", f"Runs by state and verdict (newest {SCAN})",
                                 labels=["state", "verdict"])
        counts: dict[tuple[str, str], int] = {}
        for record in self.records.list(limit=SCAN):
            key = (str(record.state), str(record.verdict or ""))
            counts[key] = counts.get(key, 0) + 1
        for (state, verdict), count in sorted(counts.items()):
            runs.add_metric([state, verdict], count)
        yield runs
        depth = GaugeMetricFamily("nightshift_queue_depth", "Run messages waiting on the queue",
                                  labels=["queue"])
        depth.add_metric([self.settings.queue_name], broker.queue_depth(self.redis, self.settings))
        yield depth
