"""Every computer-tool error text of TOOLS.md §2.3, per version, from the real executor.

The wording is the reference's (models were trained on it); the checks it lacked (bounds in API
space, booleans, region order, absurd sizes) use the same style. An error never carries an image
and never disturbs the next call.
"""

from __future__ import annotations

import pytest

from tests.sandbox.desk import ALL_VERSIONS, DATED, TOOLSET, Desk

pytestmark = pytest.mark.docker

ENHANCED = ["computer_20250124", "computer_20251124", TOOLSET]


@pytest.mark.parametrize("version", ALL_VERSIONS)
@pytest.mark.parametrize(
    ("action", "params", "message"),
    [
        ("mouse_move", {}, "coordinate is required for mouse_move"),
        ("mouse_move", {"coordinate": [1, 1], "text": "a"}, "text is not accepted for mouse_move"),
        ("key", {}, "text is required for key"),
        ("type", {}, "text is required for type"),
        ("key", {"text": "a", "coordinate": [1, 1]}, "coordinate is not accepted for key"),
        ("type", {"text": "a", "coordinate": [1, 1]}, "coordinate is not accepted for type"),
        ("type", {"text": 123}, "123 must be a string"),
        ("key", {"text": ["ctrl", "c"]}, "['ctrl', 'c'] must be a string"),
        ("screenshot", {"text": "a"}, "text is not accepted for screenshot"),
        ("screenshot", {"coordinate": [1, 1]}, "coordinate is not accepted for screenshot"),
        ("cursor_position", {"text": "a"}, "text is not accepted for cursor_position"),
        ("cursor_position", {"coordinate": [1, 1]}, "coordinate is not accepted for cursor_position"),
        ("mouse_move", {"coordinate": [1, 2, 3]}, "[1, 2, 3] must be a tuple of length 2"),
        ("mouse_move", {"coordinate": 100}, "100 must be a tuple of length 2"),
        ("mouse_move", {"coordinate": "10,20"}, "10,20 must be a tuple of length 2"),
        ("mouse_move", {"coordinate": [-1, 5]}, "[-1, 5] must be a tuple of non-negative ints"),
        ("mouse_move", {"coordinate": [1.5, 5]}, "[1.5, 5] must be a tuple of non-negative ints"),
        ("mouse_move", {"coordinate": ["1", "2"]}, "['1', '2'] must be a tuple of non-negative ints"),
        ("mouse_move", {"coordinate": [True, 5]}, "[True, 5] must be a tuple of non-negative ints"),
        ("mouse_move", {"coordinate": [1024, 0]}, "Coordinates 1024, 0 are out of bounds"),
        ("mouse_move", {"coordinate": [5, 768]}, "Coordinates 5, 768 are out of bounds"),
        ("mouse_move", {"coordinate": [10**12, 5]}, f"Coordinates {10**12}, 5 are out of bounds"),
        ("left_click_drag", {"start_coordinate": [1, 1]}, "coordinate is required for left_click_drag"),
        ("key", {"text": "ctrl+Nonsense_Key"}, "Invalid key name: 'Nonsense_Key'"),
        ("key", {"text": "   "}, "Invalid key name: '   '"),
        ("type", {"text": "x" * 20_001}, "text is too long for type (20001 characters, at most 20000)"),
    ],
)
def test_errors_common_to_every_version(
    desk: Desk, version: str, action: str, params: dict, message: str
) -> None:
    assert desk.error(action, version, **params) == message


@pytest.mark.parametrize("action", ["left_click", "right_click", "middle_click", "double_click"])
def test_first_generation_clicks_take_neither_text_nor_coordinate(desk: Desk, action: str) -> None:
    assert desk.error(action, "computer_20241022", text="shift") == f"text is not accepted for {action}"
    assert (
        desk.error(action, "computer_20241022", coordinate=[5, 5])
        == f"coordinate is not accepted for {action}"
    )


def test_first_generation_drag_rejects_text(desk: Desk) -> None:
    message = desk.error("left_click_drag", "computer_20241022", coordinate=[5, 5], text="shift")
    assert message == "text is not accepted for left_click_drag"


