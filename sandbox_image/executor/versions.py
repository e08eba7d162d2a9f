"""The computer tool generations and what each accepts (TOOLS.md §1.1, §2.2, §2.9)."""

from __future__ import annotations

from dataclasses import dataclass

BASIC_ACTIONS = frozenset(
    {
        "key",
        "type",
        "mouse_move",
        "left_click",
        "left_click_drag",
        "right_click",
        "middle_click",
        "double_click",
        "screenshot",
        "cursor_position",
    }
)
ENHANCED_ACTIONS = BASIC_ACTIONS | {
    "left_mouse_down",
    "left_mouse_up",
    "scroll",
    "hold_key",
    "wait",
    "triple_click",
}
ZOOM_ACTIONS = ENHANCED_ACTIONS | {"zoom"}

CLICKS = frozenset({"left_click", "right_click", "middle_click", "double_click", "triple_click"})
# Actions that return an image of their own (never a trailing screenshot on top).
IMAGE_ACTIONS = frozenset({"screenshot", "zoom"})
# Actions that do not touch the desktop, so there is nothing to wait for afterwards.
PASSIVE_ACTIONS = frozenset({"screenshot", "zoom", "cursor_position", "wait"})

TOOLSET_TYPE = "computer_toolset_20260801"


@dataclass(frozen=True)
class Version:
    """What one tool type accepts and how it answers."""

    type: str
    actions: frozenset[str]
    max_duration_s: float
    # computer_20241022: clicks act at the pointer and take no coordinate, drags start there.
    pointer_clicks: bool = False
    # Members of the toolset: the action is the tool name; only screenshot/zoom return images.
    toolset: bool = False

    @property
    def modifier_text(self) -> bool:
        """Clicks, drags and scroll take modifier keys in ``text`` (all but the first generation)."""
        return not self.pointer_clicks


VERSIONS: dict[str, Version] = {
    "computer_20241022": Version("computer_20241022", BASIC_ACTIONS, 100.0, pointer_clicks=True),
    "computer_20250124": Version("computer_20250124", ENHANCED_ACTIONS, 100.0),
    "computer_20251124": Version("computer_20251124", ZOOM_ACTIONS, 100.0),
    TOOLSET_TYPE: Version(TOOLSET_TYPE, ZOOM_ACTIONS, 300.0, toolset=True),
}
