"""Wire protocol between the worker and the in-sandbox executor.

One unix-socket connection stays open for the whole run. Every message is a *frame*: a 4-byte
big-endian length followed by that many bytes. A request is one JSON frame; a reply is one JSON
frame, followed by one raw binary frame when the reply carries an image (no base64 on the wire).

Request (JSON)::

    {"id": "7", "op": "call",
     "tool": {"type": "computer_20250124", "name": "computer"},     # the tool definition's type/name
     "input": {...},                                                   # exactly what the model sent
     "screenshot": null,       # null: the tool version's own rule; true/false: force (toolset batches)
     "image_tier": "standard"}  # optional: the model's image tier (ImageTier), as in hello

    {"id": "1", "op": "hello", "image_tier": "high"}  -> screen/api sizes, versions (tier optional)
    {"id": "2", "op": "wait_ready", "timeout_s": 20}  -> waits for window manager and panel
    {"id": "3", "op": "put_file", "path": "/home/user/x", "mode": 420, "size": N}  + one binary frame
    {"id": "4", "op": "shutdown"}
    {"id": "8", "op": "set_env", "env": {"API_TOKEN": "..."}}  -> the bash tool's (and exec's)
        environment from now on; a running shell is restarted; the reply names the variables only

After the agent (outputs, then checks)::

    {"id": "5", "op": "glob", "patterns": ["/home/user/*.xlsx"], "limit": 201}
        -> data {"files": [{"path", "size"}], "unmatched": [patterns]}
    {"id": "6", "op": "get_file", "path": "/home/user/q3.xlsx", "chunk_bytes": 1048576}
        -> reply (data {"path", "size"}); unless is_error, then the file's bytes as non-empty binary
           frames, one empty frame, and a JSON trailer frame {"ok": true, "size", "sha256"} (or
           {"ok": false, "error"} when reading failed midway)
    {"id": "7", "op": "exec", "command": "test -s /tmp/x", "timeout_s": 300, "max_output_bytes": 4000}
        -> data {"exit_code": 0 | null on timeout, "timed_out", "duration_s", "output", "output_bytes"}

Reply (JSON)::

    {"id": "7", "text": "...", "is_error": false,
     "image": {"media_type": "image/png", "width": 1024, "height": 768} | null,
     "data": {...} | null,                         # op-specific structured data (hello, timings)
     "timings_ms": {"action": 1.2, "settle": 40.0, "encode": 22.0}}

Stdlib only: both the worker and the executor import this module.
"""

from __future__ import annotations

import json
import socket
import struct
from enum import StrEnum
from typing import Any

_HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 64 * 1024 * 1024
SOCKET_NAME = "executor.sock"
SOCKET_DIR_IN_SANDBOX = "/run/nightshift"
SOCKET_IN_SANDBOX = f"{SOCKET_DIR_IN_SANDBOX}/{SOCKET_NAME}"
DIAL_ENV = "NIGHTSHIFT_EXECUTOR_DIAL"  # set: the executor connects to the worker's socket at this path


class Op(StrEnum):
    """The ``op`` of a request."""

    CALL = "call"  # one tool call
    HELLO = "hello"  # sizes, versions, supported tool types
    WAIT_READY = "wait_ready"  # until the window manager and the panel are up
    PUT_FILE = "put_file"  # followed by one binary frame: the file's bytes
    SHUTDOWN = "shutdown"
    GLOB = "glob"  # files matching absolute paths or globs
    GET_FILE = "get_file"  # the reply is followed by the file streamed in frames (see above)
    EXEC = "exec"  # a command run to its end or its timeout: exit code, duration, bounded output
    PAGE = "page"  # the focused window (title, app) and the browser's address (page.py)
    SET_ENV = "set_env"  # variables (secrets) for every shell started from now on; never logged


BROWSER_CLASSES = ("firefox", "firefox-esr", "navigator")  # WM_CLASS (lower-cased) of the browser


class ImageTier(StrEnum):
    """The model's image limits, sent by the worker in ``hello`` (and each ``call``) as
    ``image_tier``: screenshots are sized to fit them (scaling.py)."""

    STANDARD = "standard"  # long edge <= 1568 px, ~1.15 megapixels
    HIGH = "high"  # long edge <= 2576 px, ceil(w/28) * ceil(h/28) <= 4784 tiles


class ProtocolError(Exception):
    """The peer sent something that is not a valid frame, or closed the channel mid-frame."""


class Unencodable(ValueError):
    """A message JSON cannot carry (a number past Python's digit limit, NaN, bytes...)."""


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:], size - got)
        if n == 0:
            raise ProtocolError(f"channel closed after {got} of {size} bytes")
        got += n
    return bytes(buf)


def send_frame(sock: socket.socket, payload: bytes) -> None:
    if len(payload) > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {len(payload)} bytes exceeds {MAX_FRAME_BYTES}")
    sock.sendall(_HEADER.pack(len(payload)) + payload)


def recv_frame(sock: socket.socket) -> bytes:
    (size,) = _HEADER.unpack(_recv_exact(sock, _HEADER.size))
    if size > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {size} bytes exceeds {MAX_FRAME_BYTES}")
    return _recv_exact(sock, size)


def send_json(sock: socket.socket, message: dict[str, Any]) -> None:
    send_frame(sock, encode(message))


def encode(message: Any) -> bytes:
    """Strict JSON: NaN and infinities are refused like anything else JSON cannot hold
    (``Unencodable``, raised before a byte is sent: the channel stays in step)."""
    try:
        return json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise Unencodable(str(exc)) from exc


def recv_json(sock: socket.socket) -> dict[str, Any]:
    raw = recv_frame(sock)
    try:
        message = json.loads(raw)
    except ValueError as exc:
        raise ProtocolError(f"frame is not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise ProtocolError("frame is not a JSON object")
    return message
