"""Screen <-> API coordinate scaling (TOOLS.md §2.5, §10.4), with the bounds check done in API space.

Screenshots are sent at the API size: the largest size of the screen's aspect that fits the
model's image tier (protocol.ImageTier). On the standard tier a screen whose aspect matches one of
the reference's targets (1024x768, 1280x800, 1366x768) is sent at that target, as the reference
does. The API rejects an oversized toolset screenshot instead of downscaling it, so nothing larger
than the tier is ever sent. Each axis scales by its own exact factor, so an API point maps to a
screen pixel and back to itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from sandbox_image.executor.protocol import ImageTier
from sandbox_image.executor.result import ToolError
from sandbox_image.executor.texts import shown

# Checked in this order; the first target whose aspect ratio matches the screen's decides.
SCALING_TARGETS: tuple[tuple[int, int], ...] = ((1024, 768), (1280, 800), (1366, 768))
ASPECT_TOLERANCE = 0.02
STANDARD_LONG_EDGE = 1568
STANDARD_MAX_PIXELS = 1_150_000
HIGH_LONG_EDGE = 2576
HIGH_TILE = 28
HIGH_MAX_TILES = 4784


def tier_of(value: object) -> ImageTier:
    """The tier a request names; anything unknown (or nothing) is the standard tier."""
    return ImageTier.HIGH if value in (ImageTier.HIGH, "hires") else ImageTier.STANDARD


def fits(width: int, height: int, tier: ImageTier) -> bool:
    """Whether a ``width`` x ``height`` image is within ``tier``'s limits."""
    if tier == ImageTier.HIGH:
        tiles = math.ceil(width / HIGH_TILE) * math.ceil(height / HIGH_TILE)
        return max(width, height) <= HIGH_LONG_EDGE and tiles <= HIGH_MAX_TILES
    return max(width, height) <= STANDARD_LONG_EDGE and width * height <= STANDARD_MAX_PIXELS


def _reference_target(width: int, height: int) -> tuple[int, int] | None:
    ratio = width / height
    for target_w, target_h in SCALING_TARGETS:
        if abs(target_w / target_h - ratio) < ASPECT_TOLERANCE and target_w < width:
            return target_w, target_h
    return None


def _fit(width: int, height: int, tier: ImageTier) -> tuple[int, int]:
    """The largest size of the screen's aspect within ``tier``: the long edge shrinks a pixel at
    a time from its cap until the image fits."""
    long_side, short_side = max(width, height), min(width, height)
    cap = HIGH_LONG_EDGE if tier == ImageTier.HIGH else STANDARD_LONG_EDGE
    edge = min(long_side, cap)
    if tier == ImageTier.STANDARD:
        edge = min(edge, math.floor(long_side * math.sqrt(STANDARD_MAX_PIXELS / (width * height))))
    while True:
        other = max(1, round(edge * short_side / long_side))
        size = (edge, other) if width >= height else (other, edge)
        if fits(*size, tier) or edge == 1:
            return size
        edge -= 1


@cache
def api_size_for(width: int, height: int, tier: ImageTier = ImageTier.STANDARD) -> tuple[int, int]:
    """The size screenshots are sent at (and the tool definition advertises) for a screen."""
    if tier == ImageTier.STANDARD:
        target = _reference_target(width, height)
        if target is not None:
            return target
    if fits(width, height, tier):
        return width, height
    return _fit(width, height, tier)


@dataclass(frozen=True)
class Scaler:
    screen_w: int
    screen_h: int
    tier: ImageTier = ImageTier.STANDARD

    @property
    def api_size(self) -> tuple[int, int]:
        return api_size_for(self.screen_w, self.screen_h, self.tier)

    @property
    def active(self) -> bool:
        return self.api_size != (self.screen_w, self.screen_h)

    @property
    def factors(self) -> tuple[float, float]:
        api_w, api_h = self.api_size
        return api_w / self.screen_w, api_h / self.screen_h

    def check_bounds(self, x: int, y: int, *, inclusive_end: bool = False) -> None:
        """Reject API coordinates outside the advertised display (the reference's wording)."""
        api_w, api_h = self.api_size
        limit_w, limit_h = (api_w, api_h) if inclusive_end else (api_w - 1, api_h - 1)
        if x > limit_w or y > limit_h:
            raise ToolError(f"Coordinates {shown(x)}, {shown(y)} are out of bounds")

    def to_screen(self, x: int, y: int) -> tuple[int, int]:
        """API -> screen for a point the model sent (bounds-checked)."""
        self.check_bounds(x, y)
        fx, fy = self.factors
        return (min(round(x / fx), self.screen_w - 1), min(round(y / fy), self.screen_h - 1))

    def box_to_screen(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """API -> screen for a region (x0, y0, x1, y1) whose end is exclusive."""
        x0, y0, x1, y1 = box
        self.check_bounds(x0, y0)
        self.check_bounds(x1, y1, inclusive_end=True)
        fx, fy = self.factors
        return (
            round(x0 / fx),
            round(y0 / fy),
            min(round(x1 / fx), self.screen_w),
            min(round(y1 / fy), self.screen_h),
        )

    def to_api(self, x: int, y: int) -> tuple[int, int]:
        """Screen -> API (pointer position)."""
        fx, fy = self.factors
        return min(round(x * fx), self.api_size[0] - 1), min(round(y * fy), self.api_size[1] - 1)