@pytest.mark.parametrize(
    ("version", "action"),
    [
        ("computer_20241022", "scroll"),
        ("computer_20241022", "triple_click"),
        ("computer_20241022", "hold_key"),
        ("computer_20241022", "left_mouse_down"),
        ("computer_20241022", "zoom"),
        ("computer_20250124", "zoom"),
        ("computer_20250124", "fly"),
        ("computer_20251124", ""),
    ],
)
def test_actions_a_version_lacks_are_invalid(desk: Desk, version: str, action: str) -> None:
    assert desk.error(action, version) == f"Invalid action: {action}"


@pytest.mark.parametrize("version", DATED)
def test_missing_or_non_string_action_is_invalid(desk: Desk, version: str) -> None:
    tool = {"type": version, "name": "computer"}
    assert desk.raw(tool, {"coordinate": [1, 1]}).text == "Invalid action: None"
    assert desk.raw(tool, {"action": ["screenshot"]}).text == "Invalid action: ['screenshot']"


def test_unknown_tools_are_invalid(desk: Desk) -> None:
    assert desk.raw({"type": "computer_20250124", "name": "browser"}, {"action": "screenshot"}).text == (
        "Tool browser is invalid"
    )
    assert desk.raw({"type": "computer_20990101", "name": "computer"}, {"action": "screenshot"}).text == (
        "Tool computer is invalid"
    )
    assert desk.raw({"type": "spreadsheet_20250101", "name": "sheet"}, {}).text == "Tool sheet is invalid"
    unknown = desk.raw({"type": TOOLSET, "name": "fly"}, {}).text
    assert unknown == "Error: unknown computer toolset member 'fly'"


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_input_that_is_not_an_object(desk: Desk, version: str) -> None:
    name = "screenshot" if version == TOOLSET else "computer"
    output = desk.raw({"type": version, "name": name}, ["screenshot"])
    assert output.is_error and output.text == "Invalid tool input: ['screenshot'] is not an object"


@pytest.mark.parametrize("version", ENHANCED)
@pytest.mark.parametrize("action", ["left_mouse_down", "left_mouse_up"])
def test_mouse_button_actions_reject_coordinate(desk: Desk, version: str, action: str) -> None:
    assert (
        desk.error(action, version, coordinate=[5, 5]) == f"coordinate is not accepted for action='{action}'."
    )


@pytest.mark.parametrize("version", ENHANCED)
def test_drag_needs_a_start(desk: Desk, version: str) -> None:
    message = desk.error("left_click_drag", version, coordinate=[5, 5])
    assert message == "start_coordinate is required for left_click_drag"


@pytest.mark.parametrize("version", ENHANCED)
def test_click_modifiers_must_be_a_string(desk: Desk, version: str) -> None:
    assert (
        desk.error("left_click", version, coordinate=[5, 5], text=["shift"]) == "['shift'] must be a string"
    )


@pytest.mark.parametrize("version", ENHANCED)
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"scroll_amount": 3}, "scroll_direction=None must be 'up', 'down', 'left', or 'right'"),
        (
            {"scroll_direction": "diagonal", "scroll_amount": 3},
            "scroll_direction='diagonal' must be 'up', 'down', 'left', or 'right'",
        ),
        ({"scroll_direction": "down"}, "scroll_amount=None must be a non-negative int"),
        ({"scroll_direction": "down", "scroll_amount": -1}, "scroll_amount=-1 must be a non-negative int"),
        ({"scroll_direction": "down", "scroll_amount": "3"}, "scroll_amount='3' must be a non-negative int"),
        ({"scroll_direction": "down", "scroll_amount": 2.5}, "scroll_amount=2.5 must be a non-negative int"),
        (
            {"scroll_direction": "down", "scroll_amount": True},
            "scroll_amount=True must be a non-negative int",
        ),
        (
            {"scroll_direction": "down", "scroll_amount": 10**9},
            f"scroll_amount={10**9} is too large (at most 1000).",
        ),
        (
            {"scroll_direction": "up", "scroll_amount": 1, "coordinate": [2000, 1]},
            "Coordinates 2000, 1 are out of bounds",
        ),
    ],
)
def test_scroll_errors(desk: Desk, version: str, params: dict, message: str) -> None:
    assert desk.error("scroll", version, **params) == message


