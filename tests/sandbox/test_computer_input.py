"""Every computer action, checked by what the X server actually delivered to a window.

The evlog app (tests/sandbox/apps/evlog.py) covers the screen and logs pointer and key events, so
each test asserts the effect of an action: where the pointer went, which button, how many clicks,
which modifiers were held, which keys in which order.
"""

from __future__ import annotations

import pytest
from Xlib import XK

from tests.sandbox.desk import ALL_VERSIONS, ALT, CONTROL, SHIFT, TOOLSET, Desk, EventLog, image_of

pytestmark = pytest.mark.docker


def keysym(name: str) -> int:
    return int(XK.string_to_keysym(name))


def presses(events: EventLog, mark: int, at_least: int = 1) -> list[dict]:
    return events.since(mark, "press", at_least=at_least)


def key_presses(events: EventLog, mark: int, at_least: int = 1) -> list[int]:
    return [e["keysym"] for e in events.since(mark, "key_press", at_least=at_least)]


# --- pointer -----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_mouse_move_puts_the_pointer_where_asked(desk: Desk, events: EventLog, version: str) -> None:
    mark = events.mark()
    desk.ok("mouse_move", version, coordinate=[321, 234])
    last = events.since(mark, "motion")[-1]
    assert (last["x"], last["y"]) == (321, 234)
    assert desk.pointer(version) == "X=321,Y=234"  # the SDK's toolset writes it as the reference does


@pytest.mark.parametrize(
    ("action", "button", "count"),
    [
        ("left_click", 1, 1),
        ("right_click", 3, 1),
        ("middle_click", 2, 1),
        ("double_click", 1, 2),
        ("triple_click", 1, 3),
    ],
)
def test_clicks_press_the_right_button_at_the_coordinate(
    desk: Desk, events: EventLog, action: str, button: int, count: int
) -> None:
    mark = events.mark()
    desk.ok(action, coordinate=[400, 300])
    pressed = presses(events, mark, at_least=count)
    assert [(e["button"], e["x"], e["y"]) for e in pressed] == [(button, 400, 300)] * count
    assert len(events.since(mark, "release", at_least=count)) == count
    assert desk.pointer() == "X=400,Y=300"


def test_first_generation_clicks_at_the_current_pointer(desk: Desk, events: EventLog) -> None:
    desk.ok("mouse_move", "computer_20241022", coordinate=[150, 160])
    mark = events.mark()
    desk.ok("left_click", "computer_20241022")
    assert [(e["button"], e["x"], e["y"]) for e in presses(events, mark)] == [(1, 150, 160)]


@pytest.mark.parametrize(
    ("modifiers", "mask"),
    [("shift", SHIFT), ("ctrl", CONTROL), ("ctrl+alt", CONTROL | ALT), ("ctrl+shift", CONTROL | SHIFT)],
)
@pytest.mark.parametrize("version", ["computer_20250124", "computer_20251124", TOOLSET])
def test_modifier_text_is_held_during_a_click(
    desk: Desk, events: EventLog, version: str, modifiers: str, mask: int
) -> None:
    mark = events.mark()
    desk.ok("left_click", version, coordinate=[420, 310], text=modifiers)
    (press,) = presses(events, mark)
    assert press["state"] & (SHIFT | CONTROL | ALT) == mask
    mark = events.mark()
    desk.ok("left_click", version, coordinate=[420, 310])
    (plain,) = presses(events, mark)
    assert plain["state"] & (SHIFT | CONTROL | ALT) == 0, "the modifiers were released"


def test_the_demo_key_field_also_holds_modifiers(desk: Desk, events: EventLog) -> None:
    mark = events.mark()
    desk.ok("right_click", coordinate=[410, 320], key="shift")
    (press,) = presses(events, mark)
    assert press["button"] == 3 and press["state"] & SHIFT


@pytest.mark.parametrize(("direction", "button"), [("up", 4), ("down", 5), ("left", 6), ("right", 7)])
def test_scroll_turns_the_wheel_amount_times_at_the_coordinate(
    desk: Desk, events: EventLog, direction: str, button: int
) -> None:
    mark = events.mark()
    desk.ok("scroll", coordinate=[500, 350], scroll_direction=direction, scroll_amount=3)
    pressed = presses(events, mark, at_least=3)
    assert [(e["button"], e["x"], e["y"]) for e in pressed] == [(button, 500, 350)] * 3


@pytest.mark.parametrize("version", ["computer_20250124", TOOLSET])
def test_scroll_holds_modifier_text(desk: Desk, events: EventLog, version: str) -> None:
    mark = events.mark()
    desk.ok("scroll", version, scroll_direction="down", scroll_amount=1, text="ctrl")
    (press,) = presses(events, mark)
    assert press["button"] == 5 and press["state"] & CONTROL


@pytest.mark.parametrize("version", ["computer_20250124", "computer_20251124", TOOLSET])
def test_left_click_drag_presses_at_start_moves_and_releases_at_end(
    desk: Desk, events: EventLog, version: str
) -> None:
    mark = events.mark()
    desk.ok("left_click_drag", version, start_coordinate=[100, 120], coordinate=[300, 220])
    (press,) = presses(events, mark)
    (release,) = events.since(mark, "release")
    held_motion = [e for e in events.since(mark, "motion") if e["state"] & 0x100]  # Button1Mask
    assert (press["button"], press["x"], press["y"]) == (1, 100, 120)
    assert (release["button"], release["x"], release["y"]) == (1, 300, 220)
    assert len(held_motion) >= 2, "toolkits need motion with the button held to see a drag"


