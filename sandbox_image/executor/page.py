"""What the user is looking at: the focused window (title, application) and, when it is the
browser, the address of the page it shows. An approval policy reads it before a held action.

The address comes from Firefox's own session store (``sessionstore-backups/recovery.jsonlz4`` in
the profile: the selected tab of the selected window, at its current history entry), not from the
window title (a page's title is whatever the page says) nor the egress proxy's log (a page loads
from many hosts, and only allowlisted runs have one). Firefox writes the file a moment after a
change (our prefs: at most once a second, idle or not; measured 2-3.5 s after a navigation), so a
reading waits until ``settle_s`` have passed since the last input the executor sent: a navigation
that input started is then on disk. The file is mozlz4: an 8-byte magic, the decompressed size
(4 bytes, little-endian) and one LZ4 block (decoded here: the format is small, the image has no
lz4 module).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from Xlib import X, Xatom
from Xlib.display import Display
from Xlib.error import XError

from sandbox_image.executor.desktop import display_name
from sandbox_image.executor.protocol import BROWSER_CLASSES

MOZLZ4_MAGIC = b"mozLz40\0"
SESSION_GLOB = ".mozilla/firefox*/*/sessionstore-backups/recovery.jsonlz4"
MAX_SETTLE_S = 30.0


class InputClock:
    """When the executor last sent input to the desktop (any computer call)."""

    def __init__(self) -> None:
        self.last = 0.0

    def touch(self) -> None:
        self.last = time.monotonic()

    def settle(self, settle_s: float) -> float:
        """Sleep until ``settle_s`` after the last input; the seconds slept."""
        wait = max(0.0, self.last + min(settle_s, MAX_SETTLE_S) - time.monotonic())
        time.sleep(wait)
        return wait


def lz4_block(src: bytes, size: int) -> bytes:
    """Decode one LZ4 block: sequences of literals, then a back-reference (offset, length) that
    may overlap what it copies; the last sequence has literals only."""
    out, i = bytearray(), 0
    while i < len(src):
        token = src[i]
        i += 1
        literals, i = _length(src, i, token >> 4)
        out += src[i:i + literals]
        i += literals
        if i >= len(src):
            break
        offset = src[i] | src[i + 1] << 8
        match, i = _length(src, i + 2, token & 15)
        if not 0 < offset <= len(out):
            raise ValueError("lz4: offset outside the output")
        for _ in range(match + 4):
            out.append(out[-offset])
    if len(out) != size:
        raise ValueError(f"lz4: {len(out)} bytes decoded, {size} announced")
    return bytes(out)


def _length(src: bytes, i: int, nibble: int) -> tuple[int, int]:
    """A 4-bit length, extended by bytes of 255 and one final byte when the nibble is 15."""
    length = nibble
    if nibble == 15:
        while True:
            extra = src[i]
            i += 1
            length += extra
            if extra != 255:
                break
    return length, i


def mozlz4(data: bytes) -> bytes:
    if data[:8] != MOZLZ4_MAGIC:
        raise ValueError("not a mozlz4 file")
    return lz4_block(data[12:], int.from_bytes(data[8:12], "little"))


def current_url(session: dict[str, Any]) -> str | None:
    """The address of the selected tab of the selected window (indexes are 1-based)."""
    windows = session.get("windows") or []
    if not windows:
        return None
    window = windows[min(int(session.get("selectedWindow") or 1), len(windows)) - 1]
    tabs = window.get("tabs") or []
    if not tabs:
        return None
    tab = tabs[min(int(window.get("selected") or 1), len(tabs)) - 1]
    entries = tab.get("entries") or []
    if not entries:  # a new tab, nothing loaded
        return None
    return str(entries[min(int(tab.get("index") or len(entries)), len(entries)) - 1].get("url"))


def session_file(home: Path) -> Path | None:
    """The most recently written session store of any Firefox profile in ``home``."""
    found = [(path.stat().st_mtime, path) for path in home.glob(SESSION_GLOB)]
    return max(found)[1] if found else None


def browser_url(home: Path) -> tuple[str | None, float | None]:
    """The browser's current address (None when no session store is readable yet) and the age of
    the store in seconds."""
    path = session_file(home)
    if path is None:
        return None, None
    try:
        age = time.time() - path.stat().st_mtime
        return current_url(json.loads(mozlz4(path.read_bytes()))), age
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None, None


def focused_window() -> dict[str, str]:
    """The focused window's title and application (WM_CLASS class), '' when none has focus."""
    display = Display(display_name())
    try:
        root = display.screen().root
        active = root.get_full_property(display.intern_atom("_NET_ACTIVE_WINDOW"), Xatom.WINDOW)
        if not active or not active.value or not active.value[0]:
            return {"title": "", "app": ""}
        window = display.create_resource_object("window", int(active.value[0]))
        return {"title": _title(display, window), "app": _app(window)}
    except XError:
        return {"title": "", "app": ""}
    finally:
        display.close()


def _title(display: Display, window: Any) -> str:
    name = window.get_full_property(display.intern_atom("_NET_WM_NAME"), display.intern_atom("UTF8_STRING"))
    if name and name.value:
        value = name.value
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    legacy = window.get_full_property(Xatom.WM_NAME, X.AnyPropertyType)
    value = legacy.value if legacy else b""
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _app(window: Any) -> str:
    wm_class = window.get_wm_class()
    return str(wm_class[1]) if wm_class else ""


def is_browser(app: str) -> bool:
    return app.lower() in BROWSER_CLASSES


def page(settle_s: float, clock: InputClock) -> dict[str, Any]:
    """The focused window, and the browser's address when the browser has focus."""
    waited = clock.settle(settle_s)
    window = focused_window()
    home = Path(os.environ.get("HOME", "/home/user"))
    url, age = browser_url(home) if is_browser(window["app"]) else (None, None)
    return {**window, "url": url, "url_age_s": age, "settled_s": round(waited, 3)}
