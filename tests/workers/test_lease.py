"""The per-run lease in Redis: one holder at a time, only the holder renews or releases it, it
expires when its holder stops renewing, and the heartbeat keeps a live holder's lease."""

from __future__ import annotations

import time
from typing import Any

from tests.workers.conftest import wait_for
from workers.fleet.lease import Lease, lease_held


def test_a_lease_has_one_holder_at_a_time(redis_client: Any) -> None:
    first, second = Lease(redis_client, "r1", 60), Lease(redis_client, "r1", 60)

    assert first.acquire()
    assert not second.acquire()
    assert lease_held(redis_client, "r1")
    assert not lease_held(redis_client, "r2")


def test_leases_of_different_runs_are_independent(redis_client: Any) -> None:
    assert Lease(redis_client, "r1", 60).acquire()
    assert Lease(redis_client, "r2", 60).acquire()


def test_a_released_lease_can_be_taken_by_the_next_holder(redis_client: Any) -> None:
    first, second = Lease(redis_client, "r1", 60), Lease(redis_client, "r1", 60)
    first.acquire()

    first.release()

    assert not lease_held(redis_client, "r1")
    assert second.acquire()


def test_only_the_holder_renews_or_releases_its_lease(redis_client: Any) -> None:
    holder, other = Lease(redis_client, "r1", 60), Lease(redis_client, "r1", 60)
    holder.acquire()

    assert not other.renew()
    other.release()

    assert redis_client.get(holder.key) == holder.token.encode()
    assert holder.renew()


def test_an_unrenewed_lease_expires_after_its_ttl(redis_client: Any) -> None:
    lease = Lease(redis_client, "r1", 1)
    lease.acquire()

    wait_for(lambda: not lease_held(redis_client, "r1"), 10, "the lease to expire")

    assert Lease(redis_client, "r1", 1).acquire()
    assert not lease.renew()  # a holder that stalled past its TTL, and someone else took it: lost


def test_a_lease_that_expired_while_nobody_took_it_is_taken_back_by_its_holder(redis_client: Any) -> None:
    """What a Redis outage longer than the TTL leaves: the live holder's heartbeat takes it back."""
    lease = Lease(redis_client, "r1", 1)
    lease.acquire()
    wait_for(lambda: not lease_held(redis_client, "r1"), 10, "the lease to expire")

    assert lease.renew()
    assert redis_client.get(lease.key) == lease.token.encode()
    assert not Lease(redis_client, "r1", 1).acquire()


def test_the_heartbeat_keeps_the_lease_past_its_ttl_until_released(redis_client: Any) -> None:
    ttl_s = 2
    lease = Lease(redis_client, "r1", ttl_s)
    lease.acquire()
    lease.start_heartbeat()
    try:
        past_ttl = time.monotonic() + 2.5 * ttl_s
        while time.monotonic() < past_ttl:
            assert redis_client.get(lease.key) == lease.token.encode()
            time.sleep(0.1)
    finally:
        lease.release()

    assert not lease_held(redis_client, "r1")
