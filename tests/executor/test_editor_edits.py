"""The text editor's edits, every version: create, str_replace, insert, undo_edit."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox_image.executor.editor import EditorTool
from tests.executor.conftest import (
    ALL,
    CURRENT,
    HEADER,
    LEGACY,
    REVIEW,
    REVIEW_INSERT,
    cat_n,
    err,
    insert_key,
    numbered_file,
    ok,
)

# --- create ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tool_type", ALL)
def test_create_writes_exactly(editor: EditorTool, tool_type: str, tmp_path: Path) -> None:
    path = tmp_path / "Makefile"
    content = "all:\n\techo 'tab kept'\r\nno final newline"
    assert ok(editor, tool_type, command="create", path=str(path), file_text=content) == (
        f"File created successfully at: {path}"
    )
    assert path.read_bytes() == content.encode()


@pytest.mark.parametrize("tool_type", ALL)
def test_create_needs_file_text(editor: EditorTool, tool_type: str, tmp_path: Path) -> None:
    path = tmp_path / "new.txt"
    assert err(editor, tool_type, command="create", path=str(path)) == (
        "Parameter `file_text` is required for command: create"
    )
    assert "`file_text` must be a string" in err(
        editor, tool_type, command="create", path=str(path), file_text=3
    )
    assert not path.exists()


@pytest.mark.parametrize("tool_type", ALL)
def test_create_makes_no_parent_directories(editor: EditorTool, tool_type: str, tmp_path: Path) -> None:
    path = tmp_path / "missing" / "new.txt"
    message = err(editor, tool_type, command="create", path=str(path), file_text="x")
    assert (
        message == f"Ran into [Errno 2] No such file or directory: '{path}' while trying to write to {path}"
    )
    assert not path.parent.exists()


@pytest.mark.parametrize("tool_type", ALL)
def test_create_empty_file(editor: EditorTool, tool_type: str, tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    ok(editor, tool_type, command="create", path=str(path), file_text="")
    assert path.read_bytes() == b""


# --- str_replace ----------------------------------------------------------------------------


@pytest.mark.parametrize("tool_type", ALL)
def test_str_replace_success_text_and_tabs_untouched(
    editor: EditorTool, tool_type: str, sample: Path
) -> None:
    text = ok(editor, tool_type, command="str_replace", path=str(sample), old_str="test:", new_str="check:")
    lines = ["all: build", "\tgo build ./...", "", "check:", "\tgo test ./..."]
    snippet = HEADER.format(f"a snippet of {sample}") + cat_n(lines)
    assert text == f"The file {sample} has been edited. {snippet}{REVIEW}"
    assert sample.read_text() == "all: build\n\tgo build ./...\n\ncheck:\n\tgo test ./...\n"


@pytest.mark.parametrize("tool_type", ALL)
def test_str_replace_matches_tabs_verbatim(editor: EditorTool, tool_type: str, sample: Path) -> None:
    ok(editor, tool_type, command="str_replace", path=str(sample), old_str="\tgo test", new_str="\tgo vet")
    assert sample.read_text() == "all: build\n\tgo build ./...\n\ntest:\n\tgo vet ./...\n"


@pytest.mark.parametrize("tool_type", ALL)
def test_str_replace_snippet_is_four_lines_around(editor: EditorTool, tool_type: str, tmp_path: Path) -> None:
    path = numbered_file(tmp_path, 20)
    text = ok(
        editor, tool_type, command="str_replace", path=str(path), old_str="line 00010\n", new_str="A\nB\n"
    )
    lines = [f"line {i:05}" for i in range(6, 10)] + ["A", "B"] + [f"line {i:05}" for i in range(11, 15)]
    assert HEADER.format(f"a snippet of {path}") + cat_n(lines, 6) + REVIEW in text


@pytest.mark.parametrize("tool_type", ALL)
def test_str_replace_without_new_str_deletes(editor: EditorTool, tool_type: str, sample: Path) -> None:
    ok(editor, tool_type, command="str_replace", path=str(sample), old_str="\ntest:\n\tgo test ./...\n")
    assert sample.read_text() == "all: build\n\tgo build ./...\n"


@pytest.mark.parametrize("tool_type", ALL)
def test_str_replace_not_found(editor: EditorTool, tool_type: str, sample: Path) -> None:
    message = err(editor, tool_type, command="str_replace", path=str(sample), old_str="nothing", new_str="x")
    assert message == f"No replacement was performed, old_str `nothing` did not appear verbatim in {sample}."


@pytest.mark.parametrize("tool_type", ALL)
def test_str_replace_spaces_for_tabs_gets_a_hint(editor: EditorTool, tool_type: str, sample: Path) -> None:
    message = err(
        editor, tool_type, command="str_replace", path=str(sample), old_str="    go test", new_str="x"
    )
    assert message.startswith(
        "No replacement was performed, old_str `    go test` did not appear verbatim in"
    )
    assert "tab" in message.split(".", 2)[-1]
    assert sample.read_text().count("\t") == 2


@pytest.mark.parametrize("tool_type", ALL)
def test_str_replace_multiple_occurrences(editor: EditorTool, tool_type: str, sample: Path) -> None:
    before = sample.read_text()
    message = err(editor, tool_type, command="str_replace", path=str(sample), old_str="\tgo ", new_str="x")
    assert message == (
        "No replacement was performed. Multiple occurrences of old_str `\tgo ` in lines [2, 5]."
        " Please ensure it is unique"
    )
    multi = err(editor, tool_type, command="str_replace", path=str(sample), old_str="...\n", new_str="x")
    assert "in lines [2, 5]." in multi
    overlapping = err(editor, tool_type, command="str_replace", path=str(sample), old_str="..", new_str="x")
    assert "Multiple occurrences of old_str `..` in lines [2, 5]" in overlapping
    assert sample.read_text() == before


@pytest.mark.parametrize("tool_type", ALL)
def test_str_replace_needs_old_str(editor: EditorTool, tool_type: str, sample: Path) -> None:
    assert err(editor, tool_type, command="str_replace", path=str(sample), new_str="x") == (
        "Parameter `old_str` is required for command: str_replace"
    )
    assert "old_str is empty" in err(editor, tool_type, command="str_replace", path=str(sample), old_str="")
    assert "`old_str` must be a string" in err(
        editor, tool_type, command="str_replace", path=str(sample), old_str=1
    )
    assert "`new_str` must be a string" in err(
        editor, tool_type, command="str_replace", path=str(sample), old_str="all", new_str=["x"]
    )


@pytest.mark.parametrize("tool_type", ALL)
def test_str_replace_in_a_crlf_file(editor: EditorTool, tool_type: str, tmp_path: Path) -> None:
    path = tmp_path / "win.txt"
    path.write_bytes(b"one\r\ntwo\r\nthree\r\n")
    ok(editor, tool_type, command="str_replace", path=str(path), old_str="one\ntwo", new_str="1\n2")
    assert path.read_bytes() == b"1\r\n2\r\nthree\r\n"


@pytest.mark.parametrize("tool_type", ALL)
def test_str_replace_keeps_unicode_and_other_bytes(
    editor: EditorTool, tool_type: str, tmp_path: Path
) -> None:
    path = tmp_path / "u.py"
    path.write_bytes("s = 'ünï'\t# ✓\nx = 1\n".encode())
    ok(editor, tool_type, command="str_replace", path=str(path), old_str="x = 1", new_str="x = 'é'")
    assert path.read_bytes() == "s = 'ünï'\t# ✓\nx = 'é'\n".encode()


# --- insert ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tool_type", ALL)
def test_insert_success_text(editor: EditorTool, tool_type: str, sample: Path) -> None:
    text = ok(
        editor,
        tool_type,
        command="insert",
        path=str(sample),
        insert_line=1,
        **{insert_key(tool_type): "\t@echo hi"},
    )
    lines = ["all: build", "\t@echo hi", "\tgo build ./...", "", "test:", "\tgo test ./..."]
    snippet = HEADER.format("a snippet of the edited file") + cat_n(lines)
    assert text == f"The file {sample} has been edited. {snippet}{REVIEW_INSERT}"
    assert sample.read_text() == "all: build\n\t@echo hi\n\tgo build ./...\n\ntest:\n\tgo test ./...\n"


@pytest.mark.parametrize("tool_type", ALL)
def test_insert_at_top_and_end(editor: EditorTool, tool_type: str, sample: Path) -> None:
    key = insert_key(tool_type)
    ok(editor, tool_type, command="insert", path=str(sample), insert_line=0, **{key: "# top\n"})
    ok(editor, tool_type, command="insert", path=str(sample), insert_line=6, **{key: "end:\n\ttrue"})
    assert (
        sample.read_text() == "# top\nall: build\n\tgo build ./...\n\ntest:\n\tgo test ./...\nend:\n\ttrue\n"
    )


@pytest.mark.parametrize("tool_type", ALL)
def test_insert_after_a_last_line_without_newline(editor: EditorTool, tool_type: str, tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("a\nb")
    ok(editor, tool_type, command="insert", path=str(path), insert_line=2, **{insert_key(tool_type): "c"})
    assert path.read_text() == "a\nb\nc"


@pytest.mark.parametrize("tool_type", ALL)
def test_insert_into_crlf_and_empty_files(editor: EditorTool, tool_type: str, tmp_path: Path) -> None:
    crlf, empty = tmp_path / "crlf.txt", tmp_path / "empty.txt"
    crlf.write_bytes(b"a\r\nb\r\n")
    empty.write_text("")
    ok(editor, tool_type, command="insert", path=str(crlf), insert_line=1, **{insert_key(tool_type): "x\ny"})
    ok(
        editor,
        tool_type,
        command="insert",
        path=str(empty),
        insert_line=0,
        **{insert_key(tool_type): "first"},
    )
    assert crlf.read_bytes() == b"a\r\nx\r\ny\r\nb\r\n"
    assert empty.read_text() == "first\n"


@pytest.mark.parametrize("tool_type", ALL)
def test_insert_line_out_of_range(editor: EditorTool, tool_type: str, sample: Path) -> None:
    key = insert_key(tool_type)
    for line in (6, -1, 10**12):
        message = err(editor, tool_type, command="insert", path=str(sample), insert_line=line, **{key: "x"})
        assert message == (
            f"Invalid `insert_line` parameter: {line}. It should be within the range of lines of the"
            " file: [0, 5]"
        )
    message = err(editor, tool_type, command="insert", path=str(sample), insert_line="2", **{key: "x"})
    assert message.startswith("Invalid `insert_line` parameter: '2'. It should be an integer")


@pytest.mark.parametrize("tool_type", ALL)
def test_insert_needs_line_and_text(editor: EditorTool, tool_type: str, sample: Path) -> None:
    key = insert_key(tool_type)
    assert err(editor, tool_type, command="insert", path=str(sample), **{key: "x"}) == (
        "Parameter `insert_line` is required for command: insert"
    )
    assert err(editor, tool_type, command="insert", path=str(sample), insert_line=1) == (
        f"Parameter `{key}` is required for command: insert"
    )


@pytest.mark.parametrize("tool_type", ALL)
def test_insert_accepts_the_other_versions_key(editor: EditorTool, tool_type: str, sample: Path) -> None:
    other = "insert_text" if tool_type in LEGACY else "new_str"
    ok(editor, tool_type, command="insert", path=str(sample), insert_line=0, **{other: "# lenient"})
    assert sample.read_text().startswith("# lenient\nall: build\n")


# --- undo_edit ------------------------------------------------------------------------------


@pytest.mark.parametrize("tool_type", LEGACY)
def test_undo_edit_steps_back_per_path(
    editor: EditorTool, tool_type: str, sample: Path, tmp_path: Path
) -> None:
    original = sample.read_text()
    other = tmp_path / "other.txt"
    other.write_text("keep\n")
    ok(editor, tool_type, command="str_replace", path=str(sample), old_str="all", new_str="ALL")
    after_first = sample.read_text()
    ok(editor, tool_type, command="insert", path=str(sample), insert_line=0, new_str="# x")
    ok(editor, tool_type, command="str_replace", path=str(other), old_str="keep", new_str="changed")

    text = ok(editor, tool_type, command="undo_edit", path=str(sample))
    lines = after_first.splitlines()
    assert text == f"Last edit to {sample} undone successfully. " + HEADER.format(sample) + cat_n(lines)
    assert sample.read_text() == after_first
    ok(editor, tool_type, command="undo_edit", path=str(sample))
    assert sample.read_text() == original
    assert (
        err(editor, tool_type, command="undo_edit", path=str(sample))
        == f"No edit history found for {sample}."
    )
    assert other.read_text() == "changed\n"


@pytest.mark.parametrize("tool_type", LEGACY)
def test_undo_edit_without_history(editor: EditorTool, tool_type: str, sample: Path, tmp_path: Path) -> None:
    assert (
        err(editor, tool_type, command="undo_edit", path=str(sample))
        == f"No edit history found for {sample}."
    )
    created = tmp_path / "created.txt"
    ok(editor, tool_type, command="create", path=str(created), file_text="x")
    assert (
        err(editor, tool_type, command="undo_edit", path=str(created))
        == f"No edit history found for {created}."
    )


@pytest.mark.parametrize("tool_type", CURRENT)
def test_no_undo_edit_in_current_versions(editor: EditorTool, tool_type: str, sample: Path) -> None:
    ok(editor, tool_type, command="str_replace", path=str(sample), old_str="all", new_str="ALL")
    assert err(editor, tool_type, command="undo_edit", path=str(sample)) == (
        "Unrecognized command undo_edit. The allowed commands for the str_replace_based_edit_tool tool are:"
        " view, create, str_replace, insert"
    )
    assert sample.read_text().startswith("ALL")
