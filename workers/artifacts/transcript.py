"""The transcript writer: a hook that appends one JSON event per request, response, tool result,
step and wait to ``transcript.jsonl``, and stores every image as its own file
(``screenshots/0001.png`` …) referenced by name, so the JSONL never holds base64.

Request events record only what is new since the previous request (the history would make the
file quadratic in the number of steps). Secrets are not this writer's business: the sink it
writes to (``RunArtifacts``) redacts every line and object at the run's one artifact boundary.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from workers.agent.caching import count_breakpoints
from workers.artifacts.sink import ArtifactSink
from workers.hooks import Hooks, StepSummary
from workers.outcome import RunResult
from workers.toolio import ToolOutput

TRANSCRIPT = "transcript.jsonl"
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}
_STATIC_KEYS = ("model", "max_tokens", "system", "tools", "betas", "extra_body")


class TranscriptHook(Hooks):
    def __init__(
        self,
        sink: ArtifactSink,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.sink = sink
        self.wall_clock = wall_clock
        self.images: dict[str, str] = {}  # sha256 of the base64 text -> file name
        self.image_count = 0
        self.last_screenshot: str | None = None
        self._messages_seen = 0
        self._static: dict[str, Any] | None = None

    # --- hooks ------------------------------------------------------------------------------------

    def on_request(self, step: int, request: dict[str, Any]) -> None:
        messages = request.get("messages") or []
        start = min(self._messages_seen, len(messages))
        event: dict[str, Any] = {
            "event": "request",
            "step": step,
            "message_count": len(messages),
            "cache_breakpoints": count_breakpoints(request),
            "new_messages": [self._strip_images(m) for m in messages[start:]],
        }
        static = {key: request[key] for key in _STATIC_KEYS if key in request}
        if static != self._static:
            event["setup"] = static  # the first request, or whenever tools/system change
            self._static = static
        self._messages_seen = len(messages)
        self._write(event)

    def on_response(self, step: int, response: dict[str, Any], elapsed_ms: float) -> None:
        # context_management: what the server cleared; input_transformations: thinking blocks it
        # dropped (drop_block); thinking summaries (display: summarized) ride in content.
        fields = ("id", "model", "stop_reason", "stop_sequence", "usage", "content", "context_management",
                  "input_transformations")  # fmt: skip
        event = {"event": "response", "step": step, "elapsed_ms": round(elapsed_ms, 1)}
        event.update({key: response.get(key) for key in fields if key in response})
        self._write(event)

    def on_tool_result(
        self, step: int, tool_use: dict[str, Any], output: ToolOutput, elapsed_ms: float
    ) -> None:
        event: dict[str, Any] = {
            "event": "tool_result",
            "step": step,
            "tool_use_id": tool_use.get("id"),
            "name": tool_use.get("name"),
            "input": tool_use.get("input"),
            "is_error": output.is_error,
            "text": output.text,
            "elapsed_ms": round(elapsed_ms, 1),
            "timings_ms": output.timings_ms,
        }
        if tool_use.get("toolset_name"):
            event["toolset_name"] = tool_use["toolset_name"]
        if output.image is not None:
            encoded = base64.b64encode(output.image).decode("ascii")
            event["image"] = self._save_image(encoded, output.image, output.media_type or "image/png")
            self.last_screenshot = event["image"]
        self._write(event)

    def on_step_end(self, summary: StepSummary) -> None:
        self._write({"event": "step_end", **asdict(summary)})

    def on_wait(self, reason: str, wait_s: float) -> None:
        self._write({"event": "wait", "reason": reason, "wait_s": round(wait_s, 3)})

    def on_approval(self, step: int, event: dict[str, Any]) -> None:
        self._write({"event": "approval", "step": step, **event})

    def snapshot(self) -> dict[str, Any]:
        """What a run paused for an approval needs to go on writing the same transcript."""
        return {"images": self.images, "image_count": self.image_count,
                "last_screenshot": self.last_screenshot, "messages_seen": self._messages_seen,
                "static": self._static}

    def restore(self, state: dict[str, Any]) -> None:
        self.images, self.image_count = dict(state["images"]), int(state["image_count"])
        self.last_screenshot, self._messages_seen = state["last_screenshot"], int(state["messages_seen"])
        self._static = state["static"]

    def on_setup_step(self, report: dict[str, Any]) -> None:
        self._write({"event": "setup", **report})

    def finish(self, result: RunResult) -> None:
        """Optional last event with the outcome (the caller may also store it elsewhere)."""
        self._write({"event": "end", **result.to_dict(), "last_screenshot": self.last_screenshot})

    # --- helpers ------------------------------------------------------------------------------------

    def _write(self, event: dict[str, Any]) -> None:
        event = {"ts": round(self.wall_clock(), 3), **event}
        line = json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str)
        self.sink.append_line(TRANSCRIPT, line)

    def _save_image(self, encoded: str, data: bytes, media_type: str) -> str:
        digest = hashlib.sha256(encoded.encode("ascii")).hexdigest()
        if digest not in self.images:
            self.image_count += 1
            name = f"screenshots/{self.image_count:04d}.{_EXTENSIONS.get(media_type, 'bin')}"
            self.sink.put(name, data, media_type)
            self.images[digest] = name
        return self.images[digest]

    def _strip_images(self, node: Any) -> Any:
        """A copy of ``node`` with every base64 image replaced by a reference to its file."""
        if isinstance(node, list):
            return [self._strip_images(item) for item in node]
        if not isinstance(node, dict):
            return node
        source = node.get("source")
        if node.get("type") == "image" and isinstance(source, dict) and source.get("type") == "base64":
            return {"type": "image", "file": self._image_ref(source)}
        return {key: self._strip_images(value) for key, value in node.items()}

    def _image_ref(self, source: dict[str, Any]) -> str:
        encoded = str(source.get("data", ""))
        digest = hashlib.sha256(encoded.encode("ascii", "replace")).hexdigest()
        if digest in self.images:
            return self.images[digest]
        try:
            data = base64.b64decode(encoded, validate=True)
        except ValueError:
            return "unreadable"
        return self._save_image(encoded, data, str(source.get("media_type", "image/png")))


TranscriptWriter = TranscriptHook
