"""A local HTTP server that speaks the Messages API (``POST /v1/messages``, also the beta path
``/v1/messages?beta=true``) to the real ``anthropic`` SDK pointed at it with ``base_url``.

It answers from a script (replies queued in order, or a ``responder`` callable that builds each
reply from the request), records every request (path, headers, JSON body), rejects requests the
real API would reject for the things our loop must get right (more than 4 cache breakpoints,
unanswered or mismatched tool_use ids, images in error results, null fields, empty text blocks,
image limits, toolset results without ``toolset_name``), applies the per-model rules of
tests/fake_rules.py (tool versions, thinking modes, thinking-block binding, context editing, image
tiers; TOOLS.md §10) to the models of tests/fake_models.py, serves those models at
``GET /v1/models``, and reports usage the way the real API computes it (tests/fake_usage.py).

    with FakeAnthropicAPI() as api:
        api.enqueue(reply(tool_use("computer", {"action": "screenshot"})), reply(text("done")))
        client = anthropic.Anthropic(api_key="test", base_url=api.base_url, max_retries=0)
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests import fake_rules, fake_sse
from tests.fake_checks import validate
from tests.fake_models import MODELS, FakeModel, model_for, model_info, models_page
from tests.fake_usage import Pricing, PromptCache, block_tokens, has_marker, output_tokens

_ids = itertools.count(1)


# --- content helpers -------------------------------------------------------------------------------


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value, "citations": None}  # the real API sends the null too


def tool_use(
    name: str, tool_input: dict[str, Any], *, id: str | None = None, toolset: bool = False
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "tool_use",
        "id": id or f"toolu_{next(_ids):06d}",
        "name": name,
        "input": tool_input,
        "caller": None,
    }
    if toolset:
        block["toolset_name"] = "computer"
    return block


def thinking(value: str, signature: str) -> dict[str, Any]:
    return {"type": "thinking", "thinking": value, "signature": signature}


def redacted_thinking(data: str) -> dict[str, Any]:
    return {"type": "redacted_thinking", "data": data}


@dataclass
class Reply:
    """One scripted answer: a message (usage computed at serve time unless given) or an error."""

    status: int = 200
    content: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str | None = "end_turn"
    usage: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    error_type: str = ""
    message: str = ""
    raw_body: bytes | None = None
    stop_details: dict[str, Any] | None = None  # a refusal's details (type, category, explanation)
    stream_error: str | None = None  # streamed: fail after the 200 with an ``error`` event of this type


def reply(
    *content: dict[str, Any], stop_reason: str | None = None, usage: dict[str, Any] | None = None
) -> Reply:
    """A message reply; the stop reason defaults to tool_use when any tool_use block is present."""
    if stop_reason is None:
        stop_reason = "tool_use" if any(b.get("type") == "tool_use" for b in content) else "end_turn"
    return Reply(content=list(content), stop_reason=stop_reason, usage=usage)


def error(status: int, message: str, error_type: str = "", headers: dict[str, str] | None = None) -> Reply:
    kinds = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        529: "overloaded_error",
    }
    kind = error_type or kinds.get(status, "api_error")
    return Reply(status=status, error_type=kind, message=message, headers=headers or {})


@dataclass
class Recorded:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]
    rejected: str | None = None  # the validation message when the fake refused the request
    response: dict[str, Any] | None = None  # the message the fake answered with (usage included)

    @property
    def betas(self) -> list[str]:
        raw = self.headers.get("anthropic-beta", "")
        return [b.strip() for b in raw.split(",") if b.strip()]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])


Responder = Callable[[Recorded], Reply]


class FakeAnthropicAPI:
    def __init__(self, *, min_cacheable_tokens: int = 1024, tool_overhead: bool = True) -> None:
        self.cache = PromptCache(min_cacheable_tokens, tool_overhead)
        self.requests: list[Recorded] = []
        self.script: deque[Reply | Responder] = deque()
        self.responder: Responder | None = None
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), name="fake-anthropic", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeAnthropicAPI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def enqueue(self, *replies: Reply | Responder) -> None:
        self.script.extend(replies)

    @property
    def accepted(self) -> list[Recorded]:
        return [r for r in self.requests if r.rejected is None]

    def serve(self, recorded: Recorded) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.requests.append(recorded)
            refusal = self._refusal(recorded)
            if refusal is not None:
                recorded.rejected = refusal.message
                return _error_response(refusal)
            item = self.script.popleft() if self.script else self.responder
        if item is None:
            return _error_response(error(400, "fake API: no scripted reply left"))
        answer = item if isinstance(item, Reply) else item(recorded)
        if answer.status != 200 or answer.raw_body is not None:
            return _error_response(answer)
        recorded.response = self._message(recorded.body, answer)
        headers = {"content-type": "application/json", "request-id": f"req_{next(_ids):06d}"}
        headers.update(answer.headers)  # rate-limit headers on a success
        if recorded.body.get("stream"):
            return 200, {**headers, "content-type": "text/event-stream"}, _streamed(recorded.response, answer)
        return 200, headers, json.dumps(recorded.response).encode()

    def _refusal(self, recorded: Recorded) -> Reply | None:
        body, model = recorded.body, model_for(recorded.body)
        if model is not None and model.lifecycle == "retired":  # §10.5: inference requests fail
            return error(404, f"model: {model.id}")
        problem = validate(body) or (fake_rules.check(body, recorded.betas, model) if model else None)
        if problem is None and model is not None and model.binds:  # §10.2: thinking-block binding
            failures = fake_rules.binding_failures(body)
            if failures and not fake_rules.wants_drop(body):
                problem = f"{fake_rules.BINDING_ERROR} ({failures[0]})."
        return error(400, problem) if problem else None

    def _message(self, body: dict[str, Any], answer: Reply) -> dict[str, Any]:
        model = model_for(body)
        content = _with_thinking(body, answer.content, model)
        seen, extra = _as_seen(body, model)
        pricing = _pricing(model)
        seen, applied = fake_rules.clear_tool_uses(seen, self.cache.total(seen, pricing),
                                                   lambda b: block_tokens(b, pricing.hires))  # fmt: skip
        usage = answer.usage or self.cache.bill(seen, pricing).as_usage(output_tokens(content))
        if "context_management" in body:
            extra["context_management"] = {"applied_edits": applied}
        return {
            "id": f"msg_{next(_ids):06d}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": content,
            "stop_reason": answer.stop_reason,
            "stop_sequence": None,
            **({"stop_details": answer.stop_details} if answer.stop_details else {}),
            "usage": usage,
            **extra,
        }


def _streamed(message: dict[str, Any], answer: Reply) -> bytes:
    if answer.stream_error:
        return fake_sse.error_events(message, answer.stream_error, "Overloaded")
    return fake_sse.message_events(message)


def _pricing(model: FakeModel | None) -> Pricing:
    if model is None:
        return Pricing()
    return Pricing(model.hires, model.toolset_overhead, model.min_cacheable)


def _with_thinking(
    body: dict[str, Any], content: list[dict[str, Any]], model: FakeModel | None
) -> list[dict[str, Any]]:
    """On 5.x models the answer opens with a signed thinking block; the fake signs every thinking
    block it serves with the prefix it was made for (§10.2)."""
    if model is None or not model.thinks_5x:
        return content
    signed = [{**b, "signature": fake_rules.signature_for(body)} if b.get("type") == "thinking" else b
              for b in content]  # fmt: skip
    opening = fake_rules.opening_thinking(body, model)
    has_thinking = any(b.get("type") == "thinking" for b in signed)
    return signed if opening is None or has_thinking else [opening, *signed]


def _as_seen(body: dict[str, Any], model: FakeModel | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request as the model sees it after the ``drop_block`` opt-out, and what was dropped."""
    if model is None or not model.binds or not fake_rules.wants_drop(body):
        return body, {}
    failures = fake_rules.binding_failures(body)
    dropped = [{"type": "thinking_dropped", "path": p, "reason": "prefix_binding_mismatch"} for p in failures]
    return fake_rules.drop_blocks(body, failures), ({"input_transformations": dropped} if dropped else {})