@pytest.mark.parametrize("version", ENHANCED)
@pytest.mark.parametrize("action", ["hold_key", "wait"])
@pytest.mark.parametrize(
    ("duration", "message"),
    [
        (None, "duration=None must be a number"),
        ("5", "duration='5' must be a number"),
        (True, "duration=True must be a number"),
        (-1, "duration=-1 must be non-negative"),
        (-0.5, "duration=-0.5 must be non-negative"),
        (1e9, "duration=1000000000.0 is too long."),
    ],
)
def test_duration_errors(desk: Desk, version: str, action: str, duration: object, message: str) -> None:
    assert desk.error(action, version, text="shift", duration=duration) == message


@pytest.mark.parametrize("version", ["computer_20250124", "computer_20251124"])
def test_dated_versions_allow_at_most_100_seconds(desk: Desk, version: str) -> None:
    assert desk.error("wait", version, duration=100.5) == "duration=100.5 is too long."


def test_toolset_allows_up_to_300_seconds(desk: Desk) -> None:
    assert desk.error("wait", TOOLSET, duration=301) == "duration=301 is too long."
    assert desk.error("hold_key", TOOLSET, text="shift", duration=300.5) == "duration=300.5 is too long."


@pytest.mark.parametrize("version", ENHANCED)
def test_hold_key_needs_text(desk: Desk, version: str) -> None:
    assert desk.error("hold_key", version, duration=1) == "text is required for hold_key"


@pytest.mark.parametrize("version", ["computer_20251124", TOOLSET])
@pytest.mark.parametrize(
    ("region", "message"),
    [
        (None, "region=None must be a tuple of 4 coordinates (x0, y0, x1, y1)"),
        ([1, 2, 3], "region=[1, 2, 3] must be a tuple of 4 coordinates (x0, y0, x1, y1)"),
        ("0,0,10,10", "region='0,0,10,10' must be a tuple of 4 coordinates (x0, y0, x1, y1)"),
        ([0, 0, -5, 10], "region=[0, 0, -5, 10] must contain non-negative integers"),
        ([0, 0, 5.5, 10], "region=[0, 0, 5.5, 10] must contain non-negative integers"),
        ([100, 100, 50, 200], "region=[100, 100, 50, 200] must have x0 < x1 and y0 < y1"),
        ([100, 100, 200, 100], "region=[100, 100, 200, 100] must have x0 < x1 and y0 < y1"),
        ([0, 0, 1025, 100], "Coordinates 1025, 100 are out of bounds"),
    ],
)
def test_zoom_region_errors(desk: Desk, version: str, region: object, message: str) -> None:
    assert desk.error("zoom", version, region=region) == message


@pytest.mark.parametrize("repeat", [0, 101, -1, "3", 2.5, True])
def test_toolset_key_repeat_bounds(desk: Desk, repeat: object) -> None:
    message = desk.error("key", TOOLSET, text="a", repeat=repeat)
    assert message == f"repeat={repeat!r} must be an integer between 1 and 100"


def test_errors_leave_the_executor_serving(desk: Desk) -> None:
    for _ in range(3):
        desk.error("mouse_move", coordinate="nonsense")
    assert desk.ok("cursor_position").text.startswith("X=")


@pytest.mark.parametrize("value", [10**5000, float("nan"), b"bytes"], ids=["5001 digits", "nan", "bytes"])
def test_an_input_the_channel_cannot_carry_is_a_tool_error_and_the_channel_stays(
    desk: Desk, value: object
) -> None:
    """A number past Python's 4,300-digit limit (jiter parses one from a streamed tool input), NaN
    or bytes: the model gets an error naming the problem, and the next call is served."""
    message = desk.error("mouse_move", coordinate=[value, 5])
    assert message.startswith("the tool input cannot be sent to the sandbox:")
    assert desk.ok("cursor_position").text.startswith("X=")
