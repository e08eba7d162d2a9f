"""Test helpers around a real sandbox: tool calls by version, screenshots, shell, the event log."""

from __future__ import annotations

import io
import json
import shlex
import time
from pathlib import Path
from typing import Any

from PIL import Image

from workers.sandbox.sandbox import Sandbox
from workers.toolio import ToolOutput

APPS = Path(__file__).parent / "apps"
DATED = ["computer_20241022", "computer_20250124", "computer_20251124"]
TOOLSET = "computer_toolset_20260801"
ALL_VERSIONS = [*DATED, TOOLSET]
SHIFT, CONTROL, ALT = 1, 4, 8  # X modifier state masks (Mod1 = Alt)


def image_of(output: ToolOutput) -> Image.Image:
    assert output.image is not None, output
    return Image.open(io.BytesIO(output.image)).convert("RGB")


class Desk:
    """One sandbox seen the way the tests need it."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    # --- the computer tool -------------------------------------------------------------------
    def computer(
        self,
        action: str,
        version: str = "computer_20250124",
        *,
        screenshot: bool | None = None,
        **params: Any,
    ) -> ToolOutput:
        """One call of a dated version, or of a toolset member when ``version`` is the toolset."""
        if version == TOOLSET:
            tool, tool_input = {"type": TOOLSET, "name": action}, params
        else:
            tool, tool_input = {"type": version, "name": "computer"}, {"action": action, **params}
        return self.sandbox.call(tool, tool_input, screenshot=screenshot)

    def ok(self, action: str, version: str = "computer_20250124", **params: Any) -> ToolOutput:
        output = self.computer(action, version, **params)
        assert not output.is_error, output.text
        return output

    def error(self, action: str, version: str = "computer_20250124", **params: Any) -> str:
        output = self.computer(action, version, **params)
        assert output.is_error, f"expected an error, got {output.text!r}"
        assert output.image is None
        return output.text

    def raw(self, tool: dict[str, Any], tool_input: Any) -> ToolOutput:
        return self.sandbox.call(tool, tool_input)

    def screenshot(self) -> Image.Image:
        return image_of(self.ok("screenshot"))

    def still_screenshot(self, quiet_s: float = 0.3, timeout_s: float = 10.0) -> Image.Image:
        """A screenshot once the screen has not changed for ``quiet_s`` (polled, no sleeps)."""
        deadline = time.monotonic() + timeout_s
        stable, since = self.screenshot(), time.monotonic()
        while time.monotonic() < deadline:
            current = self.screenshot()
            if current.tobytes() != stable.tobytes():
                stable, since = current, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                break
        return stable

    def pointer(self, version: str = "computer_20250124") -> str:
        return self.ok("cursor_position", version).text

    # --- the shell (the bash tool, as the agent would use it) -----------------------------------
    def sh(self, command: str, timeout_s: float = 60) -> str:
        output = self.sandbox.call({"type": "bash_20250124", "name": "bash"}, {"command": command})
        assert not output.is_error, output.text
        return output.text

    def launch(self, command: str) -> None:
        """Start a GUI program in the background, detached from the bash session."""
        self.sh(f"(setsid {command} >/dev/null 2>&1 &)")

    def read(self, path: str) -> str:
        return self.sh(f"cat {shlex.quote(path)}")

    def read_exact(self, path: str) -> str:
        """The file's text including any trailing newline (the bash tool drops one)."""
        return self.sh(f"cat {shlex.quote(path)}; echo __END__").removesuffix("__END__")

    def wait_for(self, command: str, timeout_s: float = 20.0) -> str:
        """Run ``command`` until it succeeds (a readiness probe for things the tests start)."""
        deadline = time.monotonic() + timeout_s
        while True:
            out = self.sh(f"{command} && echo __OK__ || true")
            if out.endswith("__OK__"):
                return out.removesuffix("__OK__")
            assert time.monotonic() < deadline, f"{command!r} never succeeded: {out}"
            time.sleep(0.1)


class EventLog:
    """The evlog app running in the sandbox: what the X server delivered to a window."""

    PATH = "/tmp/evlog.jsonl"

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.pid: int | None = None

    def start(self) -> None:
        self.desk.sandbox.put_file("/tmp/evlog.py", (APPS / "evlog.py").read_bytes())
        self.desk.sh(f"rm -f {self.PATH}")
        self.desk.launch(f"python3 /tmp/evlog.py {self.PATH}")
        self.desk.wait_for(f"grep -q ready {self.PATH}")
        self.pid = next(e["pid"] for e in self.all() if e["type"] == "ready")
        self.desk.ok("mouse_move", coordinate=[512, 400])  # settled: the window is painted

    def stop(self) -> None:
        if self.pid is not None:
            self.desk.sh(f"kill {self.pid}; true")
            self.pid = None

    def _text(self) -> str:
        """The whole log, read with docker exec (the bash tool clips long output by design)."""
        result = self.desk.sandbox.container.exec_run(["cat", self.PATH])
        assert result.exit_code == 0, result.output
        return str(result.output.decode())

    def all(self) -> list[dict[str, Any]]:
        lines = self._text().splitlines(keepends=True)
        return [json.loads(line) for line in lines if line.endswith("\n")]  # complete lines only

    def mark(self) -> int:
        return len(self.all())

    def since(
        self, mark: int, *types: str, at_least: int = 1, timeout_s: float = 5.0
    ) -> list[dict[str, Any]]:
        """Events logged after ``mark`` (of the given types), once at least ``at_least`` arrived."""
        deadline = time.monotonic() + timeout_s
        while True:
            events = [e for e in self.all()[mark:] if not types or e["type"] in types]
            if len(events) >= at_least or time.monotonic() > deadline:
                return events
            time.sleep(0.05)
