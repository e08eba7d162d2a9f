"""API failures: what is retried (429, 529, 5xx, connection errors) with which waits, what ends the
run (other 4xx), and the one repair attempt after an image rejection. The clock is fake: waits
are recorded, never slept."""

from __future__ import annotations

import base64
import io

import anthropic
from PIL import Image

from core.catalog import resolve_model
from tests.conftest import free_port
from tests.fake_api import FakeAnthropicAPI, error, reply, text, tool_use
from tests.loop.conftest import FAST, MODEL, FakeClock, FakeSandbox, RecordingHooks, Runner, make_spec
from workers.agent.caching import CachePolicy, image_slots
from workers.agent.loop import LoopOptions, run_session
from workers.agent.retry import Backoff


def test_429_waits_exactly_as_long_as_retry_after_says(
    api: FakeAnthropicAPI, run: Runner, clock: FakeClock, hooks: RecordingHooks
) -> None:
    api.enqueue(error(429, "Number of requests has exceeded your rate limit", headers={"retry-after": "7"}))
    api.enqueue(reply(text("done")))
    result = run()
    assert result.state == "succeeded"
    assert clock.sleeps == [7.0]
    assert [wait_s for _, wait_s in hooks.waits] == [7.0]
    assert "429" in hooks.waits[0][0]


def test_retry_after_ms_is_more_precise_and_wins(
    api: FakeAnthropicAPI, run: Runner, clock: FakeClock
) -> None:
    api.enqueue(error(429, "slow down", headers={"retry-after-ms": "1500", "retry-after": "2"}))
    api.enqueue(reply(text("done")))
    assert run().state == "succeeded"
    assert clock.sleeps == [1.5]


def test_overloaded_and_server_errors_back_off_exponentially(
    api: FakeAnthropicAPI, run: Runner, clock: FakeClock
) -> None:
    api.enqueue(error(529, "Overloaded"), error(500, "Internal server error"), error(503, "unavailable"))
    api.enqueue(reply(text("done")))
    options = LoopOptions(backoff=Backoff(base_s=1.0, max_s=60.0, max_attempts=5))
    result = run(options=options)
    assert result.state == "succeeded" and len(api.requests) == 4
    first, second, third = clock.sleeps
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 2.0 and 2.0 <= third <= 4.0


def test_a_client_error_ends_the_run_with_the_apis_message(
    api: FakeAnthropicAPI, run: Runner, clock: FakeClock
) -> None:
    api.enqueue(error(400, "messages.0.content: unexpected block type 'video'"), reply(text("unused")))
    result = run()
    assert (result.state, result.stop_reason) == ("failed", "api_error")
    assert result.error == "HTTP 400 invalid_request_error: messages.0.content: unexpected block type 'video'"
    assert len(api.requests) == 1 and clock.sleeps == []


