"""The executor's server: one unix socket, one connection at a time, framed JSON (protocol.py).

Two ways to get that connection. Dialling (``NIGHTSHIFT_EXECUTOR_DIAL`` names the socket): the
worker listens on a socket of its own, bind-mounted read-only into the sandbox as one file, and the
executor connects to it, again after every dropped connection; nothing in the sandbox can write to
the host or swap the socket the worker uses. Listening (the variable unset, as before): the
executor binds ``/run/nightshift/executor.sock`` itself, for workers of earlier versions.

Tool instances (computer, bash, editor) are created on first use and live as long as the process,
so shell sessions and editor history persist across reconnects. Every failure becomes an error
reply; the server only exits on ``shutdown`` (or a signal).
"""

from __future__ import annotations

import importlib
import io
import os
import socket
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, cast

from sandbox_image.executor import afterwards, desktop, page, protocol, session_env
from sandbox_image.executor.protocol import ImageTier
from sandbox_image.executor.result import ConfigurableTool, Tool, ToolError, ToolResult
from sandbox_image.executor.scaling import api_size_for, tier_of

EXECUTOR_VERSION = "3"  # 2: image tiers, the SDK's toolset texts; glob, get_file, exec; 3: page
READY_QUIET_S = 0.3
READY_SETTLE_CAP_S = 5.0
# type prefix -> (module, class); imported lazily so the computer path never needs the others.
TOOL_FAMILIES = {
    "computer_": ("sandbox_image.executor.computer", "ComputerTool"),
    "bash_": ("sandbox_image.executor.bash", "BashTool"),
    "text_editor_": ("sandbox_image.executor.editor", "EditorTool"),
}
TOOL_TYPES = [
    "computer_20241022",
    "computer_20250124",
    "computer_20251124",
    "computer_toolset_20260801",
    "bash_20241022",
    "bash_20250124",
    "text_editor_20241022",
    "text_editor_20250124",
    "text_editor_20250429",
    "text_editor_20250728",
]


class Shutdown(Exception):
    """The worker asked the executor to exit."""


def _image_info(data: bytes, media_type: str | None) -> dict[str, Any]:
    from PIL import Image  # the computer tool has imported it already

    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
    return {"media_type": media_type or "image/png", "width": width, "height": height, "bytes": len(data)}


class Reply:
    """One reply frame, plus the raw image frame that follows it when there is an image."""

    def __init__(self, request_id: Any, text: str = "", *, is_error: bool = False) -> None:
        self.message: dict[str, Any] = {
            "id": request_id,
            "text": text,
            "is_error": is_error,
            "image": None,
            "data": None,
            "timings_ms": {},
        }
        self.image: bytes | None = None
        self.stream: afterwards.Streamed | None = None  # get_file: frames after the reply

    @classmethod
    def from_result(cls, request_id: Any, result: ToolResult) -> Reply:
        reply = cls(request_id, result.text, is_error=result.is_error)
        reply.message["timings_ms"] = result.timings_ms
        if result.image is not None:
            reply.image = result.image
            reply.message["image"] = _image_info(result.image, result.media_type)
        return reply


