"""Metrics people already read: a real worker (prefork children, multiprocess metrics) and the HTTP
API serve Prometheus text while a run is in flight, and the figures match what the run did."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from core.broker import connect_redis, make_celery
from core.settings import Settings
from scheduler.api import make_server
from tests.conftest import RedisServer, free_port
from tests.fleet.conftest import Fleet, write_tasks
from tests.fleet.test_fleet import SLOW_SCRIPT, _enqueue


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def api_metrics(redis_url: str, queue: str) -> Iterator[str]:
    settings = Settings(redis_url=redis_url, queue_name=queue)
    server = make_server(settings, connect_redis(settings), make_celery(settings), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"{server.url}/metrics"
    finally:
        server.shutdown()
        server.server_close()


def test_the_worker_and_the_api_serve_prometheus_metrics_during_a_run(
    redis_server: RedisServer, tmp_path: Path, sandbox_image: str
) -> None:
    port = free_port()
    fleet = Fleet(redis_server, tmp_path, NIGHTSHIFT_METRICS_PORT=str(port))
    api = api_metrics(redis_server.url, fleet.queue)
    try:
        fleet.start_worker()
        task_file = write_tasks(tmp_path / "t.yaml", SLOW_SCRIPT.format(name="m", sleep_s=15))
        (run_id,) = _enqueue(fleet, task_file)
        fleet.wait_for(lambda: fleet.records.get(run_id).steps >= 1, 90, "the first step")

        worker = scrape(f"http://127.0.0.1:{port}/metrics")
        from_api = scrape(next(api))

        for samples in (worker, from_api):
            assert value(samples, "nightshift_runs", state="running", verdict="") == 1
            assert ("nightshift_queue_depth", (("queue", fleet.queue),)) in samples
        assert value(worker, "nightshift_tool_seconds_count", tool="computer") == 1  # the screenshot step
        assert value(worker, "nightshift_step_seconds_count") >= 1
        assert value(worker, "nightshift_sandbox_start_seconds_count") == 1
        assert ("nightshift_spool_depth", ()) in worker
        default_shape = (("shape", f"{sandbox_image}|1024x768|none"),)
        assert ("nightshift_pool_ready", default_shape) in worker  # this host's warm pool

        fleet.wait_state(run_id, {"succeeded", "failed"}, 120)
        after = scrape(f"http://127.0.0.1:{port}/metrics")
        assert value(after, "nightshift_runs_finished_total", state="succeeded", verdict="") == 1
        assert value(after, "nightshift_tool_seconds_count", tool="bash") == 2
        started_by_run = value(after, "nightshift_pool_total", event="claimed")
        assert started_by_run + value(after, "nightshift_pool_total", event="cold") == 1
    finally:
        api.close()
        fleet.stop_all()
