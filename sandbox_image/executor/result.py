"""What every in-sandbox tool returns. Tools raise ``ToolError`` for anything the model did wrong
(its message, worded as TOOLS.md says, becomes an ``is_error`` result); the server catches every
other exception too, so the executor never dies on bad input."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class ToolError(Exception):
    """A tool failure that goes back to the model as an ``is_error: true`` tool_result."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class ToolResult:
    text: str = ""
    image: bytes | None = None
    media_type: str | None = None
    is_error: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)


class Tool(Protocol):
    """A tool family (computer, bash or editor) serving every version of itself."""

    def call(
        self, tool_type: str, tool_name: str, tool_input: Any, screenshot: bool | None
    ) -> ToolResult:
        """Run one call of the definition ``tool_type``/``tool_name``; raise ToolError on bad input."""
        ...


class ConfigurableTool(Tool, Protocol):
    """A tool that also reads parameters of its definition (the editor's ``max_characters``)."""

    def call(
        self,
        tool_type: str,
        tool_name: str,
        tool_input: Any,
        screenshot: bool | None,
        *,
        definition: Mapping[str, Any] | None = None,
    ) -> ToolResult: ...
