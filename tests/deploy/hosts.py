"""Machines for the many-machines test, all running deploy/docker-compose.yml as a user would.

- The hub: ``docker-compose up -d --no-deps redis beat`` on this machine's engine (one Redis, one
  beat whose reaper task resumes a dead machine's runs), Redis also published on loopback for the
  test's own client (tests/deploy/hub.yml, the test's only addition to the file).
- Worker hosts: Docker-in-Docker containers, each with its own engine holding the sandbox and worker
  images, where ``docker-compose up -d --no-deps worker`` starts the worker. A host's engine storage
  is a volume kept between test runs (one per checkout and host name, locked while in use), so
  images are loaded into it only when their ID changed.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from docker.models.containers import Container

from core import labels as label
from tests.conftest import ROOT

HERE = Path(__file__).resolve().parent
HOST_IMAGE_DIR = HERE / "host"
COMPOSE_FILE = ROOT / "deploy" / "docker-compose.yml"
HUB_OVERRIDE = HERE / "hub.yml"
TEST_LABEL = "nightshift.test"
TEST_LABELS = {TEST_LABEL: "hosts"}
REPO_IN_HOST = "/srv/nightshift"  # this checkout inside a worker host, read-only
WORKER_UID = 10001  # deploy/worker.Dockerfile's user: owns the directories it bind-mounts
HOST_DIRS = ("/var/lib/nightshift/sockets", "/var/lib/nightshift/spool", "/var/lib/nightshift/egress")
REDIS_PORT = 6379
S3_PORT = 7480
# The host container runs dockerd: every capability this machine's engine can grant (it has no
# CAP_SYS_RESOURCE, so --privileged cannot start) and no confinement of its own.
HOST_CAP_DROP = ["SYS_RESOURCE"]
HOST_SECURITY = ["seccomp=unconfined", "apparmor=unconfined", "systempaths=unconfined", "label=disable"]
CLEAR_ENGINE = 'ids=$(docker ps -aq); [ -z "$ids" ] || docker rm -f $ids >/dev/null'
SANDBOX_FIELDS = ("id", label.RUN_ID, label.ATTEMPT, label.WORKER, label.FLEET, label.POOL)


@dataclass(frozen=True)
class Images:
    sandbox: str
    worker: str
    redis: str
    host: str

    def compose_env(self) -> dict[str, str]:
        """The variables deploy/docker-compose.yml (and deploy/build-images.sh) name images by."""
        return {"NIGHTSHIFT_WORKER_IMAGE": self.worker, "NIGHTSHIFT_REDIS_IMAGE": self.redis,
                "NIGHTSHIFT_SANDBOX_IMAGE": self.sandbox}


def build_images(client: docker.DockerClient, sandbox_image: str) -> Images:
    """The compose file's images via deploy/build-images.sh (tagged like the sandbox image, so
    engineers sharing this engine keep their own), and the worker-host image."""
    tag = sandbox_image.rsplit(":", 1)[1] if ":" in sandbox_image else "latest"
    images = Images(sandbox_image, f"nightshift-worker:{tag}", f"nightshift-redis:{tag}", _host_image(client))
    build = ["bash", str(ROOT / "deploy" / "build-images.sh")]
    subprocess.run(build, env={**os.environ, **images.compose_env()}, check=True, timeout=1200)
    return images


def _base(client: docker.DockerClient) -> str:
    for name in ("debian:bookworm-slim", "nightshift-base:bookworm"):
        if _has_image(client, name):
            return name
    subprocess.run(["bash", str(ROOT / "sandbox_image" / "build.sh"), "base"], check=True, timeout=900)
    return "nightshift-base:bookworm"


def _host_image(client: docker.DockerClient) -> str:
    base = _base(client)
    digest = hashlib.sha256(client.images.get(base).id.encode())
    for name in ("Dockerfile", "start.sh"):
        digest.update((HOST_IMAGE_DIR / name).read_bytes())
    tag = f"nightshift-host-test:{digest.hexdigest()[:12]}"
    if not _has_image(client, tag):
        build = ["docker", "build", "-q", "--build-arg", f"BASE={base}", "-t", tag, str(HOST_IMAGE_DIR)]
        subprocess.run(build, env={**os.environ, "DOCKER_BUILDKIT": "0"}, check=True, timeout=900,
                       stdout=subprocess.DEVNULL)
    return tag


def _has_image(client: docker.DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        return False
    return True


def compose(project: str, env: Mapping[str, str], *args: str) -> str:
    """docker-compose with the user's file plus the hub override, on this machine's engine."""
    command = ["docker-compose", "-p", project, "-f", str(COMPOSE_FILE), "-f", str(HUB_OVERRIDE), *args]
    done = subprocess.run(command, env={"PATH": os.environ["PATH"], **env}, capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


class Hub:
    """Redis and beat of deploy/docker-compose.yml, as the hub machine runs them."""

    def __init__(self, client: docker.DockerClient, project: str, env: Mapping[str, str]) -> None:
        self.client = client
        self.project = project
        self.env = dict(env)
        self.network = f"{project}_default"

    def start(self) -> None:
        compose(self.project, self.env, "up", "-d", "--no-deps", "redis", "beat")

    def container(self, service: str) -> Container:
        (found,) = self.client.containers.list(filters={"label": [
            f"com.docker.compose.project={self.project}", f"com.docker.compose.service={service}"]})
        return found

    def address(self, container: Container) -> str:
        container.reload()
        return str(container.attrs["NetworkSettings"]["Networks"][self.network]["IPAddress"])

    @property
    def redis_url_inside(self) -> str:
        """Redis as the worker hosts reach it: the hub's address on their network."""
        return f"redis://{self.address(self.container('redis'))}:{REDIS_PORT}/0"

    @property
    def redis_url_here(self) -> str:
        port = compose(self.project, self.env, "port", "redis", str(REDIS_PORT)).strip().rsplit(":", 1)[1]
        return f"redis://127.0.0.1:{port}/0"

    def stop(self) -> None:
        compose(self.project, self.env, "down", "--volumes", "--timeout", "5")


