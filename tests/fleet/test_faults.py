"""The fleet under faults, with real processes: a pool child killed mid-run resumes as soon as
Celery hands its message back, a Redis outage far longer than a lease fails no run and runs none
twice, and an S3 endpoint that accepts connections but never answers costs a run no time."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from tests.ceph import CephS3
from tests.conftest import RedisServer
from tests.fleet.conftest import Fleet, write_tasks
from tests.fleet.test_fleet import SLOW_SCRIPT, _enqueue, _sandboxes
from workers.artifacts.attempt import verify

TERMINAL = {"succeeded", "failed", "cancelled", "budget_exhausted", "infeasible"}


def _pool_children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def test_a_killed_pool_child_resumes_its_run_within_15_s_when_celery_redelivers_it(
    redis_server: RedisServer, tmp_path: Path, sandbox_image: str
) -> None:
    # the default lease TTL, and no beat: only the redelivered message can resume the run
    fleet = Fleet(redis_server, tmp_path, NIGHTSHIFT_LEASE_TTL_S="10", NIGHTSHIFT_WORKER_CONCURRENCY="1")
    try:
        worker = fleet.start_worker()
        task_file = write_tasks(tmp_path / "t.yaml", SLOW_SCRIPT.format(name="k", sleep_s=20))
        (run_id,) = _enqueue(fleet, task_file)
        fleet.wait_for(lambda: fleet.records.get(run_id).steps >= 1, 90, "the first step")

        killed_at = time.monotonic()
        for child in _pool_children(worker.pid):
            os.kill(child, signal.SIGKILL)
        fleet.wait_for(lambda: fleet.records.get(run_id).attempt == 2, 15, "attempt 2 to start")
        resumed_s = time.monotonic() - killed_at
        record = fleet.wait_state(run_id, TERMINAL, timeout_s=180)

        assert record.state == "succeeded" and record.attempt == 2, resumed_s
        terminal = [e for e in fleet.records.events(run_id) if e.get("state") in TERMINAL]
        assert len(terminal) == 1
        fleet.wait_for(lambda: _sandboxes(fleet, run_id) == [], 60, "the dead attempt's sandbox to be reaped")
    finally:
        fleet.stop_all()


def test_a_redis_outage_longer_than_a_lease_fails_no_run_and_runs_none_twice(
    fleet: Fleet, tmp_path: Path
) -> None:
    body = "tasks:\n" + "".join(
        SLOW_SCRIPT.format(name=f"o{i}", sleep_s=4).split("tasks:\n", 1)[1] for i in range(3)
    )
    run_ids = _enqueue(fleet, write_tasks(tmp_path / "batch.yaml", body))
    fleet.start_worker()
    fleet.start_beat()
    fleet.wait_for(lambda: all(fleet.records.get(r).state == "running" for r in run_ids[:2]), 120, "runs")

    fleet.redis_server.stop()
    time.sleep(25)  # the fault itself: four lease TTLs without Redis (not an assertion)
    fleet.redis_server.start()
    records = [fleet.wait_state(r, TERMINAL, 300) for r in run_ids]

    assert [r.state for r in records] == ["succeeded"] * 3
    assert [r.attempt for r in records] == [1, 1, 1]
    for run_id in run_ids:
        states = [e.get("state") for e in fleet.records.events(run_id) if e.get("type") == "state"]
        assert states.count("starting") == 1 and states.count("succeeded") == 1


def test_an_s3_endpoint_that_accepts_but_never_answers_costs_a_run_no_time(
    redis_server: RedisServer, tmp_path: Path, sandbox_image: str, ceph: CephS3
) -> None:
    bucket = ceph.store().bucket
    fleet = Fleet(redis_server, tmp_path, NIGHTSHIFT_STORE="s3", NIGHTSHIFT_S3_BUCKET=bucket,
                  NIGHTSHIFT_S3_ENDPOINT_URL=ceph.endpoint_url, NIGHTSHIFT_S3_ACCESS_KEY_ID=ceph.access_key,
                  NIGHTSHIFT_S3_SECRET_ACCESS_KEY=ceph.secret_key, NIGHTSHIFT_S3_CONNECT_TIMEOUT_S="60",
                  NIGHTSHIFT_S3_READ_TIMEOUT_S="120", NIGHTSHIFT_S3_MAX_ATTEMPTS="1",
                  NIGHTSHIFT_SPOOL_FLUSH_INTERVAL_S="1")
    try:
        fleet.start_worker()
        ceph.pause()
        try:
            task_file = write_tasks(tmp_path / "t.yaml", SLOW_SCRIPT.format(name="s3", sleep_s=1))
            (run_id,) = _enqueue(fleet, task_file)
            # a write waiting on S3 would hang for its 120 s read timeout; the run ends while S3 hangs
            record = fleet.wait_state(run_id, TERMINAL, timeout_s=90)
        finally:
            ceph.unpause()
        assert record.state == "succeeded" and record.steps == 3
        store = ceph.store(bucket)
        manifest = fleet.wait_for(lambda: _complete(store, record.artifact_prefix), 240, "the spool to drain")
        assert {"transcript.jsonl", "result.json", "report.html"} <= {e["name"] for e in manifest["objects"]}
        assert verify(store, record.artifact_prefix) == []
    finally:
        fleet.stop_all()


def _complete(store: Any, prefix: str) -> dict[str, Any] | None:
    try:
        manifest: dict[str, Any] = json.loads(store.get(prefix + "manifest.json"))
    except KeyError:
        return None
    return manifest if manifest.get("complete") else None
