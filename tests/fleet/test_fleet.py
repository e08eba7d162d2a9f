"""The fleet end to end: the CLI enqueues, real Celery workers run real sandboxes, artifacts land,
and failures (a killed worker, a Redis restart, a cancel) lose nothing."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

from core.events import EventType
from tests.ceph import CephS3
from tests.conftest import ROOT, RedisServer
from tests.fleet.conftest import Fleet, write_tasks
from workers.artifacts.attempt import verify
from workers.artifacts.s3 import S3Store

SLOW_SCRIPT = """
tasks:
  - name: {name}
    agent: script
    budgets: {{max_steps: 10, max_wall_s: 300}}
    steps:
      - {{name: computer, input: {{action: screenshot}}}}
      - {{name: bash, input: {{command: "sleep {sleep_s} && echo slept"}}}}
      - {{name: bash, input: {{command: "echo done"}}}}
"""


def _run_dir(fleet: Fleet, run_id: str, attempt: int) -> Path:
    return Path(fleet.env["NIGHTSHIFT_ARTIFACTS_DIR"]) / "runs" / run_id / f"attempt-{attempt}"


def _sandboxes(fleet: Fleet, run_id: str) -> list[str]:
    """The run's containers: labelled with its id (cold) or claimed from the warm pool (their ids
    are in the run's ``sandbox`` events, one per attempt)."""
    filters = [f"label=nightshift.run_id={run_id}"]
    events = fleet.records.events(run_id)
    filters += [f"id={e['container']}" for e in events if e.get("type") == EventType.SANDBOX]
    found: set[str] = set()
    for docker_filter in filters:
        out = subprocess.run(["docker", "ps", "-aq", "--filter", docker_filter],
                             capture_output=True, text=True, check=True)
        found.update(out.stdout.split())
    return sorted(found)


