"""One persistent ``/bin/bash`` process and the protocol that runs a command in it.

The shell runs in a session (and so a process group) of its own, stdin a pipe we write commands
to, stdout a pipe with stderr merged into it. A command is sent as one line::

  builtin eval $'<command, ANSI-C quoted>' < /dev/null; builtin printf '\\n__NS_DONE_%s__ %s\\n' <token> "$?"

Because the model's text is a quoted *argument* of ``eval``, nothing it contains can swallow the
sentinel: a trailing ``&`` backgrounds only the command, a trailing ``# comment`` ends inside the
string, a heredoc ends where the string ends. ``eval`` runs in the shell itself, so ``cd``,
``export`` and background jobs persist. ``< /dev/null`` on ``eval`` gives every program the
command starts an empty stdin, so ``read``, ``cat`` or ``python3`` without arguments return at
once instead of waiting for input that never comes. The sentinel's token is a fresh uuid per call
and is passed as an argument of ``printf``, so not even ``set -x`` output can fake it.

Reads are event-driven: ``poll`` on the stdout pipe and on a pidfd of the shell (so an ``exit``
is noticed even while background jobs keep the pipe open).
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import subprocess
import time
import uuid

from .bash_capture import SENTINEL_PREFIX, OutputCapture, sentinel_marker

_QUOTE_TABLE = {ord("\\"): "\\\\", ord("'"): "\\'", 0x7F: "\\x7f", **{c: f"\\x{c:02x}" for c in range(1, 32)}}
_QUOTE_TABLE[0] = ""  # bash cannot hold NUL in a string (it drops NULs from scripts too)
_READ_SIZE = 1 << 16
_FALLBACK_POLL_MS = 1000  # only when pidfd_open is unavailable: how often to check the shell is alive


class SessionExited(Exception):
    """The shell exited (or closed its output) during a command."""

    def __init__(self, output: str, returncode: int) -> None:
        super().__init__(f"bash has exited with returncode {returncode}")
        self.output = output
        self.returncode = returncode


class SessionTimeout(Exception):
    """The command did not finish in time; the whole process group has been killed."""

    def __init__(self, output: str) -> None:
        super().__init__("timed out")
        self.output = output


def ansi_c_quote(text: str) -> str:
    """``text`` as a bash ``$'...'`` word on one line (backslash, quote and controls escaped)."""
    return "$'" + text.translate(_QUOTE_TABLE) + "'"


def command_line(command: str, token: str) -> bytes:
    """The line written to the shell to run ``command`` and then print its sentinel."""
    if not command.endswith("\n"):
        command += "\n"
    sentinel = f"builtin printf '\\n{SENTINEL_PREFIX}%s__ %s\\n' {token} \"$?\""
    line = f"builtin eval {ansi_c_quote(command)} < /dev/null; {sentinel}\n"
    return line.encode("utf-8", "replace")


class BashSession:
    """A started bash process; ``run`` executes one command in it."""

    def __init__(self, cwd: str | None, head_limit: int, tail_limit: int) -> None:
        self._head_limit = head_limit
        self._tail_limit = tail_limit
        self._leftover = b""
        self.timed_out = False
        self.proc = subprocess.Popen(
            ["/bin/bash"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self._out = self.proc.stdout.fileno()
        os.set_blocking(self._out, False)
        self._pidfd = _open_pidfd(self.proc.pid)

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def run(self, command: str, timeout: float) -> tuple[str, int]:
        """Run ``command``; return (output, exit status). Raises SessionExited / SessionTimeout."""
        token = uuid.uuid4().hex
        capture = OutputCapture(sentinel_marker(token), self._head_limit, self._tail_limit)
        capture.feed(self._leftover)
        self._leftover = b""
        if not self._send(command_line(command, token)):
            raise self._exited(capture)
        self._wait_for(capture, time.monotonic() + timeout)
        self._leftover = capture.leftover
        assert capture.status is not None
        return _strip_newline(capture.text()), capture.status

    def _send(self, line: bytes) -> bool:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(line)
            self.proc.stdin.flush()
        except BrokenPipeError:
            return False
        return True

    def _wait_for(self, capture: OutputCapture, deadline: float) -> None:
        poller = select.poll()
        poller.register(self._out, select.POLLIN)
        if self._pidfd is not None:
            poller.register(self._pidfd, select.POLLIN)
        while True:
            eof = self._drain(capture)
            if capture.done:
                return
            if eof or self.proc.poll() is not None:
                raise self._exited(capture)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timeout(capture)
            poller.poll(_poll_ms(remaining, self._pidfd is None))

    def _drain(self, capture: OutputCapture) -> bool:
        """Read everything available now; True at end of file."""
        while not capture.done:
            try:
                chunk = os.read(self._out, _READ_SIZE)
            except BlockingIOError:
                return False
            if not chunk:
                return True
            capture.feed(chunk)
        return False

    def _exited(self, capture: OutputCapture) -> SessionExited:
        self._drain(capture)
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:  # it closed its stdout but lives on: unusable anyway
            self.kill()
            code = self.proc.returncode
        return SessionExited(_strip_newline(capture.text(capture.unfinished())), code)

    def _timeout(self, capture: OutputCapture) -> SessionTimeout:
        self.kill()
        self._drain(capture)
        self.timed_out = True
        return SessionTimeout(_strip_newline(capture.text(capture.unfinished())))

    def kill(self) -> None:
        """SIGKILL the shell's whole process group (its background jobs too) and reap the shell."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        """Kill everything and release the pipes and the pidfd."""
        self.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


def _open_pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno not in (errno.ENOSYS, errno.EPERM, errno.EINVAL):
            raise
        return None


def _poll_ms(remaining_s: float, without_pidfd: bool) -> int:
    ms = max(1, int(remaining_s * 1000) + 1)
    return min(ms, _FALLBACK_POLL_MS) if without_pidfd else ms


def _strip_newline(text: str) -> str:
    return text[:-1] if text.endswith("\n") else text
