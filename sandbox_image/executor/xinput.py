"""Pointer and keyboard input through XTEST, in process (no xdotool process per action).

Keysyms missing from the keyboard map (most non-ASCII characters) are bound to spare keycodes on
demand, xdotool-style. Bindings stay in place and are reused; when every spare keycode is taken the
least recently used one is rebound, after a pause that lets clients finish reading earlier events
with the old binding — so typed text is exact for any Unicode string.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable

from Xlib import XK, X
from Xlib.display import Display
from Xlib.ext import xtest

SHIFT_KEYSYM = XK.string_to_keysym("Shift_L")
REBIND_PAUSE_S = 0.05
FALLBACK_SPARES = 4
MULTI_CLICK_S = 0.3  # above the X toolkits' 200-250 ms (GTK, Qt, Gecko also require the same spot)
SYNC_EVERY_EVENTS = 64
BUTTONS = {"left": 1, "middle": 2, "right": 3}
SCROLL_BUTTONS = {"up": 4, "down": 5, "left": 6, "right": 7}


def _is_keypad(keysym: int) -> bool:
    return 0xFF80 <= keysym <= 0xFFBD


class Keymap:
    """keysym -> (keycode, needs shift), plus spare keycodes for keysyms the map lacks."""

    def __init__(self, display: Display) -> None:
        self.display = display
        self.first = display.display.info.min_keycode
        count = display.display.info.max_keycode - self.first + 1
        rows = display.get_keyboard_mapping(self.first, count)
        self.width = len(rows[0]) if rows else 2
        self.lookup: dict[int, tuple[int, bool]] = {}
        spare: list[int] = []
        for offset, row in enumerate(rows):
            keycode = self.first + offset
            if not any(row):
                spare.append(keycode)
            for level, keysym in enumerate(row[:2]):
                if level == 1 and _is_keypad(keysym):
                    continue  # NumLock, not Shift, selects it: bind a spare keycode instead
                if keysym and self.lookup.get(keysym, (0, True))[1]:  # unshifted wins
                    self.lookup[keysym] = (keycode, level == 1)
        # A keymap with no empty keycode lends its top few (rarely used: beyond the keyboard).
        last = self.first + len(rows) - 1
        self.spare = spare or list(range(last - FALLBACK_SPARES + 1, last + 1))
        self.bound: OrderedDict[int, int] = OrderedDict()  # keysym -> spare keycode, LRU order

    def resolve(self, keysym: int) -> tuple[int, bool]:
        """The keycode producing ``keysym`` and whether Shift is needed; binds one if missing."""
        if keysym in self.bound:
            self.bound.move_to_end(keysym)
            return self.bound[keysym], False
        if keysym in self.lookup:
            return self.lookup[keysym]
        return self._bind(keysym), False

    def _bind(self, keysym: int) -> int:
        if self.spare:
            keycode = self.spare.pop()
        else:
            _, keycode = self.bound.popitem(last=False)
            self.display.sync()
            time.sleep(REBIND_PAUSE_S)  # clients may still be reading events that used the old binding
        self.display.change_keyboard_mapping(keycode, [(keysym,) * self.width])
        self.display.sync()
        self.bound[keysym] = keycode
        return keycode


class XInput:
    """Synthesised input on one X display."""

    def __init__(self, display: Display) -> None:
        self.display = display
        self.root = display.screen().root
        self.keymap = Keymap(display)
        self._pending = 0
        self._last_release: dict[int, tuple[float, tuple[int, int]]] = {}

    # --- pointer -----------------------------------------------------------------------------
    def move(self, x: int, y: int) -> None:
        xtest.fake_input(self.display, X.MotionNotify, x=x, y=y)
        self._event()

    def glide(self, x: int, y: int, steps: int = 8, pause_s: float = 0.004) -> None:
        """Move in a few steps so toolkits see a drag, not a jump."""
        x0, y0 = self.pointer()
        for i in range(1, steps + 1):
            self.move(round(x0 + (x - x0) * i / steps), round(y0 + (y - y0) * i / steps))
            self.sync()
            time.sleep(pause_s)

    def button(self, button: int, press: bool) -> None:
        clicky = button in BUTTONS.values()  # wheel "buttons" have no multi-click meaning
        if press and clicky:
            self._avoid_accidental_multi_click(button)
        xtest.fake_input(self.display, X.ButtonPress if press else X.ButtonRelease, button)
        self._event()
        if not press and clicky:
            self.sync()
            self._last_release[button] = (time.monotonic(), self.pointer())

    def _avoid_accidental_multi_click(self, button: int) -> None:
        """Toolkits count a press soon after a release as a double click even at another spot
        (xterm does). Batched actions come that fast; a model's separate calls never do. So a press
        elsewhere within the multi-click time waits it out."""
        last = self._last_release.get(button)
        if last is None:
            return
        elapsed = time.monotonic() - last[0]
        if elapsed < MULTI_CLICK_S and self.pointer() != last[1]:
            time.sleep(MULTI_CLICK_S - elapsed)

    def click(self, button: int, count: int = 1) -> None:
        for _ in range(count):
            self.button(button, True)
            self.button(button, False)

    def pointer(self) -> tuple[int, int]:
        reply = self.root.query_pointer()
        return int(reply.root_x), int(reply.root_y)

    # --- keyboard ------------------------------------------------------------------------------
    def key(self, keycode: int, press: bool) -> None:
        xtest.fake_input(self.display, X.KeyPress if press else X.KeyRelease, keycode)
        self._event()

    def press_keysyms(self, keysyms: Iterable[int]) -> list[int]:
        """Press keys in order (adding Shift where a keysym needs it); return what to release."""
        pressed: list[int] = []
        wanted = list(keysyms)
        needs_shift = False
        codes = []
        for keysym in wanted:
            keycode, shifted = self.keymap.resolve(keysym)
            codes.append(keycode)
            needs_shift |= shifted and SHIFT_KEYSYM not in wanted
        if needs_shift:
            codes.insert(0, self.keymap.resolve(SHIFT_KEYSYM)[0])
        for keycode in codes:
            self.key(keycode, True)
            pressed.append(keycode)
        return pressed

    def release(self, keycodes: list[int]) -> None:
        for keycode in reversed(keycodes):
            self.key(keycode, False)

    def chord(self, keysyms: list[int]) -> None:
        self.release(self.press_keysyms(keysyms))

    def type_keysyms(self, keysyms: Iterable[int]) -> None:
        for keysym in keysyms:
            self.chord([keysym])
        self.sync()

    # --- plumbing --------------------------------------------------------------------------------
    def _event(self) -> None:
        self._pending += 1
        if self._pending >= SYNC_EVERY_EVENTS:
            self.sync()

    def sync(self) -> None:
        self.display.sync()
        self._pending = 0
