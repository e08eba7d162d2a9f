"""An X client the tests run *inside* the sandbox (python3 + python3-xlib there) to see input.

It covers the screen with an override-redirect window, grabs the keyboard, and appends one JSON
line per pointer/key event to the log file given as argv[1]. It also paints fixed test patterns:

- a stripe block of alternating 1-pixel black/white columns at STRIPES (for zoom detail),
- a red marker square at MARKER,
- and, 800 ms after F12 is pressed, a green square at DELAYED (for ``wait``).
"""

from __future__ import annotations

import json
import os
import select
import sys
import time

from Xlib import XK, X, display

STRIPES = (200, 200, 128, 96)  # x, y, width, height
MARKER = (600, 100, 40, 40)
DELAYED = (600, 300, 40, 40)
DELAY_S = 0.8


def main() -> None:  # noqa: C901 - a test app: one X event loop, kept in one place
    log = open(sys.argv[1], "a", buffering=1)  # noqa: SIM115 - lives as long as the process
    d = display.Display()
    screen = d.screen()
    width, height = screen.width_in_pixels, screen.height_in_pixels
    mask = (
        X.ButtonPressMask | X.ButtonReleaseMask | X.PointerMotionMask | X.KeyPressMask
        | X.KeyReleaseMask | X.ExposureMask
    )  # fmt: skip
    window = screen.root.create_window(
        0, 0, width, height, 0, screen.root_depth, X.InputOutput, X.CopyFromParent,
        background_pixel=screen.white_pixel, override_redirect=True, event_mask=mask,
    )  # fmt: skip
    colormap = screen.default_colormap
    black = window.create_gc(foreground=screen.black_pixel)
    red = window.create_gc(foreground=colormap.alloc_color(65535, 0, 0).pixel)
    green = window.create_gc(foreground=colormap.alloc_color(0, 65535, 0).pixel)
    window.map()
    d.sync()
    while window.grab_keyboard(True, X.GrabModeAsync, X.GrabModeAsync, X.CurrentTime) != X.GrabSuccess:
        time.sleep(0.01)
    window.set_input_focus(X.RevertToParent, X.CurrentTime)
    state = {"delayed_at": None, "delayed_shown": False}

    def paint() -> None:
        x, y, w, h = STRIPES
        for column in range(0, w, 2):
            window.fill_rectangle(black, x + column, y, 1, h)
        window.fill_rectangle(red, *MARKER)
        if state["delayed_shown"]:
            window.fill_rectangle(green, *DELAYED)
        d.sync()

    def emit(record: dict[str, object]) -> None:
        log.write(json.dumps(record) + "\n")

    paint()
    emit({"type": "ready", "pid": os.getpid(), "width": width, "height": height})
    while True:
        timeout = None
        if state["delayed_at"] is not None and not state["delayed_shown"]:
            timeout = max(0.0, state["delayed_at"] - time.monotonic())
        if not d.pending_events():
            select.select([d.fileno()], [], [], timeout)
        if (
            state["delayed_at"] is not None
            and not state["delayed_shown"]
            and time.monotonic() >= state["delayed_at"]
        ):
            state["delayed_shown"] = True
            paint()
        while d.pending_events():
            handle(d, d.next_event(), emit, paint, state)


def handle(d, event, emit, paint, state) -> None:  # type: ignore[no-untyped-def]
    kind = event.type
    if kind == X.Expose:
        paint()
    elif kind == X.MappingNotify:
        d.refresh_keyboard_mapping(event)
    elif kind in (X.ButtonPress, X.ButtonRelease):
        name = "press" if kind == X.ButtonPress else "release"
        emit({"type": name, "button": event.detail, "x": event.root_x, "y": event.root_y,
              "state": event.state, "time": event.time})  # fmt: skip
    elif kind == X.MotionNotify:
        emit(
            {"type": "motion", "x": event.root_x, "y": event.root_y, "state": event.state, "time": event.time}
        )
    elif kind in (X.KeyPress, X.KeyRelease):
        shifted = 1 if event.state & X.ShiftMask else 0
        keysym = d.keycode_to_keysym(event.detail, shifted) or d.keycode_to_keysym(event.detail, 0)
        name = "key_press" if kind == X.KeyPress else "key_release"
        emit({"type": name, "keysym": keysym, "name": XK.keysym_to_string(keysym),
              "state": event.state, "time": event.time})  # fmt: skip
        if kind == X.KeyPress and keysym == XK.string_to_keysym("F12"):
            state["delayed_at"] = time.monotonic() + DELAY_S


if __name__ == "__main__":
    main()
