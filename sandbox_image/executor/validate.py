"""Turn what the model sent into a checked ``Action`` — or a ToolError worded as the reference's.

Checks run in the reference's order so the first error reported is the one a model trained on
the reference expects. Defects fixed: modifier keys in ``text`` on clicks, drags and scroll
(every generation after the first), bounds checked in API space, no TypeError paths, booleans
are not numbers, region order checked, absurd sizes rejected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sandbox_image.executor.result import ToolError
from sandbox_image.executor.scaling import Scaler
from sandbox_image.executor.texts import echo, shown, unknown_member
from sandbox_image.executor.versions import CLICKS, Version

SCROLL_DIRECTIONS = ("up", "down", "left", "right")
MAX_SCROLL_AMOUNT = 1000
MAX_TYPE_CHARS = 20_000
MAX_KEY_CHARS = 1_000
MAX_REPEAT = 100

Point = tuple[int, int]
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Action:
    """A validated action; every coordinate is in screen space."""

    name: str
    point: Point | None = None
    start: Point | None = None
    text: str | None = None
    modifiers: str | None = None
    direction: str | None = None
    amount: int = 0
    duration: float = 0.0
    region: Box | None = None
    repeat: int = 1


def _non_negative_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return None


def _api_point(value: Any) -> Point:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ToolError(f"{shown(value)} must be a tuple of length 2")
    x, y = (_non_negative_int(v) for v in value)
    if x is None or y is None:
        raise ToolError(f"{shown(value)} must be a tuple of non-negative ints")
    return x, y


def _point(value: Any, scaler: Scaler) -> Point:
    return scaler.to_screen(*_api_point(value))


def _string(text: Any) -> str:
    if not isinstance(text, str):
        raise ToolError(f"{shown(text)} must be a string")
    return text


def _limited(text: str, action: str, limit: int) -> str:
    if len(text) > limit:
        raise ToolError(f"text is too long for {action} ({len(text)} characters, at most {limit})")
    return text


def _reject(params: dict[str, Any], name: str, action: str) -> None:
    if params.get(name) is not None:
        raise ToolError(f"{name} is not accepted for {action}")


def _require(params: dict[str, Any], name: str, action: str) -> Any:
    value = params.get(name)
    if value is None:
        raise ToolError(f"{name} is required for {action}")
    return value


def _modifiers(params: dict[str, Any]) -> str | None:
    """Modifier keys for clicks/drags/scroll: ``text`` (documented) or the demo's ``key`` field."""
    value = params.get("text")
    if value is None:
        value = params.get("key")
    return None if value is None else _string(value)


