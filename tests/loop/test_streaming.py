"""Responses read as server-sent events through the SDK's stream helpers (the workers' default,
``settings.api_stream``, and the loop tests' ``FAST`` options): the run, its requests, usage and
transcript are exactly those of the same run read whole; an ``error`` event after the 200 (the API
overloaded mid-stream) is retried like a 529. Every other loop test streams too (``FAST``), so the
cut-off parallel turns of test_api_edges.py are played as streams."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tests.fake_api import FakeAnthropicAPI, Reply, reply, text, tool_use
from tests.fake_usage import PromptCache
from tests.loop.conftest import FAST, FakeClock, FakeSandbox, RecordingHooks, Runner

STREAM = replace(FAST, stream=True)
WHOLE = replace(FAST, stream=False)


THREE_STEPS = [  # the same replies (same tool ids) for both runs
    reply(text("Let me look."), tool_use("computer", {"action": "screenshot"})),
    reply(tool_use("bash", {"command": "printf 'a\\tb' && echo \"quoted\" # ünïcode"})),
    reply(text("Done: the dialog is open.")),
]


def blocks(response: dict[str, Any]) -> list[dict[str, Any]]:
    """A response's content without null fields (the SDK's rebuilt message leaves them out)."""
    return [{k: v for k, v in block.items() if v is not None} for block in response["content"]]


def played(api: FakeAnthropicAPI, run: Runner, stream: bool) -> tuple[Any, RecordingHooks, int]:
    hooks, first = RecordingHooks(), len(api.requests)
    api.cache = PromptCache()  # each run starts with a cold prompt cache, as the first did
    api.enqueue(*THREE_STEPS)
    result = run(options=STREAM if stream else WHOLE, hooks=hooks, sandbox=FakeSandbox())  # same screens
    return result, hooks, first


def test_a_streamed_run_is_the_run_read_whole(api: FakeAnthropicAPI, run: Runner) -> None:
    whole, whole_hooks, _ = played(api, run, stream=False)
    streamed, streamed_hooks, start = played(api, run, stream=True)
    assert all(r.body.get("stream") is True for r in api.requests[start:])
    assert (streamed.state, streamed.steps, streamed.result) == (whole.state, whole.steps, whole.result)
    assert streamed.usage == whole.usage and streamed.cost_usd == whole.cost_usd
    assert [blocks(r) for r in streamed_hooks.responses] == [blocks(r) for r in whole_hooks.responses]
    assert [r["usage"] for r in streamed_hooks.responses] == [r["usage"] for r in whole_hooks.responses]
    sent = [{k: v for k, v in r.body.items() if k != "stream"} for r in api.requests]
    assert sent[start:] == sent[:start]



def test_an_error_event_after_the_200_is_retried(
    api: FakeAnthropicAPI, run: Runner, clock: FakeClock
) -> None:
    api.enqueue(Reply(content=[text("half an ans")], stream_error="overloaded_error"), reply(text("done")))
    result = run(options=STREAM)
    assert (result.state, result.result) == ("succeeded", {"text": "done"})
    assert len(api.requests) == 2 and len(clock.sleeps) == 1


def test_an_error_event_that_is_not_transient_ends_the_run(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(Reply(content=[text("x")], stream_error="invalid_request_error"), reply(text("unused")))
    result = run(options=STREAM)
    assert (result.state, result.stop_reason) == ("failed", "api_error")
    assert result.error is not None and "invalid_request_error" in result.error and len(api.requests) == 1
