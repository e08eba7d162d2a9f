"""The text editor's `view`: cat -n output, ranges, directory listings, clipping, max_characters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox_image.executor.editor import EditorTool
from sandbox_image.executor.editor_view import CLIPPED_NOTE
from tests.executor.conftest import (
    ALL,
    HEADER,
    cat_n,
    err,
    numbered_file,
    ok,
)

# --- view -----------------------------------------------------------------------------------


@pytest.mark.parametrize("tool_type", ALL)
def test_view_file_is_cat_n_with_tabs_kept(editor: EditorTool, tool_type: str, sample: Path) -> None:
    lines = ["all: build", "\tgo build ./...", "", "test:", "\tgo test ./..."]
    expected = HEADER.format(sample) + cat_n(lines)
    assert ok(editor, tool_type, command="view", path=str(sample)) == expected


@pytest.mark.parametrize("tool_type", ALL)
def test_view_range(editor: EditorTool, tool_type: str, sample: Path) -> None:
    assert ok(editor, tool_type, command="view", path=str(sample), view_range=[2, 3]) == HEADER.format(
        sample
    ) + cat_n(["\tgo build ./...", ""], 2)
    assert ok(editor, tool_type, command="view", path=str(sample), view_range=[4, -1]) == HEADER.format(
        sample
    ) + cat_n(["test:", "\tgo test ./..."], 4)
    assert ok(editor, tool_type, command="view", path=str(sample), view_range=[5, 5]).endswith(
        "     5\t\tgo test ./...\n"
    )


@pytest.mark.parametrize("tool_type", ALL)
def test_view_file_without_final_newline_and_crlf(editor: EditorTool, tool_type: str, tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"a\r\nb\r\nlast")
    assert ok(editor, tool_type, command="view", path=str(path)) == HEADER.format(path) + cat_n(
        ["a", "b", "last"]
    )


def bad_first(view_range: str, first: int) -> str:
    return (
        f"Invalid `view_range`: {view_range}. Its first element `{first}` should be within the range of"
        " lines of the file: [1, 5]"
    )


def bad_second(view_range: str, second: int) -> str:
    return (
        f"Invalid `view_range`: {view_range}. Its second element `{second}` should be smaller than the"
        " number of lines in the file: `5`"
    )


def bad_order(view_range: str, first: int, second: int) -> str:
    return (
        f"Invalid `view_range`: {view_range}. Its second element `{second}` should be larger or equal"
        f" than its first `{first}`"
    )


NOT_A_PAIR = "Invalid `view_range`. It should be a list of two integers."


@pytest.mark.parametrize(
    ("view_range", "message"),
    [
        ([0, 2], bad_first("[0, 2]", 0)),
        ([6, 6], bad_first("[6, 6]", 6)),
        ([1, 6], bad_second("[1, 6]", 6)),
        ([1, 10**18], bad_second(f"[1, {10**18}]", 10**18)),
        ([3, 2], bad_order("[3, 2]", 3, 2)),
        ([3, -5], bad_order("[3, -5]", 3, -5)),
        ([1], NOT_A_PAIR),
        ([1, 2, 3], NOT_A_PAIR),
        ([1.0, 2], NOT_A_PAIR),
        (["1", "2"], NOT_A_PAIR),
        ([True, 2], NOT_A_PAIR),
        ("1,2", NOT_A_PAIR),
        ({"a": 1}, NOT_A_PAIR),
    ],
)
@pytest.mark.parametrize("tool_type", ALL)
def test_view_range_errors(
    editor: EditorTool, tool_type: str, sample: Path, view_range: Any, message: str
) -> None:
    assert err(editor, tool_type, command="view", path=str(sample), view_range=view_range) == message


@pytest.mark.parametrize("tool_type", ALL)
def test_view_directory_two_levels_no_hidden_no_shell(editor: EditorTool, tool_type: str, tree: Path) -> None:
    entries = ["", "/a.txt", "/name with 'quotes' $(touch pwned) *", "/sub", "/sub/b.txt", "/sub/deeper"]
    expected = (
        f"Here's the files and directories up to 2 levels deep in {tree}, excluding hidden items:\n"
        + "".join(f"{tree}{entry}\n" for entry in entries)
    )
    assert ok(editor, tool_type, command="view", path=str(tree)) == expected
    assert not (tree / "pwned").exists() and not Path("pwned").exists()


@pytest.mark.parametrize("tool_type", ALL)
def test_view_hidden_directory_itself_lists_its_content(
    editor: EditorTool, tool_type: str, tree: Path
) -> None:
    text = ok(editor, tool_type, command="view", path=str(tree / ".hidden"))
    assert text.endswith(f"\n{tree}/.hidden\n{tree}/.hidden/secret.txt\n")


@pytest.mark.parametrize("tool_type", ALL)
def test_view_range_on_directory(editor: EditorTool, tool_type: str, tree: Path) -> None:
    message = err(editor, tool_type, command="view", path=str(tree), view_range=[1, 2])
    assert message == "The `view_range` parameter is not allowed when `path` points to a directory."


@pytest.mark.parametrize("tool_type", ALL)
def test_view_of_empty_file(editor: EditorTool, tool_type: str, tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_text("")
    assert ok(editor, tool_type, command="view", path=str(path)) == HEADER.format(path)


# --- truncation and max_characters ----------------------------------------------------------


@pytest.mark.parametrize("tool_type", ALL)
def test_default_truncation_is_16000_characters(editor: EditorTool, tool_type: str, tmp_path: Path) -> None:
    path = numbered_file(tmp_path, 3000)
    text = ok(editor, tool_type, command="view", path=str(path))
    assert text.endswith(f"  1454\tline 01454\n{CLIPPED_NOTE}\n")  # 1454 * 11 <= 16000 < 1455 * 11
    assert "line 01455" not in text


def test_max_characters_is_honoured_by_20250728(editor: EditorTool, tmp_path: Path) -> None:
    path = numbered_file(tmp_path, 100)
    text = ok(
        editor, "text_editor_20250728", definition={"max_characters": 60}, command="view", path=str(path)
    )
    lines = [f"line {i:05}" for i in range(1, 6)]
    assert text == HEADER.format(path) + cat_n(lines) + CLIPPED_NOTE + "\n"
    text = ok(
        editor,
        "text_editor_20250728",
        definition={"max_characters": 60},
        command="view",
        path=str(path),
        view_range=[50, -1],
    )
    assert (
        text == HEADER.format(path) + cat_n([f"line {i:05}" for i in range(50, 55)], 50) + CLIPPED_NOTE + "\n"
    )


def test_max_characters_above_the_default(editor: EditorTool, tmp_path: Path) -> None:
    path = numbered_file(tmp_path, 3000)
    text = ok(
        editor, "text_editor_20250728", definition={"max_characters": 40_000}, command="view", path=str(path)
    )
    assert text.endswith("  3000\tline 03000\n") and "<response clipped>" not in text


def test_max_characters_clips_directory_listings(editor: EditorTool, tmp_path: Path) -> None:
    for i in range(50):
        (tmp_path / f"file{i:02}").write_text("")
    text = ok(
        editor, "text_editor_20250728", definition={"max_characters": 200}, command="view", path=str(tmp_path)
    )
    assert text.endswith(CLIPPED_NOTE + "\n")
    assert f"{tmp_path}/file00\n" in text and f"{tmp_path}/file49" not in text


@pytest.mark.parametrize("tool_type", ["text_editor_20250124", "text_editor_20250429"])
def test_max_characters_is_ignored_by_other_versions(
    editor: EditorTool, tool_type: str, tmp_path: Path
) -> None:
    path = numbered_file(tmp_path, 100)
    text = ok(editor, tool_type, definition={"max_characters": 60}, command="view", path=str(path))
    assert "<response clipped>" not in text and text.endswith("   100\tline 00100\n")


def test_a_whole_definition_dict_is_accepted(editor: EditorTool, tmp_path: Path) -> None:
    path = numbered_file(tmp_path, 100)
    definition = {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool", "max_characters": 30}
    text = ok(editor, "text_editor_20250728", definition=definition, command="view", path=str(path))
    assert text.endswith("     2\tline 00002\n" + CLIPPED_NOTE + "\n")


@pytest.mark.parametrize("bad", [0, -5, "100", 1.5, True])
def test_bad_max_characters(editor: EditorTool, sample: Path, bad: Any) -> None:
    message = err(
        editor, "text_editor_20250728", definition={"max_characters": bad}, command="view", path=str(sample)
    )
    assert "`max_characters` must be a positive integer" in message


def test_a_single_huge_line_is_clipped_too(editor: EditorTool, tmp_path: Path) -> None:
    path = tmp_path / "one-line.min.js"
    path.write_text("x" * 100)
    text = ok(
        editor, "text_editor_20250728", definition={"max_characters": 10}, command="view", path=str(path)
    )
    assert text == HEADER.format(path) + cat_n(["x" * 10]) + CLIPPED_NOTE + "\n"
