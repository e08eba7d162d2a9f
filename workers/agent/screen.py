"""The screenshot size a model gets: its image tier (core.models ``image_tier``) as the executor
reads it (sandbox_image/executor/protocol.py ``ImageTier``), and the step down to the standard
tier after the API rejected an image, so no later step repeats the rejection."""

from __future__ import annotations

from typing import Any

from core.models import ModelConfig
from sandbox_image.executor.protocol import ImageTier

HIGH_TIER_NAMES = ("hires", "high")


def image_tier_for(config: ModelConfig) -> ImageTier:
    """The executor's tier for a model: high-resolution for the models that read 28-px tiles."""
    return ImageTier.HIGH if getattr(config, "image_tier", None) in HIGH_TIER_NAMES else ImageTier.STANDARD


def step_down(sandbox: Any) -> bool:
    """Switch a sandbox on the high tier to the standard one; whether anything changed. A sandbox
    without tiers (a test double, an old executor) is left alone."""
    use = getattr(sandbox, "use_image_tier", None)
    if use is None or getattr(sandbox, "image_tier", None) != ImageTier.HIGH:
        return False
    use(ImageTier.STANDARD)
    return True
