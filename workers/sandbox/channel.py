"""One framed connection to the in-sandbox executor (protocol: sandbox_image/executor/protocol.py).
It knows nothing of containers.

The worker listens and the executor dials: the socket is the worker's own, made in a directory of
the worker's that the sandbox sees read-only. So the worker never follows a path the sandbox could
have planted (a symlink, another socket), and the sandbox has nothing on the host it can write to.
A (re)connection is the next connection the executor makes."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from typing import Any

from sandbox_image.executor import protocol


class Channel:
    """One framed connection to the executor (reconnects lazily after a failure)."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.sock: socket.socket | None = None
        self._ids = 0
        self.interrupted = False  # close() was called while a request may have been in flight
        self.finished = False  # closed for good (the sandbox was stopped): never reconnect
        self.busy = False  # a request is in flight on some thread

    def connect(self, timeout_s: float) -> None:
        """Take the executor's next connection (``TimeoutError`` when none comes in time)."""
        self.listener.settimeout(timeout_s)
        sock, _ = self.listener.accept()
        self.sock = sock

    @property
    def connected(self) -> bool:
        return self.sock is not None

    def shut(self) -> None:
        """Close the channel and stop listening: no executor can connect any more."""
        self.close()
        self.listener.close()

    def close(self) -> None:
        """Close the channel. Only from the thread that owns the call (see ``interrupt``)."""
        sock, self.sock = self.sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def interrupt(self) -> None:
        """From another thread (a cancel): wake a call blocked on the channel. shutdown() wakes a
        blocked recv; the fd is NOT closed here, because a closed fd number can be reused at once
        (the Docker client opening a connection) under the blocked call, which would then wait on
        someone else's socket. The owning thread closes it when its call fails."""
        self.finished = True
        sock = self.sock
        if sock is not None:
            self.interrupted = True
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def request(
        self, message: dict[str, Any], timeout_s: float, payload: bytes | None = None
    ) -> tuple[dict[str, Any], bytes | None]:
        """Send one request and read its reply (and image frame). Raises OSError/ProtocolError."""
        self.busy, self.interrupted = True, False
        try:
            return self._exchange(message, timeout_s, payload)
        finally:
            self.busy = False

    def request_stream(
        self, message: dict[str, Any], timeout_s: float, on_chunk: Callable[[bytes], None]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """A request whose reply is followed by streamed frames (``get_file``): each chunk goes to
        ``on_chunk`` as it arrives (``timeout_s`` bounds each read, not the whole copy). Returns the
        reply and the trailer (None when the reply is an error and nothing was streamed)."""
        self.busy, self.interrupted = True, False
        try:
            reply, _ = self._exchange(message, timeout_s, None)
            if reply.get("is_error"):
                return reply, None
            return reply, self._drain(on_chunk)
        finally:
            self.busy = False

    def _drain(self, on_chunk: Callable[[bytes], None]) -> dict[str, Any]:
        assert self.sock is not None
        try:
            while chunk := protocol.recv_frame(self.sock):
                on_chunk(chunk)
            return protocol.recv_json(self.sock)
        except BaseException:
            self.close()  # frames left unread: the stream is out of step, reconnect next time
            raise

    def _exchange(
        self, message: dict[str, Any], timeout_s: float, payload: bytes | None
    ) -> tuple[dict[str, Any], bytes | None]:
        if self.finished:
            raise protocol.ProtocolError("channel closed for good: the sandbox was stopped")
        if self.sock is None:
            self.connect(timeout_s)
        assert self.sock is not None
        self._ids += 1
        message = {**message, "id": str(self._ids)}
        self.sock.settimeout(timeout_s)
        protocol.send_json(self.sock, message)
        if payload is not None:
            protocol.send_frame(self.sock, payload)
        reply = protocol.recv_json(self.sock)
        image = protocol.recv_frame(self.sock) if reply.get("image") else None
        if reply.get("id") != message["id"]:
            raise protocol.ProtocolError(f"reply id {reply.get('id')!r} != request id {message['id']!r}")
        return reply, image
