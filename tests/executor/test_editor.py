"""The text editor tool, every version: path validation, commands, refused files, bad input."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from sandbox_image.executor.editor import EditorTool
from sandbox_image.executor.editor_files import MAX_FILE_BYTES
from sandbox_image.executor.result import ToolError
from tests.executor.conftest import (
    ALL,
    LEGACY,
    err,
    name_of,
    ok,
)

# --- path validation ------------------------------------------------------------------------


COMMANDS_WITH_PARAMS: dict[str, dict[str, Any]] = {
    "view": {},
    "create": {"file_text": "x"},
    "str_replace": {"old_str": "a", "new_str": "b"},
    "insert": {"insert_line": 0, "new_str": "x", "insert_text": "x"},
    "undo_edit": {},
}


def commands_of(tool_type: str) -> list[str]:
    return list(COMMANDS_WITH_PARAMS) if tool_type in LEGACY else list(COMMANDS_WITH_PARAMS)[:4]


@pytest.mark.parametrize("tool_type", ALL)
def test_relative_path_is_refused_with_a_useful_suggestion(editor: EditorTool, tool_type: str) -> None:
    for command in commands_of(tool_type):
        message = err(
            editor, tool_type, command=command, path="repo/file.py", **COMMANDS_WITH_PARAMS[command]
        )
        suggestion = os.path.join(os.path.expanduser("~"), "repo/file.py")
        assert message == (
            "The path repo/file.py is not an absolute path, it should start with `/`."
            f" Maybe you meant {suggestion}?"
        )


@pytest.mark.parametrize("tool_type", ALL)
def test_missing_path(editor: EditorTool, tool_type: str, tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    for command in commands_of(tool_type):
        if command == "create":
            continue
        message = err(editor, tool_type, command=command, path=str(missing), **COMMANDS_WITH_PARAMS[command])
        assert message == f"The path {missing} does not exist. Please provide a valid path."


@pytest.mark.parametrize("tool_type", ALL)
def test_create_on_existing_path(editor: EditorTool, tool_type: str, sample: Path, tree: Path) -> None:
    for existing in (sample, tree):
        message = err(editor, tool_type, command="create", path=str(existing), file_text="new")
        assert (
            message == f"File already exists at: {existing}. Cannot overwrite files using command `create`."
        )
    assert sample.read_text().startswith("all: build\n")


@pytest.mark.parametrize("tool_type", ALL)
def test_directory_only_for_view(editor: EditorTool, tool_type: str, tree: Path) -> None:
    for command in commands_of(tool_type):
        if command in ("view", "create"):
            continue
        message = err(editor, tool_type, command=command, path=str(tree), **COMMANDS_WITH_PARAMS[command])
        assert message == (
            f"The path {tree} is a directory and only the `view` command can be used on directories"
        )


@pytest.mark.parametrize("tool_type", ALL)
def test_missing_or_mistyped_path(editor: EditorTool, tool_type: str) -> None:
    assert err(editor, tool_type, command="view") == "Parameter `path` is required for command: view"
    assert err(editor, tool_type, command="view", path="") == "Parameter `path` is required for command: view"
    assert "`path` must be a string" in err(editor, tool_type, command="view", path=["/tmp"])
    assert "NUL" in err(editor, tool_type, command="view", path="/tmp/a\0b")


# --- commands, definitions, bad input -------------------------------------------------------


@pytest.mark.parametrize("tool_type", ALL)
def test_unknown_command(editor: EditorTool, tool_type: str, sample: Path) -> None:
    allowed = "view, create, str_replace, insert" + (", undo_edit" if tool_type in LEGACY else "")
    assert err(editor, tool_type, command="delete", path=str(sample)) == (
        f"Unrecognized command delete. The allowed commands for the {name_of(tool_type)} tool are: {allowed}"
    )
    assert err(editor, tool_type, path=str(sample)).startswith("Parameter `command` is required.")


def test_unknown_type_name_mismatch_and_non_object_input(editor: EditorTool, sample: Path) -> None:
    with pytest.raises(ToolError, match="Unknown text editor tool type 'text_editor_20990101'"):
        editor.call("text_editor_20990101", "str_replace_based_edit_tool", {"command": "view"}, None)
    with pytest.raises(ToolError, match="must be named 'str_replace_based_edit_tool'"):
        editor.call(
            "text_editor_20250728", "str_replace_editor", {"command": "view", "path": str(sample)}, None
        )
    with pytest.raises(ToolError, match="must be an object"):
        editor.call("text_editor_20250728", "str_replace_based_edit_tool", ["view"], None)


@pytest.mark.parametrize("tool_type", ALL)
def test_binary_and_non_utf8_files_are_refused(editor: EditorTool, tool_type: str, tmp_path: Path) -> None:
    binary, latin = tmp_path / "a.bin", tmp_path / "latin1.txt"
    binary.write_bytes(b"\x7fELF\x00\x01\x02")
    latin.write_bytes(b"caf\xe9\n")
    assert "binary file" in err(editor, tool_type, command="view", path=str(binary))
    assert err(editor, tool_type, command="str_replace", path=str(latin), old_str="caf", new_str="x") == (
        "Ran into 'utf-8' codec can't decode byte 0xe9 in position 3: invalid continuation byte"
        f" while trying to read {latin}"
    )
    assert latin.read_bytes() == b"caf\xe9\n"


@pytest.mark.parametrize("tool_type", ALL)
def test_huge_and_special_files_are_refused(editor: EditorTool, tool_type: str, tmp_path: Path) -> None:
    huge, fifo = tmp_path / "huge.log", tmp_path / "pipe"
    with huge.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk
    os.mkfifo(fifo)
    assert "Use bash" in err(editor, tool_type, command="view", path=str(huge))
    assert "not a regular file" in err(editor, tool_type, command="view", path=str(fifo))  # and no hang


def test_current_versions_record_no_undo_history(editor: EditorTool, sample: Path) -> None:
    ok(editor, "text_editor_20250728", command="str_replace", path=str(sample), old_str="all", new_str="ALL")
    assert err(editor, "text_editor_20250124", command="undo_edit", path=str(sample)) == (
        f"No edit history found for {sample}."
    )


@pytest.mark.parametrize("tool_type", ALL)
def test_invalid_unicode_is_refused_without_leaving_a_file(
    editor: EditorTool, tool_type: str, tmp_path: Path
) -> None:
    path = tmp_path / "new.txt"
    message = err(editor, tool_type, command="create", path=str(path), file_text="bad \ud800 surrogate")
    assert message.startswith("Ran into") and message.endswith(f"while trying to write to {path}")
    assert not path.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
@pytest.mark.parametrize("tool_type", ALL)
def test_permission_errors_are_reported(editor: EditorTool, tool_type: str, tmp_path: Path) -> None:
    read_only, unreadable = tmp_path / "ro.txt", tmp_path / "secret.txt"
    read_only.write_text("x\n")
    unreadable.write_text("x\n")
    read_only.chmod(0o444)
    unreadable.chmod(0)
    message = err(editor, tool_type, command="str_replace", path=str(read_only), old_str="x", new_str="y")
    assert (
        message
        == f"Ran into [Errno 13] Permission denied: '{read_only}' while trying to write to {read_only}"
    )
    message = err(editor, tool_type, command="view", path=str(unreadable))
    assert (
        message == f"Ran into [Errno 13] Permission denied: '{unreadable}' while trying to read {unreadable}"
    )


JUNK_INPUTS: list[Any] = [
    {"command": "view", "path": "/", "view_range": [1, 2]},
    {"command": "view", "path": "/proc/self/mem"},
    {"command": "view", "path": "/dev/null"},
    {"command": "str_replace", "path": "/", "old_str": "x"},
    {"command": ["view"], "path": "/tmp"},
    {"command": {"a": 1}, "path": "/tmp"},
    {"command": "insert", "path": "/dev/zero", "insert_line": 0, "new_str": "x", "insert_text": "x"},
    {"command": "view", "path": 5},
    {"command": "create", "path": "/proc/nope/x", "file_text": "x"},
    {"command": "create", "path": "/tmp/\ud800", "file_text": "x"},
    {"command": "view", "path": "/tmp/\ud800"},
    {},
    {"path": None},
]


@pytest.mark.parametrize("tool_input", JUNK_INPUTS)
@pytest.mark.parametrize("tool_type", ALL)
def test_junk_input_is_always_a_tool_error(editor: EditorTool, tool_type: str, tool_input: Any) -> None:
    with pytest.raises(ToolError):
        editor.call(tool_type, name_of(tool_type), tool_input, None, definition=["not", "a", "mapping"])  # type: ignore[arg-type]
