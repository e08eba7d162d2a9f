"""The X display: waiting for it to accept clients, and for the window manager and the panel.

No sleeps: the supervisor (start.py) relays Xvfb's ``-displayfd`` readiness on a pipe whose number
is in NIGHTSHIFT_X_READY_FD; ``wait_ready`` reacts to root-window property and structure events.
"""

from __future__ import annotations

import os
import select
import threading
import time
from typing import Any

from Xlib import X
from Xlib.display import Display
from Xlib.error import XError

from sandbox_image.executor.result import ToolError

PANEL_CLASS = "tint2"
# The plain desktop colour (RRGGBB) that start.py paints; the panel counts as drawn once its strip
# shows anything else.
DESKTOP_COLOUR = os.environ.get("NIGHTSHIFT_DESKTOP_COLOUR", "1d3f6a")
PANEL_POLL_S = 0.02
DESKTOP_WINDOW_NAME = "Desktop"  # the plain-colour window under every other (sandbox_image/start.py)
_X_READY_LOCK = threading.Lock()


def display_name() -> str:
    return os.environ.get("DISPLAY", ":1")


def screen_size_from_env() -> tuple[int, int]:
    return int(os.environ.get("WIDTH", "1024")), int(os.environ.get("HEIGHT", "768"))


def wait_for_x(timeout_s: float = 30.0) -> None:
    """Block until the supervisor says X accepts clients (once; no-op when not started by it).
    Thread-safe: later callers wait for the first one to finish reading."""
    with _X_READY_LOCK:
        fd_text = os.environ.pop("NIGHTSHIFT_X_READY_FD", None)
        if fd_text is None:
            return
        fd = int(fd_text)
        try:
            ready, _, _ = select.select([fd], [], [], timeout_s)
            if not ready or not os.read(fd, 64).strip():
                raise ToolError("Failed to take screenshot: the X server did not start")
        finally:
            os.close(fd)


def _wm_running(display: Display, root: Any) -> bool:
    atom = display.intern_atom("_NET_SUPPORTING_WM_CHECK")
    prop = root.get_full_property(atom, X.AnyPropertyType)
    return bool(prop and prop.value)


def _panel_mapped(window: Any, depth: int = 2) -> bool:
    """A viewable window of class tint2 among the root's children (or, if framed, grandchildren)."""
    return _find_panel(window, depth) is not None


def _find_panel(window: Any, depth: int = 2) -> Any | None:
    try:
        children = window.query_tree().children
    except XError:
        return None
    for child in children:
        try:
            wm_class = child.get_wm_class()
            mapped = child.get_attributes().map_state == X.IsViewable
        except XError:
            continue
        if wm_class and PANEL_CLASS in wm_class and mapped:
            return child
        found = _find_panel(child, depth - 1) if depth > 1 and mapped else None
        if found is not None:
            return found
    return None


def panel_row() -> tuple[int, int, int] | None:
    """The panel's middle row on screen: (y, x from, x to), or None without a mapped panel."""
    display = Display(display_name())
    try:
        root = display.screen().root
        panel = _find_panel(root)
        if panel is None:
            return None
        geometry = panel.get_geometry()
        origin = panel.translate_coords(root, 0, 0)
    except XError:
        return None
    finally:
        display.close()
    x, y = -origin.x, -origin.y
    return y + geometry.height // 2, x, x + geometry.width


def panel_drawn(bgra: bytes, width: int, row: tuple[int, int, int]) -> bool:
    """Whether the panel's row in a BGRX frame shows anything but the plain desktop colour."""
    y, x0, x1 = row
    line = bgra[(y * width + max(0, x0)) * 4:(y * width + min(width, x1)) * 4]
    r, g, b = bytes.fromhex(DESKTOP_COLOUR)
    return any(line[i] != b or line[i + 1] != g or line[i + 2] != r for i in range(0, len(line), 4))


def desktop_state(display: Display) -> dict[str, bool]:
    root = display.screen().root
    return {"window_manager": _wm_running(display, root), "panel": _panel_mapped(root)}


def wait_ready(timeout_s: float) -> dict[str, Any]:
    """Wait until the window manager runs and the panel is mapped; report what was seen."""
    started = time.monotonic()
    display = Display(display_name())
    try:
        root = display.screen().root
        root.change_attributes(event_mask=X.PropertyChangeMask | X.SubstructureNotifyMask)
        display.sync()
        state = desktop_state(display)
        while not all(state.values()):
            remaining = timeout_s - (time.monotonic() - started)
            if remaining <= 0:
                break
            select.select([display.fileno()], [], [], min(remaining, 0.5))
            while display.pending_events():
                display.next_event()
            state = desktop_state(display)
    finally:
        display.close()
    return {**state, "ready": all(state.values()), "elapsed_ms": (time.monotonic() - started) * 1000}
