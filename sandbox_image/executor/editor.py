"""The text editor tool, every version (TOOLS.md section 4), with the reference's texts.

- ``text_editor_20241022``, ``text_editor_20250124``: name ``str_replace_editor``; commands view,
  create, str_replace, insert, undo_edit; insert text in ``new_str``.
- ``text_editor_20250429``, ``text_editor_20250728``: name ``str_replace_based_edit_tool``;
  commands view, create, str_replace, insert (``undo_edit`` is an unrecognized command); insert
  text in ``insert_text``. 20250728 also honours the definition parameter ``max_characters``.
  (insert falls back to the other generation's key when its own is absent.)

Contract for the executor server: ``EditorTool().call(tool_type, tool_name, tool_input,
screenshot, definition=...)``. ``definition`` (keyword, default ``None``) is the tool definition
the loop sent to the API, as a dict — or just its extra parameters; only ``max_characters`` is
read from it, and only for ``text_editor_20250728``. It bounds what ``view`` shows (file text or
directory listing, in characters, default 16,000), clipping at a line boundary and adding the
``<response clipped><NOTE>…</NOTE>`` line.

Differences from the reference (see its defects in TOOLS.md): files are never rewritten beyond the
edit (tabs, CRLF and all other bytes kept; ``view`` shows tabs as they are, so a copied
``old_str`` matches); a multi-line ``old_str`` written with ``\\n`` also matches a CRLF file;
line counts are ``cat -n``'s (no phantom last line); overlapping occurrences count as multiple;
an empty ``old_str`` is refused; directory listings use no shell; ``create`` refuses to
overwrite even under a race and makes no parent directories; binary, non-UTF-8, special and
huge files are refused with a ToolError. ``undo_edit`` (legacy names only) restores the content
before the last ``str_replace``/``insert`` of that path (``create`` is not recorded).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import editor_edits as edits
from .editor_files import check_path, list_directory, read_text, write_text
from .editor_view import (
    CLIPPED_NOTE,
    DEFAULT_MAX_CHARACTERS,
    clip_lines,
    numbered_clipped,
    split_lines,
)
from .result import ToolError, ToolResult

LEGACY_COMMANDS = ("view", "create", "str_replace", "insert", "undo_edit")
COMMANDS = ("view", "create", "str_replace", "insert")
HISTORY_DEPTH = 32


@dataclass(frozen=True)
class EditorVersion:
    name: str
    commands: tuple[str, ...]
    insert_key: str
    max_characters: bool = False

    @property
    def undo(self) -> bool:
        return "undo_edit" in self.commands


_LEGACY = EditorVersion("str_replace_editor", LEGACY_COMMANDS, "new_str")
VERSIONS: dict[str, EditorVersion] = {
    "text_editor_20241022": _LEGACY,
    "text_editor_20250124": _LEGACY,
    "text_editor_20250429": EditorVersion("str_replace_based_edit_tool", COMMANDS, "insert_text"),
    "text_editor_20250728": EditorVersion("str_replace_based_edit_tool", COMMANDS, "insert_text", True),
}


@dataclass(frozen=True)
class _Call:
    path: str
    params: Mapping[str, Any]
    version: EditorVersion
    limit: int


class EditorTool:
    """Serves every text editor version; keeps the per-path undo history of the legacy ones."""

    def __init__(self) -> None:
        self._history: dict[str, list[str]] = {}
        self._handlers: dict[str, Callable[[_Call], str]] = {
            "view": self._view,
            "create": self._create,
            "str_replace": self._str_replace,
            "insert": self._insert,
            "undo_edit": self._undo_edit,
        }

    def call(
        self,
        tool_type: str,
        tool_name: str,
        tool_input: Any,
        screenshot: bool | None = None,
        *,
        definition: Mapping[str, Any] | None = None,
    ) -> ToolResult:
        """Run one editor call; ToolError (with the reference's wording) for every bad input."""
        version = _version(tool_type, tool_name)
        params = _object(tool_input)
        command = _command(params, version)
        path = _path(params, command)
        check_path(command, path)
        call = _Call(path, params, version, _max_characters(version, definition))
        return ToolResult(text=self._handlers[command](call))

    def _view(self, call: _Call) -> str:
        view_range = call.params.get("view_range")
        if os.path.isdir(call.path):
            if view_range:
                raise ToolError(
                    "The `view_range` parameter is not allowed when `path` points to a directory."
                )
            return _listing(call.path, call.limit)
        lines = split_lines(read_text(call.path))
        first, last = edits.view_bounds(view_range, len(lines))
        return numbered_clipped(lines[first - 1 : last], call.path, call.limit, first)

    def _create(self, call: _Call) -> str:
        file_text = _text(call.params, "file_text", "create", required=True)
        write_text(call.path, file_text, new=True)
        return f"File created successfully at: {call.path}"

    def _str_replace(self, call: _Call) -> str:
        old_str = _text(call.params, "old_str", "str_replace", required=True)
        new_str = _text(call.params, "new_str", "str_replace", required=False)
        content = read_text(call.path)
        edit = edits.replace(content, old_str, new_str, call.path)
        self._save(call, content, edit.content)
        return (
            f"The file {call.path} has been edited. {edit.snippet(f'a snippet of {call.path}')}"
            "Review the changes and make sure they are as expected. Edit the file again if necessary."
        )

    def _insert(self, call: _Call) -> str:
        key = call.version.insert_key
        if call.params.get("insert_line") is None:
            raise ToolError("Parameter `insert_line` is required for command: insert")
        other = "new_str" if key == "insert_text" else "insert_text"
        params = call.params if call.params.get(key) is not None else {key: call.params.get(other)}
        text = _text(params, key, "insert", required=True)
        content = read_text(call.path)
        edit = edits.insert(content, call.params["insert_line"], text)
        self._save(call, content, edit.content)
        return (
            f"The file {call.path} has been edited. {edit.snippet('a snippet of the edited file')}"
            "Review the changes and make sure they are as expected (correct indentation, no duplicate lines,"
            " etc). Edit the file again if necessary."
        )

    def _undo_edit(self, call: _Call) -> str:
        history = self._history.get(_key(call.path))
        if not history:
            raise ToolError(f"No edit history found for {call.path}.")
        previous = history.pop()
        write_text(call.path, previous)
        shown = numbered_clipped(split_lines(previous), call.path, call.limit)
        return f"Last edit to {call.path} undone successfully. {shown}"

    def _save(self, call: _Call, before: str, after: str) -> None:
        write_text(call.path, after)
        if call.version.undo:
            history = self._history.setdefault(_key(call.path), [])
            history.append(before)
            del history[:-HISTORY_DEPTH]


def _listing(path: str, limit: int) -> str:
    entries, clipped = clip_lines(list_directory(path, limit), limit)
    note = f"{CLIPPED_NOTE}\n" if clipped else ""
    body = "".join(f"{entry}\n" for entry in entries)
    header = f"Here's the files and directories up to 2 levels deep in {path}, excluding hidden items:"
    return f"{header}\n{body}{note}"


def _version(tool_type: str, tool_name: str) -> EditorVersion:
    version = VERSIONS.get(tool_type)
    if version is None:
        raise ToolError(f"Unknown text editor tool type {tool_type!r}; supported: {', '.join(VERSIONS)}.")
    if tool_name != version.name:
        raise ToolError(f"The tool {tool_type} must be named {version.name!r}, not {tool_name!r}.")
    return version


def _object(tool_input: Any) -> Mapping[str, Any]:
    if not isinstance(tool_input, Mapping):
        raise ToolError(f"The text editor input must be an object, got {type(tool_input).__name__}.")
    return tool_input


def _command(params: Mapping[str, Any], version: EditorVersion) -> str:
    command = params.get("command")
    allowed = f"The allowed commands for the {version.name} tool are: {', '.join(version.commands)}"
    if command is None:
        raise ToolError(f"Parameter `command` is required. {allowed}")
    if command not in version.commands:
        raise ToolError(f"Unrecognized command {command}. {allowed}")
    return str(command)


def _path(params: Mapping[str, Any], command: str) -> str:
    path = params.get("path")
    if path is None or path == "":
        raise ToolError(f"Parameter `path` is required for command: {command}")
    if not isinstance(path, str):
        raise ToolError(f"Parameter `path` must be a string, got {type(path).__name__}.")
    if "\0" in path:
        raise ToolError(f"The path {path!r} contains a NUL character, which no file name can contain.")
    return path


def _text(params: Mapping[str, Any], key: str, command: str, *, required: bool) -> str:
    value = params.get(key)
    if value is None:
        if required:
            raise ToolError(f"Parameter `{key}` is required for command: {command}")
        return ""
    if not isinstance(value, str):
        raise ToolError(f"Parameter `{key}` must be a string, got {type(value).__name__}.")
    return value


def _max_characters(version: EditorVersion, definition: Mapping[str, Any] | None) -> int:
    honoured = version.max_characters and isinstance(definition, Mapping)
    value = definition.get("max_characters") if honoured and definition else None
    if value is None:
        return DEFAULT_MAX_CHARACTERS
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ToolError(f"The tool definition's `max_characters` must be a positive integer, got {value!r}.")
    return value


def _key(path: str) -> str:
    return os.path.normpath(path)
