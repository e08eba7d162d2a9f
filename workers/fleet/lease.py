"""A per-run lease in Redis: at most one live attempt of a run anywhere in the fleet.

Celery's acks_late + visibility timeout can deliver a run twice, and a pool child killed mid-run
has its message redelivered at once (``task_reject_on_worker_lost``) while its lease still lives.
A delivery that finds the lease held retries itself after the lease's remaining TTL
(``lease_wait_s``): a live holder keeps renewing, so a duplicate of a healthy run keeps backing off
until the run is finished; a dead holder's lease expires and the redelivery starts attempt N+1.
A heartbeat thread renews the lease every third of its TTL; a lease that vanished while Redis was
away (its TTL ran out during the outage) is taken back by the heartbeat if nobody else holds it.
When only the reaper can see the run (the worker's main process died with the message unacked),
the reaper re-sends it once the lease expired.
"""

from __future__ import annotations

import contextlib
import threading
import uuid

import redis
import structlog

from core import keys

log = structlog.get_logger("nightshift.lease")

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
        """Extend the lease; one that expired while Redis was away is taken back if it is free.
        False: another holder has it (logged)."""
        if self.client.eval(_RENEW, 1, self.key, self.token, self.ttl_ms):
            return True
        if self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
            log.warning("lease.retaken", run_id=self.run_id)
            return True
        log.error("lease.lost", run_id=self.run_id)
        return False

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


def lease_wait_s(client: redis.Redis, run_id: str) -> float:
    """How long until the run's lease (if held) expires unless renewed: a delivery that found it
    held retries after this."""
    remaining_ms = int(client.pttl(keys.run_lease(run_id)))
    return max(remaining_ms, 0) / 1000


def hold_for_retry(client: redis.Redis, run_id: str, seconds: float) -> None:
    """Mark the run as owned while its retry waits (``seconds``: the countdown plus a lease TTL)."""
    client.set(keys.run_retry(run_id), "1", px=max(1, int(seconds * 1000)))