def _error_response(answer: Reply) -> tuple[int, dict[str, str], bytes]:
    headers = {"content-type": "application/json", **answer.headers}
    if answer.raw_body is not None:
        return answer.status, headers, answer.raw_body
    body = {"type": "error", "error": {"type": answer.error_type, "message": answer.message}}
    return answer.status, headers, json.dumps(body).encode()


class _Handler(BaseHTTPRequestHandler):
    api: FakeAnthropicAPI  # set per server by _handler
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        json_headers = {"content-type": "application/json"}
        if parts.path == "/v1/models":
            return self._send(200, json_headers, json.dumps(models_page(parse_qs(parts.query))).encode())
        name = parts.path.removeprefix("/v1/models/")
        if name in MODELS:
            return self._send(200, json_headers, json.dumps(model_info(MODELS[name])).encode())
        self._send(*_error_response(error(404, f"model: {name}")))

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        if parts.path != "/v1/messages":
            return self._send(404, {"content-type": "application/json"}, b'{"type":"error"}')
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            body = json.loads(raw)
        except ValueError:
            return self._send(*_error_response(error(400, "fake API: body is not JSON")))
        recorded = Recorded(parts.path, parse_qs(parts.query), headers, body)
        self._send(*self.api.serve(recorded))

    def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _handler(api: FakeAnthropicAPI) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"api": api})


def _from_json(item: dict[str, Any]) -> Reply:
    if "status" in item and item["status"] != 200:
        return error(int(item["status"]), str(item.get("message", "")), headers=item.get("headers"))
    return reply(*item.get("content", []), stop_reason=item.get("stop_reason"))


def main(argv: list[str] | None = None) -> None:
    """Serve from another process (fleet tests, demos): replies from a JSON list, then end_turn."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description="a local fake of the Anthropic Messages API")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--script", help="JSON file: a list of replies ({content, stop_reason} or {status, message})"
    )
    parser.add_argument(
        "--final-text", default="Done.", help="the end_turn answer once the script is used up"
    )
    args = parser.parse_args(argv)
    api = FakeAnthropicAPI()
    if args.port:
        api.server.server_close()
        api.server = ThreadingHTTPServer(("127.0.0.1", args.port), _handler(api))
        api.thread = threading.Thread(target=api.server.serve_forever, args=(0.05,), daemon=True)
    if args.script:
        with open(args.script, encoding="utf-8") as handle:
            api.enqueue(*[_from_json(item) for item in json.load(handle)])
    api.responder = lambda request: reply(text(args.final_text))
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})  # delivered to sigwait
    with api:
        print(f"fake Anthropic API listening on {api.base_url}", flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})


__all__ = [
    "FakeAnthropicAPI",
    "Recorded",
    "Reply",
    "error",
    "has_marker",
    "redacted_thinking",
    "reply",
    "text",
    "thinking",
    "tool_use",
]


if __name__ == "__main__":
    main()
