"""The desktop is one plain colour (sandbox_image/start.py ``plain_desktop``), so an empty screen
compresses to a few kilobytes instead of mutter's dithered vignette (606 KB as PNG)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sandbox.desk import Desk
from workers.sandbox.launcher import SandboxLauncher

pytestmark = pytest.mark.docker
DESKTOP_RGB = (0x1D, 0x3F, 0x6A)


@pytest.fixture(scope="module")
def empty_desk(launcher: SandboxLauncher) -> Iterator[Desk]:
    sandbox = launcher.start("test-plain", 1024, 768, labels={"nightshift.test": "plain"})
    try:
        sandbox.wait_ready()
        yield Desk(sandbox)
    finally:
        sandbox.stop()


def test_the_empty_desktop_is_one_colour_and_compresses(empty_desk: Desk) -> None:
    shot = empty_desk.screenshot()
    colors = shot.crop((0, 0, 1024, 768 - 40)).getcolors(1 << 16) or []
    desktop = sum(count for count, rgb in colors if rgb == DESKTOP_RGB)
    assert desktop >= 1024 * 728 - 1000  # all of it but the pointer
    raw = empty_desk.sandbox.call(*_SCREENSHOT).image
    assert raw is not None and len(raw) < 60_000  # was 606 KB with mutter's vignette


def test_the_desktop_window_is_not_a_task_in_the_panel(empty_desk: Desk) -> None:
    out = empty_desk.sh("xdotool search --onlyvisible --classname nightshift-desktop | wc -l")
    assert out.strip() == "1"  # it exists...
    shot = empty_desk.screenshot()
    assert shot.getpixel((400, 768 - 20)) == (0x2B, 0x2B, 0x2B)  # ...and the taskbar stays empty


_SCREENSHOT = ({"type": "computer_20250124", "name": "computer"}, {"action": "screenshot"})
