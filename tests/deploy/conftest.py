"""A deployment of deploy/docker-compose.yml over two worker machines, a hub and Ceph S3
(tests/deploy/hosts.py), set up once for the module's tests."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest

from core.broker import connect_redis
from core.events import EventType
from core.records import Records, RunRecord
from core.settings import Settings
from tests.ceph import CephS3
from tests.conftest import ROOT
from tests.deploy.hosts import S3_PORT, Hub, WorkerHost, build_images, connect, load_images
from workers.artifacts.attempt import RESULT
from workers.artifacts.s3 import S3Store

HOST_NAMES = ("host-a", "host-b")
VENV_BIN = Path(sys.executable).parent
TERMINAL = {"succeeded", "failed", "cancelled"}
# Fault detection in seconds, not the production defaults (lease 10 s, reaper every 30 s), so the
# test is short; the README gives the recovery time for both.
FLEET_SETTINGS = {
    "NIGHTSHIFT_LEASE_TTL_S": "4",
    "NIGHTSHIFT_REAPER_INTERVAL_S": "2",
    "NIGHTSHIFT_REAPER_RESTART_GRACE_S": "6",  # > the lease TTL: heartbeats retake leases first
    "NIGHTSHIFT_WORKER_CONCURRENCY": "2",
    "NIGHTSHIFT_LOG_LEVEL": "INFO",
}


@dataclass
class Deployment:
    hub: Hub
    hosts: dict[str, WorkerHost]
    records: Records
    store: S3Store
    cli_env: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)

    def enqueue(self, task_text: str, tmp: Path) -> list[str]:
        path = tmp / f"tasks-{uuid.uuid4().hex[:6]}.yaml"
        path.write_text(task_text)
        done = subprocess.run([str(VENV_BIN / "nightshift"), "enqueue", str(path)], cwd=ROOT,
                              env=self.cli_env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout.split()

    def get(self, run_id: str) -> RunRecord:
        return self.records.get(run_id)

    def wait_for(self, predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.3)
        logs = "\n".join(f"--- {h.name}\n{h.worker_logs()}" for h in self.hosts.values())
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}\n{logs}")

    def wait_done(self, run_ids: list[str], timeout_s: float) -> list[RunRecord]:
        self.wait_for(lambda: all(self.get(r).state in TERMINAL for r in run_ids), timeout_s,
                      f"{len(run_ids)} runs to finish")
        return [self.get(r) for r in run_ids]

    def resumed(self, run_id: str) -> bool:
        """Whether the reaper re-sent the run (its worker was gone)."""
        return any(e.get("type") == EventType.RESUMED for e in self.records.events(run_id))

    def containers(self, run_id: str) -> dict[str, int]:
        """Every sandbox the run's attempts had (short id -> attempt), cold or claimed from a pool."""
        return {str(e["container"]): int(e["attempt"]) for e in self.records.events(run_id)
                if e.get("type") == EventType.SANDBOX}

    def terminal_events(self, run_id: str) -> list[dict[str, Any]]:
        return [e for e in self.records.events(run_id) if e.get("state") in TERMINAL]

    def attempts_in_s3(self, run_id: str) -> dict[int, str | None]:
        """Each attempt with objects in the store, and the state its result.json says (None: none)."""
        keys = self.store.list(f"runs/{run_id}/")
        numbers = {int(key.split("/attempt-", 1)[1].split("/", 1)[0]) for key in keys}
        return {n: self._result_state(f"runs/{run_id}/attempt-{n}/") for n in numbers}

    def _result_state(self, prefix: str) -> str | None:
        try:
            return str(json.loads(self.store.get(prefix + RESULT))["state"])
        except KeyError:
            return None


@contextlib.contextmanager
def _exclusive(key: str) -> Iterator[None]:
    """One deployment per checkout at a time: its hosts' engine volumes are not shareable."""
    with open(f"/tmp/nshosts-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="module")
def deployment(docker_client: docker.DockerClient, sandbox_image: str, ceph: CephS3) -> Iterator[Deployment]:
    key = hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]
    with _exclusive(key):
        started = time.monotonic()
        images = build_images(docker_client, sandbox_image)
        store = ceph.store()
        fleet_env = {
            **FLEET_SETTINGS,
            "NIGHTSHIFT_QUEUE_NAME": f"q-{uuid.uuid4().hex[:8]}",
            "NIGHTSHIFT_STORE": "s3",
            "NIGHTSHIFT_S3_BUCKET": store.bucket,
            "NIGHTSHIFT_S3_ACCESS_KEY_ID": ceph.access_key,
            "NIGHTSHIFT_S3_SECRET_ACCESS_KEY": ceph.secret_key,
        }
        hub = Hub(docker_client, f"nshosts{uuid.uuid4().hex[:8]}", {**fleet_env, **images.compose_env()})
        hosts = {name: WorkerHost(docker_client, name, images, hub, key) for name in HOST_NAMES}
        try:
            hub.start()
            s3_address = connect(docker_client, hub.network, ceph.container)
            fleet_env["NIGHTSHIFT_S3_ENDPOINT_URL"] = f"http://{s3_address}:{S3_PORT}"
            fleet_env["NIGHTSHIFT_REDIS_URL"] = hub.redis_url_inside
            for host in hosts.values():
                host.start()
            load_s = load_images(docker_client, list(hosts.values()))
            for host in hosts.values():
                host.up_worker(fleet_env)
            redis_url = hub.redis_url_here
            records = Records(connect_redis(Settings(redis_url=redis_url)))
            cli_env = {**os.environ, "PYTHONPATH": str(ROOT), "NIGHTSHIFT_REDIS_URL": redis_url,
                       "NIGHTSHIFT_QUEUE_NAME": fleet_env["NIGHTSHIFT_QUEUE_NAME"]}
            timings = {"setup_s": time.monotonic() - started, "image_load_s": load_s}
            yield Deployment(hub, hosts, records, store, cli_env, timings)
        finally:
            for host in hosts.values():
                host.remove()
            with contextlib.suppress(docker.errors.APIError):
                docker_client.networks.get(hub.network).disconnect(ceph.container, force=True)
            hub.stop()
