"""The text editor's file system side: path checks, reading, writing, directory listings.

No shell is involved anywhere (paths with spaces, quotes or ``$`` are just paths). Files are read
and written as bytes, decoded and encoded as UTF-8 without newline translation, so tabs, CRLF
line ends and everything not edited stay exactly as they were. Writes go in place (mode, owner and
symlinks are kept); ``create`` never makes parent directories.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

from .result import ToolError

MAX_FILE_BYTES = 16 * 1024 * 1024
LISTING_DEPTH = 2


def check_path(command: str, path: str) -> None:
    """Validate ``path`` for ``command`` in the reference's order, with the reference's texts."""
    if not os.path.isabs(path):
        suggested = os.path.join(os.path.expanduser("~"), path)
        raise ToolError(
            f"The path {path} is not an absolute path, it should start with `/`. Maybe you meant {suggested}?"
        )
    exists = os.path.lexists(path)
    if not exists and command != "create":
        raise ToolError(f"The path {path} does not exist. Please provide a valid path.")
    if exists and command == "create":
        raise ToolError(_exists_message(path))
    if os.path.isdir(path) and command != "view":
        raise ToolError(
            f"The path {path} is a directory and only the `view` command can be used on directories"
        )


def read_text(path: str) -> str:
    """The file's text; ToolError for special files, huge files, binary or non-UTF-8 content."""
    info = _stat(path, "read")
    if not stat.S_ISREG(info.st_mode):
        raise ToolError(
            f"The path {path} is not a regular file; the text editor can only open regular files."
        )
    if info.st_size > MAX_FILE_BYTES:
        raise ToolError(
            f"The file {path} is {info.st_size:,} bytes, more than the text editor's limit of"
            f" {MAX_FILE_BYTES:,} bytes. Use bash to work with it (e.g. `grep -n`, `sed -n 10,25p`)."
        )
    data = _read_bytes(path)
    if b"\0" in data:
        raise ToolError(
            f"The file {path} is a binary file (it contains NUL bytes); the text editor only edits text."
            " Use bash to inspect it (e.g. `file`, `xxd | head`)."
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolError(f"Ran into {exc} while trying to read {path}") from None


def write_text(path: str, text: str, *, new: bool = False) -> None:
    """Write ``text`` to ``path`` (in place; with ``new``, only if it does not exist yet)."""
    try:
        data = text.encode("utf-8")
        with open(path, "xb" if new else "wb") as handle:
            handle.write(data)
    except FileExistsError:
        raise ToolError(_exists_message(path)) from None
    except (OSError, ValueError) as exc:  # ValueError: text or path that is not valid Unicode
        raise ToolError(f"Ran into {exc} while trying to write to {path}") from None


def list_directory(path: str, limit: int) -> list[str]:
    """``path`` and its non-hidden entries up to 2 levels below it, sorted, depth first (like
    ``find -maxdepth 2``). Stops once the listing passes ``limit`` characters: the caller clips."""
    entries: list[str] = []
    used = 0
    for entry in _walk(path, 0):
        entries.append(entry)
        used += len(entry) + 1
        if used > limit:
            break
    return entries


def _walk(path: str, depth: int) -> Iterator[str]:
    if depth == 0:
        yield path
    if depth >= LISTING_DEPTH:
        return
    try:
        with os.scandir(path) as scan:
            children = [entry for entry in scan if not entry.name.startswith(".")]
    except OSError:
        return
    children.sort(key=lambda entry: entry.name)
    for child in children:
        yield os.path.join(path, child.name)
        if _is_real_dir(child):
            yield from _walk(os.path.join(path, child.name), depth + 1)


def _exists_message(path: str) -> str:
    return f"File already exists at: {path}. Cannot overwrite files using command `create`."


def _is_real_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _stat(path: str, verb: str) -> os.stat_result:
    try:
        return os.stat(path)
    except OSError as exc:
        raise ToolError(f"Ran into {exc} while trying to {verb} {path}") from None


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ToolError(f"Ran into {exc} while trying to read {path}") from None
