"""The computer tool: every generation (TOOLS.md §2), on the sandbox's X display.

Dated versions answer UI actions with a screenshot taken once the screen settles; toolset members
answer with the SDK's acknowledgment of the action (``Clicked.``, ``Pressed Return.``: texts.py;
only ``screenshot`` and ``zoom`` return images). The request's ``screenshot`` flag
overrides either rule. The X connection, capture and keyboard bindings live for the process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from Xlib.display import Display

from sandbox_image.executor import desktop
from sandbox_image.executor.capture import Capture, Encoder, Frame, scaled_screenshot, zoomed
from sandbox_image.executor.keys import char_keysym, parse_chords
from sandbox_image.executor.protocol import ImageTier
from sandbox_image.executor.result import ToolError, ToolResult
from sandbox_image.executor.scaling import Scaler
from sandbox_image.executor.texts import ACKNOWLEDGMENTS, acknowledgment, bounded, cursor_text, shown
from sandbox_image.executor.validate import Action, Parser
from sandbox_image.executor.versions import IMAGE_ACTIONS, PASSIVE_ACTIONS, VERSIONS
from sandbox_image.executor.xinput import BUTTONS, SCROLL_BUTTONS, XInput

CLICK_BUTTONS = {
    "left_click": (BUTTONS["left"], 1),
    "right_click": (BUTTONS["right"], 1),
    "middle_click": (BUTTONS["middle"], 1),
    "double_click": (BUTTONS["left"], 2),
    "triple_click": (BUTTONS["left"], 3),
}


def _fields(action: Action) -> dict[str, Any]:
    """The input fields an acknowledgment names."""
    return {"text": action.text, "duration": action.duration, "scroll_direction": action.direction}


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


class ComputerTool:
    """Serves computer_20241022, computer_20250124, computer_20251124 and the 20260801 toolset."""

    def __init__(self, screen: tuple[int, int] | None = None, display_name: str | None = None) -> None:
        self.screen = screen or desktop.screen_size_from_env()
        self.scaler = Scaler(*self.screen)
        self.display_name = display_name or desktop.display_name()
        self.encoder = Encoder()
        self._input: XInput | None = None
        self._capture: Capture | None = None
        self._connecting = threading.Lock()

    # --- lazily connected X state ------------------------------------------------------------------
    @property
    def input(self) -> XInput:
        with self._connecting:  # the executor's warm-up thread may be connecting right now
            if self._input is None:
                desktop.wait_for_x()
                self._input = XInput(Display(self.display_name))
            return self._input

    @property
    def capture(self) -> Capture:
        with self._connecting:
            if self._capture is None:
                desktop.wait_for_x()
                self._capture = Capture(self.display_name, self.screen)
            return self._capture

    def use_tier(self, tier: ImageTier) -> None:
        """Size screenshots (and map coordinates) for the model's image tier from now on."""
        if tier != self.scaler.tier:
            self.scaler = Scaler(*self.screen, tier)

    def warm_up(self) -> None:
        """Connect to X and grab one frame ahead of the first call."""
        self.input.sync()
        self.capture.grab()

    # --- the Tool protocol -----------------------------------------------------------------------
    def call(self, tool_type: str, tool_name: str, tool_input: Any, screenshot: bool | None) -> ToolResult:
        """One call; every error text is bounded (texts.FIELD_MAX)."""
        try:
            return self._call(tool_type, tool_name, tool_input, screenshot)
        except ToolError as exc:
            raise ToolError(bounded(exc.message)) from exc

    def _call(self, tool_type: str, tool_name: str, tool_input: Any, screenshot: bool | None) -> ToolResult:
        version = VERSIONS.get(tool_type)
        if version is None or (not version.toolset and tool_name != "computer"):
            raise ToolError(f"Tool {shown(tool_name)} is invalid")
        action = Parser(version, self.scaler).parse(tool_name, tool_input)
        started = time.perf_counter()
        if action.name in IMAGE_ACTIONS:
            return self._image_result(action, started)
        text = self._perform(action)
        timings = {"action": _ms_since(started)}
        frame = None
        if action.name not in PASSIVE_ACTIONS:
            settle_start = time.perf_counter()
            frame = self.capture.settle()
            timings["settle"] = _ms_since(settle_start)
        if screenshot is None:
            screenshot = not version.toolset and action.name != "cursor_position"
        if version.toolset and action.name in ACKNOWLEDGMENTS:
            text = acknowledgment(action.name, _fields(action))
        text = text or ""
        if not screenshot:
            return ToolResult(text=text, timings_ms=timings)
        return self._with_image(text, frame or self.capture.grab(), timings)

    # --- images ----------------------------------------------------------------------------------
    def _with_image(self, text: str, frame: Frame, timings: dict[str, float]) -> ToolResult:
        encode_start = time.perf_counter()
        encoded = self.encoder.encode(scaled_screenshot(frame, self.scaler.api_size))
        timings["encode"] = _ms_since(encode_start)
        return ToolResult(text=text, image=encoded.data, media_type=encoded.media_type, timings_ms=timings)

    def _image_result(self, action: Action, started: float) -> ToolResult:
        if action.name == "screenshot":
            frame = self.capture.grab()
            return self._with_image("", frame, {"capture": _ms_since(started)})
        assert action.region is not None
        try:
            frame = self.capture.grab()
        except ToolError as exc:
            raise ToolError("Failed to take screenshot for zoom") from exc
        image = zoomed(frame, action.region, self.scaler.api_size)
        timings = {"capture": _ms_since(started)}
        encode_start = time.perf_counter()
        encoded = self.encoder.encode(image)
        timings["encode"] = _ms_since(encode_start)
        return ToolResult(image=encoded.data, media_type=encoded.media_type, timings_ms=timings)

    # --- actions ---------------------------------------------------------------------------------
    def _perform(self, action: Action) -> str | None:
        if action.name == "cursor_position":
            return cursor_text(*self.scaler.to_api(*self.input.pointer()))
        handler: Callable[[Action], str | None] = getattr(self, f"_do_{action.name}", self._do_click)
        try:
            return handler(action)
        finally:
            if self._input is not None:
                self._input.sync()

    @contextmanager
    def _held(self, text: str | None) -> Iterator[None]:
        """Hold modifier keys (``shift``, ``ctrl+alt`` ...) around a pointer action."""
        if not text:
            yield
            return
        keysyms = [k for chord in parse_chords(text) for k in chord]
        pressed = self.input.press_keysyms(keysyms)
        try:
            self.input.sync()
            yield
        finally:
            self.input.release(pressed)

    def _move_to(self, point: tuple[int, int] | None) -> None:
        if point is not None:
            self.input.move(*point)
            self.input.sync()

    def _do_mouse_move(self, action: Action) -> None:
        self._move_to(action.point)

    def _do_click(self, action: Action) -> None:
        button, count = CLICK_BUTTONS[action.name]
        self._move_to(action.point)
        with self._held(action.modifiers):
            self.input.click(button, count)

    def _do_left_click_drag(self, action: Action) -> None:
        assert action.point is not None
        self._move_to(action.start)
        with self._held(action.modifiers):
            self.input.button(BUTTONS["left"], True)
            try:
                self.input.glide(*action.point)
            finally:
                self.input.button(BUTTONS["left"], False)

    def _do_left_mouse_down(self, action: Action) -> None:
        self.input.button(BUTTONS["left"], True)

    def _do_left_mouse_up(self, action: Action) -> None:
        self.input.button(BUTTONS["left"], False)

    def _do_scroll(self, action: Action) -> None:
        assert action.direction is not None
        self._move_to(action.point)
        with self._held(action.modifiers):
            self.input.click(SCROLL_BUTTONS[action.direction], action.amount)

    def _do_key(self, action: Action) -> None:
        chords = parse_chords(action.text or "")
        for _ in range(action.repeat):
            for chord in chords:
                self.input.chord(chord)

    def _do_type(self, action: Action) -> None:
        text = (action.text or "").replace("\r\n", "\n")
        self.input.type_keysyms(char_keysym(char) for char in text)

    def _do_hold_key(self, action: Action) -> None:
        keysyms = [k for chord in parse_chords(action.text or "") for k in chord]
        pressed = self.input.press_keysyms(keysyms)
        try:
            self.input.sync()
            time.sleep(action.duration)
        finally:
            self.input.release(pressed)

    def _do_wait(self, action: Action) -> None:
        time.sleep(action.duration)