def test_authentication_errors_are_not_retried(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(error(401, "invalid x-api-key"))
    result = run()
    assert result.state == "failed" and "invalid x-api-key" in (result.error or "")
    assert len(api.requests) == 1


def test_gives_up_after_the_attempt_limit(api: FakeAnthropicAPI, run: Runner, clock: FakeClock) -> None:
    api.enqueue(*[error(529, "Overloaded") for _ in range(10)])
    result = run()  # FAST allows 4 attempts
    assert result.state == "failed"
    assert result.error == "gave up after 4 attempts: HTTP 529 overloaded_error: Overloaded"
    assert len(api.requests) == 4 and len(clock.sleeps) == 3


def test_a_wait_past_the_wall_budget_ends_the_run_without_waiting(
    api: FakeAnthropicAPI, run: Runner, clock: FakeClock
) -> None:
    api.enqueue(error(429, "rate limited", headers={"retry-after": "120"}), reply(text("unused")))
    result = run(budgets={"max_wall_s": 60})
    assert (result.state, result.stop_reason) == ("budget_exhausted", "budget: max_wall_s")
    assert clock.sleeps == []


def test_waiting_counts_against_the_wall_budget(api: FakeAnthropicAPI, run: Runner, clock: FakeClock) -> None:
    api.enqueue(error(429, "a", headers={"retry-after": "40"}), reply(tool_use("bash", {"command": "true"})))
    api.enqueue(error(429, "b", headers={"retry-after": "70"}), reply(text("unused")))
    result = run(budgets={"max_wall_s": 100})
    assert (result.state, result.stop_reason) == ("budget_exhausted", "budget: max_wall_s")
    assert clock.sleeps == [40.0] and len(api.requests) == 3


def test_connection_errors_are_retried(sandbox: FakeSandbox, clock: FakeClock, hooks: RecordingHooks) -> None:
    dead = anthropic.Anthropic(api_key="k", base_url=f"http://127.0.0.1:{free_port()}", max_retries=0)
    result = run_session(
        make_spec(), sandbox, dead, hooks, model_config=resolve_model(MODEL), options=FAST, clock=clock
    )
    assert result.state == "failed"
    assert result.error and result.error.startswith("gave up after 4 attempts: APIConnectionError")
    assert len(clock.sleeps) == 3


def test_an_image_rejection_prunes_and_retries_once(
    api: FakeAnthropicAPI, run: Runner, clock: FakeClock
) -> None:
    shot = {"action": "screenshot"}
    api.enqueue(reply(tool_use("computer", shot)), reply(tool_use("computer", shot)))
    api.enqueue(error(400, "messages.3.content.0.image.source.base64: image exceeds 5 MB maximum"))
    api.enqueue(reply(text("done")))
    options = LoopOptions(backoff=FAST.backoff, cache=CachePolicy(keep_images=3))
    result = run(options=options)
    assert result.state == "succeeded"
    rejected, repaired = api.requests[2], api.requests[3]
    assert len(image_slots(rejected.messages)) == 2
    assert len(image_slots(repaired.messages)) == 1
    assert clock.sleeps == []


def test_a_second_image_rejection_fails_the_run(api: FakeAnthropicAPI, run: Runner) -> None:
    shot = {"action": "screenshot"}
    api.enqueue(reply(tool_use("computer", shot)), reply(tool_use("computer", shot)))
    api.enqueue(error(400, "too many images"), error(400, "too many images"), reply(text("unused")))
    options = LoopOptions(backoff=FAST.backoff, cache=CachePolicy(keep_images=3))
    result = run(options=options)
    assert result.state == "failed" and result.error == "HTTP 400 invalid_request_error: too many images"
    assert len(api.requests) == 4


def test_oversized_screenshots_are_downscaled_on_rejection(api: FakeAnthropicAPI, run: Runner) -> None:
    big = FakeSandbox(api_size=(2400, 1600))
    api.enqueue(reply(tool_use("computer", {"action": "screenshot"})))
    api.enqueue(error(400, "image dimensions exceed max allowed size"), reply(text("done")))
    result = run(sandbox=big)
    assert result.state == "succeeded"
    retried = api.requests[2].messages[-1]["content"][0]["content"]
    assert retried[0]["source"]["media_type"] == "image/jpeg"
    assert "downscaled from 2400x1600 to 1568x1045" in retried[1]["text"]


class TieredSandbox(FakeSandbox):
    """A sandbox on the high image tier that can step down, like the real executor."""

    SIZES = {"high": (1920, 1200), "standard": (1280, 800)}

    def __init__(self) -> None:
        super().__init__(api_size=self.SIZES["high"])
        self.image_tier = "high"

    def use_image_tier(self, tier: str) -> tuple[int, int]:
        self.image_tier, self.api_size = tier, self.SIZES[tier]
        return self.api_size


def test_an_image_rejection_on_the_high_tier_steps_screenshots_down_for_the_rest_of_the_run(
    api: FakeAnthropicAPI, run: Runner
) -> None:
    """Rejected once, the run does not send high-tier screenshots again: the tools declare the
    standard screen from the retried request on, and later screenshots come at that size."""
    sandbox = TieredSandbox()
    shot = {"action": "screenshot"}
    api.enqueue(reply(tool_use("computer", shot)))
    api.enqueue(error(400, "image dimensions exceed max allowed size"))
    api.enqueue(reply(tool_use("computer", shot)), reply(text("done")))
    result = run(sandbox=sandbox)
    assert result.state == "succeeded" and sandbox.image_tier == "standard"
    declared = [next(t for t in r.body["tools"] if t["name"] == "computer") for r in api.requests]
    assert [(t["display_width_px"], t["display_height_px"]) for t in declared] == [
        (1920, 1200), (1920, 1200), (1280, 800), (1280, 800)]
    last_image = api.requests[3].messages[-1]["content"][0]["content"][0]
    assert Image.open(io.BytesIO(base64.b64decode(last_image["source"]["data"]))).size == (1280, 800)
