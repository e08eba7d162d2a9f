"""A real S3-compatible server for the store and fleet tests: single-node Ceph (mon + memstore OSD +
radosgw from Debian's packages) in a throwaway container, S3 on 127.0.0.1 only.

The image is built on first use by tests/store/ceph/build.sh (tagged by the hash of its inputs,
so editing the recipe rebuilds it); the container is started once per session (~15-20 s).
"""

from __future__ import annotations

import hashlib
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from workers.artifacts.s3 import S3Store

CEPH_DIR = Path(__file__).resolve().parent / "store" / "ceph"
READY_LINE = "nightshift-ceph: ready"


@dataclass
class CephS3:
    container: Any
    endpoint_url: str
    access_key: str = "test"
    secret_key: str = "testsecret"

    def store(self, bucket: str | None = None, **options: Any) -> S3Store:
        store = S3Store(
            bucket or f"t-{uuid.uuid4().hex[:16]}",
            endpoint_url=self.endpoint_url,
            access_key_id=self.access_key,
            secret_access_key=self.secret_key,
            **options,
        )
        store.ensure_bucket()
        return store

    def pause(self) -> None:
        self.container.pause()

    def unpause(self) -> None:
        self.container.reload()
        if self.container.status == "paused":
            self.container.unpause()


def _image_tag() -> str:
    digest = hashlib.sha256()
    for name in ("Dockerfile", "start.sh"):
        digest.update((CEPH_DIR / name).read_bytes())
    return f"nightshift-ceph-test:{digest.hexdigest()[:12]}"


def _ensure_image(docker_client: Any) -> str:
    import docker

    tag = _image_tag()
    try:
        docker_client.images.get(tag)
    except docker.errors.ImageNotFound:
        subprocess.run([str(CEPH_DIR / "build.sh"), tag], check=True, timeout=1800)
    return tag


def _wait_ready(container: Any, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "exited":
            break
        if READY_LINE in container.logs().decode(errors="replace"):
            return
        time.sleep(0.5)
    logs = container.logs().decode(errors="replace")[-3000:]
    raise RuntimeError(f"Ceph did not become ready (status {container.status}):\n{logs}")


def _start(docker_client: Any, tag: str) -> Any:
    """A ready container; a start that dies (a busy shared machine) is retried twice."""
    failures = []
    for _ in range(3):
        container = docker_client.containers.run(
            tag,
            detach=True,
            ports={"7480/tcp": ("127.0.0.1", None)},
            labels={"nightshift.test": "ceph"},
            name=f"nightshift-ceph-test-{uuid.uuid4().hex[:8]}",
        )
        try:
            _wait_ready(container)
            return container
        except RuntimeError as exc:
            failures.append(str(exc))
            container.remove(force=True)
    raise RuntimeError("\n\n".join(failures))


@pytest.fixture(scope="session")
def ceph(docker_client: Any) -> Iterator[CephS3]:
    container = _start(docker_client, _ensure_image(docker_client))
    try:
        container.reload()
        port = container.ports["7480/tcp"][0]["HostPort"]
        yield CephS3(container, f"http://127.0.0.1:{port}")
    finally:
        container.remove(force=True)
