"""What the worker asks of the sandbox after the agent: which files match the task's ``outputs``
(``glob``), each file's bytes streamed in frames (``get_file``), and the task's checks run as
commands with a timeout (``exec``). See protocol.py for the frames.
"""

from __future__ import annotations

import collections
import contextlib
import glob
import hashlib
import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any, BinaryIO

from sandbox_image.executor.result import ToolError

MAX_MATCHES = 100_000
DEFAULT_CHUNK = 1024 * 1024
MAX_CHUNK = 16 * 1024 * 1024
READ_BYTES = 65536


def _number(request: dict[str, Any], key: str, default: float, high: float) -> float:
    value = request.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= high:
        raise ToolError(f"{key} must be a number in (0, {high:g}]")
    return float(value)


# --- glob ------------------------------------------------------------------------------------------


def matches(request: dict[str, Any]) -> dict[str, Any]:
    """Regular files matching the patterns (a matched directory contributes the files under it),
    each once, in pattern order: ``{"files": [{"path", "size"}], "unmatched": [patterns]}``."""
    patterns = request.get("patterns")
    if not isinstance(patterns, list) or not all(isinstance(p, str) and p.startswith("/") for p in patterns):
        raise ToolError("glob: patterns must be a list of absolute paths or globs")
    limit = int(_number(request, "limit", MAX_MATCHES, MAX_MATCHES))
    found: dict[str, int] = {}
    unmatched = []
    for pattern in patterns:
        before = len(found)
        for path in _expand(pattern):
            if len(found) >= limit:
                break
            found.setdefault(path, os.stat(path).st_size)
        if len(found) == before:
            unmatched.append(pattern)
    return {"files": [{"path": p, "size": s} for p, s in found.items()], "unmatched": unmatched}


def _expand(pattern: str) -> Iterator[str]:
    for hit in sorted(glob.glob(pattern, recursive=True)):
        path = os.path.normpath(hit)
        if os.path.isdir(path):
            yield from _walk(path)
        elif os.path.isfile(path):
            yield path


def _walk(directory: str) -> Iterator[str]:
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            if os.path.isfile(path):
                yield path


# --- get_file --------------------------------------------------------------------------------------


def open_file(request: dict[str, Any]) -> tuple[BinaryIO, dict[str, Any]]:
    """The opened file and the reply's data (its size when opened); errors before any frame."""
    path = request.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ToolError(f"get_file: path must be absolute, got {path!r}")
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by stream() once the frames are sent
    except OSError as exc:
        raise ToolError(f"get_file: cannot read {path}: {exc.strerror or exc}") from exc
    if not os.path.isfile(path):
        handle.close()
        raise ToolError(f"get_file: {path} is not a regular file")
    return handle, {"path": path, "size": os.fstat(handle.fileno()).st_size}


class Streamed:
    """Chunks of a file plus what they add up to, for the trailer frame."""

    def __init__(self, handle: BinaryIO, chunk_bytes: int) -> None:
        self.handle = handle
        self.chunk_bytes = chunk_bytes
        self.size = 0
        self.digest = hashlib.sha256()
        self.error: str | None = None

    def __iter__(self) -> Iterator[bytes]:
        with self.handle:
            try:
                while chunk := self.handle.read(self.chunk_bytes):
                    self.size += len(chunk)
                    self.digest.update(chunk)
                    yield chunk
            except OSError as exc:
                self.error = f"read failed after {self.size} bytes: {exc.strerror or exc}"

    def trailer(self) -> dict[str, Any]:
        if self.error:
            return {"ok": False, "error": self.error, "size": self.size}
        return {"ok": True, "size": self.size, "sha256": self.digest.hexdigest()}


def chunk_size(request: dict[str, Any]) -> int:
    return int(_number(request, "chunk_bytes", DEFAULT_CHUNK, MAX_CHUNK))


# --- exec ------------------------------------------------------------------------------------------


def run_command(request: dict[str, Any]) -> dict[str, Any]:
    """Run ``command`` with bash in its own process group; on timeout the group is killed.
    Output (stdout and stderr together) keeps its last ``max_output_bytes``."""
    command = request.get("command")
    if not isinstance(command, str) or not command.strip():
        raise ToolError("exec: command must be a non-empty string")
    timeout_s = _number(request, "timeout_s", 300, 86_400)
    keep = int(_number(request, "max_output_bytes", 16_384, 16 * 1024 * 1024))
    started = time.monotonic()
    proc = subprocess.Popen(
        ["bash", "-c", command], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        cwd=os.environ.get("HOME") or "/", start_new_session=True,
    )
    tail, total, timed_out = _collect(proc, started + timeout_s, keep)
    return {
        "exit_code": None if timed_out else proc.returncode,
        "timed_out": timed_out,
        "duration_s": round(time.monotonic() - started, 3),
        "output": tail.decode("utf-8", "replace"),
        "output_bytes": total,
    }


def _collect(proc: subprocess.Popen[bytes], deadline: float, keep: int) -> tuple[bytes, int, bool]:
    """Read the output until the process ends or the deadline passes (then kill its group)."""
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    chunks: collections.deque[bytes] = collections.deque()
    kept = total = 0
    while True:
        data = _read_some(proc, min(0.05, max(0.0, deadline - time.monotonic())))
        if data:
            chunks.append(data)
            kept, total = kept + len(data), total + len(data)
            while kept - len(chunks[0]) >= keep:
                kept -= len(chunks.popleft())
        elif data is None:  # end of output
            proc.wait()
            return b"".join(chunks)[-keep:], total, False
        if time.monotonic() >= deadline:
            _kill(proc)
            return b"".join(chunks)[-keep:], total, True


def _read_some(proc: subprocess.Popen[bytes], wait_s: float) -> bytes | None:
    """Some output, b"" when none is ready yet, None at its end."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], wait_s)
    if not ready:
        return b""
    data = os.read(proc.stdout.fileno(), READ_BYTES)
    return data or None


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
