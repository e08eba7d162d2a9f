"""The warm pool's shared part: shapes, pooled entries in Redis, and the run's atomic claim.

A worker host keeps a few fresh sandboxes per *shape* (image, display size, network policy)
started ahead with the desktop ready (``workers/sandbox/pool_keeper.py``). Each is used once: a run
claims it, places its files and secrets, and removes it when it ends, like a cold one.

    sandbox = claim(rt.redis, rt.docker, settings, host, shape, {"run_id": ..., "attempt": 2, ...})
    if sandbox is None:
        sandbox = launcher.start(...)            # pool empty or disabled: start cold

Redis holds per host and shape a list of ready entries; the claim is one Lua script that pops an
entry and writes the claim (the run's id, attempt and deadline, which the container's fixed labels
cannot carry) in the same atomic step, so two claimers never get the same sandbox and the reaper
always knows whose it is (``workers/fleet/pool_reaper.py``).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import redis
import structlog
from docker.models.containers import Container

from core import keys
from core import labels as label
from core.errors import SandboxError
from core.settings import Settings
from sandbox_image.executor import protocol
from workers.sandbox.launcher import SandboxLauncher
from workers.sandbox.sandbox import Sandbox

CLAIM_GRACE_S = 300  # the claim outlives the run's deadline by this much
MAX_TRIES = 3  # entries tried per claim when a pooled sandbox died meanwhile
log = structlog.get_logger("nightshift.pool")

# KEYS: ready list, stats hash, wake list; ARGV: claim key prefix, claim JSON, claim TTL seconds.
_CLAIM = """
local entry = redis.call('LPOP', KEYS[1])
if not entry then
  redis.call('HINCRBY', KEYS[2], 'cold', 1)
  return false
end
local id = cjson.decode(entry)['id']
redis.call('SET', ARGV[1] .. id, ARGV[2], 'EX', tonumber(ARGV[3]))
redis.call('HINCRBY', KEYS[2], 'claimed', 1)
redis.call('LPUSH', KEYS[3], '1')
redis.call('LTRIM', KEYS[3], 0, 15)
return entry
"""


@dataclass(frozen=True)
class Shape:
    """What makes pooled sandboxes interchangeable."""

    image: str
    width: int
    height: int
    network: bool

    @property
    def key(self) -> str:
        return f"{self.image}|{self.width}x{self.height}|{'internet' if self.network else 'none'}"

    @classmethod
    def from_key(cls, key: str) -> Shape:
        image, size, network = key.rsplit("|", 2)
        width, height = size.split("x")
        return cls(image, int(width), int(height), network == "internet")


@dataclass(frozen=True)
class Entry:
    """One ready pooled sandbox, as listed in Redis."""

    container_id: str
    socket_dir: str
    started_at: float

    def dumps(self) -> str:
        data = {"id": self.container_id, "socket_dir": self.socket_dir, "started": self.started_at}
        return json.dumps(data)

    @classmethod
    def loads(cls, raw: bytes | str) -> Entry:
        data = json.loads(raw)
        return cls(str(data["id"]), str(data["socket_dir"]), float(data["started"]))


def default_shape(settings: Settings) -> Shape:
    """The shape kept warm before any run asked: the default image, 1024x768, no network."""
    return Shape(settings.sandbox_image, 1024, 768, False)


def ready_entries(client: redis.Redis, fleet: str, worker: str, shape: Shape) -> list[Entry]:
    raw: list[bytes] = client.lrange(keys.pool_ready(fleet, worker, shape.key), 0, -1)  # type: ignore[assignment]
    return [Entry.loads(item) for item in raw]


def take_back(client: redis.Redis, fleet: str, worker: str, shape_key: str, container_id: str) -> bool:
    """Take an unclaimed entry off the ready list (to recycle it); False when a run claimed it first."""
    key = keys.pool_ready(fleet, worker, shape_key)
    raw: list[bytes] = client.lrange(key, 0, -1)  # type: ignore[assignment]
    for item in raw:
        if Entry.loads(item).container_id == container_id:
            return bool(client.lrem(key, 1, item))  # type: ignore[arg-type]
    return False


def claim_of(client: redis.Redis, container_id: str) -> dict[str, Any] | None:
    """The run that claimed this pooled sandbox, or None while unclaimed."""
    raw = client.get(keys.pool_claim(container_id))
    return json.loads(raw) if raw else None


def discard(docker_client: docker.DockerClient, container_id: str, socket_dir: str | None = None) -> None:
    """Remove a pooled container (and its socket directory) that no run will use."""
    try:
        docker_client.containers.get(container_id).remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if exc.status_code != 409:  # 409: removal already in progress
            raise
    if socket_dir:
        shutil.rmtree(socket_dir, ignore_errors=True)


def socket_dir_of(container: Container) -> str | None:
    """The host directory bind-mounted as the executor's socket directory."""
    for mount in container.attrs.get("Mounts") or []:
        if mount.get("Destination") == protocol.SOCKET_DIR_IN_SANDBOX:
            return str(mount.get("Source"))
    return None


