"""The fleet-wide rate limiter counts against shared per-minute windows in a real Redis."""

from __future__ import annotations

from typing import Any

import redis

from workers.fleet.ratelimit import Limits, RateLimiter


def test_unlimited_never_touches_redis_or_waits(redis_client: redis.Redis) -> None:
    waits: list[float] = []
    RateLimiter(redis_client, Limits(), sleep=waits.append).acquire(10_000, waits.append)
    assert waits == [] and redis_client.dbsize() == 0


def test_requests_over_the_per_minute_limit_wait_for_the_next_window(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client, Limits(requests_per_min=2))
    assert limiter.try_reserve(0) == 0 and limiter.try_reserve(0) == 0
    wait_s = limiter.try_reserve(0)
    assert 0 < wait_s <= 60.5


def test_two_workers_share_one_window(redis_client: redis.Redis, redis_server: Any) -> None:
    other = redis.Redis.from_url(redis_server.url)
    first, second = (RateLimiter(c, Limits(requests_per_min=3)) for c in (redis_client, other))
    booked = [first.try_reserve(0), second.try_reserve(0), first.try_reserve(0), second.try_reserve(0)]
    assert [w == 0 for w in booked] == [True, True, True, False]


def test_input_and_output_tokens_are_limited_by_what_was_booked(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client, Limits(input_tokens_per_min=1000, output_tokens_per_min=500))
    assert limiter.try_reserve(900) == 0
    assert limiter.try_reserve(200) > 0  # 900 + 200 input tokens would pass 1000
    limiter.book(0, 500)
    assert limiter.try_reserve(0) > 0  # the output budget of this minute is spent


def test_acquire_reports_each_wait_then_books(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client, Limits(requests_per_min=1), sleep=lambda s: redis_client.flushdb())
    limiter.try_reserve(0)
    reported: list[float] = []
    limiter.acquire(0, reported.append)
    assert len(reported) == 1 and reported[0] > 0
