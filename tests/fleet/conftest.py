"""A real fleet for tests: real redis-server, real Celery worker and beat processes, real Docker."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.broker import connect_redis
from core.records import Records
from core.settings import Settings
from tests.conftest import ROOT, RedisServer

VENV_BIN = Path(sys.executable).parent


class Fleet:
    """Starts and kills fleet processes; every process shares one env pointing at test resources."""

    def __init__(self, redis_server: RedisServer, tmp: Path, **settings: str) -> None:
        self.redis_server = redis_server
        self.tmp = tmp
        self.queue = f"q-{uuid.uuid4().hex[:8]}"
        self.env = {
            **os.environ,
            # this checkout's code, also for console scripts (an editable install may point elsewhere)
            "PYTHONPATH": str(ROOT),
            "NIGHTSHIFT_REDIS_URL": redis_server.url,
            "NIGHTSHIFT_QUEUE_NAME": self.queue,
            "NIGHTSHIFT_ARTIFACTS_DIR": str(tmp / "artifacts"),
            "NIGHTSHIFT_SPOOL_DIR": str(tmp / "spool"),
            # unix socket paths are limited to 108 bytes: keep this one short
            "NIGHTSHIFT_SANDBOX_SOCKET_DIR": tempfile.mkdtemp(prefix="nsf-", dir="/tmp"),
            "NIGHTSHIFT_LEASE_TTL_S": "6",
            "NIGHTSHIFT_REAPER_INTERVAL_S": "2",
            "NIGHTSHIFT_REAPER_RESTART_GRACE_S": "8",  # > the lease TTL: heartbeats retake leases first
            "NIGHTSHIFT_WORKER_CONCURRENCY": "2",
            "NIGHTSHIFT_LOG_LEVEL": "INFO",
            **settings,
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        # the observer rides out a Redis restart as the fleet's own clients do
        self.client = connect_redis(Settings(redis_url=redis_server.url))
        self.client.flushdb()  # every fleet starts on a clean database (the server is session-wide)
        self.records = Records(self.client)

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_worker(self, name: str = "worker") -> subprocess.Popen[bytes]:
        args = [str(VENV_BIN / "celery"), "-A", "workers.main", "worker", "-Q", self.queue,
                "-n", f"{name}-{self.queue}@%h", "--without-gossip", "--without-mingle", "-O", "fair"]
        return self._spawn(name, args)

    def start_beat(self) -> subprocess.Popen[bytes]:
        args = [str(VENV_BIN / "celery"), "-A", "workers.main", "beat",
                "--schedule", str(self.tmp / "beat-schedule")]
        return self._spawn("beat", args)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM if name != "beat" else signal.SIGKILL)

    def cli(self, *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(VENV_BIN / "nightshift"), *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=timeout_s)

    def wait_for(self, predicate: Callable[[], Any], timeout_s: float = 120, what: str = "") -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.2)
        logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.tmp.glob("*.log"))
        raise AssertionError(f"timed out waiting for {what}\n{logs}")

    def wait_state(self, run_id: str, states: set[str], timeout_s: float = 120) -> Any:
        return self.wait_for(lambda: (r := self.records.get(run_id)).state in states and r,
                             timeout_s, f"run {run_id} to reach {states}")


@pytest.fixture
def fleet(redis_server: RedisServer, tmp_path: Path, sandbox_image: str) -> Iterator[Fleet]:
    fleet = Fleet(redis_server, tmp_path)
    yield fleet
    fleet.stop_all()
    leftovers = _containers_of(fleet)
    if leftovers:
        subprocess.run(["docker", "rm", "-f", *leftovers], capture_output=True)


def _containers_of(fleet: Fleet) -> list[str]:
    """Only this fleet's sandboxes: other tests may share the Docker engine."""
    label = f"label=nightshift.fleet={fleet.queue}"
    return subprocess.run(["docker", "ps", "-aq", "--filter", label],
                          capture_output=True, text=True).stdout.split()


def write_tasks(path: Path, body: str) -> Path:
    path.write_text(body)
    return path
