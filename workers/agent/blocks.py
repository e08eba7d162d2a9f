"""Converting between the Messages API's content blocks and what the loop sends back.

Response blocks arrive as the API's JSON (never re-serialised through SDK models), so
``thinking`` and ``redacted_thinking`` blocks go back byte for byte, signature included.
"""

from __future__ import annotations

import base64
from typing import Any

from workers.toolio import ToolOutput

EMPTY_RESULT_TEXT = "OK"
ERROR_WITHOUT_TEXT = "The tool call failed without a message."


def response_to_params(content: list[Any]) -> list[dict[str, Any]]:
    """Response content as request params: None fields dropped, empty text blocks dropped (the API
    rejects them), everything else (thinking, redacted_thinking, tool_use …) unchanged."""
    params: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        clean = {key: value for key, value in block.items() if value is not None}
        if clean.get("type") == "text" and not clean.get("text"):
            continue
        params.append(clean)
    return params


# The order the API writes a block's fields in; the SDK's models dump theirs alphabetically. Thinking
# blocks go back byte for byte, so a rebuilt (streamed) block is put back in the API's order.
_FIELD_ORDER = ("type", "id", "name", "toolset_name", "input", "thinking", "data", "text", "signature")


def in_api_order(block: dict[str, Any]) -> dict[str, Any]:
    known = [key for key in _FIELD_ORDER if key in block]
    return {key: block[key] for key in [*known, *sorted(set(block) - set(known))]}


def tool_uses(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [block for block in content if block.get("type") == "tool_use"]


def final_text(content: list[dict[str, Any]]) -> str:
    return "\n\n".join(b["text"] for b in content if b.get("type") == "text" and b.get("text"))


def tool_result(tool_use: dict[str, Any], output: ToolOutput) -> dict[str, Any]:
    """The ``tool_result`` answering ``tool_use``. Error results carry text only (the API rejects
    images in ``is_error`` results); toolset members echo their ``toolset_name``."""
    if output.is_error:
        return error_result(tool_use, output.text)
    content: list[dict[str, Any]] = []
    if output.text:
        content.append({"type": "text", "text": output.text})
    if output.image is not None:
        content.append(image_block(output.image, output.media_type or "image/png"))
    if not content:
        content.append({"type": "text", "text": EMPTY_RESULT_TEXT})
    return _result(tool_use, content, is_error=False)


def error_result(tool_use: dict[str, Any], text: str) -> dict[str, Any]:
    content = [{"type": "text", "text": text or ERROR_WITHOUT_TEXT}]
    return _result(tool_use, content, is_error=True)


def _result(tool_use: dict[str, Any], content: list[dict[str, Any]], *, is_error: bool) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use.get("id", ""), "content": content}
    if is_error:
        block["is_error"] = True
    if isinstance(tool_use.get("toolset_name"), str):  # every family's member result echoes it
        block["toolset_name"] = tool_use["toolset_name"]
    return block


def image_block(data: bytes, media_type: str) -> dict[str, Any]:
    encoded = base64.b64encode(data).decode("ascii")
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": encoded}}


def user_text(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": text}]}
