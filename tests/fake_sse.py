"""The Messages API's streaming form for the local server: a finished message as the server-sent
events the API sends for ``stream: true`` (message_start, content_block_start/delta/stop,
message_delta, message_stop), and the ``error`` event the API can send after a 200 (overloaded
mid-stream). Source: the Messages API streaming docs' event flow and the SDK's accumulator
(``anthropic/lib/streaming/_beta_messages.py``), which these events must rebuild exactly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

CHUNK = 24  # characters per delta: several deltas per block, as the API sends


def message_events(message: dict[str, Any]) -> bytes:
    """The whole stream of ``message`` (a non-streaming response body)."""
    return b"".join(_frame(event) for event in _events(message))


def error_events(message: dict[str, Any], error_type: str, text: str) -> bytes:
    """A stream that starts and then fails: message_start, ping, then an ``error`` event."""
    start = _start(message)
    failure = {"type": "error", "error": {"type": error_type, "message": text}}
    return b"".join(_frame(event) for event in (start, {"type": "ping"}, failure))


def _events(message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield _start(message)
    for index, block in enumerate(message["content"]):
        yield from _block(index, block)
    delta = {key: message.get(key) for key in ("stop_reason", "stop_sequence", "stop_details")}
    extra = {key: message[key] for key in ("context_management",) if key in message}
    yield {"type": "message_delta", "delta": delta, "usage": message["usage"], **extra}
    yield {"type": "message_stop"}


def _start(message: dict[str, Any]) -> dict[str, Any]:
    opening = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    opening.pop("stop_details", None)
    opening.pop("context_management", None)
    return {"type": "message_start", "message": opening}


def _block(index: int, block: dict[str, Any]) -> Iterator[dict[str, Any]]:
    kind = block.get("type")
    if kind == "text":
        yield _open(index, {**block, "text": ""})
        yield from _deltas(index, "text_delta", "text", block["text"])
    elif kind == "tool_use":
        yield _open(index, {**block, "input": {}})
        yield from _deltas(index, "input_json_delta", "partial_json", json.dumps(block["input"]))
    elif kind == "thinking":
        yield _open(index, {**block, "thinking": "", "signature": ""})
        yield from _deltas(index, "thinking_delta", "thinking", block.get("thinking", ""))
        yield _delta(index, {"type": "signature_delta", "signature": block.get("signature", "")})
    else:  # redacted thinking, server tool blocks: whole in their start event
        yield _open(index, block)
    yield {"type": "content_block_stop", "index": index}


def _open(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def _deltas(index: int, kind: str, field: str, text: str) -> Iterator[dict[str, Any]]:
    for start in range(0, len(text), CHUNK):
        yield _delta(index, {"type": kind, field: text[start:start + CHUNK]})


def _delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def _frame(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