def _enqueue(fleet: Fleet, task_file: Path) -> list[str]:
    done = fleet.cli("enqueue", str(task_file))
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_example_batch_runs_its_script_task_and_writes_an_auditable_run(fleet: Fleet) -> None:
    fleet.start_worker()
    done = fleet.cli("run", str(ROOT / "examples/batch.yaml"), "--wait", "--agent", "script")

    assert done.returncode == 0, done.stdout + done.stderr
    (run_id,) = [r.run_id for r in fleet.records.list()]
    record = fleet.records.get(run_id)
    assert record.state == "succeeded"
    run_dir = _run_dir(fleet, run_id, 1)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    listed = {entry["key"].rsplit("attempt-1/", 1)[-1]: entry for entry in manifest["objects"]}
    assert {"transcript.jsonl", "result.json"} <= set(listed)
    assert any(name.startswith("screenshots/") for name in listed)
    for name, entry in listed.items():
        data = (run_dir / name).read_bytes()
        assert entry["size"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert "hello" in (run_dir / "transcript.jsonl").read_text()
    assert _sandboxes(fleet, run_id) == []


def test_a_run_whose_worker_is_killed_completes_exactly_once_on_another_worker(
    fleet: Fleet, tmp_path: Path
) -> None:
    fleet.start_worker("doomed")
    fleet.start_beat()
    (run_id,) = _enqueue(fleet, write_tasks(tmp_path / "t.yaml", SLOW_SCRIPT.format(name="k", sleep_s=8)))
    fleet.wait_for(lambda: fleet.records.get(run_id).steps >= 1, 90, "the first step")

    fleet.kill("doomed")
    fleet.start_worker("rescuer")
    record = fleet.wait_state(run_id, {"succeeded", "failed"}, timeout_s=180)

    assert record.state == "succeeded"
    assert record.attempt == 2
    assert (_run_dir(fleet, run_id, 1) / "transcript.jsonl").exists()  # the dead attempt's artifacts stay
    assert (_run_dir(fleet, run_id, 2) / "result.json").exists()
    terminal = [e for e in fleet.records.events(run_id) if e.get("state") in {"succeeded", "failed"}]
    assert len(terminal) == 1
    fleet.wait_for(lambda: _sandboxes(fleet, run_id) == [], 60, "the dead attempt's container to be reaped")


def test_a_redis_restart_during_a_batch_loses_no_run(fleet: Fleet, tmp_path: Path) -> None:
    body = "tasks:\n" + "".join(
        SLOW_SCRIPT.format(name=f"r{i}", sleep_s=2).split("tasks:\n", 1)[1] for i in range(4)
    )
    run_ids = _enqueue(fleet, write_tasks(tmp_path / "batch.yaml", body))
    fleet.start_worker()
    fleet.start_beat()  # as in production: the reaper resumes any run a Redis blip orphaned
    fleet.wait_for(lambda: any(fleet.records.get(r).state == "running" for r in run_ids), 90, "a run")

    fleet.redis_server.restart()
    records = [fleet.wait_state(r, {"succeeded", "failed", "cancelled"}, 240) for r in run_ids]

    assert [r.state for r in records] == ["succeeded"] * 4


def test_cancelling_a_running_run_stops_it_removes_its_container_and_keeps_its_artifacts(
    fleet: Fleet, tmp_path: Path
) -> None:
    fleet.start_worker()
    (run_id,) = _enqueue(fleet, write_tasks(tmp_path / "t.yaml", SLOW_SCRIPT.format(name="c", sleep_s=60)))
    fleet.wait_for(lambda: fleet.records.get(run_id).steps >= 1, 90, "the first step")

    done = fleet.cli("cancel", run_id)
    assert done.returncode == 0, done.stdout + done.stderr
    assert fleet.records.cancel_requested(run_id), done.stdout
    record = fleet.wait_state(run_id, {"cancelled", "succeeded", "failed"}, timeout_s=40)

    assert record.state == "cancelled"
    assert (_run_dir(fleet, run_id, 1) / "transcript.jsonl").exists()
    fleet.wait_for(lambda: _sandboxes(fleet, run_id) == [], 30, "the container to go")


def test_artifacts_written_while_s3_is_unreachable_all_arrive_when_it_returns(
    redis_server: RedisServer, tmp_path: Path, sandbox_image: str, ceph: CephS3
) -> None:
    bucket = ceph.store().bucket  # a fresh bucket on the real Ceph RGW
    fleet = Fleet(redis_server, tmp_path, NIGHTSHIFT_STORE="s3", NIGHTSHIFT_S3_BUCKET=bucket,
                  NIGHTSHIFT_S3_ENDPOINT_URL=ceph.endpoint_url, NIGHTSHIFT_S3_ACCESS_KEY_ID=ceph.access_key,
                  NIGHTSHIFT_S3_SECRET_ACCESS_KEY=ceph.secret_key, NIGHTSHIFT_S3_CONNECT_TIMEOUT_S="1",
                  NIGHTSHIFT_S3_READ_TIMEOUT_S="2", NIGHTSHIFT_S3_MAX_ATTEMPTS="1",
                  NIGHTSHIFT_SPOOL_FLUSH_INTERVAL_S="1")
    try:
        fleet.start_worker()
        task_file = write_tasks(tmp_path / "t.yaml", SLOW_SCRIPT.format(name="s3", sleep_s=3))
        (run_id,) = _enqueue(fleet, task_file)
        fleet.wait_for(lambda: fleet.records.get(run_id).steps >= 1, 90, "the first step")

        ceph.pause()
        try:
            record = fleet.wait_state(run_id, {"succeeded", "failed"}, timeout_s=180)
        finally:
            ceph.unpause()
        store = ceph.store(bucket)
        prefix = record.artifact_prefix

        assert record.state == "succeeded"
        manifest = fleet.wait_for(lambda: _complete_manifest(store, prefix), 120, "the spool to drain")
        assert {"transcript.jsonl", "result.json"} <= {entry["name"] for entry in manifest["objects"]}
        assert verify(store, prefix) == []
    finally:
        fleet.stop_all()


def _complete_manifest(store: S3Store, prefix: str) -> dict[str, Any] | None:
    try:
        manifest: dict[str, Any] = json.loads(store.get(prefix + "manifest.json"))
    except KeyError:
        return None
    return manifest if manifest.get("complete") else None


def test_a_sandbox_that_cannot_start_is_retried_as_new_attempts_then_recorded_failed(
    redis_server: RedisServer, tmp_path: Path, sandbox_image: str
) -> None:
    fleet = Fleet(redis_server, tmp_path, NIGHTSHIFT_MAX_ATTEMPTS="2", NIGHTSHIFT_RETRY_DELAY_S="0.5",
                  NIGHTSHIFT_SANDBOX_IMAGE="nightshift-sandbox:no-such-tag")
    try:
        fleet.start_worker()
        task_file = write_tasks(tmp_path / "t.yaml", SLOW_SCRIPT.format(name="r", sleep_s=0))
        (run_id,) = _enqueue(fleet, task_file)
        record = fleet.wait_state(run_id, {"succeeded", "failed"}, timeout_s=120)

        assert record.state == "failed"
        assert record.attempt == 2
        assert record.stop_reason == "SandboxStartError"
        assert "no-such-tag" in (record.error or "")
        retrying = [e for e in fleet.records.events(run_id) if e.get("type") == "retrying"]
        assert [e["attempt"] for e in retrying] == [1]
        assert json.loads((_run_dir(fleet, run_id, 1) / "result.json").read_text())["state"] == "retrying"
    finally:
        fleet.stop_all()
