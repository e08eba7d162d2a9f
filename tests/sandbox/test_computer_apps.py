"""Computer actions driving a real application (xterm) and the result read back from disk.

Each test opens its own xterm running ``cat > file`` (or showing text), acts on it only through the
computer tool, and reads the file back with the bash tool.
"""

from __future__ import annotations

import shlex
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.sandbox.desk import TOOLSET, Desk

pytestmark = pytest.mark.docker


@dataclass
class Term:
    title: str
    x: int
    y: int
    width: int
    height: int
    pid: int

    @property
    def centre(self) -> list[int]:
        return [self.x + self.width // 2, self.y + self.height // 2]

    def row(self, index: int) -> int:
        """The y of the middle of a text row (xterm's default font is 13-17 px high, border 2)."""
        return self.y + 2 + 8 + index * 15


# Where a window's client area is on screen (xdotool's figure is off under a reparenting WM).
WINDOW_BOX = """
from Xlib.display import Display
d = Display()
w = d.create_resource_object("window", {wid})
origin = w.translate_coords(d.screen().root, 0, 0)
g = w.get_geometry()
print(-origin.x, -origin.y, g.width, g.height)
"""


def window_box(desk: Desk, title: str, timeout_s: float = 30.0) -> tuple[int, int, int, int]:
    """The titled window's box, polled: under load a window found by xdotool can still be
    reparented under the probe (BadWindow), so a failed look is simply taken again."""
    deadline = time.monotonic() + timeout_s
    while True:
        wid = desk.sh(f"xdotool search --onlyvisible --name {title} 2>/dev/null | head -1; true").strip()
        probe = desk.sh(f"python3 -c {shlex.quote(WINDOW_BOX.format(wid=wid or 0))} 2>/dev/null; true")
        values = probe.split()
        if wid.isdigit() and len(values) == 4 and all(v.lstrip("-").isdigit() for v in values):
            x, y, width, height = (int(v) for v in values)
            return x, y, width, height
        assert time.monotonic() < deadline, f"no window titled {title} appeared"
        time.sleep(0.2)


def open_xterm(desk: Desk, script: str) -> Term:
    title = f"t{uuid.uuid4().hex[:8]}"
    pidfile = f"/tmp/{title}.pid"
    inner = f"echo $$ > {pidfile}; exec xterm -T {title} -geometry 60x15+40+40 -e sh -c {shlex.quote(script)}"
    desk.launch(f"sh -c {shlex.quote(inner)}")
    x, y, width, height = window_box(desk, title)
    term = Term(title, x, y, width, height, int(desk.read(pidfile)))
    desk.ok("left_click", coordinate=term.centre)  # focus it
    return term


@pytest.fixture
def xterm(desk: Desk) -> Iterator[Callable[[str], Term]]:
    opened: list[Term] = []

    def open_(script: str) -> Term:
        opened.append(open_xterm(desk, script))
        return opened[-1]

    yield open_
    for term in opened:
        desk.sh(f"kill {term.pid} 2>/dev/null; true")


def finish_cat(desk: Desk, path: str) -> str:
    """End ``cat > path`` with ctrl+d and return what it wrote."""
    desk.ok("key", text="ctrl+d")
    desk.wait_for(f"! pgrep -f 'cat > {path}' >/dev/null")
    return desk.read_exact(path)


@pytest.mark.parametrize("version", ["computer_20241022", "computer_20250124", TOOLSET])
def test_typed_text_arrives_exactly_in_the_file(
    desk: Desk, xterm: Callable[[str], Term], version: str
) -> None:
    path = f"/tmp/typed-{version}.txt"
    xterm(f"cat > {path}")
    text = (
        "Plain ASCII: {}[]()<>|\\/~`'\"!@#$%^&*_-+=;:,.? 0123456789\nÜnïcödé: Zoë, naïve, €100, ≠ ∑ 漢字 😀\n"
    )
    desk.ok("type", version, text=text)
    assert finish_cat(desk, path) == text


def test_more_distinct_characters_than_spare_keycodes_still_type_exactly(
    desk: Desk, xterm: Callable[[str], Term]
) -> None:
    path = "/tmp/many.txt"
    xterm(f"cat > {path}")
    text = "".join(chr(c) for c in range(0x4E00, 0x4E00 + 60)) + "\n"  # 60 CJK ideographs
    desk.ok("type", text=text)
    assert finish_cat(desk, path) == text


def test_key_chord_reaches_the_application(desk: Desk, xterm: Callable[[str], Term]) -> None:
    path = "/tmp/chord.txt"
    xterm(f"cat > {path}")
    desk.ok("type", text="wrong words")
    desk.ok("key", text="ctrl+u")  # the terminal's kill-line
    desk.ok("type", text="right\n")
    assert finish_cat(desk, path) == "right\n"


def test_toolset_key_repeat_deletes_characters(desk: Desk, xterm: Callable[[str], Term]) -> None:
    path = "/tmp/repeat.txt"
    xterm(f"cat > {path}")
    desk.ok("type", TOOLSET, text="abcdef")
    desk.ok("key", TOOLSET, text="BackSpace", repeat=3)
    desk.ok("key", TOOLSET, text="Return")
    assert finish_cat(desk, path) == "abc\n"


def test_scroll_moves_the_terminal_history(desk: Desk, xterm: Callable[[str], Term]) -> None:
    """The wheel reaches a real application and moves its history. (Both directions' X events,
    N times at the coordinate, are asserted in test_computer_input; xterm itself now and then
    ignores a later downward burst under load, so a pixel-exact round trip is not asserted here.)"""
    term = xterm("seq 1 400; exec cat")
    box = (term.x, term.y, term.x + term.width, term.y + term.height - 40)  # above the cursor row
    before = desk.still_screenshot().crop(box).tobytes()  # all 400 lines printed
    desk.ok("scroll", coordinate=term.centre, scroll_direction="up", scroll_amount=5)
    scrolled = desk.still_screenshot().crop(box).tobytes()
    assert scrolled != before


@pytest.mark.parametrize("how", ["left_click_drag", "mouse_down_up"])
def test_drag_selects_text_that_middle_click_pastes(
    desk: Desk, xterm: Callable[[str], Term], how: str
) -> None:
    path = f"/tmp/drag-{how}.txt"
    term = xterm(f"echo DRAGME; exec cat > {path}")
    start, end = [term.x + 3, term.row(0)], [term.x + term.width - 4, term.row(0)]
    if how == "left_click_drag":
        desk.ok("left_click_drag", start_coordinate=start, coordinate=end)
    else:
        desk.ok("mouse_move", coordinate=start)
        desk.ok("left_mouse_down")
        desk.ok("mouse_move", coordinate=end)
        desk.ok("left_mouse_up")
    desk.ok("middle_click", coordinate=term.centre)  # paste the selection into cat
    desk.ok("type", text="\n")
    assert finish_cat(desk, path).strip() == "DRAGME"
