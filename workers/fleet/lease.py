"""A per-run lease in Redis: at most one live attempt of a run anywhere in the fleet.

Celery's acks_late + visibility timeout can deliver a run twice; the second delivery finds the
lease held and backs off. A heartbeat thread keeps the lease alive while the run is healthy; when
the worker dies the lease expires and the reaper re-sends the run as a new attempt.
"""

from __future__ import annotations

import contextlib
import threading
import uuid

import redis

from core import keys

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class Lease:
    def __init__(self, client: redis.Redis, run_id: str, ttl_s: int) -> None:
        self.client = client
        self.run_id = run_id
        self.key = keys.run_lease(run_id)
        self.ttl_ms = ttl_s * 1000
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> bool:
        """Take the lease; the retry marker (``hold_for_retry``) is then the lease's job."""
        if not self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
            return False
        self.client.delete(keys.run_retry(self.run_id))
        return True

    def renew(self) -> bool:
        return bool(self.client.eval(_RENEW, 1, self.key, self.token, self.ttl_ms))

    def start_heartbeat(self) -> None:
        self._thread = threading.Thread(target=self._beat, name=f"lease:{self.key}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl_ms / 3000):
            try:
                self.renew()
            except redis.RedisError:
                continue  # Redis restarting: try again next beat, the TTL leaves room

    def release(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        with contextlib.suppress(redis.RedisError):  # it expires by itself
            self.client.eval(_RELEASE, 1, self.key, self.token)


def lease_held(client: redis.Redis, run_id: str) -> bool:
    """Whether some worker owns the run: it holds the lease, or its retry is waiting to start."""
    return bool(client.exists(keys.run_lease(run_id), keys.run_retry(run_id)))


def hold_for_retry(client: redis.Redis, run_id: str, seconds: float) -> None:
    """Mark the run as owned while its retry waits (``seconds``: the countdown plus a lease TTL)."""
    client.set(keys.run_retry(run_id), "1", px=max(1, int(seconds * 1000)))
