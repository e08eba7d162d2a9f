"""A fleet-wide API rate limiter in Redis: requests, input tokens and output tokens per minute.

Fixed one-minute windows on Redis's own clock, so every worker on every machine counts against the
same window. It hangs off the hooks interface: ``on_request`` blocks until the window has room
(and reports the wait through ``on_wait``), ``on_response`` books the tokens actually used.
Hand-written because the limits are shared across processes and machines and must count tokens,
which no Celery or client-side limiter does.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from core import keys
from workers.fleet.ratelimit_headers import pause_s
from workers.hooks import Hooks

_RESERVE = """
local r = tonumber(redis.call('get', KEYS[1]) or '0')
local i = tonumber(redis.call('get', KEYS[2]) or '0')
local o = tonumber(redis.call('get', KEYS[3]) or '0')
local rpm, itpm, otpm, est = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if rpm > 0 and r + 1 > rpm then return 0 end
if itpm > 0 and i > 0 and i + est > itpm then return 0 end
if otpm > 0 and o >= otpm then return 0 end
redis.call('incr', KEYS[1]); redis.call('incrby', KEYS[2], est)
for n = 1, 3 do redis.call('expire', KEYS[n], 120) end
return 1
"""


@dataclass(frozen=True)
class Limits:
    requests_per_min: int = 0
    input_tokens_per_min: int = 0
    output_tokens_per_min: int = 0

    @property
    def unlimited(self) -> bool:
        return not (self.requests_per_min or self.input_tokens_per_min or self.output_tokens_per_min)


class RateLimiter:
    def __init__(self, client: redis.Redis, limits: Limits, sleep: Callable[[float], None] = time.sleep):
        self.client = client
        self.limits = limits
        self.sleep = sleep

    def _window(self) -> tuple[int, float]:
        seconds, micros = self.client.time()
        now = seconds + micros / 1e6
        return int(now // 60), 60 - (now % 60)

    def _keys(self, minute: int) -> list[str]:
        return [keys.rate_window(kind, minute) for kind in ("requests", "input", "output")]

    def try_reserve(self, input_tokens: int) -> float:
        """Book one request; 0 when booked, else the seconds until the window turns over."""
        minute, left_s = self._window()
        limits = self.limits
        args = [limits.requests_per_min, limits.input_tokens_per_min, limits.output_tokens_per_min]
        booked = self.client.eval(_RESERVE, 3, *self._keys(minute), *args, input_tokens)
        return 0.0 if booked else left_s + random.uniform(0, 0.5)

    def now(self) -> float:
        seconds, micros = self.client.time()
        return seconds + micros / 1e6

    def pause(self, wait_s: float) -> None:
        """Hold every worker's requests for ``wait_s`` (a later pause already set is kept)."""
        until = self.now() + wait_s
        current = self.client.get(keys.rate_pause())
        if current is None or float(current) < until:
            self.client.set(keys.rate_pause(), f"{until:.3f}", px=max(1, int(wait_s * 1000)))

    def paused_for(self) -> float:
        until = self.client.get(keys.rate_pause())
        return 0.0 if until is None else max(0.0, float(until) - self.now())

    def acquire(self, input_tokens: int, on_wait: Callable[[float], None]) -> None:
        while (paused_s := self.paused_for()) > 0:
            on_wait(paused_s)
            self.sleep(paused_s)
        if self.limits.unlimited:
            return
        while (wait_s := self.try_reserve(input_tokens)) > 0:
            on_wait(wait_s)
            self.sleep(wait_s)

    def book(self, input_tokens: int, output_tokens: int) -> None:
        if self.limits.unlimited:
            return
        minute, _ = self._window()
        _, inp, out = self._keys(minute)
        pipe = self.client.pipeline()
        pipe.incrby(inp, input_tokens)
        pipe.incrby(out, output_tokens)
        pipe.expire(inp, 120)
        pipe.expire(out, 120)
        pipe.execute()


class RateLimitHook(Hooks):
    """Books every request against the fleet's limits; the estimate is the last request's input."""

    def __init__(self, limiter: RateLimiter, hooks_for_wait: Hooks) -> None:
        self.limiter = limiter
        self.report = hooks_for_wait
        self.estimate = 0

    def on_request(self, step: int, request: dict[str, Any]) -> None:
        self.limiter.acquire(self.estimate, lambda s: self.report.on_wait("rate limit", s))

    def on_api_headers(self, headers: dict[str, str]) -> None:
        wait_s = pause_s(headers, self.limiter.now())
        if wait_s > 0:
            self.limiter.pause(wait_s)

    def on_response(self, step: int, response: dict[str, Any], elapsed_ms: float) -> None:
        usage = response.get("usage") or {}
        fresh_input = int(usage.get("input_tokens") or 0) + int(usage.get("cache_creation_input_tokens") or 0)
        self.limiter.book(max(fresh_input - self.estimate, 0), int(usage.get("output_tokens") or 0))
        self.estimate = fresh_input
