"""The warm pool's keeper: one daemon thread in each worker host's main process.

Every pass it (1) renews its heartbeat, (2) recycles ready sandboxes idle past
``warm_pool_ttl_s``, (3) tops each shape up to ``warm_pool_size``, never past the host's free
slots (``worker_concurrency`` minus the sandboxes runs hold now), and sleeps until a claim wakes it
or ``warm_pool_interval_s`` passes. Shapes are the default one plus every shape a run asked for on
this host within ``warm_pool_shape_ttl_s``. On shutdown it removes the sandboxes it still holds,
also when Redis is already gone (a process manager stopping everything at once): shutdown talks to
Redis through a client that fails at once, and a sandbox whose claim cannot be read is removed (a
worker's own runs have ended by then; one worker process per host is the deployment). A keeper
that dies leaves its heartbeat to expire; the reaper then removes its idle sandboxes.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid

import redis
import structlog
from docker.models.containers import Container

from core import keys
from core import labels as label
from core.broker import connect_redis_briefly
from core.errors import NightshiftError
from core.settings import Settings
from workers.sandbox.launcher import SandboxLauncher
from workers.sandbox.pool import Entry, Shape, default_shape, discard, ready_entries, socket_dir_of, take_back

log = structlog.get_logger("nightshift.pool")
STOP_JOIN_S = 1.0  # stop() waits this long for the keeper's pass (a sandbox still starting removes itself)


class PoolKeeper:
    """Keeps this host's warm sandboxes; ``owner`` names this keeper on its containers."""

    def __init__(self, launcher: SandboxLauncher, client: redis.Redis, settings: Settings,
                 worker: str) -> None:
        self.launcher = launcher
        self.docker = launcher.docker
        self.redis = client
        self.settings = settings
        self.worker = worker
        self.fleet = settings.queue_name
        self.owner = uuid.uuid4().hex[:16]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self.heartbeat()
        self._thread = threading.Thread(target=self._loop, name="nightshift-pool", daemon=True)
        self._thread.start()

    def stop(self, drain: bool = True) -> None:
        """Stop the thread; with ``drain`` remove every idle sandbox this keeper started. A sandbox
        the thread is still starting is removed by itself once ready (``add`` sees the stop)."""
        self._stop.set()
        brief = connect_redis_briefly(self.settings)
        with contextlib.suppress(redis.RedisError):
            brief.lpush(keys.pool_wake(self.fleet, self.worker), "stop")
        if self._thread is not None:
            self._thread.join(timeout=STOP_JOIN_S)
        if drain:
            self.drain(brief)
        with contextlib.suppress(redis.RedisError):
            brief.delete(keys.pool_owner(self.owner))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.pass_once()
            except Exception as exc:  # keep the pool alive through Docker/Redis hiccups
                log.warning("pool pass failed", error=str(exc))
                self._stop.wait(self.settings.warm_pool_interval_s)
            self._wait_for_wake()

    def _wait_for_wake(self) -> None:
        if self._stop.is_set():
            return
        wake = keys.pool_wake(self.fleet, self.worker)
        try:
            self.redis.blpop([wake], timeout=self.settings.warm_pool_interval_s)
            self.redis.delete(wake)  # one pass serves every claim made meanwhile
        except redis.RedisError:
            self._stop.wait(self.settings.warm_pool_interval_s)

    # --- one pass ----------------------------------------------------------------------------------
    def heartbeat(self) -> None:
        ttl = int(max(60, 3 * self.settings.warm_pool_interval_s))
        self.redis.set(keys.pool_owner(self.owner), self.worker, ex=ttl)

    def pass_once(self) -> int:
        """Recycle and refill once; the number of sandboxes started."""
        self.heartbeat()
        free = self.settings.worker_concurrency - self.busy()
        started = 0
        for shape in self.shapes():
            self.recycle(shape)
            want = max(0, min(self.settings.warm_pool_size, free))
            free -= want
            idle = len(ready_entries(self.redis, self.fleet, self.worker, shape))
            for _ in range(want - idle):
                if self._stop.is_set():
                    return started
                self.add(shape)
                started += 1
        return started

    def shapes(self) -> list[Shape]:
        """The default shape first, then the ones runs asked for lately (most recent first)."""
        since = time.time() - self.settings.warm_pool_shape_ttl_s
        asked: list[bytes] = self.redis.zrevrangebyscore(  # type: ignore[assignment]
            keys.pool_shapes(self.fleet, self.worker), "+inf", since)
        found = [default_shape(self.settings)]
        found += [s for s in (Shape.from_key(k.decode()) for k in asked) if s not in found]
        return found if self.settings.warm_pool_size > 0 else []

    def busy(self) -> int:
        """Sandboxes on this host that runs hold now: all of the fleet's here but the idle pooled."""
        wanted = [label.SANDBOX, f"{label.FLEET}={self.fleet}", f"{label.WORKER}={self.worker}"]
        mine: dict[str, str | list[str] | bool] = {"label": wanted}
        containers = self.docker.containers.list(filters=mine)
        idle = sum(1 for c in containers if label.POOL in c.labels and not self._claimed(c.id))
        return len(containers) - idle

    def _claimed(self, container_id: str | None, client: redis.Redis | None = None) -> bool:
        return bool(container_id and (client or self.redis).exists(keys.pool_claim(container_id)))

    def add(self, shape: Shape) -> Entry | None:
        """Start one sandbox of ``shape``, wait for its desktop, and list it as ready."""
        started = time.time()  # the TTL counts from here, on the label and in the entry alike
        idle_until = int(started + self.settings.warm_pool_ttl_s)
        pool_labels = label.for_pool(shape.key, self.owner, idle_until, self.worker, self.fleet)
        try:
            sandbox = self.launcher.start(f"pool-{uuid.uuid4().hex[:8]}", shape.width, shape.height,
                                          network=shape.network, labels=pool_labels, image=shape.image)
        except NightshiftError as exc:
            log.warning("pooled sandbox did not start", shape=shape.key, error=str(exc))
            return None
        try:
            sandbox.wait_ready()
        except BaseException:
            sandbox.stop()
            raise
        if self._stop.is_set():  # stopping meanwhile: never list a sandbox nobody will drain
            sandbox.stop()
            return None
        sandbox.release()  # let the executor go: the run that claims it listens anew
        entry = Entry(sandbox.container_id, str(sandbox.socket_dir), started)
        self.redis.rpush(keys.pool_ready(self.fleet, self.worker, shape.key), entry.dumps())
        self.redis.hincrby(keys.pool_stats(self.fleet, self.worker), "started", 1)
        return entry

    def recycle(self, shape: Shape) -> int:
        """Remove this shape's ready sandboxes idle past the TTL (a run's claim wins a race)."""
        recycled = 0
        too_old = time.time() - self.settings.warm_pool_ttl_s
        for entry in ready_entries(self.redis, self.fleet, self.worker, shape):
            if entry.started_at <= too_old and take_back(self.redis, self.fleet, self.worker, shape.key,
                                                         entry.container_id):
                discard(self.docker, entry.container_id, entry.socket_dir)
                recycled += 1
        if recycled:
            self.redis.hincrby(keys.pool_stats(self.fleet, self.worker), "recycled", recycled)
            log.info("pooled sandboxes recycled", shape=shape.key, count=recycled)
        return recycled

    def drain(self, client: redis.Redis | None = None) -> int:
        """Remove every ready sandbox this keeper started (at shutdown); claimed ones stay the runs'.
        A sandbox whose claim ``client`` cannot read (Redis gone) is removed too."""
        drained = 0
        mine: dict[str, str | list[str] | bool] = {"label": [f"{label.POOL_OWNER}={self.owner}"]}
        for container in self.docker.containers.list(all=True, filters=mine):
            if self._unclaimed(client or self.redis, container):
                discard(self.docker, str(container.id), socket_dir_of(container))
                drained += 1
        return drained

    def _unclaimed(self, client: redis.Redis, container: Container) -> bool:
        shape_key, container_id = container.labels.get(label.POOL, ""), str(container.id)
        try:
            return take_back(client, self.fleet, self.worker, shape_key, container_id) or \
                not self._claimed(container_id, client)
        except redis.RedisError:
            return True
