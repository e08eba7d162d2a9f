"""The API's rate-limit headers slow the whole fleet down before it is throttled: a spent limit
(``anthropic-ratelimit-*-remaining: 0``) or a ``retry-after`` pauses every worker's requests, in
a real Redis, until the limit resets; responses read through the real SDK from the local server."""

from __future__ import annotations

import datetime as dt
import time

import anthropic
import redis

from core.catalog import resolve_model
from tests.fake_api import FakeAnthropicAPI, reply, text
from tests.loop.conftest import FAST, FakeClock, FakeSandbox, make_spec
from workers.agent.loop import run_session
from workers.fleet.ratelimit import Limits, RateLimiter, RateLimitHook
from workers.fleet.ratelimit_headers import pause_s
from workers.hooks import HookChain, Hooks

NOW = 1_800_000_000.0


def at(seconds: float) -> str:
    return dt.datetime.fromtimestamp(NOW + seconds, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def test_a_spent_limit_pauses_until_its_reset() -> None:
    headers = {
        "anthropic-ratelimit-requests-remaining": "12",
        "anthropic-ratelimit-requests-reset": at(30),
        "anthropic-ratelimit-input-tokens-remaining": "0",
        "anthropic-ratelimit-input-tokens-reset": at(7.5),
    }
    assert pause_s(headers, NOW) == 7.5
    assert pause_s({**headers, "anthropic-ratelimit-input-tokens-remaining": "900"}, NOW) == 0
    assert pause_s({"retry-after": "4"}, NOW) == 4
    junk = {"anthropic-ratelimit-tokens-remaining": "0", "anthropic-ratelimit-tokens-reset": "junk"}
    assert pause_s(junk, NOW) == 0


class Waits(Hooks):
    def __init__(self) -> None:
        self.waits: list[tuple[str, float]] = []

    def on_wait(self, reason: str, wait_s: float) -> None:
        self.waits.append((reason, wait_s))


def test_the_fleet_waits_after_a_response_says_a_limit_is_spent(redis_client: redis.Redis) -> None:
    slept: list[float] = []
    limiter = RateLimiter(redis_client, Limits(), sleep=slept.append)
    reset = dt.datetime.fromtimestamp(limiter.now() + 3, tz=dt.UTC).isoformat()
    spent = {"anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": reset}
    waits = Waits()
    with FakeAnthropicAPI() as api:
        api.enqueue(reply(text("first")))
        api.script[0].headers.update(spent)  # type: ignore[union-attr]
        client = anthropic.Anthropic(api_key="k", base_url=api.base_url, max_retries=0)
        hooks = HookChain(RateLimitHook(limiter, waits), waits)
        config = resolve_model("claude-sonnet-4-6")
        result = run_session(make_spec(), FakeSandbox(), client, hooks, model_config=config, options=FAST,
                             clock=FakeClock())
        assert result.state == "succeeded"
    other_client = redis.Redis(connection_pool=redis_client.connection_pool)
    other_worker = RateLimiter(other_client, Limits(), sleep=slept.append)
    assert 2.0 < other_worker.paused_for() <= 3.0
    other_worker.acquire(0, lambda s: waits.on_wait("rate limit", s))
    assert slept and 2.0 < slept[0] <= 3.0
    deadline = time.monotonic() + 5
    while other_worker.paused_for() > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert other_worker.paused_for() == 0
