"""The text editor's edits as pure functions on a file's text: range checks, replace, insert.

Nothing here touches the disk; each function returns the new text and where the change is, or
raises ToolError with the reference's wording.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .editor_view import keep_lines, snippet, split_lines
from .result import ToolError

MAX_LISTED_LINES = 50


@dataclass(frozen=True)
class Edit:
    content: str
    line: int  # 0-based first changed line
    count: int  # number of lines the change spans in the new text

    def snippet(self, descriptor: str) -> str:
        return snippet(self.content, self.line, self.count, descriptor)


def view_bounds(view_range: Any, n_lines: int) -> tuple[int, int]:
    """The 1-based inclusive (first, last) lines to show; the whole file without a range."""
    if not view_range:
        return 1, n_lines
    if not _is_int_pair(view_range):
        raise ToolError("Invalid `view_range`. It should be a list of two integers.")
    first, last = view_range
    shown = list(view_range)
    if first < 1 or first > n_lines:
        raise ToolError(
            f"Invalid `view_range`: {shown}. Its first element `{first}` should be within the range of lines"
            f" of the file: {[1, n_lines]}"
        )
    if last > n_lines:
        raise ToolError(
            f"Invalid `view_range`: {shown}. Its second element `{last}` should be smaller than the number of"
            f" lines in the file: `{n_lines}`"
        )
    if last != -1 and last < first:
        raise ToolError(
            f"Invalid `view_range`: {shown}. Its second element `{last}` should be larger or equal than its"
            f" first `{first}`"
        )
    return first, n_lines if last == -1 else last


def replace(content: str, old_str: str, new_str: str, path: str) -> Edit:
    """Replace the single occurrence of ``old_str``; ToolError if it is absent, repeated or empty."""
    if not old_str:
        raise ToolError(
            f"No replacement was performed, old_str is empty. It must be text that appears verbatim and"
            f" exactly once in {path}."
        )
    old, new = _in_file_newlines(content, old_str, new_str)
    starts = _occurrences(content, old, limit=MAX_LISTED_LINES + 1)
    if not starts:
        raise ToolError(
            f"No replacement was performed, old_str `{old_str}` did not appear verbatim in {path}."
            + _tab_hint(content, old_str)
        )
    if len(starts) > 1:
        raise ToolError(
            f"No replacement was performed. Multiple occurrences of old_str `{old_str}` in lines"
            f" {_line_numbers(content, starts)}. Please ensure it is unique"
        )
    at = starts[0]
    new_content = content[:at] + new + content[at + len(old) :]
    return Edit(new_content, content.count("\n", 0, at), max(1, len(split_lines(new))))


def insert(content: str, insert_line: Any, text: str) -> Edit:
    """Insert ``text`` as whole lines after line ``insert_line`` (0 = at the top)."""
    lines = keep_lines(content)
    if not isinstance(insert_line, int) or isinstance(insert_line, bool):
        raise ToolError(
            f"Invalid `insert_line` parameter: {insert_line!r}. It should be an integer within the range of"
            f" lines of the file: {[0, len(lines)]}"
        )
    if insert_line < 0 or insert_line > len(lines):
        raise ToolError(
            f"Invalid `insert_line` parameter: {insert_line}. It should be within the range of lines of the"
            f" file: {[0, len(lines)]}"
        )
    newline = _newline(content)
    block = _as_lines(text, newline)
    if insert_line == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += newline  # appending after a last line that had no line end
        if not text.endswith("\n"):
            block = block[: -len(newline)]
    new_content = "".join(lines[:insert_line]) + block + "".join(lines[insert_line:])
    return Edit(new_content, insert_line, max(1, len(split_lines(block))))


def _is_int_pair(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(item, int) and not isinstance(item, bool) for item in value)
    )


def _occurrences(content: str, needle: str, limit: int) -> list[int]:
    """Start offsets of ``needle`` in ``content``, overlapping ones included, at most ``limit``."""
    starts: list[int] = []
    at = content.find(needle)
    while at >= 0 and len(starts) < limit:
        starts.append(at)
        at = content.find(needle, at + 1)
    return starts


def _line_numbers(content: str, starts: list[int]) -> str:
    lines = sorted({content.count("\n", 0, at) + 1 for at in starts[:MAX_LISTED_LINES]})
    more = " and more" if len(starts) > MAX_LISTED_LINES else ""
    return f"{lines}{more}"


def _newline(content: str) -> str:
    """``\\r\\n`` for a file whose every line ends so, else ``\\n``."""
    crlf = content.count("\r\n")
    return "\r\n" if crlf and crlf == content.count("\n") else "\n"


def _in_file_newlines(content: str, old_str: str, new_str: str) -> tuple[str, str]:
    """(old, new) with ``\\n`` turned into ``\\r\\n`` when only that makes ``old`` match a CRLF file."""
    if old_str in content or _newline(content) != "\r\n" or "\n" not in old_str or "\r" in old_str:
        return old_str, new_str
    crlf_old = old_str.replace("\n", "\r\n")
    if crlf_old not in content:
        return old_str, new_str
    return crlf_old, new_str if "\r" in new_str else new_str.replace("\n", "\r\n")


def _as_lines(text: str, newline: str) -> str:
    if newline != "\n" and "\r" not in text:
        text = text.replace("\n", newline)
    return text if text.endswith("\n") else text + newline


def _tab_hint(content: str, old_str: str) -> str:
    if "\t" in content and "\t" not in old_str and "  " in old_str:
        return (
            " Note: the file contains tab characters; old_str must reproduce them exactly"
            " (a tab, not spaces)."
        )
    return ""
