"""The ``anthropic`` SDK's own computer toolset (``BetaAbstractComputerToolset20260801``) as the
oracle of what the model reads: a driver whose members do nothing, so ``tool_result`` renders
exactly the SDK's acknowledgment, refusal or error text for a member call."""

from __future__ import annotations

from typing import Any

from anthropic.tools.computer import (
    BetaAbstractComputerToolset20260801,
    BetaComputerCursorPositionResult,
    BetaScreenshotResult,
)
from anthropic.types.beta import BetaToolUseBlock

PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="


class NullDriver(BetaAbstractComputerToolset20260801):
    """Serves every member; does nothing."""

    def execute(self, context: Any, name: Any, input: Any) -> Any:
        if name == "cursor_position":
            return BetaComputerCursorPositionResult(x=512, y=384)
        if name in ("screenshot", "zoom"):
            return BetaScreenshotResult(data=PIXEL)
        return None


def sdk_result(name: str, tool_input: dict[str, Any], **options: Any) -> dict[str, Any]:
    """The SDK's tool_result for one member call (``options``: ``configs``, ``confirm``)."""
    options.setdefault("confirm", lambda context: True)
    block = BetaToolUseBlock(
        id="toolu_oracle", type="tool_use", name=name, input=tool_input, toolset_name="computer"
    )
    return dict(NullDriver(**options).tool_result(block))


def sdk_text(name: str, tool_input: dict[str, Any], **options: Any) -> str:
    """The text the SDK answers a member call with (its first text block)."""
    content = sdk_result(name, tool_input, **options)["content"]
    return str(next(block["text"] for block in content if block["type"] == "text"))
