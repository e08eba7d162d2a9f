"""What a tool call returns, and the one interface the loop uses to run tool calls.

``workers.sandbox.sandbox.Sandbox`` implements ``ToolExecutor`` against a real container; the loop and the
script agent only ever see this protocol.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

_EXIT_STATUS = re.compile(r"(?:^|\n)\[exit status (-?\d+)\]\Z")


@dataclass(frozen=True)
class ToolOutput:
    """One executed tool call: exactly what a ``tool_result`` block needs."""

    text: str = ""
    is_error: bool = False
    image: bytes | None = None
    media_type: str | None = None  # "image/png" | "image/jpeg" when image is set
    timings_ms: dict[str, float] = field(default_factory=dict)

    @classmethod
    def error(cls, text: str) -> ToolOutput:
        return cls(text=text, is_error=True)

    @property
    def exit_status(self) -> int:
        """A bash result's exit status: the executor appends ``[exit status N]`` as the last line
        when it is not zero (sandbox_image/executor/bash.py)."""
        match = _EXIT_STATUS.search(self.text)
        return int(match[1]) if match else 0


class ToolExecutor(Protocol):
    """Runs Anthropic-defined tool calls inside one sandbox."""

    @property
    def api_size(self) -> tuple[int, int]:
        """Display size in API space (what ``display_width_px``/``display_height_px`` advertise)."""
        ...

    def call(
        self, tool: dict[str, Any], tool_input: Any, *, screenshot: bool | None = None
    ) -> ToolOutput:
        """Run one call. ``tool`` holds the definition's ``type`` and ``name`` (for toolset members,
        ``{"type": "computer_toolset_20260801", "name": <member>}``). ``screenshot`` forces a
        trailing screenshot on (True) or off (False); None keeps the tool version's own rule."""
        ...
