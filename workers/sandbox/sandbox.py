"""The worker's side of one running sandbox: its executor channel, tool calls, file placement, stop.

Started by ``SandboxLauncher`` (workers/sandbox/launcher.py). Failures are typed (core.errors):
SandboxStartError, SandboxGoneError, ToolTimeoutError. Tool mistakes are ToolOutput errors.
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import docker.errors
from docker.models.containers import Container

from core.errors import SandboxError, SandboxGoneError, SandboxStartError, ToolTimeoutError
from core.settings import Settings
from sandbox_image.executor import protocol
from sandbox_image.executor.protocol import BROWSER_CLASSES, Op
from workers.sandbox.channel import Channel
from workers.sandbox.status import container_status, settled_status, tail_logs
from workers.toolio import ToolOutput

T = TypeVar("T")
CONNECT_BACKOFF_S = (0.005, 0.01, 0.02, 0.05)
STATUS_CHECK_INTERVAL_S = 0.5


def _call_timeout(settings: Settings, tool_input: Any) -> float:
    """The worker-side deadline: the tool timeout, plus any duration the call asks to wait/hold."""
    duration = tool_input.get("duration") if isinstance(tool_input, dict) else None
    extra = float(duration) if isinstance(duration, int | float) and not isinstance(duration, bool) else 0.0
    return settings.tool_timeout_s + max(0.0, min(extra, 600.0))


@dataclass(frozen=True)
class Page:
    """What the sandbox's user is looking at (the executor's ``page`` op)."""

    title: str  # the focused window's
    app: str  # its WM_CLASS class ("firefox-esr"); '' when no window has focus
    url: str | None  # the browser's address, when the browser has focus and it could be read
    is_browser: bool


class Sandbox:
    """A running sandbox container and its executor channel (implements ToolExecutor)."""

    def __init__(
        self, container: Container, socket_dir: Path, settings: Settings, listener: socket.socket
    ) -> None:
        self.container = container
        self.container_id: str = str(container.id)
        self.socket_dir = socket_dir  # holds only the worker's listening socket
        self.settings = settings
        self.channel = Channel(listener)
        self.info: dict[str, Any] = {}
        self.image_tier: str | None = None  # the model's image tier, once the worker names it
        # The desktop's state once ready (set by wait_ready, or by the warm pool's claim: its keeper
        # waited before listing the sandbox); later wait_ready calls return it at once.
        self.ready_state: dict[str, Any] | None = None
        self._stopped = False
        self._removed = False

    # --- ToolExecutor ------------------------------------------------------------------------------
    @property
    def api_size(self) -> tuple[int, int]:
        width, height = self.info.get("api_size") or self.hello()["api_size"]
        return int(width), int(height)

    @property
    def screen_size(self) -> tuple[int, int]:
        width, height = self.info.get("screen_size") or self.hello()["screen_size"]
        return int(width), int(height)

    def call(self, tool: dict[str, Any], tool_input: Any, *, screenshot: bool | None = None) -> ToolOutput:
        message: dict[str, Any] = {
            "op": Op.CALL,
            "tool": dict(tool),  # the whole definition: the editor reads its max_characters
            "input": tool_input,
            "screenshot": screenshot,
        }
        if self.image_tier is not None:
            message["image_tier"] = self.image_tier
        try:
            reply, image = self._request(message, _call_timeout(self.settings, tool_input))
        except protocol.Unencodable as exc:  # nothing was sent: the channel is as it was
            return ToolOutput(text=f"the tool input cannot be sent to the sandbox: {exc}", is_error=True)
        media_type = (reply.get("image") or {}).get("media_type") if image is not None else None
        return ToolOutput(
            text=str(reply.get("text") or ""),
            is_error=bool(reply.get("is_error")),
            image=image,
            media_type=media_type,
            timings_ms=dict(reply.get("timings_ms") or {}),
        )

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- other ops ---------------------------------------------------------------------------------
    def hello(self, timeout_s: float | None = None) -> dict[str, Any]:
        """Screen and API sizes, supported tool types, executor version (cached in ``info``)."""
        timeout = self.settings.tool_timeout_s if timeout_s is None else timeout_s
        message: dict[str, Any] = {"op": Op.HELLO}
        if self.image_tier is not None:
            message["image_tier"] = self.image_tier
        reply, _ = self._request(message, timeout)
        self.info = dict(reply.get("data") or {})
        return self.info

    def use_image_tier(self, tier: str) -> tuple[int, int]:
        """Size screenshots for the model's image tier (protocol.ImageTier) from now on; the new
        API size."""
        self.image_tier = str(tier)
        self.hello()
        return self.api_size

    def wait_ready(self, timeout_s: float | None = None) -> dict[str, Any]:
        """Wait for the window manager and the panel; SandboxStartError if they never come up."""
        if self.ready_state is not None:
            return dict(self.ready_state)
        timeout = self.settings.sandbox_ready_timeout_s if timeout_s is None else timeout_s
        message = {"op": Op.WAIT_READY, "timeout_s": timeout}
        self.ready_state = self._op(message, timeout + 10, failure=SandboxStartError)
        return dict(self.ready_state)

    def put_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Write ``data`` to ``path`` inside the sandbox (as the sandbox user)."""
        message = {"op": Op.PUT_FILE, "path": path, "mode": mode, "size": len(data)}
        self._op(message, self.settings.tool_timeout_s, payload=data)

    def set_env(self, env: dict[str, str]) -> None:
        """Give the sandbox's shells (bash tool, checks) these variables from now on: how secrets
        reach a sandbox, never through the container's environment. The values are not logged."""
        self._op({"op": Op.SET_ENV, "env": dict(env)}, self.settings.tool_timeout_s)

    # --- after the agent: outputs and checks ---------------------------------------------------------
    def glob(self, patterns: list[str], limit: int) -> dict[str, Any]:
        """Files matching ``patterns`` (at most ``limit``): ``{"files": [{path, size}], "unmatched"}``."""
        return self._op({"op": Op.GLOB, "patterns": patterns, "limit": limit}, self.settings.tool_timeout_s)

    def get_file(self, path: str, on_chunk: Callable[[bytes], None]) -> dict[str, Any]:
        """Stream the file at ``path`` out of the sandbox, chunk by chunk, to ``on_chunk``. Returns
        the executor's trailer ``{"ok", "size", "sha256"}``; SandboxError when it cannot be read."""
        message = {"op": Op.GET_FILE, "path": path, "chunk_bytes": self.settings.outputs_chunk_kb * 1024}
        reply, trailer = self._request_stream(message, on_chunk)
        if reply.get("is_error") or trailer is None:
            raise SandboxError(str(reply.get("text")))
        if not trailer.get("ok"):
            raise SandboxError(f"get_file {path}: {trailer.get('error')}")
        return trailer

    def exec(self, command: str, timeout_s: float, max_output_bytes: int) -> dict[str, Any]:
        """Run ``command`` in the sandbox to its end or timeout: exit code, duration, output tail."""
        message = {"op": Op.EXEC, "command": command, "timeout_s": timeout_s,
                   "max_output_bytes": max_output_bytes}
        return self._op(message, timeout_s + self.settings.tool_timeout_s)

    def page(self, settle_s: float = 0.0) -> Page:
        """The focused window, and the browser's address once ``settle_s`` have passed since the
        last input (the browser records a navigation a moment after it)."""
        message = {"op": Op.PAGE, "settle_s": settle_s}
        data = self._op(message, self.settings.tool_timeout_s + settle_s)
        app = str(data.get("app") or "")
        return Page(str(data.get("title") or ""), app, data.get("url"), app.lower() in BROWSER_CLASSES)

    def release(self) -> None:
        """Let go of the sandbox and leave it running, for another process of this host to take
        over (SandboxLauncher.attach): the channel is closed and no longer listened on."""
        self._stopped = True
        self.channel.shut()

    def stop(self) -> None:
        """Remove the container and its socket directory; safe to call more than once, and
        again after a failed removal (the Docker engine was busy): it retries the removal."""
        self._stopped = True  # no new call from here on
        self.channel.interrupt()  # wakes a call in flight on another thread; never reconnects
        if not self.channel.busy:
            self.channel.shut()
        if self._removed:
            return
        try:
            self.container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: removal already in progress
                raise
        self._removed = True
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    # --- plumbing ----------------------------------------------------------------------------------
    def _op(self, message: dict[str, Any], timeout_s: float, payload: bytes | None = None,
            failure: type[SandboxError] = SandboxError) -> dict[str, Any]:
        """One request whose error reply raises ``failure``; the reply's data otherwise."""
        reply, _ = self._request(message, timeout_s, payload)
        if reply.get("is_error"):
            raise failure(f"sandbox {self.container_id[:12]}: {reply.get('text')}")
        return dict(reply.get("data") or {})

    def _request(
        self, message: dict[str, Any], timeout_s: float, payload: bytes | None = None
    ) -> tuple[dict[str, Any], bytes | None]:
        return self._guarded(message, timeout_s, lambda: self.channel.request(message, timeout_s, payload))

    def _request_stream(
        self, message: dict[str, Any], on_chunk: Callable[[bytes], None]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        timeout_s = self.settings.tool_timeout_s
        stream = self.channel.request_stream
        return self._guarded(message, timeout_s, lambda: stream(message, timeout_s, on_chunk))

    def _guarded(self, message: dict[str, Any], timeout_s: float, exchange: Callable[[], T]) -> T:
        """Run one exchange on the channel, its failures typed (timeout, channel gone)."""
        if self._stopped:
            raise SandboxGoneError(f"sandbox {self.container_id[:12]} was stopped")
        try:
            if not self.channel.connected:
                self._reconnect(timeout_s)
            return exchange()
        except TimeoutError as exc:
            self.channel.close()  # the stream is out of step now: reconnect on the next call
            raise ToolTimeoutError(
                f"sandbox {self.container_id[:12]}: no reply to {message.get('op')} within {timeout_s:.0f}s"
            ) from exc
        except (OSError, protocol.ProtocolError) as exc:
            if self.channel.interrupted or self.channel.finished:  # closed on purpose (cancel/stop)
                self.channel.shut()
                raise SandboxGoneError(
                    f"sandbox {self.container_id[:12]}: channel closed by the worker"
                ) from exc
            self.channel.close()
            status = settled_status(self.container)
            raise SandboxGoneError(
                f"sandbox {self.container_id[:12]}: executor channel broke ({exc}); {status.describe()}"
            ) from exc

    def _reconnect(self, timeout_s: float) -> None:
        """Take the executor's next connection, watching the container while waiting for it."""
        deadline = time.monotonic() + timeout_s
        self.channel.busy = True  # a stop() meanwhile must not close the listener under accept()
        try:
            while not self._accepted(deadline):
                pass
        finally:
            self.channel.busy = False

    def _accepted(self, deadline: float) -> bool:
        if self.channel.finished:
            raise protocol.ProtocolError("channel closed for good: the sandbox was stopped")
        try:
            self.channel.connect(min(STATUS_CHECK_INTERVAL_S, max(0.01, deadline - time.monotonic())))
            return True
        except TimeoutError:
            if time.monotonic() >= deadline:
                raise
            if not container_status(self.container).running:
                raise protocol.ProtocolError("the executor is gone and did not connect again") from None
            return False

    def connect(self, deadline: float) -> None:
        """Connect to the executor as soon as its socket answers, or raise SandboxStartError."""
        attempt, next_status_check = 0, time.monotonic() + STATUS_CHECK_INTERVAL_S
        while True:
            try:
                self.channel.connect(min(STATUS_CHECK_INTERVAL_S, max(0.01, deadline - time.monotonic())))
                self.hello(max(1.0, deadline - time.monotonic()))
                return
            except (OSError, protocol.ProtocolError, SandboxError) as exc:
                self.channel.close()
                self._raise_if_hopeless(exc, deadline, time.monotonic() >= next_status_check)
            if time.monotonic() >= next_status_check:
                next_status_check = time.monotonic() + STATUS_CHECK_INTERVAL_S
            time.sleep(CONNECT_BACKOFF_S[min(attempt, len(CONNECT_BACKOFF_S) - 1)])
            attempt += 1

    def _raise_if_hopeless(self, exc: Exception, deadline: float, check_status: bool) -> None:
        if time.monotonic() >= deadline:
            raise SandboxStartError(
                f"sandbox {self.container_id[:12]}: executor did not answer before the start timeout ({exc})"
            )
        if check_status:
            status = container_status(self.container)
            if not status.running:
                logs = tail_logs(self.container)
                raise SandboxStartError(f"sandbox {self.container_id[:12]}: {status.describe()}; {logs}")