class WorkerHost:
    """One worker machine: its own engine in a Docker-in-Docker container on the hub's network."""

    def __init__(self, client: docker.DockerClient, name: str, images: Images, hub: Hub, key: str) -> None:
        self.client = client
        self.name = name
        self.images = images
        self.hub = hub
        self.volume = f"nshosts-{key}-{name}"  # the engine's storage: kept, so images stay loaded
        self.container: Container | None = None

    def start(self) -> None:
        # a host a crashed test run left behind must not share the engine storage with this one
        for stale in self.client.containers.list(all=True, filters={"volume": self.volume}):
            stale.remove(force=True)
        if not self.client.volumes.list(filters={"name": self.volume}):
            self.client.volumes.create(self.volume, labels=TEST_LABELS)
        # the CLI, not the SDK: systempaths=unconfined is a client-side option
        run = ["docker", "run", "-d", "--name", f"{self.hub.project}-{self.name}", "--hostname", self.name,
               "--network", self.hub.network, "--cap-add", "ALL", "--cgroupns", "private",
               "-v", f"{self.volume}:/var/lib/docker", "-v", f"{ROOT}:{REPO_IN_HOST}:ro"]
        run += [f"--cap-drop={cap}" for cap in HOST_CAP_DROP]
        run += [f"--security-opt={opt}" for opt in HOST_SECURITY]
        run += [f"--label={key}={value}" for key, value in TEST_LABELS.items()]
        created = subprocess.run([*run, self.images.host], capture_output=True, text=True, check=True)
        self.container = self.client.containers.get(created.stdout.strip())
        self.wait_engine()
        # what a previous run left (a killed host's worker and sandboxes): this test's host is new
        self.sh(CLEAR_ENGINE)
        self.sh(f"install -d -o {WORKER_UID} -g {WORKER_UID} {' '.join(HOST_DIRS)}")

    def wait_engine(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        assert self.container is not None
        while time.monotonic() < deadline:
            self.container.reload()
            if self.container.status != "running":
                break
            if self.exec(["docker", "info"])[0] == 0:
                return
            time.sleep(0.3)
        raise RuntimeError(f"{self.name}: dockerd did not start:\n{self.logs()}")

    def exec(self, command: list[str], env: Mapping[str, str] | None = None) -> tuple[int, str]:
        assert self.container is not None
        code, output = self.container.exec_run(command, environment=dict(env or {}))
        return int(code), output.decode(errors="replace")

    def sh(self, script: str, env: Mapping[str, str] | None = None) -> str:
        code, output = self.exec(["sh", "-c", script], env)
        if code != 0:
            raise RuntimeError(f"{self.name}: `{script}` exited {code}:\n{output}")
        return output

    def image_id(self, tag: str) -> str | None:
        code, output = self.exec(["docker", "image", "inspect", "-f", "{{.Id}}", tag])
        return output.strip() if code == 0 else None

    def missing_images(self) -> list[str]:
        wanted = (self.images.sandbox, self.images.worker)
        return [tag for tag in wanted if self.image_id(tag) != self.client.images.get(tag).id]

    def up_worker(self, fleet_env: Mapping[str, str]) -> None:
        """The worker machine's steps of the compose file's header, as written there."""
        env = {**fleet_env, **self.images.compose_env(), "NIGHTSHIFT_HOST": self.name}
        self.sh(f"cd {REPO_IN_HOST} && DOCKER_GID=$(stat -c %g /var/run/docker.sock) "
                "docker-compose -f deploy/docker-compose.yml up -d --no-deps worker", env)

    def sandboxes(self) -> list[dict[str, str]]:
        """The short id and labels of every sandbox container on this host's engine, running or not."""
        fields = "\t".join("{{.ID}}" if name == "id" else f'{{{{.Label "{name}"}}}}'
                            for name in SANDBOX_FIELDS)
        code, output = self.exec(["docker", "ps", "-a", "--filter", f"label={label.SANDBOX}",
                                  "--format", fields])
        if code != 0:
            return []
        return [dict(zip(SANDBOX_FIELDS, line.split("\t"), strict=True)) for line in output.splitlines()]

    def worker_logs(self) -> str:
        code, output = self.exec(["sh", "-c", f"cd {REPO_IN_HOST} && docker-compose "
                                  "-f deploy/docker-compose.yml logs --no-color --tail 60 worker"])
        return output if code == 0 else ""

    def logs(self) -> str:
        assert self.container is not None
        return str(self.container.logs(tail=40).decode(errors="replace"))

    def kill(self) -> None:
        """The machine dies: its engine, its worker and its sandboxes, all at once."""
        assert self.container is not None
        self.container.kill()

    def restart(self) -> None:
        """The machine comes back: the engine restarts the worker (restart: unless-stopped)."""
        assert self.container is not None
        self.container.start()
        self.wait_engine()

    def remove(self) -> None:
        """Containers first, then the engine, cleanly: its storage is kept for the next run."""
        if self.container is None:
            return
        self.container.reload()
        if self.container.status == "running":
            self.exec(["sh", "-c", CLEAR_ENGINE])
            self.container.stop(timeout=30)
        self.container.remove(force=True)


def load_images(client: docker.DockerClient, hosts: list[WorkerHost]) -> float:
    """Copy the images each host lacks into its engine: one `docker save`, read once, fed to every
    host's `docker load` at the same time. Returns the seconds it took."""
    started = time.monotonic()
    needed = {host.name: host.missing_images() for host in hosts}
    tags = sorted({tag for missing in needed.values() for tag in missing})
    targets = [host for host in hosts if needed[host.name]]
    if not targets:
        return 0.0
    save = subprocess.Popen(["docker", "save", *tags], stdout=subprocess.PIPE)
    loads = [subprocess.Popen(["docker", "exec", "-i", _name(host), "docker", "load", "-q"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL) for host in targets]
    assert save.stdout is not None
    while chunk := save.stdout.read(1 << 20):
        for load in loads:
            assert load.stdin is not None
            load.stdin.write(chunk)
    for load in loads:
        assert load.stdin is not None
        load.stdin.close()
    if save.wait() != 0 or any(load.wait() != 0 for load in loads):
        raise RuntimeError(f"loading {tags} into {[h.name for h in targets]} failed")
    return time.monotonic() - started


def _name(host: WorkerHost) -> str:
    assert host.container is not None
    return str(host.container.name)


def connect(client: docker.DockerClient, network: str, container: Any) -> str:
    """Attach a container of this machine (the Ceph S3 server) to the hosts' network; its address there."""
    client.networks.get(network).connect(container)
    container.reload()
    return str(container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"])
