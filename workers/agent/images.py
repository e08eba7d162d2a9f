"""Downscaling images already in the history, for the one repair attempt after the API rejected a
request for image size or count. The model is told about the new size, since coordinates it reads
off a downscaled screenshot must be scaled back."""

from __future__ import annotations

import base64
import io
from typing import Any

from PIL import Image

from workers.agent.caching import image_slots

SAFE_LONG_EDGE = 1568
SAFE_BYTES = 3_500_000


def downscale_images(messages: list[dict[str, Any]], long_edge: int = SAFE_LONG_EDGE) -> int:
    """Shrink every live image larger than ``long_edge`` (or ``SAFE_BYTES``); returns how many."""
    changed = 0
    for _, holder, position in reversed(image_slots(messages)):  # inserts must not shift later slots
        shrunk = _shrink(holder[position], long_edge)
        if shrunk is not None:
            holder[position] = shrunk
            holder.insert(position + 1, {"type": "text", "text": _note(*shrunk.pop("_sizes"))})
            changed += 1
    return changed


def _shrink(block: dict[str, Any], long_edge: int) -> dict[str, Any] | None:
    source = block.get("source") or {}
    if source.get("type") != "base64":
        return None
    raw = base64.b64decode(source.get("data", ""))
    with Image.open(io.BytesIO(raw)) as image:
        width, height = image.size
        if max(width, height) <= long_edge and len(raw) <= SAFE_BYTES:
            return None
        factor = min(1.0, long_edge / max(width, height))
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        out = io.BytesIO()
        image.convert("RGB").resize(size, Image.Resampling.LANCZOS).save(out, "JPEG", quality=80)
    data = base64.b64encode(out.getvalue()).decode("ascii")
    new_source = {"type": "base64", "media_type": "image/jpeg", "data": data}
    return {"type": "image", "source": new_source, "_sizes": ((width, height), size)}


def _note(original: tuple[int, int], now: tuple[int, int]) -> str:
    return (
        f"[this image was downscaled from {original[0]}x{original[1]} to {now[0]}x{now[1]}; "
        f"screen coordinates are still in the {original[0]}x{original[1]} space]"
    )
