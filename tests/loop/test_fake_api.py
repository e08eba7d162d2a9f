"""The fake Messages API itself: it must bill usage like the real API (the cost benchmark depends
on it) and reject what the real API rejects. Spoken to with the real SDK."""

from __future__ import annotations

import base64
from typing import Any

import anthropic
import pytest

from tests.fake_api import FakeAnthropicAPI, reply, text
from tests.loop.conftest import png

EPHEMERAL = {"type": "ephemeral"}
LONG = "word " * 2000  # ~2500 tokens: above the 1024-token minimum


def send(client: anthropic.Anthropic, messages: list[dict[str, Any]], system: Any = LONG) -> dict[str, Any]:
    create: Any = client.messages.with_raw_response.create
    body: Any = create(model="m", max_tokens=10, system=system, messages=messages).json()
    return dict(body["usage"])


def user(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": list(blocks)}


def cached_system() -> list[dict[str, Any]]:
    return [{"type": "text", "text": LONG, "cache_control": EPHEMERAL}]


def test_text_and_image_tokens(api: FakeAnthropicAPI, client: anthropic.Anthropic) -> None:
    api.enqueue(reply(text("ok")))
    image = {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": "image/png",
            "data": base64.b64encode(png((1024, 768))).decode(),
        },
    }
    usage = send(client, [user({"type": "text", "text": "abcd" * 10}, image)], system="x" * 40)
    assert usage["input_tokens"] == 10 + 10 + 1049  # system, text, 1024*768/750
    assert usage["cache_read_input_tokens"] == 0 and usage["cache_creation_input_tokens"] == 0


def test_a_breakpoint_is_written_then_read(api: FakeAnthropicAPI, client: anthropic.Anthropic) -> None:
    api.enqueue(reply(text("a")), reply(text("b")))
    first = send(client, [user({"type": "text", "text": "hi"})], system=cached_system())
    second = send(client, [user({"type": "text", "text": "hi again"})], system=cached_system())
    assert first["cache_creation_input_tokens"] == 2500 and first["input_tokens"] == 1
    assert second["cache_read_input_tokens"] == 2500 and second["cache_creation_input_tokens"] == 0


def test_a_longer_prefix_reads_the_old_part_and_writes_the_new(
    api: FakeAnthropicAPI, client: anthropic.Anthropic
) -> None:
    api.enqueue(reply(text("a")), reply(text("b")))
    turn = {"type": "text", "text": "q" * 400}
    send(client, [user({**turn, "cache_control": EPHEMERAL})], system=cached_system())
    usage = send(
        client,
        [
            user(turn),
            {"role": "assistant", "content": [{"type": "text", "text": "r" * 40}]},
            user({"type": "text", "text": "s" * 40, "cache_control": EPHEMERAL}),
        ],
        system=cached_system(),
    )
    assert usage["cache_read_input_tokens"] == 2600
    assert usage["cache_creation_input_tokens"] == 20
    assert usage["input_tokens"] == 0


def test_a_changed_prefix_misses(api: FakeAnthropicAPI, client: anthropic.Anthropic) -> None:
    api.enqueue(reply(text("a")), reply(text("b")))
    send(client, [user({"type": "text", "text": "x", "cache_control": EPHEMERAL})], system=cached_system())
    changed = [{"type": "text", "text": LONG + "!", "cache_control": EPHEMERAL}]
    usage = send(client, [user({"type": "text", "text": "x"})], system=changed)
    assert usage["cache_read_input_tokens"] == 0 and usage["cache_creation_input_tokens"] > 2500


def test_short_prefixes_are_not_cached(api: FakeAnthropicAPI, client: anthropic.Anthropic) -> None:
    api.enqueue(reply(text("a")))
    usage = send(
        client,
        [user({"type": "text", "text": "hi"})],
        system=[{"type": "text", "text": "short", "cache_control": EPHEMERAL}],
    )
    assert usage["cache_creation_input_tokens"] == 0 and usage["input_tokens"] == 3


@pytest.mark.parametrize(
    ("messages", "problem"),
    [
        (
            [user(*[{"type": "text", "text": "t", "cache_control": EPHEMERAL} for _ in range(4)])],
            "A maximum of 4 blocks with cache_control may be provided. Found 5.",
        ),
        ([user({"type": "text", "text": ""})], "text content blocks must be non-empty"),
        ([user({"type": "text", "text": "x", "citations": None})], "must not contain null fields"),
        (
            [
                user({"type": "text", "text": "go"}),
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "bash", "input": {}}],
                },
                user({"type": "text", "text": "forgot the result"}),
            ],
            "tool_use ids were found without tool_result blocks immediately after",
        ),
    ],
)
def test_requests_the_real_api_would_reject(
    api: FakeAnthropicAPI, client: anthropic.Anthropic, messages: list[dict[str, Any]], problem: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        send(client, messages, system=cached_system())
    assert problem in str(caught.value)
    assert api.requests[-1].rejected is not None
