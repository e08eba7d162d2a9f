"""Bounded capture of one bash command's output, up to the sentinel line that ends it.

The stream is drained chunk by chunk; only the first ``head_limit`` and the last ``tail_limit``
bytes are kept (plus a few bytes held back so a sentinel split across two reads is still found),
so a command printing 50 MB costs a fixed amount of memory. The sentinel is
``b"\\n__NS_DONE_<hex>__ <status>\\n"``; whatever follows it (output of a background job that
raced the sentinel) is kept as ``leftover`` for the next command.
"""

from __future__ import annotations

SENTINEL_PREFIX = "__NS_DONE_"
_STATUS_MAX = 16  # the status line is a small integer; anything longer is not our sentinel


def sentinel_marker(token: str) -> bytes:
    """The bytes that open the sentinel line of the command identified by ``token``."""
    return f"\n{SENTINEL_PREFIX}{token}__ ".encode()


class OutputCapture:
    """Collects one command's output (head and tail kept, middle counted) until its sentinel."""

    def __init__(self, marker: bytes, head_limit: int, tail_limit: int) -> None:
        self._marker = marker
        self._head_limit = head_limit
        self._tail_limit = tail_limit
        self._hold = len(marker) - 1
        self._pending = b""
        self._status_bytes: bytearray | None = None
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.status: int | None = None
        self.leftover = b""

    @property
    def done(self) -> bool:
        return self.status is not None

    def feed(self, chunk: bytes) -> None:
        """Consume ``chunk``; once the sentinel line is complete, ``done`` becomes true."""
        if self.done:
            self.leftover += chunk
        elif self._status_bytes is not None:
            self._feed_status(chunk)
        else:
            self._feed_output(chunk)

    def _feed_output(self, chunk: bytes) -> None:
        data = self._pending + chunk
        at = data.find(self._marker)
        if at < 0:
            keep = min(self._hold, len(data))
            self._commit(data[: len(data) - keep])
            self._pending = data[len(data) - keep :]
            return
        self._commit(data[:at])
        self._pending = b""
        self._status_bytes = bytearray()
        self._feed_status(data[at + len(self._marker) :])

    def _feed_status(self, chunk: bytes) -> None:
        assert self._status_bytes is not None
        newline = chunk.find(b"\n")
        if newline < 0:
            self._status_bytes += chunk
            if len(self._status_bytes) > _STATUS_MAX:
                self._status_bytes = bytearray(self._status_bytes[-_STATUS_MAX:])
            return
        self._status_bytes += chunk[:newline]
        self.leftover = chunk[newline + 1 :]
        try:
            self.status = int(self._status_bytes.decode("ascii", "replace").strip())
        except ValueError:
            self.status = -1

    def _commit(self, data: bytes) -> None:
        if not data:
            return
        self.total += len(data)
        room = self._head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data[-self._tail_limit :]
            excess = len(self.tail) - self._tail_limit
            if excess > 0:
                del self.tail[:excess]

    def unfinished(self) -> bytes:
        """Bytes held back while looking for the sentinel (output, if the sentinel never comes)."""
        return self._pending

    def text(self, extra: bytes = b"") -> str:
        """The captured output as text, with a clipping note where the middle was dropped."""
        if extra:
            self._commit(extra)
        shown = len(self.head) + len(self.tail)
        head = self.head.decode("utf-8", "replace")
        tail = self.tail.decode("utf-8", "replace")
        if shown >= self.total:
            return head + tail
        return head + clipped_note(self.total - shown, len(self.head), len(self.tail), self.total) + tail


def clipped_note(omitted: int, head: int, tail: int, total: int) -> str:
    return (
        f"\n<response clipped><NOTE>{omitted:,} bytes of output were omitted here: only the first"
        f" {head:,} and the last {tail:,} of {total:,} bytes are shown. To see more, redirect the"
        " output to a file and inspect it with `grep -n`, `head`, `tail` or `sed -n`.</NOTE>\n"
    )
