"""Cache breakpoints and screenshot pruning, read off the request bodies the fake API recorded and
the usage it billed (cache reads and writes by prefix, as the real API computes them). Tools run
in the in-process FakeSandbox: every computer call returns a fresh 1024x768 screenshot."""

from __future__ import annotations

import itertools
from typing import Any

from tests.fake_api import FakeAnthropicAPI, Recorded, Reply, reply, text, tool_use
from tests.fake_usage import strip_markers
from tests.loop.conftest import FAST, Runner
from workers.agent.caching import IMAGE_MARKER, CachePolicy, count_breakpoints, image_slots
from workers.agent.loop import LoopOptions

STEPS = 30


def clicking_model(steps: int) -> Any:
    def respond(request: Recorded) -> Reply:
        step = 1 + sum(1 for m in request.messages if m["role"] == "assistant")
        if step >= steps:
            return reply(text("All done."))
        return reply(
            text(f"Step {step}."), tool_use("computer", {"action": "left_click", "coordinate": [step, 9]})
        )

    return respond


def play(api: FakeAnthropicAPI, run: Runner, policy: CachePolicy, steps: int = STEPS) -> list[Recorded]:
    api.responder = clicking_model(steps)
    result = run(options=LoopOptions(backoff=FAST.backoff, cache=policy), budgets={"max_steps": 100})
    assert result.state == "succeeded" and result.steps == steps
    assert all(r.rejected is None for r in api.requests)
    return api.requests


def marked_messages(request: Recorded) -> list[int]:
    """Indexes of messages carrying a cache_control marker (always on their last block)."""
    marked = []
    for index, message in enumerate(request.messages):
        blocks = message["content"]
        assert all("cache_control" not in b for b in blocks[:-1])
        if "cache_control" in blocks[-1]:
            marked.append(index)
    return marked


def prefix_through(request: Recorded, index: int) -> list[dict[str, Any]]:
    return strip_markers(request.messages[: index + 1])


def test_default_policy_breakpoints_across_30_steps(api: FakeAnthropicAPI, run: Runner) -> None:
    requests = play(api, run, CachePolicy())
    for request in requests:
        body = request.body
        assert count_breakpoints(body) <= 4
        assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
        assert not any("cache_control" in tool for tool in body["tools"])
        marked = marked_messages(request)
        assert (
            len(marked) == min(3, len([m for m in request.messages if m["role"] == "user"]) - 1)
            or len(request.messages) == 1
        )
        assert all(request.messages[i]["role"] == "user" for i in marked)
        slots = image_slots(request.messages)
        assert all(i < slots[0][0] for i in marked) if slots else True
    # steady state: the newest breakpoint sits right before the one live screenshot
    late = requests[-1]
    assert marked_messages(late)[-1] == len(late.messages) - 3
    assert len(image_slots(late.messages)) == 1


def test_default_policy_prefix_only_grows(api: FakeAnthropicAPI, run: Runner) -> None:
    requests = play(api, run, CachePolicy())
    for before, after in itertools.pairwise(requests[1:]):
        last = marked_messages(before)[-1]
        assert prefix_through(after, last) == prefix_through(before, last)


def test_default_policy_never_writes_a_screenshot_to_the_cache(api: FakeAnthropicAPI, run: Runner) -> None:
    play(api, run, CachePolicy())
    usages = [r.response["usage"] for r in api.requests if r.response]
    assert usages[0]["cache_creation_input_tokens"] > 2000  # tools + system + prompt
    for usage in usages[1:]:
        assert usage["cache_read_input_tokens"] >= usages[0]["cache_creation_input_tokens"]
        assert usage["cache_creation_input_tokens"] < 200  # one step of text, never an image (~1049)


def test_interval_pruning_drops_images_in_one_go_and_keeps_the_prefix_between_prunes(
    api: FakeAnthropicAPI, run: Runner
) -> None:
    policy = CachePolicy(keep_images=3, prune_interval=5, breakpoints_after_images=True)
    requests = play(api, run, policy)
    counts = [len(image_slots(r.messages)) for r in requests]
    assert counts[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 3, 4, 5]
    assert max(counts) == 8
    for number in range(1, len(requests)):
        before, after = requests[number - 1], requests[number]
        same_prefix = strip_markers(after.messages[: len(before.messages)]) == strip_markers(before.messages)
        pruned = counts[number] < counts[number - 1]
        assert same_prefix != pruned, (
            f"request {number + 1}: the history changes exactly when a prune happens"
        )
    pruned = requests[9].messages[2]["content"][0]["content"]
    assert {"type": "text", "text": IMAGE_MARKER} in pruned


def test_interval_pruning_reads_the_cache_between_prunes(api: FakeAnthropicAPI, run: Runner) -> None:
    policy = CachePolicy(keep_images=3, prune_interval=5, breakpoints_after_images=True)
    play(api, run, policy)
    usages = [r.response["usage"] for r in api.requests if r.response]
    for number, usage in enumerate(usages[1:], start=2):
        assert usage["cache_read_input_tokens"] > 0, f"request {number} missed the cache"
        assert usage["input_tokens"] < 100


def test_never_more_than_20_images(api: FakeAnthropicAPI, run: Runner) -> None:
    requests = play(api, run, CachePolicy(keep_images=None), steps=25)
    counts = [len(image_slots(r.messages)) for r in requests]
    assert max(counts) == 20 and counts[-1] == 20


def test_reference_policy_marks_the_three_latest_user_messages(api: FakeAnthropicAPI, run: Runner) -> None:
    policy = CachePolicy(keep_images=None, max_images=100, breakpoints_after_images=True)
    requests = play(api, run, policy, steps=8)
    last = requests[-1]
    users = [i for i, m in enumerate(last.messages) if m["role"] == "user"]
    assert marked_messages(last) == users[-3:]
    assert count_breakpoints(last.body) == 4


def test_a_long_bash_stretch_after_a_screenshot_is_still_cached(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(reply(tool_use("computer", {"action": "screenshot"})))
    for step in range(8):
        api.enqueue(reply(tool_use("bash", {"command": f"grep -c x /tmp/file{step}"})))
    api.enqueue(reply(text("done")))
    assert run().state == "succeeded"
    last = api.requests[-1]
    assert len(image_slots(last.messages)) == 1  # the one screenshot is still the last known screen
    assert marked_messages(last)[-1] == len(last.messages) - 1
    usage = last.response["usage"] if last.response else {}
    assert usage["input_tokens"] == 0 and usage["cache_creation_input_tokens"] < 200
