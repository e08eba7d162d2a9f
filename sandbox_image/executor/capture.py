"""Screen capture in process: mss (XShm) grabs, Pillow encodes, the screen-settle wait, zoom.

Replaces the reference's fixed 2.0 s sleep + scrot + ImageMagick: after an action we grab frames
until they stay identical for a short quiet period (with a cap), then encode the last one.
"""

from __future__ import annotations

import io
import os
import struct
import time
import zlib
from dataclasses import dataclass

import mss
from PIL import Image

from sandbox_image.executor.result import ToolError

QUIET_S = float(os.environ.get("NIGHTSHIFT_SETTLE_QUIET_MS", "60")) / 1000
CAP_S = float(os.environ.get("NIGHTSHIFT_SETTLE_CAP_MS", "1500")) / 1000
FRAME_INTERVAL_S = 0.015
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Frame:
    width: int
    height: int
    bgra: bytes

    def image(self) -> Image.Image:
        return Image.frombuffer("RGB", (self.width, self.height), self.bgra, "raw", "BGRX", 0, 1)


@dataclass(frozen=True)
class Encoded:
    data: bytes
    media_type: str
    width: int
    height: int


def png_bytes(image: Image.Image, level: int = 1) -> bytes:
    """RGB PNG with filter type 0 and zlib ``level``: about twice as fast as Pillow's encoder
    (which tries every filter on every row) for the same size on screen content."""
    width, height = image.size
    raw = image.tobytes()
    stride = width * 3
    rows = b"".join(b"\x00" + raw[y * stride : (y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows, level))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


class Encoder:
    """PNG (zlib level 1 by default) or JPEG, chosen by NIGHTSHIFT_IMAGE_FORMAT."""

    def __init__(self, image_format: str | None = None, quality: int | None = None) -> None:
        self.format = (image_format or os.environ.get("NIGHTSHIFT_IMAGE_FORMAT", "png")).lower()
        self.quality = quality or int(os.environ.get("NIGHTSHIFT_JPEG_QUALITY", "75"))
        self.png_level = int(os.environ.get("NIGHTSHIFT_PNG_LEVEL", "1"))

    def encode(self, image: Image.Image) -> Encoded:
        if self.format in ("jpeg", "jpg"):
            buf = io.BytesIO()
            image.save(buf, "JPEG", quality=self.quality)
            return Encoded(buf.getvalue(), "image/jpeg", image.width, image.height)
        return Encoded(png_bytes(image, self.png_level), "image/png", image.width, image.height)


def fit_within(size: tuple[int, int], bounds: tuple[int, int]) -> tuple[int, int]:
    """The largest size with ``size``'s aspect ratio that fits in ``bounds``."""
    scale = min(bounds[0] / size[0], bounds[1] / size[1])
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


class Capture:
    """Grabs the whole X screen (pointer included, like the reference's ``scrot -p``)."""

    def __init__(self, display_name: str, screen: tuple[int, int]) -> None:
        self.screen = screen
        self.monitor = {"left": 0, "top": 0, "width": screen[0], "height": screen[1]}
        try:
            self.sct = mss.MSS(display=display_name, with_cursor=True)
        except Exception as exc:
            raise ToolError(f"Failed to take screenshot: {exc}") from exc

    def grab(self) -> Frame:
        try:
            shot = self.sct.grab(self.monitor)
        except Exception as exc:
            raise ToolError(f"Failed to take screenshot: {exc}") from exc
        return Frame(shot.width, shot.height, bytes(shot.raw))

    def settle(self, quiet_s: float = QUIET_S, cap_s: float = CAP_S) -> Frame:
        """Grab until frames stay identical for ``quiet_s`` (or ``cap_s`` passes); the last frame."""
        start = time.monotonic()
        last = self.grab()
        stable_since = start
        while True:
            now = time.monotonic()
            if now - stable_since >= quiet_s or now - start >= cap_s:
                return last
            time.sleep(max(0.0, min(FRAME_INTERVAL_S, stable_since + quiet_s - now)))
            frame = self.grab()
            if frame.bgra != last.bgra:
                stable_since = time.monotonic()
            last = frame

    def close(self) -> None:
        self.sct.close()


def scaled_screenshot(frame: Frame, api_size: tuple[int, int]) -> Image.Image:
    """The frame at API size (unchanged when no scaling applies)."""
    image = frame.image()
    if image.size == api_size:
        return image
    return image.resize(api_size, Image.Resampling.LANCZOS)


def zoomed(frame: Frame, box: tuple[int, int, int, int], api_size: tuple[int, int]) -> Image.Image:
    """Full-resolution crop of ``box`` (screen space) scaled to fit the screenshot size."""
    try:
        crop = frame.image().crop(box)
    except Exception as exc:
        raise ToolError("Failed to crop screenshot for zoom") from exc
    target = fit_within(crop.size, api_size)
    if target == crop.size:
        return crop
    return crop.resize(target, Image.Resampling.LANCZOS)