class Executor:
    """Answers requests; knows nothing about sockets."""

    def __init__(self) -> None:
        self.tools: dict[str, Tool] = {}
        self.screen = desktop.screen_size_from_env()
        self.image_tier = ImageTier.STANDARD  # until the worker names the model's (hello or call)
        self._creating = threading.Lock()
        self.input_clock = page.InputClock()  # when the desktop last got input (page's settle)

    def tool_for(self, tool_type: str, tool_name: str) -> Tool:
        for prefix, (module_name, class_name) in TOOL_FAMILIES.items():
            if tool_type.startswith(prefix):
                with self._creating:
                    if prefix not in self.tools:
                        module = importlib.import_module(module_name)
                        self.tools[prefix] = getattr(module, class_name)()
                return self.tools[prefix]
        raise ToolError(f"Tool {tool_name} is invalid")

    def warm_up(self) -> None:
        """Import the computer tool and connect it to X while the worker is still connecting, so
        the first screenshot costs one grab. Failures are left for the real call to report."""
        try:
            computer: Any = self.tool_for("computer_20250124", "computer")
            computer.warm_up()
        except Exception as exc:
            print(f"executor: warm-up failed: {exc}", file=sys.stderr)

    def call(self, request: dict[str, Any]) -> Reply:
        tool = request.get("tool")
        if not isinstance(tool, dict):
            raise ToolError("request.tool must be an object with the tool's type and name")
        tool_type, tool_name = str(tool.get("type", "")), str(tool.get("name", ""))
        screenshot = request.get("screenshot")
        if screenshot is not None and not isinstance(screenshot, bool):
            raise ToolError("request.screenshot must be true, false or null")
        tool_impl = self.tool_for(tool_type, tool_name)
        self._use_tier(request, tool_type, tool_impl)
        if tool_type.startswith("text_editor_"):  # definition params (max_characters) matter here
            editor = cast(ConfigurableTool, tool_impl)
            result = editor.call(tool_type, tool_name, request.get("input"), screenshot, definition=tool)
        else:
            result = tool_impl.call(tool_type, tool_name, request.get("input"), screenshot)
        if tool_type.startswith("computer_"):
            self.input_clock.touch()
        return Reply.from_result(request.get("id"), result)

    def _use_tier(self, request: dict[str, Any], tool_type: str, tool: Tool) -> None:
        if "image_tier" in request:
            self.image_tier = tier_of(request["image_tier"])
        if tool_type.startswith("computer_"):
            cast(Any, tool).use_tier(self.image_tier)

    def hello(self, request: dict[str, Any]) -> Reply:
        if "image_tier" in request:
            self.image_tier = tier_of(request["image_tier"])
        reply = Reply(request.get("id"), "hello")
        reply.message["data"] = {
            "executor_version": EXECUTOR_VERSION,
            "screen_size": list(self.screen),
            "api_size": list(api_size_for(*self.screen, self.image_tier)),
            "image_tier": str(self.image_tier),
            "display": desktop.display_name(),
            "pid": os.getpid(),
            "tool_types": TOOL_TYPES,
            "ops": [op.value for op in protocol.Op],
        }
        return reply

    def wait_ready(self, request: dict[str, Any]) -> Reply:
        timeout = request.get("timeout_s", 20)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 <= timeout <= 600:
            raise ToolError("timeout_s must be a number of seconds between 0 and 600")
        desktop.wait_for_x()
        started = time.monotonic()
        state = desktop.wait_ready(float(timeout))
        if state["ready"]:
            self._settle_screen(float(timeout) - (time.monotonic() - started))
        text = "ready" if state["ready"] else f"desktop not ready after {timeout}s: {state}"
        reply = Reply(request.get("id"), text, is_error=not state["ready"])
        reply.message["data"] = state
        return reply

    def _settle_screen(self, budget_s: float) -> None:
        """Let the freshly mapped panel finish drawing, so the first screenshot shows the desktop:
        until its strip shows more than the plain desktop colour, then until the screen is quiet."""
        computer: Any = self.tool_for("computer_20250124", "computer")
        cap_s = max(0.0, min(budget_s, READY_SETTLE_CAP_S))
        deadline = time.monotonic() + cap_s
        row = desktop.panel_row()
        while row is not None and time.monotonic() < deadline:
            frame = computer.capture.grab()
            if desktop.panel_drawn(frame.bgra, frame.width, row):
                break
            time.sleep(desktop.PANEL_POLL_S)
        computer.capture.settle(quiet_s=READY_QUIET_S, cap_s=max(0.0, deadline - time.monotonic()))

    def put_file(self, request: dict[str, Any], payload: bytes) -> Reply:
        path, mode = request.get("path"), request.get("mode", 0o644)
        if not isinstance(path, str) or not path.startswith("/"):
            raise ToolError(f"put_file: path must be absolute, got {path!r}")
        if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o7777:
            raise ToolError(f"put_file: mode must be an integer permission, got {mode!r}")
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(payload)
            target.chmod(mode)
        except OSError as exc:
            raise ToolError(f"put_file: cannot write {path}: {exc.strerror or exc}") from exc
        return Reply(request.get("id"), f"wrote {len(payload)} bytes to {path}")

    def glob(self, request: dict[str, Any]) -> Reply:
        reply = Reply(request.get("id"), "matched")
        reply.message["data"] = afterwards.matches(request)
        return reply

    def get_file(self, request: dict[str, Any]) -> Reply:
        handle, data = afterwards.open_file(request)
        reply = Reply(request.get("id"), f"streaming {data['size']} bytes")
        reply.message["data"] = data
        reply.stream = afterwards.Streamed(handle, afterwards.chunk_size(request))
        return reply

    def exec(self, request: dict[str, Any]) -> Reply:
        data = afterwards.run_command(request)
        reply = Reply(request.get("id"), f"exit code {data['exit_code']}")
        reply.message["data"] = data
        return reply

    def page(self, request: dict[str, Any]) -> Reply:
        settle, cap = request.get("settle_s", 0), page.MAX_SETTLE_S
        if isinstance(settle, bool) or not isinstance(settle, int | float) or not 0 <= settle <= cap:
            raise ToolError(f"settle_s must be a number of seconds between 0 and {page.MAX_SETTLE_S:g}")
        reply = Reply(request.get("id"), "page")
        reply.message["data"] = page.page(float(settle), self.input_clock)
        return reply

    def set_env(self, request: dict[str, Any]) -> Reply:
        env = session_env.parse(request)
        text = session_env.apply(env)
        shell = self.tools.get("bash_")
        if shell is not None:  # a shell started before has the old environment
            cast(Any, shell).close()
        return Reply(request.get("id"), text)

    def handle(self, request: dict[str, Any], payload: bytes | None) -> Reply:
        op = request.get("op")
        after = {protocol.Op.GLOB: self.glob, protocol.Op.GET_FILE: self.get_file,
                 protocol.Op.EXEC: self.exec, protocol.Op.SET_ENV: self.set_env, protocol.Op.PAGE: self.page}
        if op in after:
            return after[op](request)
        if op == protocol.Op.CALL:
            return self.call(request)
        if op == protocol.Op.HELLO:
            return self.hello(request)
        if op == protocol.Op.WAIT_READY:
            return self.wait_ready(request)
        if op == protocol.Op.PUT_FILE:
            return self.put_file(request, payload or b"")
        if op == protocol.Op.SHUTDOWN:
            raise Shutdown
        raise ToolError(f"unknown op: {op!r}")

    def answer(self, request: dict[str, Any], payload: bytes | None) -> Reply:
        """``handle`` with every failure turned into an error reply."""
        started = time.perf_counter()
        try:
            reply = self.handle(request, payload)
        except (Shutdown, KeyboardInterrupt):
            raise
        except ToolError as exc:
            reply = Reply(request.get("id"), exc.message, is_error=True)
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            reply = Reply(request.get("id"), f"executor error: {type(exc).__name__}: {exc}", is_error=True)
        reply.message["timings_ms"]["total"] = round((time.perf_counter() - started) * 1000, 2)
        return reply


