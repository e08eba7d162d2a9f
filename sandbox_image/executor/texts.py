"""What the model reads back from the computer tool, in the words the ``anthropic`` SDK's computer
toolset uses (TOOLS.md §10.6): the acknowledgment of a pure toolset action, the cursor position,
the unknown-member text, and the bounds every error text keeps.

Model input never reaches an error text unbounded: a value is echoed as written when short, else
cut (``shown``), and the whole text is held to ``FIELD_MAX`` characters (``bounded``).
"""

from __future__ import annotations

import re
from typing import Any

FIELD_MAX = 4096  # the API's limit for one text field; the SDK's bound for an error text
ECHO_MAX = 200  # the most of one model-supplied value an error text repeats
NAME_MAX = 200

# Pure toolset actions answer with the action named; {field}s are filled from the input.
ACKNOWLEDGMENTS: dict[str, str] = {
    "key": "Pressed {text}.",
    "hold_key": "Held {text} for {duration}s.",
    "type": "Typed.",
    "mouse_move": "Moved the mouse.",
    "left_mouse_down": "Left mouse button pressed.",
    "left_mouse_up": "Left mouse button released.",
    "left_click": "Clicked.",
    "left_click_drag": "Dragged.",
    "right_click": "Right-clicked.",
    "middle_click": "Middle-clicked.",
    "double_click": "Double-clicked.",
    "triple_click": "Triple-clicked.",
    "scroll": "Scrolled {scroll_direction}.",
    "wait": "Waited {duration}s.",
}
_FIELD = re.compile(r"\{(text|duration|scroll_direction)\}")
# line breaks, controls and bidi characters: they would break or reorder the one line a value sits in
_LINE_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def one_line(text: str, limit: int = FIELD_MAX) -> str:
    """``text`` folded to one sendable line and cut to ``limit``."""
    return _LINE_UNSAFE.sub(" ", _LONE_SURROGATE.sub("\ufffd", text)).strip()[:limit]


def number(value: float) -> str:
    """A duration as JSON writes it: ``2`` for 2.0, ``0.5`` for 0.5."""
    return str(int(value)) if float(value).is_integer() else str(value)


def acknowledgment(name: str, fields: dict[str, Any]) -> str:
    """The fixed text a pure toolset action answers with (``Pressed ctrl+c.``); one pass, so a
    value that looks like a placeholder stays data."""
    template = ACKNOWLEDGMENTS[name]

    def fill(match: re.Match[str]) -> str:
        value = fields.get(match[1])
        if isinstance(value, float | int) and not isinstance(value, bool):
            return number(value)
        return one_line("" if value is None else str(value))

    return _FIELD.sub(fill, template)


def cursor_text(x: int, y: int) -> str:
    return f"X={x},Y={y}"


def _text_of(value: Any, use_repr: bool) -> str:
    try:
        return repr(value) if use_repr else str(value)
    except ValueError:  # an int too long to print (Python's digit limit)
        return f"<{type(value).__name__} too long to show>"


def shown(value: Any, *, use_repr: bool = False) -> str:
    """A model-supplied value as an error text repeats it: exactly as written when short, else its
    first ``ECHO_MAX`` characters and its length."""
    text = _text_of(value, use_repr)
    if len(text) <= ECHO_MAX:
        return text
    return f"{one_line(text, ECHO_MAX)}… ({len(text)} characters)"


def echo(value: Any) -> str:
    """``shown`` of the value's ``repr`` (how ``{value!r}`` texts echo it)."""
    return shown(value, use_repr=True)


def quoted_name(name: Any) -> str:
    """A model-chosen name inside single quotes: one line, short, no quotes or runs of spaces."""
    return re.sub("[' ]+", " ", one_line(str(name), NAME_MAX)).strip()


def unknown_member(name: Any) -> str:
    return f"Error: unknown computer toolset member '{quoted_name(name)}'"


def bounded(message: str) -> str:
    return message[:FIELD_MAX]
