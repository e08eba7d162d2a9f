"""The desktop the model sees: a panel whose launchers open every promised application.

Each launcher is clicked through the computer tool, exactly as a model would, and the test waits
for the application's window to be mapped (then closes the application again).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator

import pytest

from tests.sandbox.desk import Desk
from workers.sandbox.launcher import SandboxLauncher

pytestmark = pytest.mark.docker

# Panel order (sandbox_image/desktop/tint2rc) and the window class each application maps.
LAUNCHERS = [
    ("Firefox ESR", "firefox"),
    ("terminal", "xterm"),
    ("file manager", "pcmanfm"),
    ("text editor", "mousepad"),
    ("LibreOffice Calc", "libreoffice-calc"),
    ("LibreOffice Writer", "libreoffice-writer"),
    ("calculator", "galculator"),
    ("PDF viewer", "xpdf"),
    ("LibreOffice Impress", "libreoffice-impress"),
]
PANEL_HEIGHT = 40
ICON_PITCH = 34  # 28 px icon + 6 px spacing
FIRST_ICON_X = 22


@pytest.fixture(scope="module")
def apps_desk(launcher: SandboxLauncher) -> Iterator[Desk]:
    sandbox = launcher.start("test-apps", 1024, 768, labels={"nightshift.test": "apps"})
    try:
        sandbox.wait_ready()
        yield Desk(sandbox)
    finally:
        sandbox.stop()


def test_the_panel_is_at_the_bottom(apps_desk: Desk) -> None:
    shot = apps_desk.screenshot()
    assert shot.getpixel((700, 768 - PANEL_HEIGHT // 2)) == (0x2B, 0x2B, 0x2B)


@pytest.mark.parametrize(("index", "app"), list(enumerate(LAUNCHERS)), ids=[name for name, _ in LAUNCHERS])
def test_each_launcher_opens_its_application(apps_desk: Desk, index: int, app: tuple[str, str]) -> None:
    _, window_class = app
    apps_desk.ok("left_click", coordinate=[FIRST_ICON_X + index * ICON_PITCH, 768 - PANEL_HEIGHT // 2])
    # Polled rather than --sync: xdotool gives up with BadWindow when a window (a splash, a frame
    # mutter drops) vanishes while it walks the tree, which happens under load.
    search = f"xdotool search --onlyvisible --class {shlex.quote(window_class)} 2>/dev/null | head -1"
    window = apps_desk.sh(f'for i in $(seq 300); do w=$({search}); [ -n "$w" ] && echo "$w" && break;'
                          " sleep 0.2; done").strip()
    assert window.isdigit(), f"no {window_class} window appeared"
    pid = apps_desk.sh(f"xdotool getwindowpid {window}")
    apps_desk.sh(f"kill {pid}; true")
