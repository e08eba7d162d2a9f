"""What the toolset's members answer from the real executor, against the ``anthropic`` SDK's own
toolset class as the oracle (tests/toolset_oracle.py): every pure action's acknowledgment, the
cursor position, the unknown-member text; error texts bounded and never repeating unbounded model
input; the first generation's drag honouring ``start_coordinate``."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox_image.executor.texts import ACKNOWLEDGMENTS, FIELD_MAX
from tests.sandbox.desk import ALL_VERSIONS, TOOLSET, Desk, EventLog
from tests.toolset_oracle import sdk_text

pytestmark = pytest.mark.docker

PURE_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("key", {"text": "Escape"}),
    ("key", {"text": "ctrl+shift", "repeat": 2}),
    ("hold_key", {"text": "shift", "duration": 0}),
    ("type", {"text": "hi"}),
    ("mouse_move", {"coordinate": [500, 400]}),
    ("left_mouse_down", {}),
    ("left_mouse_up", {}),
    ("left_click", {"coordinate": [500, 400]}),
    ("left_click_drag", {"start_coordinate": [500, 400], "coordinate": [520, 410]}),
    ("right_click", {"coordinate": [500, 400]}),
    ("middle_click", {"coordinate": [500, 400]}),
    ("double_click", {"coordinate": [500, 400]}),
    ("triple_click", {"coordinate": [500, 400], "text": "shift"}),
    ("scroll", {"scroll_direction": "down", "scroll_amount": 1}),
    ("scroll", {"scroll_direction": "left", "scroll_amount": 1, "coordinate": [500, 400]}),
    ("wait", {"duration": 0}),
]


IDS = [f"{name}-{index}" for index, (name, _) in enumerate(PURE_CALLS)]


def test_every_pure_member_is_covered() -> None:
    assert {name for name, _ in PURE_CALLS} == set(ACKNOWLEDGMENTS)


@pytest.mark.parametrize(("member", "params"), PURE_CALLS, ids=IDS)
def test_pure_members_answer_with_the_sdk_text(
    desk: Desk, events: EventLog, member: str, params: dict
) -> None:
    output = desk.ok(member, TOOLSET, **params)
    assert output.image is None
    assert output.text == sdk_text(member, params)


def test_the_texts_name_the_action(desk: Desk, events: EventLog) -> None:
    assert desk.ok("key", TOOLSET, text="Escape").text == "Pressed Escape."
    assert desk.ok("hold_key", TOOLSET, text="shift", duration=0.2).text == "Held shift for 0.2s."
    assert desk.ok("wait", TOOLSET, duration=0.0).text == "Waited 0s."
    assert desk.ok("scroll", TOOLSET, scroll_direction="up", scroll_amount=1).text == "Scrolled up."


def test_cursor_position_is_written_as_the_sdk_writes_it(desk: Desk, events: EventLog) -> None:
    desk.ok("mouse_move", TOOLSET, coordinate=[512, 384])
    assert desk.ok("cursor_position", TOOLSET).text == "X=512,Y=384" == sdk_text("cursor_position", {})


def test_a_forced_screenshot_follows_the_acknowledgment(desk: Desk, events: EventLog) -> None:
    output = desk.computer("left_click", TOOLSET, screenshot=True, coordinate=[500, 400])
    assert output.text == "Clicked." and output.image is not None


def test_an_unknown_member_gets_the_sdk_text(desk: Desk) -> None:
    for name in ("fly", "it's  a\nname"):
        output = desk.raw({"type": TOOLSET, "name": name}, {})
        assert output.is_error and output.text == sdk_text(name, {})


@pytest.mark.parametrize("version", ALL_VERSIONS)
@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("mouse_move", {"coordinate": "9" * 5000}),
        ("mouse_move", {"coordinate": ["x" * 5000, 1]}),
        ("type", {"text": {"nested": "y" * 6000}}),
        ("scroll", {"scroll_direction": "z" * 9000, "scroll_amount": 1}),
        ("key", {"text": "ctrl+" + "Q" * 900}),
    ],
)
def test_errors_never_repeat_unbounded_input(desk: Desk, version: str, action: str, params: dict) -> None:
    message = desk.error(action, version, **params)
    assert len(message) <= 400, message[:100]
    assert len(message) <= FIELD_MAX


def test_an_oversized_action_name_is_not_repeated(desk: Desk) -> None:
    message = desk.raw({"type": "computer_20250124", "name": "computer"}, {"action": "a" * 5000}).text
    assert message.startswith("Invalid action: aaa") and len(message) < 300


def test_short_values_are_still_repeated_as_written(desk: Desk) -> None:
    assert desk.error("mouse_move", coordinate="10,20") == "10,20 must be a tuple of length 2"


def test_first_generation_drag_honours_start_coordinate(desk: Desk, events: EventLog) -> None:
    desk.ok("mouse_move", "computer_20241022", coordinate=[700, 600])
    mark = events.mark()
    desk.ok("left_click_drag", "computer_20241022", start_coordinate=[300, 300], coordinate=[340, 320])
    press = events.since(mark, "press")[0]
    release = events.since(mark, "release")[0]
    assert (press["x"], press["y"]) == (300, 300)
    assert (release["x"], release["y"]) == (340, 320)