class Parser:
    """Validates one call of one computer tool version."""

    def __init__(self, version: Version, scaler: Scaler) -> None:
        self.version = version
        self.scaler = scaler

    def parse(self, tool_name: str, tool_input: Any) -> Action:
        if not isinstance(tool_input, dict):
            raise ToolError(f"Invalid tool input: {echo(tool_input)} is not an object")
        action = tool_name if self.version.toolset else tool_input.get("action")
        if not isinstance(action, str) or action not in self.version.actions:
            if self.version.toolset:
                raise ToolError(unknown_member(tool_name))
            raise ToolError(f"Invalid action: {shown(action)}")
        handler = getattr(self, f"_parse_{action}", None) or self._parse_click
        result: Action = handler(action, tool_input)
        return result

    # --- pointer ---------------------------------------------------------------------------------
    def _parse_mouse_move(self, action: str, p: dict[str, Any]) -> Action:
        coordinate = _require(p, "coordinate", action)
        _reject(p, "text", action)
        return Action(action, point=_point(coordinate, self.scaler))

    def _parse_left_click_drag(self, action: str, p: dict[str, Any]) -> Action:
        if self.version.pointer_clicks:  # drags from the pointer, or from start_coordinate if given
            coordinate = _require(p, "coordinate", action)
            _reject(p, "text", action)
            start = p.get("start_coordinate")
            begin = None if start is None else _point(start, self.scaler)
            return Action(action, start=begin, point=_point(coordinate, self.scaler))
        start = _require(p, "start_coordinate", action)
        coordinate = _require(p, "coordinate", action)
        return Action(
            action,
            start=_point(start, self.scaler),
            point=_point(coordinate, self.scaler),
            modifiers=_modifiers(p),
        )

    def _parse_click(self, action: str, p: dict[str, Any]) -> Action:
        assert action in CLICKS, action
        if self.version.pointer_clicks:
            _reject(p, "text", action)
            _reject(p, "coordinate", action)
            return Action(action)
        coordinate = p.get("coordinate")
        point = None if coordinate is None else _point(coordinate, self.scaler)
        return Action(action, point=point, modifiers=_modifiers(p))

    def _parse_mouse_button(self, action: str, p: dict[str, Any]) -> Action:
        if p.get("coordinate") is not None:
            raise ToolError(f"coordinate is not accepted for {action=}.")
        return Action(action)

    _parse_left_mouse_down = _parse_mouse_button
    _parse_left_mouse_up = _parse_mouse_button

    def _parse_scroll(self, action: str, p: dict[str, Any]) -> Action:
        direction, amount = p.get("scroll_direction"), p.get("scroll_amount")
        if not isinstance(direction, str) or direction not in SCROLL_DIRECTIONS:
            raise ToolError(f"scroll_direction={echo(direction)} must be 'up', 'down', 'left', or 'right'")
        count = _non_negative_int(amount)
        if count is None or isinstance(amount, float):
            raise ToolError(f"scroll_amount={echo(amount)} must be a non-negative int")
        if count > MAX_SCROLL_AMOUNT:
            raise ToolError(f"scroll_amount={echo(amount)} is too large (at most {MAX_SCROLL_AMOUNT}).")
        coordinate = p.get("coordinate")
        point = None if coordinate is None else _point(coordinate, self.scaler)
        return Action(action, point=point, direction=direction, amount=count, modifiers=_modifiers(p))

    # --- keyboard --------------------------------------------------------------------------------
    def _keyboard_text(self, action: str, p: dict[str, Any], limit: int) -> str:
        text = _require(p, "text", action)
        _reject(p, "coordinate", action)
        return _limited(_string(text), action, limit)

    def _parse_type(self, action: str, p: dict[str, Any]) -> Action:
        return Action(action, text=self._keyboard_text(action, p, MAX_TYPE_CHARS))

    def _parse_key(self, action: str, p: dict[str, Any]) -> Action:
        text = self._keyboard_text(action, p, MAX_KEY_CHARS)
        repeat = p.get("repeat") if self.version.toolset else None
        if repeat is None:
            return Action(action, text=text)
        count = _non_negative_int(repeat)
        if count is None or not 1 <= count <= MAX_REPEAT:
            raise ToolError(f"repeat={echo(repeat)} must be an integer between 1 and {MAX_REPEAT}")
        return Action(action, text=text, repeat=count)

    def _duration(self, p: dict[str, Any]) -> float:
        duration = p.get("duration")
        if isinstance(duration, bool) or not isinstance(duration, int | float) or math.isnan(duration):
            raise ToolError(f"duration={echo(duration)} must be a number")
        if duration < 0:
            raise ToolError(f"duration={echo(duration)} must be non-negative")
        if duration > self.version.max_duration_s:
            raise ToolError(f"duration={echo(duration)} is too long.")
        return float(duration)

    def _parse_hold_key(self, action: str, p: dict[str, Any]) -> Action:
        duration = self._duration(p)
        text = _limited(_string(_require(p, "text", action)), action, MAX_KEY_CHARS)
        return Action(action, text=text, duration=duration)

    def _parse_wait(self, action: str, p: dict[str, Any]) -> Action:
        return Action(action, duration=self._duration(p))

    # --- looking -----------------------------------------------------------------------------------
    def _parse_passive(self, action: str, p: dict[str, Any]) -> Action:
        _reject(p, "text", action)
        _reject(p, "coordinate", action)
        return Action(action)

    _parse_screenshot = _parse_passive
    _parse_cursor_position = _parse_passive

    def _parse_zoom(self, action: str, p: dict[str, Any]) -> Action:
        region = p.get("region")
        if not isinstance(region, list | tuple) or len(region) != 4:
            raise ToolError(f"region={echo(region)} must be a tuple of 4 coordinates (x0, y0, x1, y1)")
        values = [_non_negative_int(v) for v in region]
        if any(v is None for v in values):
            raise ToolError(f"region={echo(region)} must contain non-negative integers")
        x0, y0, x1, y1 = (int(v) for v in values)  # type: ignore[arg-type]
        if x1 <= x0 or y1 <= y0:
            raise ToolError(f"region={echo(region)} must have x0 < x1 and y0 < y1")
        return Action(action, region=self.scaler.box_to_screen((x0, y0, x1, y1)))
