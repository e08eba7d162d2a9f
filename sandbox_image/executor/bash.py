"""The bash tool (``bash_20241022`` and ``bash_20250124``, name ``bash``): one persistent shell.

Inputs: ``command`` (string) and ``restart`` (bool). Behaviour, per TOOLS.md section 3, and where
we differ from the reference:

- The shell starts lazily on the first command, in the home directory (or ``cwd=``), and keeps
  its working directory, environment and background jobs between calls until ``restart``.
- stdout and stderr are one stream, in the order written. Output is verbatim except that one
  trailing newline is dropped (as the reference does).
- Exit status: when the command's status is non-zero, a last line ``[exit status N]`` is
  appended (on its own line); a zero status adds nothing. A non-zero status is *not* an error
  result: the tool worked, the command failed.
- Programs get ``/dev/null`` as stdin, so anything waiting for input reads end-of-file at once.
- Output is capped at ``max_output`` bytes (default 16,000): the first and the last half are kept
  and a ``<response clipped><NOTE>…</NOTE>`` line says how much was dropped. Memory stays bounded
  however much the command prints.
- Timeout (default 120 s): the whole process group is killed and the result is the error
  ``timed out: bash has not returned in 120.0 seconds and must be restarted`` (followed by the
  output seen so far); later calls repeat that error until ``restart``.
- ``restart: true`` kills the old process group, starts a fresh shell and answers
  ``tool has been restarted.`` as visible text. If ``command`` is also given it is then run in
  the fresh shell and its result follows the confirmation.
- If the shell exited (``exit``, ``set -e``…): ``bash has exited with returncode N; …restart``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from .bash_session import BashSession, SessionExited, SessionTimeout
from .result import ToolError, ToolResult

BASH_TYPES = ("bash_20241022", "bash_20250124")
BASH_NAME = "bash"
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MAX_OUTPUT = 16_000
RESTARTED = "tool has been restarted."


def timeout_message(timeout_s: float) -> str:
    return f"timed out: bash has not returned in {timeout_s} seconds and must be restarted"


def exited_message(returncode: int) -> str:
    return (
        f"bash has exited with returncode {returncode}; the tool must be restarted:"
        " call it with `restart: true` to get a fresh shell."
    )


class BashTool:
    """Serves every bash tool version with one persistent shell."""

    def __init__(
        self,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_output: int = DEFAULT_MAX_OUTPUT,
        cwd: str | None = None,
    ) -> None:
        self.timeout_s = float(timeout_s)
        self._head = max_output // 2
        self._tail = max_output - self._head
        self._cwd = cwd if cwd is not None else _home()
        self._session: BashSession | None = None
        self._lock = threading.Lock()

    def call(
        self,
        tool_type: str,
        tool_name: str,
        tool_input: Any,
        screenshot: bool | None = None,
        *,
        definition: Mapping[str, Any] | None = None,
    ) -> ToolResult:
        """Run one bash tool call; raises ToolError for anything the model should hear as an error.

        ``screenshot`` and ``definition`` are accepted for a uniform call signature and ignored."""
        _check_definition(tool_type, tool_name)
        command, restart = _parse_input(tool_input)
        with self._lock:
            if restart:
                return self._restart(command)
            if command is None:
                raise ToolError("no command provided.")
            return ToolResult(text=self._run(command))

    def close(self) -> None:
        """Kill the shell and its process group (for executor shutdown and tests)."""
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    def _restart(self, command: str | None) -> ToolResult:
        if self._session is not None:
            self._session.close()
        self._session = self._start()
        if command is None:
            return ToolResult(text=RESTARTED)
        return ToolResult(text=f"{RESTARTED}\n{self._run(command)}")

    def _run(self, command: str) -> str:
        session = self._ready_session()
        try:
            output, status = session.run(command, self.timeout_s)
        except SessionTimeout as exc:
            raise ToolError(_with_output(timeout_message(self.timeout_s), exc.output)) from None
        except SessionExited as exc:
            raise ToolError(_with_output(exited_message(exc.returncode), exc.output)) from None
        return _with_status(output, status)

    def _ready_session(self) -> BashSession:
        session = self._session
        if session is None:
            session = self._session = self._start()
        if session.timed_out:
            raise ToolError(timeout_message(self.timeout_s))
        returncode = session.returncode
        if returncode is not None:
            raise ToolError(exited_message(returncode))
        return session

    def _start(self) -> BashSession:
        return BashSession(self._cwd, self._head, self._tail)


def _check_definition(tool_type: str, tool_name: str) -> None:
    if tool_type not in BASH_TYPES:
        raise ToolError(f"Unknown bash tool type {tool_type!r}; supported: {', '.join(BASH_TYPES)}.")
    if tool_name != BASH_NAME:
        raise ToolError(f"The tool {tool_type} must be named {BASH_NAME!r}, not {tool_name!r}.")


def _parse_input(tool_input: Any) -> tuple[str | None, bool]:
    if not isinstance(tool_input, dict):
        raise ToolError(f"The bash tool input must be an object, got {type(tool_input).__name__}.")
    command = tool_input.get("command")
    restart = tool_input.get("restart", False)
    if command is not None and not isinstance(command, str):
        raise ToolError(f"Parameter `command` must be a string, got {type(command).__name__}.")
    if restart is None:
        restart = False
    if not isinstance(restart, bool):
        raise ToolError(f"Parameter `restart` must be a boolean, got {type(restart).__name__}.")
    if command is not None and not command.strip():
        command = None
    return command, restart


def _with_status(output: str, status: int) -> str:
    if status == 0:
        return output
    line = f"[exit status {status}]"
    return f"{output}\n{line}" if output else line


def _with_output(message: str, output: str) -> str:
    return f"{message}\n\nOutput before that:\n{output}" if output else message


def _home() -> str | None:
    home = os.path.expanduser("~")
    return home if os.path.isdir(home) else None
