"""Screenshots within the model's image tier for any screen (TOOLS.md §10.4): the four screens
1024x768, 1366x768, 3440x1440 and 4096x2160, on the standard tier (long edge 1568, ~1.15 MP) and
the high-resolution tier (long edge 2576, ceil(w/28)*ceil(h/28) <= 4784), for the toolset and
for computer_20251124, from real sandboxes; API coordinates land on the screen pixel they scale
to and read back exactly."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from sandbox_image.executor.protocol import ImageTier
from sandbox_image.executor.scaling import Scaler, api_size_for, fits
from tests.sandbox.desk import TOOLSET, Desk, image_of
from workers.sandbox.launcher import SandboxLauncher

pytestmark = pytest.mark.docker

SCREENS = [(1024, 768), (1366, 768), (3440, 1440), (4096, 2160)]
VERSIONS = [TOOLSET, "computer_20251124"]
EXPECTED = {  # screen -> (standard, high)
    (1024, 768): ((1024, 768), (1024, 768)),
    (1366, 768): ((1366, 768), (1366, 768)),
    (3440, 1440): ((1568, 656), (2576, 1078)),
    (4096, 2160): ((1476, 778), (2576, 1358)),
}
POINTER = (
    "python3 -c 'from Xlib.display import Display; p = Display().screen().root.query_pointer(); "
    'print(p.root_x, p.root_y)\''
)


def tiles(width: int, height: int) -> int:
    return math.ceil(width / 28) * math.ceil(height / 28)


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("tier", list(ImageTier))
def test_the_api_size_is_the_largest_of_the_screen_aspect_within_the_tier(
    screen: tuple[int, int], tier: ImageTier
) -> None:
    size = api_size_for(*screen, tier)
    assert size == EXPECTED[screen][list(ImageTier).index(tier)]
    assert fits(*size, tier)
    assert abs(size[0] / size[1] - screen[0] / screen[1]) < 0.01
    if tier == ImageTier.HIGH:
        assert max(size) <= 2576 and tiles(*size) <= 4784
    else:
        assert max(size) <= 1568 and size[0] * size[1] <= 1_150_000


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("tier", list(ImageTier))
def test_every_api_coordinate_round_trips_exactly(screen: tuple[int, int], tier: ImageTier) -> None:
    scaler = Scaler(*screen, tier)
    width, height = scaler.api_size
    assert all(scaler.to_api(*scaler.to_screen(x, 0))[0] == x for x in range(width))
    assert all(scaler.to_api(*scaler.to_screen(0, y))[1] == y for y in range(height))
    assert scaler.box_to_screen((0, 0, width, height)) == (0, 0, *screen)


@pytest.fixture(scope="module", params=SCREENS, ids=[f"{w}x{h}" for w, h in SCREENS])
def screen_desk(request: pytest.FixtureRequest, launcher: SandboxLauncher) -> Iterator[Desk]:
    width, height = request.param
    sandbox = launcher.start(f"test-tier-{width}x{height}", width, height)
    try:
        sandbox.wait_ready()
        yield Desk(sandbox)
    finally:
        sandbox.stop()


@pytest.mark.parametrize("tier", list(ImageTier))
@pytest.mark.parametrize("version", VERSIONS)
def test_screens_are_sent_within_the_tier(screen_desk: Desk, tier: ImageTier, version: str) -> None:
    screen = screen_desk.sandbox.screen_size
    api = screen_desk.sandbox.use_image_tier(tier)
    assert api == api_size_for(*screen, tier) and fits(*api, tier)
    assert image_of(screen_desk.ok("screenshot", version)).size == api
    zoom = image_of(screen_desk.ok("zoom", version, region=[0, 0, api[0] // 3, api[1] // 5]))
    assert fits(*zoom.size, tier) and max(zoom.size) <= max(api)


@pytest.mark.parametrize("tier", list(ImageTier))
@pytest.mark.parametrize("version", VERSIONS)
def test_coordinates_are_exact_both_ways(screen_desk: Desk, tier: ImageTier, version: str) -> None:
    screen = screen_desk.sandbox.screen_size
    width, height = screen_desk.sandbox.use_image_tier(tier)
    scaler = Scaler(*screen, tier)
    for point in [(0, 0), (width - 1, height - 1), (width // 3, height // 2 + 1)]:
        screen_desk.ok("mouse_move", version, coordinate=list(point))
        assert screen_desk.pointer(version) == f"X={point[0]},Y={point[1]}"
        real = tuple(int(v) for v in screen_desk.sh(POINTER).split())
        assert real == scaler.to_screen(*point)
    assert screen_desk.error("mouse_move", version, coordinate=[width, 0]) == (
        f"Coordinates {width}, 0 are out of bounds"
    )


def test_the_tier_holds_for_later_calls_and_hello(screen_desk: Desk) -> None:
    sandbox = screen_desk.sandbox
    high = sandbox.use_image_tier(ImageTier.HIGH)
    assert sandbox.hello()["image_tier"] == "high" and tuple(sandbox.hello()["api_size"]) == high
    assert image_of(screen_desk.ok("screenshot", TOOLSET)).size == high
    standard = sandbox.use_image_tier(ImageTier.STANDARD)
    assert image_of(screen_desk.ok("screenshot", TOOLSET)).size == standard