class Claimer:
    """The run's side: take one ready sandbox of a shape, atomically, and connect to it."""

    def __init__(self, client: redis.Redis, launcher: SandboxLauncher, worker: str) -> None:
        self.redis = client
        self.launcher = launcher
        self.docker = launcher.docker
        self.settings = launcher.settings
        self.worker = worker
        self._script = client.register_script(_CLAIM)

    def claim(self, shape: Shape, run: dict[str, Any]) -> Sandbox | None:
        """A connected, desktop-ready sandbox claimed for ``run`` (``run_id``, ``attempt``,
        ``deadline`` epoch seconds), or None: pool disabled or empty (the caller starts cold)."""
        if self.settings.warm_pool_size <= 0:
            return None
        fleet = self.settings.queue_name
        self.redis.zadd(keys.pool_shapes(fleet, self.worker), {shape.key: time.time()})
        for _ in range(MAX_TRIES):
            entry = self._pop(shape, run)
            if entry is None:
                return None
            sandbox = self._connect(entry)
            if sandbox is not None:
                return sandbox
        return None

    def _pop(self, shape: Shape, run: dict[str, Any]) -> Entry | None:
        fleet = self.settings.queue_name
        ttl = max(60, int(float(run.get("deadline", 0)) - time.time()) + CLAIM_GRACE_S)
        script_keys = [keys.pool_ready(fleet, self.worker, shape.key), keys.pool_stats(fleet, self.worker),
                       keys.pool_wake(fleet, self.worker)]
        raw = self._script(keys=script_keys, args=[keys.pool_claim(""), json.dumps(run), ttl])
        return Entry.loads(raw) if raw else None

    def _connect(self, entry: Entry) -> Sandbox | None:
        """Take the claimed sandbox over from the keeper; one that died meanwhile is removed and None
        returned."""
        try:
            container = self.docker.containers.get(entry.container_id)
            sandbox = self.launcher.attach(container)
        except docker.errors.NotFound:
            return None
        except SandboxError as exc:
            log.warning("pooled sandbox unusable, removed", container=entry.container_id[:12], error=str(exc))
            discard(self.docker, entry.container_id, entry.socket_dir)
            return None
        sandbox.ready_state = {"ready": True, "window_manager": True, "panel": True, "warm": True}
        return sandbox


def start_for_run(launcher: SandboxLauncher, client: redis.Redis, worker: str, shape: Shape,
                  run_labels: dict[str, str]) -> tuple[Sandbox, bool]:
    """A warm sandbox claimed from this host's pool, else a cold one; and whether it was warm.
    ``run_labels`` are the run's (core.labels.for_attempt): the cold container carries them, the
    warm one's claim holds them for the reaper."""
    run = {"run_id": run_labels[label.RUN_ID], "attempt": run_labels[label.ATTEMPT],
           "deadline": run_labels[label.DEADLINE]}
    sandbox = Claimer(client, launcher, worker).claim(shape, run)
    if sandbox is not None:
        return sandbox, True
    cold = launcher.start(run["run_id"], shape.width, shape.height, network=shape.network,
                          labels=run_labels, image=shape.image)
    return cold, False