def test_drag_with_modifier_text(desk: Desk, events: EventLog) -> None:
    mark = events.mark()
    desk.ok("left_click_drag", TOOLSET, start_coordinate=[100, 120], coordinate=[200, 150], text="shift")
    (press,) = presses(events, mark)
    assert press["state"] & SHIFT


def test_first_generation_drags_from_the_current_pointer(desk: Desk, events: EventLog) -> None:
    desk.ok("mouse_move", "computer_20241022", coordinate=[110, 130])
    mark = events.mark()
    desk.ok("left_click_drag", "computer_20241022", coordinate=[260, 230])
    (press,) = presses(events, mark)
    (release,) = events.since(mark, "release")
    assert (press["x"], press["y"], release["x"], release["y"]) == (110, 130, 260, 230)


@pytest.mark.parametrize("version", ["computer_20250124", TOOLSET])
def test_mouse_down_move_up_is_a_manual_drag(desk: Desk, events: EventLog, version: str) -> None:
    desk.ok("mouse_move", version, coordinate=[150, 150])
    mark = events.mark()
    desk.ok("left_mouse_down", version)
    desk.ok("mouse_move", version, coordinate=[350, 250])
    desk.ok("left_mouse_up", version)
    (press,) = presses(events, mark)
    (release,) = events.since(mark, "release")
    assert (press["button"], press["x"], press["y"]) == (1, 150, 150)
    assert (release["button"], release["x"], release["y"]) == (1, 350, 250)


# --- keyboard ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_key_chord_presses_modifier_then_key_and_releases(desk: Desk, events: EventLog, version: str) -> None:
    mark = events.mark()
    desk.ok("key", version, text="ctrl+a")
    keys = events.since(mark, "key_press", "key_release", at_least=4)
    assert [(e["type"], e["keysym"]) for e in keys] == [
        ("key_press", keysym("Control_L")),
        ("key_press", keysym("a")),
        ("key_release", keysym("a")),
        ("key_release", keysym("Control_L")),
    ]
    assert keys[1]["state"] & CONTROL


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Return", ["Return"]),
        ("KP_0", ["KP_0"]),
        ("alt+Tab", ["Alt_L", "Tab"]),
        ("ctrl+shift+t", ["Control_L", "Shift_L", "T"]),  # Shift is held, so the t key reads T
        ("a b Escape", ["a", "b", "Escape"]),
        ("Page_Down", ["Next"]),
        ("enter", ["Return"]),
    ],
)
def test_key_accepts_xdotool_syntax(desk: Desk, events: EventLog, text: str, expected: list[str]) -> None:
    mark = events.mark()
    desk.ok("key", text=text)
    assert key_presses(events, mark, at_least=len(expected)) == [keysym(n) for n in expected]


def test_toolset_key_repeat(desk: Desk, events: EventLog) -> None:
    mark = events.mark()
    output = desk.ok("key", TOOLSET, text="BackSpace", repeat=5)
    assert output.text == "Pressed BackSpace." and output.image is None
    assert key_presses(events, mark, at_least=5) == [keysym("BackSpace")] * 5


def test_type_delivers_every_character_in_order(desk: Desk, events: EventLog) -> None:
    text = "Hi, Zoë! 1+2=3 €∑ 漢字 😀"
    mark = events.mark()
    desk.ok("type", text=text)
    typed = [k for k in key_presses(events, mark, at_least=len(text)) if k != keysym("Shift_L")]
    expected = [ord(c) if ord(c) < 0x100 else 0x01000000 + ord(c) for c in text]
    assert typed == expected


def test_hold_key_holds_for_the_duration(desk: Desk, events: EventLog) -> None:
    mark = events.mark()
    desk.ok("hold_key", text="shift", duration=1)
    keys = events.since(mark, "key_press", "key_release", at_least=2)
    assert (keys[0]["type"], keys[0]["keysym"]) == ("key_press", keysym("Shift_L"))
    assert (keys[-1]["type"], keys[-1]["keysym"]) == ("key_release", keysym("Shift_L"))
    assert keys[-1]["time"] - keys[0]["time"] >= 900  # X server milliseconds


def test_toolset_hold_key_chord(desk: Desk, events: EventLog) -> None:
    mark = events.mark()
    assert desk.ok("hold_key", TOOLSET, text="ctrl+shift", duration=0.2).text == "Held ctrl+shift for 0.2s."
    keys = events.since(mark, "key_press", "key_release", at_least=4)
    assert [e["type"] for e in keys] == ["key_press", "key_press", "key_release", "key_release"]


# --- looking -----------------------------------------------------------------------------------


def test_screenshot_shows_what_is_on_screen(desk: Desk, events: EventLog) -> None:
    shot = desk.screenshot()
    assert shot.size == (1024, 768)
    assert shot.getpixel((620, 120)) == (255, 0, 0), "evlog's red marker"
    assert shot.getpixel((50, 50)) == (255, 255, 255)


def test_wait_returns_the_screen_after_the_wait(desk: Desk, events: EventLog) -> None:
    desk.ok("key", TOOLSET, text="F12")  # evlog paints a green square 0.8 s later
    assert desk.screenshot().getpixel((620, 320)) == (255, 255, 255)
    shot = desk.ok("wait", duration=1.5)
    assert image_of(shot).getpixel((620, 320)) == (0, 255, 0)


def test_toolset_wait_answers_its_text_without_an_image(desk: Desk, events: EventLog) -> None:
    output = desk.ok("wait", TOOLSET, duration=0.1)
    assert (output.text, output.image) == ("Waited 0.1s.", None)
