"""Screenshots, zoom and coordinate scaling, checked against known pixels on the screen.

evlog paints 1-pixel black/white columns at screen (200, 200)-(328, 296): a screenshot shrunk for
the API blurs them to grey, a zoom must show them sharp and magnified.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PIL import Image

from tests.sandbox.desk import TOOLSET, Desk, EventLog, image_of
from workers.sandbox.launcher import SandboxLauncher

pytestmark = pytest.mark.docker

ZOOM_VERSIONS = ["computer_20251124", TOOLSET]


def contrast(image: Image.Image, y: int) -> int:
    """Max - min brightness along one row."""
    row = [image.convert("L").getpixel((x, y)) for x in range(image.width)]
    return int(max(row)) - int(min(row))


@pytest.mark.parametrize("version", ZOOM_VERSIONS)
def test_zoom_magnifies_the_region_to_the_screenshot_size(desk: Desk, events: EventLog, version: str) -> None:
    output = desk.ok("zoom", version, region=[200, 200, 328, 296])  # 128x96: 4:3 like the screen
    assert output.text == ""
    zoom = image_of(output).convert("L")
    assert zoom.size == (1024, 768)
    # each 1-px column is now 8 px wide: the middle of a black one is dark, of a white one light
    assert zoom.getpixel((4, 400)) < 60 and zoom.getpixel((12, 400)) > 195


@pytest.mark.parametrize("version", ZOOM_VERSIONS)
def test_zoom_keeps_the_region_aspect_ratio(desk: Desk, events: EventLog, version: str) -> None:
    assert image_of(desk.ok("zoom", version, region=[200, 200, 456, 264])).size == (1024, 256)
    assert image_of(desk.ok("zoom", version, region=[0, 0, 100, 400])).size == (192, 768)


def test_zoom_of_a_region_already_at_full_size_is_the_region(desk: Desk, events: EventLog) -> None:
    whole = image_of(desk.ok("zoom", "computer_20251124", region=[0, 0, 1024, 768]))
    assert whole.tobytes() == desk.screenshot().tobytes()


def test_screenshot_is_png_of_the_screen_size(desk: Desk) -> None:
    output = desk.ok("screenshot")
    assert output.media_type == "image/png" and output.image is not None
    assert output.image.startswith(b"\x89PNG")
    assert image_of(output).size == (1024, 768)


@pytest.mark.parametrize("version", ["computer_20241022", "computer_20250124", "computer_20251124"])
def test_dated_versions_answer_ui_actions_with_a_screenshot(desk: Desk, version: str) -> None:
    output = desk.ok("mouse_move", version, coordinate=[10, 10])
    assert output.text == "" and image_of(output).size == (1024, 768)
    assert desk.ok("cursor_position", version).image is None


def test_toolset_answers_text_and_images_only_for_screenshot_and_zoom(desk: Desk) -> None:
    moved = desk.ok("mouse_move", TOOLSET, coordinate=[10, 10])
    assert (moved.text, moved.image) == ("Moved the mouse.", None)
    assert image_of(desk.ok("screenshot", TOOLSET)).size == (1024, 768)


def test_the_screenshot_flag_overrides_the_version_rule(desk: Desk) -> None:
    forced = desk.computer("mouse_move", TOOLSET, screenshot=True, coordinate=[20, 20])
    assert forced.text == "Moved the mouse." and image_of(forced).size == (1024, 768)
    skipped = desk.computer("mouse_move", "computer_20250124", screenshot=False, coordinate=[30, 30])
    assert not skipped.is_error and skipped.image is None
    located = desk.computer("cursor_position", screenshot=True)
    assert located.text == "X=30,Y=30" and located.image is not None


# --- a screen larger than the API size -----------------------------------------------------------


@pytest.fixture(scope="module")
def big(launcher: SandboxLauncher) -> Iterator[Desk]:
    sandbox = launcher.start("test-scaled", 1920, 1080)
    try:
        sandbox.wait_ready()
        desk = Desk(sandbox)
        log = EventLog(desk)
        log.start()
        desk.events = log  # type: ignore[attr-defined]
        yield desk
    finally:
        sandbox.stop()


def test_a_1920x1080_screen_is_served_at_1366x768(big: Desk) -> None:
    assert big.sandbox.api_size == (1366, 768)
    assert big.sandbox.screen_size == (1920, 1080)
    assert big.screenshot().size == (1366, 768)


def test_api_coordinates_are_scaled_to_the_screen_and_back(big: Desk) -> None:
    events: EventLog = big.events  # type: ignore[attr-defined]
    mark = events.mark()
    big.ok("left_click", coordinate=[683, 384])
    (press,) = events.since(mark, "press")
    assert (press["x"], press["y"]) == (960, 540)
    assert big.pointer() == "X=683,Y=384"
    assert big.pointer(TOOLSET) == "X=683,Y=384"


def test_bounds_are_checked_in_api_space(big: Desk) -> None:
    assert big.error("mouse_move", coordinate=[1366, 10]) == "Coordinates 1366, 10 are out of bounds"
    assert big.error("mouse_move", coordinate=[10, 768]) == "Coordinates 10, 768 are out of bounds"
    big.ok("mouse_move", coordinate=[1365, 767])
    assert big.pointer() == "X=1365,Y=767"


def test_zoom_uses_full_resolution_pixels(big: Desk) -> None:
    region = [150, 150, 220, 200]  # API space; inside the stripes on the 1920x1080 screen
    shot = big.screenshot().crop(tuple(region))
    zoom = image_of(big.ok("zoom", "computer_20251124", region=region))
    assert zoom.size == (1075, 768)  # 70x50 scaled to fit 1366x768, aspect kept
    assert contrast(shot, 25) < 100, "the shrunk screenshot blurs 1-px stripes"
    assert contrast(zoom, 384) > 200, "the zoom shows them"