class Server:
    """Serves one connection at a time, and the next one after it drops: accepted on a socket of
    its own (listening), or made to the worker's socket (``dial=True``)."""

    DIAL_BACKOFF_S = (0.005, 0.01, 0.02, 0.05, 0.1)

    def __init__(self, path: str, executor: Executor, *, dial: bool = False) -> None:
        self.path = path
        self.executor = executor
        self.listener = None if dial else self._listen(path)

    @staticmethod
    def _listen(path: str) -> socket.socket:
        Path(path).unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        os.chmod(path, 0o666)  # access is governed by the per-run directory on the host
        listener.listen(4)
        return listener

    def serve_forever(self) -> None:
        while True:
            conn = self._next_connection()
            with conn:
                try:
                    self.serve_connection(conn)
                except Shutdown:
                    return
                except (protocol.ProtocolError, OSError) as exc:
                    print(f"executor: connection dropped: {exc}", file=sys.stderr)

    def _next_connection(self) -> socket.socket:
        if self.listener is not None:
            return self.listener.accept()[0]
        attempt = 0
        while True:  # the worker's socket: dial until it answers (it may be between connections)
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                conn.connect(self.path)
                return conn
            except OSError:
                conn.close()
                time.sleep(self.DIAL_BACKOFF_S[min(attempt, len(self.DIAL_BACKOFF_S) - 1)])
                attempt += 1

    def serve_connection(self, conn: socket.socket) -> None:
        while True:
            try:
                request = protocol.recv_json(conn)
            except protocol.ProtocolError:
                return  # the worker closed the channel (or sent garbage): wait for the next one
            payload = protocol.recv_frame(conn) if request.get("op") == protocol.Op.PUT_FILE else None
            try:
                reply = self.executor.answer(request, payload)
            except Shutdown:
                protocol.send_json(conn, Reply(request.get("id"), "bye").message)
                raise
            protocol.send_json(conn, reply.message)
            if reply.image is not None:
                protocol.send_frame(conn, reply.image)
            if reply.stream is not None:
                self.send_stream(conn, reply.stream)

    @staticmethod
    def send_stream(conn: socket.socket, streamed: afterwards.Streamed) -> None:
        for chunk in streamed:
            protocol.send_frame(conn, chunk)
        protocol.send_frame(conn, b"")
        protocol.send_json(conn, streamed.trailer())

    def close(self) -> None:
        if self.listener is not None:  # a dialled socket is the worker's to remove
            self.listener.close()
            Path(self.path).unlink(missing_ok=True)


def main() -> None:
    socket_dir = os.environ.get("NIGHTSHIFT_SOCKET_DIR", protocol.SOCKET_DIR_IN_SANDBOX)
    dial = os.environ.get(protocol.DIAL_ENV)
    executor = Executor()
    if dial:
        server = Server(dial, executor, dial=True)
    else:
        server = Server(os.path.join(socket_dir, protocol.SOCKET_NAME), executor)
    threading.Thread(target=executor.warm_up, name="warm-up", daemon=True).start()
    try:
        server.serve_forever()
    finally:
        server.close()
