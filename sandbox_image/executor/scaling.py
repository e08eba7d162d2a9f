"""Screen <-> API coordinate scaling, as the reference computes it (TOOLS.md §2.5), with the bounds
check done in API space (the reference compared API values with screen limits)."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox_image.executor.result import ToolError

# Checked in this order; the first target whose aspect ratio matches the screen's decides.
SCALING_TARGETS: tuple[tuple[int, int], ...] = ((1024, 768), (1280, 800), (1366, 768))
ASPECT_TOLERANCE = 0.02


def api_size_for(width: int, height: int) -> tuple[int, int]:
    """The size screenshots are sent at (and the tool definition advertises) for a screen."""
    ratio = width / height
    for target_w, target_h in SCALING_TARGETS:
        if abs(target_w / target_h - ratio) < ASPECT_TOLERANCE:
            return (target_w, target_h) if target_w < width else (width, height)
    return width, height


@dataclass(frozen=True)
class Scaler:
    screen_w: int
    screen_h: int

    @property
    def api_size(self) -> tuple[int, int]:
        return api_size_for(self.screen_w, self.screen_h)

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
            raise ToolError(f"Coordinates {x}, {y} are out of bounds")

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
        return round(x * fx), round(y * fy)
