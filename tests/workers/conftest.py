"""The run orchestration under test: a real Runtime (real Redis, real Docker engine, a local
artifact store) on a queue of its own, and helpers to create runs and look at their outcome.

Every container these tests start carries the test's fleet label (``nightshift.fleet=<queue>``),
so teardown removes exactly this test's containers and nothing another test or fleet started.
"""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import docker
import pytest
from celery import Celery

from core import broker, keys
from core import labels as label
from core.settings import Settings
from core.spec import TaskSpec
from workers.app import create_app
from workers.runtime import Runtime

T = TypeVar("T")
MakeRuntime = Callable[..., Runtime]


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """Unix socket paths are limited to 108 bytes: keep the sandboxes' socket parent short."""
    path = Path(tempfile.mkdtemp(prefix="nsw-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def make_runtime(
    redis_client: Any, redis_server: Any, tmp_path: Path, socket_dir: Path, docker_client: docker.DockerClient
) -> Iterator[MakeRuntime]:
    """Builds Runtimes as a worker process does (``Runtime.build``), all on one fresh queue name;
    keyword arguments override settings. Removes the queue's containers afterwards."""
    queue = f"ns-w-{uuid.uuid4().hex[:8]}"
    built: list[Runtime] = []

    def make(**overrides: Any) -> Runtime:
        fields: dict[str, Any] = {
            "redis_url": redis_server.url,
            "queue_name": queue,
            "artifacts_dir": tmp_path / "artifacts",
            "sandbox_socket_dir": socket_dir,
            "egress_rules_dir": tmp_path / "egress",
            "sandbox_start_timeout_s": 60.0,
            "sandbox_ready_timeout_s": 60.0,
            "tool_timeout_s": 120.0,
            "retry_delay_s": 10.0,
            "reaper_restart_grace_s": 0.0,  # the session's Redis may be seconds old
            **overrides,
        }
        rt = Runtime.build(Settings(**fields))
        built.append(rt)
        return rt

    yield make
    for container in docker_client.containers.list(all=True, filters={"label": f"{label.FLEET}={queue}"}):
        container.remove(force=True)
    for rt in built:
        rt.redis.close()
        rt.docker.close()


@pytest.fixture
def rt(make_runtime: MakeRuntime) -> Runtime:
    return make_runtime()


def script(*commands: str, **fields: Any) -> TaskSpec:
    """A script task (no model, no API key) playing one bash call per command."""
    steps = [{"name": "bash", "input": {"command": c}} for c in commands]
    return TaskSpec.model_validate({"name": "orchestration", "agent": "script", "steps": steps, **fields})


def new_run(rt: Runtime, spec: TaskSpec) -> str:
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    rt.records.create(run_id, spec, queue=rt.settings.queue_name)
    return run_id


def containers_of(rt: Runtime, run_id: str) -> list[Any]:
    """Every container, running or not, labelled with the run's id."""
    return list(rt.docker.containers.list(all=True, filters={"label": f"{label.RUN_ID}={run_id}"}))


def attempt_dir(rt: Runtime, run_id: str, attempt: int) -> Path:
    return Path(rt.settings.artifacts_dir) / rt.settings.s3_prefix / run_id / f"attempt-{attempt}"


def result_of(rt: Runtime, run_id: str, attempt: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((attempt_dir(rt, run_id, attempt) / "result.json").read_text())
    return data


def assert_ended_clean(rt: Runtime, run_id: str, attempt: int) -> dict[str, Any]:
    """What every outcome of an attempt leaves: no container, no lease, and a complete manifest
    listing result.json under the attempt's prefix. Returns result.json."""
    assert containers_of(rt, run_id) == []
    assert not rt.redis.exists(keys.run_lease(run_id))  # released (a retry may still own the run)
    manifest = json.loads((attempt_dir(rt, run_id, attempt) / "manifest.json").read_text())
    assert manifest["complete"] is True
    assert "result.json" in {entry["name"] for entry in manifest["objects"]}
    return result_of(rt, run_id, attempt)


def event_types(rt: Runtime, run_id: str) -> list[str]:
    return [str(e.get("type")) for e in rt.records.events(run_id)]


def wait_for(predicate: Callable[[], T | None], timeout_s: float, what: str, poll_s: float = 0.1) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def running_in_sandbox(rt: Runtime, run_id: str, command: str) -> bool:
    """Whether a process with ``command`` in its command line runs in the run's container."""
    for container in containers_of(rt, run_id):
        try:
            processes = container.top().get("Processes") or []
        except docker.errors.APIError:  # not running (yet, or any more)
            continue
        if any(command in " ".join(process) for process in processes):
            return True
    return False


def sent_runs(rt: Runtime) -> list[dict[str, Any]]:
    """Every message waiting on the runtime's queue, decoded from kombu's Redis envelope."""
    found = []
    for key in broker.queue_keys(rt.settings):
        for raw in rt.redis.lrange(key, 0, -1):
            envelope = json.loads(raw)
            args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
            hard, soft = envelope["headers"].get("timelimit") or (None, None)  # Celery: [hard, soft]
            found.append(
                {
                    "task": envelope["headers"]["task"],
                    "args": args,
                    "priority": envelope["properties"].get("priority"),
                    "time_limits": (soft, hard),
                }
            )
    return found


@pytest.fixture
def app(rt: Runtime) -> Iterator[Celery]:
    """The worker's Celery app (the one the beat-scheduled reap task sends with)."""
    celery_app = create_app(rt.settings)
    yield celery_app
    celery_app.close()
