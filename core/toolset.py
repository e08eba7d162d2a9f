"""The computer toolset's members (``computer_toolset_20260801``, TOOLS.md §2.9) as both planes
need them: the task file may switch members off (``computer: {disable: [zoom]}``), and the
worker sends ``configs`` and refuses what is off. The list is the SDK's
(``anthropic.types.beta.BetaComputerMemberName``; a test keeps them equal)."""

from __future__ import annotations

COMPUTER_MEMBERS: tuple[str, ...] = (
    "key",
    "hold_key",
    "type",
    "cursor_position",
    "mouse_move",
    "left_mouse_down",
    "left_mouse_up",
    "left_click",
    "left_click_drag",
    "right_click",
    "middle_click",
    "double_click",
    "triple_click",
    "scroll",
    "wait",
    "screenshot",
    "zoom",
)
# Keyboard input reaches whichever window has focus: these ask the hooks' ``confirm`` first.
CONFIRM_REQUIRED = frozenset({"type", "key", "hold_key"})
TOOLSET_NAME = "computer"  # the toolset_name its members carry
