"""Desktop smoke: each application as a task would use it, in a fresh sandbox (fresh home).

Each test starts its application through a setup step (workers/setup.py: ``open`` with the default
application for the file's type, or ``launch``) that waits for the window, does one real thing
through the computer tool only, reads the result back from the file (or the screen), and asserts
that no other window (a dialog: Tip of the Day, Keep current format, a template chooser, an error)
stood in the way. Office files are saved in their own format with a plain ctrl+s.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Iterator
from typing import Any

import pytest

from core.setup_steps import SetupStep
from sandbox_image.executor.desktop import DESKTOP_WINDOW_NAME
from tests.sandbox import office_files
from tests.sandbox.desk import Desk
from workers.sandbox.launcher import SandboxLauncher
from workers.setup import StepReport, run_step

pytestmark = pytest.mark.docker

HOME = "/home/user"
DESKTOP_WINDOWS = {"mutter guard window", "tint2", "mutter", DESKTOP_WINDOW_NAME}
PAGE = """<!doctype html><html><head><title>Smoke page</title>
<style>html, body {margin: 0; height: 100%} button {position: fixed; inset: 0; width: 100%; height: 100%;
border: 0; background: #ff0000; font-size: 40px}</style></head>
<body><button onclick="document.title = 'Clicked ' + (++window.n || (window.n = 1))">Press</button>
</body></html>
"""


@pytest.fixture
def fresh(launcher: SandboxLauncher) -> Iterator[Desk]:
    """A sandbox of its own per test (~1.5 s to start): a fresh home, as every run gets."""
    sandbox = launcher.start("test-smoke", 1024, 768, labels={"nightshift.test": "smoke"})
    try:
        sandbox.wait_ready()
        desk = Desk(sandbox)
        desk.wallpaper = desk.screenshot().getpixel((512, 384))  # type: ignore[attr-defined]
        yield desk
    finally:
        sandbox.stop()


def step(desk: Desk, raw: dict[str, Any]) -> StepReport:
    report = run_step(desk.sandbox, 1, SetupStep.model_validate(raw), "bash_20250124")
    assert report.ok, report.output
    return report


def app_windows(desk: Desk) -> list[str]:
    """Titles of the visible windows other than the desktop's own."""
    listing = "for w in $(xdotool search --onlyvisible --name .); do xdotool getwindowname $w; done"
    return [name for name in desk.sh(listing).splitlines() if name and name not in DESKTOP_WINDOWS]


def assert_only(desk: Desk, *patterns: str) -> None:
    """Every visible application window matches one of ``patterns``: no dialog is open."""
    windows = app_windows(desk)
    strays = [w for w in windows if not any(re.search(p, w) for p in patterns)]
    assert not strays, f"windows besides the application's: {strays} (all: {windows})"


def wait_painted(desk: Desk, timeout_s: float = 60.0) -> None:
    """LibreOffice maps its window seconds before it paints it: wait until the middle of the screen
    no longer shows the wallpaper, then until the screen is still."""
    deadline = time.monotonic() + timeout_s
    while desk.screenshot().getpixel((512, 384)) == desk.wallpaper:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the window was never painted"
        time.sleep(0.2)
    desk.still_screenshot(quiet_s=1.0, timeout_s=30)


def file_bytes(desk: Desk, path: str) -> bytes:
    chunks: list[bytes] = []
    desk.sandbox.get_file(path, chunks.append)
    return b"".join(chunks)


def quit_office(desk: Desk) -> None:
    """Quit LibreOffice as a user would (ctrl+q), so the next start finds no instance or lock."""
    desk.ok("key", text="ctrl+q")
    desk.wait_for("! pgrep -f soffice.bin", timeout_s=30)


def close(desk: Desk, title_regex: str) -> None:
    desk.sh(f"for w in $(xdotool search --onlyvisible --name {shlex.quote(title_regex)}); do "
            "kill $(xdotool getwindowpid $w) 2>/dev/null; done; true")


def test_writer_edits_a_docx_and_saves_it_with_ctrl_s_and_no_dialog(fresh: Desk) -> None:
    fresh.sandbox.put_file(f"{HOME}/report.docx", office_files.docx("Quarterly report."))
    wait = r"report\.docx - LibreOffice Writer"
    step(fresh, {"open": {"path": f"{HOME}/report.docx", "wait_for_window": wait}})
    wait_painted(fresh)
    fresh.ok("key", text="ctrl+End")
    fresh.ok("type", text=" Edited by the agent.")
    fresh.ok("key", text="ctrl+s")
    fresh.wait_for(f"python3 -c {shlex.quote(DOCX_HAS.format(path=f'{HOME}/report.docx'))}", timeout_s=30)
    text = office_files.member(file_bytes(fresh, f"{HOME}/report.docx"), "word/document.xml")
    assert "Quarterly report." in text and "Edited by the agent." in text
    assert_only(fresh, r"^report\.docx - LibreOffice Writer$")
    quit_office(fresh)


DOCX_HAS = (
    "import zipfile,sys; x=zipfile.ZipFile('{path}').read('word/document.xml').decode();"
    " sys.exit('Edited' not in x)"
)
XLSX_HAS = (
    "import zipfile,sys; x=zipfile.ZipFile('{path}').read('xl/worksheets/sheet1.xml').decode();"
    " sys.exit('<v>84</v>' not in x)"
)


def test_calc_types_in_cells_and_saves_the_xlsx_with_no_dialog(fresh: Desk) -> None:
    fresh.sandbox.put_file(f"{HOME}/book.xlsx", office_files.xlsx())
    step(fresh, {"open": {"path": f"{HOME}/book.xlsx", "wait_for_window": r"book\.xlsx - LibreOffice Calc"}})
    wait_painted(fresh)
    fresh.ok("key", text="ctrl+Home")
    fresh.ok("type", text="42\n=A1*2\n")
    fresh.ok("key", text="ctrl+s")
    fresh.wait_for(f"python3 -c {shlex.quote(XLSX_HAS.format(path=f'{HOME}/book.xlsx'))}", timeout_s=30)
    sheet = office_files.member(file_bytes(fresh, f"{HOME}/book.xlsx"), "xl/worksheets/sheet1.xml")
    assert "<v>42</v>" in sheet and "A1*2" in sheet
    assert_only(fresh, r"^book\.xlsx - LibreOffice Calc$")
    quit_office(fresh)


def test_impress_starts_on_a_slide_not_a_template_chooser_and_saves(fresh: Desk) -> None:
    step(fresh, {"launch": {"command": "libreoffice --impress",
                            "wait_for_window": "^Untitled 1 - LibreOffice Impress$"}})
    wait_painted(fresh)  # the template chooser came ~2 s after the window
    assert_only(fresh, r"^Untitled 1 - LibreOffice Impress$")
    fresh.ok("left_click", coordinate=[403, 329])  # "Click to add Title" (1024x768, slide pane open)
    fresh.ok("type", text="Smoke deck")
    fresh.ok("left_click", coordinate=[400, 610])  # beside the slide: leaves the text
    fresh.ok("key", text="ctrl+shift+s")
    fresh.wait_for("xdotool search --onlyvisible --name '^Save$'", timeout_s=20)
    fresh.still_screenshot(quiet_s=0.5, timeout_s=20)
    fresh.ok("type", text=f"{HOME}/deck.odp\n")
    fresh.wait_for(f"test -s {HOME}/deck.odp", timeout_s=30)
    fresh.wait_for("xdotool search --onlyvisible --name '^deck.odp - LibreOffice Impress$'", timeout_s=20)
    assert b"Smoke deck" in office_files.member(file_bytes(fresh, f"{HOME}/deck.odp"), "content.xml").encode()
    assert_only(fresh, r"^deck\.odp - LibreOffice Impress$")
    quit_office(fresh)


def test_firefox_opens_a_local_page_with_no_bar_and_a_click_reaches_it(fresh: Desk) -> None:
    fresh.sandbox.put_file(f"{HOME}/page.html", PAGE.encode())
    step(fresh, {"open": {"path": f"{HOME}/page.html", "wait_for_window": "Smoke page"}})
    shot = fresh.still_screenshot(quiet_s=1.0, timeout_s=30)
    column = [shot.getpixel((512, y)) for y in range(shot.height)]
    content_top = next(y for y, pixel in enumerate(column) if pixel == (255, 0, 0))
    # title bar, tabs and toolbar end at y=122 at 1024x768; the warning bar would add ~40 px
    assert content_top <= 130, f"the page starts at y={content_top}: a bar pushed it down"
    fresh.ok("left_click", coordinate=[512, 400])
    fresh.wait_for("xdotool search --onlyvisible --name 'Clicked 1'", timeout_s=15)
    assert_only(fresh, r"Clicked 1 .*Firefox")
    close(fresh, "Firefox")


def test_the_file_manager_trashes_a_file_and_shows_the_trash_without_an_error(fresh: Desk) -> None:
    fresh.sh(f"mkdir -p {HOME}/Documents && echo old > {HOME}/Documents/old-notes.txt")
    step(fresh, {"launch": {"command": f"pcmanfm {HOME}/Documents", "wait_for_window": "^Documents"}})
    fresh.still_screenshot(timeout_s=15)
    fresh.ok("key", text="ctrl+a")
    fresh.ok("key", text="Delete")
    fresh.wait_for(f"test -e {HOME}/.local/share/Trash/files/old-notes.txt", timeout_s=15)
    fresh.ok("key", text="ctrl+l")
    fresh.ok("type", text="trash:///\n")
    fresh.wait_for("xdotool search --onlyvisible --name '^(Trash|trash:///)$'", timeout_s=15)
    fresh.still_screenshot(timeout_s=10)
    assert_only(fresh, r"^(Trash|trash:///)$")


def test_the_terminal_runs_what_is_typed(fresh: Desk) -> None:
    step(fresh, {"launch": {"command": "xterm -T smoke-term", "wait_for_window": "^smoke-term$"}})
    fresh.sh("xdotool windowactivate --sync $(xdotool search --onlyvisible --name '^smoke-term$' | head -1)")
    fresh.ok("type", text=f"python --version > {HOME}/term.txt; xclip -version 2>> {HOME}/term.txt\n")
    fresh.wait_for(f"grep -q xclip {HOME}/term.txt")
    assert fresh.read(f"{HOME}/term.txt").startswith("Python 3")
    assert_only(fresh, "^smoke-term$")
    close(fresh, "^smoke-term$")


def test_the_editor_saves_an_edit_and_its_copy_outlives_it_on_the_clipboard(fresh: Desk) -> None:
    fresh.sh(f"printf 'first line\\n' > {HOME}/notes.txt")
    step(fresh, {"open": {"path": f"{HOME}/notes.txt", "wait_for_window": r"notes\.txt - Mousepad"}})
    fresh.still_screenshot(timeout_s=15)
    fresh.ok("key", text="ctrl+End")
    fresh.ok("type", text="second line\n")
    fresh.ok("key", text="ctrl+s")
    fresh.wait_for(f"grep -q 'second line' {HOME}/notes.txt")
    assert fresh.read_exact(f"{HOME}/notes.txt") == "first line\nsecond line\n"
    assert_only(fresh, r"notes\.txt - Mousepad$")
    fresh.ok("key", text="ctrl+a")
    fresh.ok("key", text="ctrl+c")
    fresh.wait_for("xsel -bo | grep -q 'second line'")
    fresh.wait_for("sleep 1")  # the clipboard keeper looks every 0.5 s
    close(fresh, "Mousepad")
    fresh.wait_for("! pgrep -x mousepad")
    fresh.wait_for("xsel -bo | grep -q 'second line'")
    assert fresh.sh("xsel -bo") == "first line\nsecond line"
