"""Executor pieces that need no X server: scaling, key syntax, image encoding, start-up helpers."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from Xlib import XK

from sandbox_image.executor.capture import fit_within, png_bytes
from sandbox_image.executor.keys import char_keysym, name_keysym, parse_chords, split_chord
from sandbox_image.executor.result import ToolError
from sandbox_image.executor.scaling import Scaler, api_size_for
from sandbox_image.start import seed_home, wait_for_display


@pytest.mark.parametrize(
    ("screen", "api"),
    [
        ((1024, 768), (1024, 768)),
        ((1280, 800), (1280, 800)),
        ((1920, 1080), (1366, 768)),
        ((2560, 1440), (1366, 768)),
        ((1920, 1200), (1280, 800)),
        ((2560, 1600), (1280, 800)),
        ((1600, 1200), (1024, 768)),
        ((3440, 1440), (1568, 656)),
        ((800, 600), (800, 600)),
    ],
)
def test_api_size_follows_the_reference_targets(screen: tuple[int, int], api: tuple[int, int]) -> None:
    assert api_size_for(*screen) == api


def test_points_round_trip_between_api_and_screen() -> None:
    scaler = Scaler(1920, 1080)
    assert scaler.to_screen(683, 384) == (960, 540)
    assert scaler.to_api(960, 540) == (683, 384)
    assert scaler.to_screen(1365, 767) == (1919, 1079)


def test_bounds_are_api_space_and_end_exclusive() -> None:
    scaler = Scaler(1920, 1080)
    with pytest.raises(ToolError, match=r"^Coordinates 1366, 0 are out of bounds$"):
        scaler.to_screen(1366, 0)
    with pytest.raises(ToolError, match=r"^Coordinates 1024, 5 are out of bounds$"):
        Scaler(1024, 768).to_screen(1024, 5)  # no scaling still checks bounds
    assert scaler.box_to_screen((0, 0, 1366, 768)) == (0, 0, 1920, 1080)


def test_fit_within_keeps_aspect() -> None:
    assert fit_within((128, 96), (1024, 768)) == (1024, 768)
    assert fit_within((256, 64), (1024, 768)) == (1024, 256)
    assert fit_within((100, 400), (1024, 768)) == (192, 768)


@pytest.mark.parametrize(
    ("chord", "names"),
    [
        ("ctrl+shift+t", ["ctrl", "shift", "t"]),
        ("ctrl++", ["ctrl", "+"]),
        ("+", ["+"]),
        ("Return", ["Return"]),
    ],
)
def test_split_chord(chord: str, names: list[str]) -> None:
    assert split_chord(chord) == names


def test_bad_chords_are_tool_errors() -> None:
    with pytest.raises(ToolError) as caught:
        split_chord("ctrl++a")
    assert caught.value.message == "Invalid key combination: 'ctrl++a'"
    with pytest.raises(ToolError, match="Invalid key name: 'Hyperdrive'"):
        parse_chords("ctrl+Hyperdrive")


@pytest.mark.parametrize(
    ("name", "keysym_name"),
    [
        ("Return", "Return"),
        ("enter", "Return"),
        ("ESC", "Escape"),
        ("ctrl", "Control_L"),
        ("super", "Super_L"),
        ("pagedown", "Next"),
        ("backspace", "BackSpace"),
        ("KP_0", "KP_0"),
        ("a", "a"),
        ("A", "A"),
    ],
)
def test_key_names(name: str, keysym_name: str) -> None:
    assert name_keysym(name) == XK.string_to_keysym(keysym_name)


def test_media_keys_and_unicode_names() -> None:
    assert name_keysym("XF86AudioMute") == 0x1008FF12
    assert name_keysym("U+20AC") == 0x010020AC


def test_characters_map_to_keysyms() -> None:
    assert char_keysym("a") == ord("a")
    assert char_keysym("é") == 0xE9  # Latin-1 keysyms are the code point
    assert char_keysym("€") == 0x010020AC
    assert char_keysym("😀") == 0x0101F600
    assert char_keysym("\n") == XK.string_to_keysym("Return")
    assert char_keysym("\t") == XK.string_to_keysym("Tab")


def test_png_encoder_is_lossless() -> None:
    image = Image.effect_noise((321, 123), 80).convert("RGB")
    decoded = Image.open(io.BytesIO(png_bytes(image)))
    assert decoded.format == "PNG" and decoded.size == (321, 123)
    assert ImageChops.difference(image, decoded.convert("RGB")).getbbox() is None


def test_display_readiness_needs_the_whole_line() -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"1")
    os.close(write_end)
    assert not wait_for_display(read_end, 1.0), "a number without its newline is not readiness"
    os.close(read_end)
    read_end, write_end = os.pipe()
    os.write(write_end, b"1\n")
    assert wait_for_display(read_end, 1.0)
    os.close(read_end)
    os.close(write_end)


def test_the_seed_is_copied_into_the_home_without_overwriting_what_is_there(tmp_path: Path) -> None:
    seed, home = tmp_path / "seed", tmp_path / "home"
    (seed / ".config" / "app").mkdir(parents=True)
    (seed / ".config" / "app" / "settings").write_text("seeded")
    (seed / ".config" / "kept").write_text("seeded")
    (home / ".config").mkdir(parents=True)
    (home / ".config" / "kept").write_text("the user's")

    assert seed_home(seed, home) == 1
    assert (home / ".config" / "app" / "settings").read_text() == "seeded"
    assert (home / ".config" / "kept").read_text() == "the user's"
    assert seed_home(tmp_path / "no-seed", home) == 0
