"""xdotool key syntax -> X keysyms.

``key`` text is one or more chords separated by whitespace ("ctrl+a Delete"); a chord is key names
joined by ``+`` ("ctrl+shift+t", "ctrl++"). Names are X keysym names ("Return", "KP_0",
"XF86AudioMute"), xdotool's aliases ("ctrl", "alt", "super", "shift", "meta"), a few common
spellings models use ("enter", "esc", "pagedown", "cmd"), or a single character.
"""

from __future__ import annotations

from functools import cache

from Xlib import XK

from sandbox_image.executor.result import ToolError
from sandbox_image.executor.texts import echo

for _group in ("latin2", "latin3", "latin4", "greek", "cyrillic", "technical", "publishing", "xf86", "xkb"):
    XK.load_keysym_group(_group)

ALIASES = {
    "ctrl": "Control_L",
    "control": "Control_L",
    "alt": "Alt_L",
    "shift": "Shift_L",
    "super": "Super_L",
    "meta": "Meta_L",
    "cmd": "Super_L",
    "command": "Super_L",
    "win": "Super_L",
    "windows": "Super_L",
    "option": "Alt_L",
    "enter": "Return",
    "esc": "Escape",
    "del": "Delete",
    "ins": "Insert",
    "pageup": "Prior",
    "page_up": "Prior",
    "pgup": "Prior",
    "pagedown": "Next",
    "page_down": "Next",
    "pgdn": "Next",
    "arrowup": "Up",
    "arrowdown": "Down",
    "arrowleft": "Left",
    "arrowright": "Right",
    "backspace": "BackSpace",
    "capslock": "Caps_Lock",
    "printscreen": "Print",
    "+": "plus",
    " ": "space",
}

CONTROL_CHARS = {"\n": "Return", "\r": "Return", "\t": "Tab", "\b": "BackSpace", "\x1b": "Escape"}


@cache
def _names_folded() -> dict[str, int]:
    """Every keysym name python-xlib knows, case-folded ("xf86_audiomute" and "xf86audiomute")."""
    table: dict[str, int] = {}
    for attr in dir(XK):
        if attr.startswith("XK_"):
            name = attr[3:]
            value = getattr(XK, attr)
            table.setdefault(name.casefold(), value)
            table.setdefault(name.replace("XF86_", "XF86").casefold(), value)
    return table


def char_keysym(char: str) -> int:
    """The keysym that produces one character (Latin-1 maps directly, the rest via Unicode)."""
    if char in CONTROL_CHARS:
        return int(XK.string_to_keysym(CONTROL_CHARS[char]))
    code = ord(char)
    if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF:
        return code
    return 0x01000000 + code


def name_keysym(name: str) -> int:
    """One key name -> keysym; ToolError when nothing matches."""
    exact = XK.string_to_keysym(name)
    if exact:
        return int(exact)
    folded = name.casefold()
    if folded in ALIASES:
        return int(XK.string_to_keysym(ALIASES[folded]))
    if len(name) == 1:
        return char_keysym(name)
    found = _names_folded().get(folded)
    if found is None and folded.startswith("u+"):
        found = _unicode_name(name[2:])
    if found is None:
        raise ToolError(f"Invalid key name: {echo(name)}")
    return found


def _unicode_name(hex_digits: str) -> int | None:
    try:
        code = int(hex_digits, 16)
    except ValueError:
        return None
    return char_keysym(chr(code)) if 0 < code <= 0x10FFFF else None


def split_chord(chord: str) -> list[str]:
    """'ctrl+shift+t' -> ['ctrl', 'shift', 't']; 'ctrl++' -> ['ctrl', '+']; '+' -> ['+']."""
    if chord == "+":
        return ["+"]
    trailing_plus = chord.endswith("++")
    parts = (chord[:-2] if trailing_plus else chord).split("+")
    names = [p for p in parts if p]
    if len(names) != len(parts):
        raise ToolError(f"Invalid key combination: {echo(chord)}")
    return [*names, "+"] if trailing_plus else names


def parse_chords(text: str) -> list[list[int]]:
    """xdotool ``key`` text -> a list of chords, each a list of keysyms pressed together."""
    chords = [[name_keysym(n) for n in split_chord(c)] for c in text.split()]
    if not chords:
        raise ToolError(f"Invalid key name: {echo(text)}")
    return chords
