"""How the text editor shows text: ``cat -n`` numbering, clipping, snippets, line arithmetic.

Lines are what ``cat -n`` counts: ``"a\\nb\\n"`` and ``"a\\nb"`` both have 2 lines, ``""`` has
none. Tabs are shown as they are (``cat -n`` does not expand them either), so what the model
copies from a view matches the file byte for byte; a trailing ``\\r`` of a CRLF line is not shown.
"""

from __future__ import annotations

DEFAULT_MAX_CHARACTERS = 16_000
SNIPPET_LINES = 4
CLIPPED_NOTE = (
    "<response clipped><NOTE>To save on context only part of this file has been shown to you. You should"
    " retry this tool after you have searched inside the file with `grep -n` in order to find the line"
    " numbers of what you are looking for.</NOTE>"
)


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` without their terminators (no phantom line after a final newline)."""
    if not text:
        return []
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return lines


def keep_lines(text: str) -> list[str]:
    """The lines of ``text`` with their ``\\n`` kept, so ``"".join(keep_lines(t)) == t``."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def clip_lines(lines: list[str], limit: int) -> tuple[list[str], bool]:
    """The leading whole lines of ``lines`` that fit in ``limit`` characters; True if any were cut."""
    used = 0
    for index, line in enumerate(lines):
        used += len(line) + 1
        if used > limit:
            return (lines[:index] if index else [line[:limit]]), True
    return lines, False


def numbered(lines: list[str], descriptor: str, first_line: int = 1) -> str:
    """``cat -n`` of ``lines``: a header, then 6-column right-aligned numbers, a TAB and the line."""
    body = "".join(f"{number:6}\t{_shown(line)}\n" for number, line in enumerate(lines, first_line))
    return f"Here's the result of running `cat -n` on {descriptor}:\n{body}"


def numbered_clipped(lines: list[str], descriptor: str, limit: int, first_line: int = 1) -> str:
    """``numbered`` after clipping to ``limit`` characters of text, with the clipping note if cut."""
    shown, clipped = clip_lines(lines, limit)
    text = numbered(shown, descriptor, first_line)
    return f"{text}{CLIPPED_NOTE}\n" if clipped else text


def snippet(content: str, changed_line: int, changed_count: int, descriptor: str) -> str:
    """The lines around a change at 0-based ``changed_line`` spanning ``changed_count`` lines."""
    lines = split_lines(content)
    start = max(0, changed_line - SNIPPET_LINES)
    end = changed_line + changed_count + SNIPPET_LINES
    return numbered(lines[start:end], descriptor, start + 1)


def _shown(line: str) -> str:
    return line[:-1] if line.endswith("\r") else line
