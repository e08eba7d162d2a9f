"""Fixtures for the in-sandbox tools, run directly on this host: real bash, real files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox_image.executor.bash import BashTool
from sandbox_image.executor.editor import EditorTool
from sandbox_image.executor.result import ToolError, ToolResult

BashFactory = Callable[..., BashTool]


@pytest.fixture
def make_bash(tmp_path: Path) -> Iterator[BashFactory]:
    """Builds BashTools (short timeout, cwd in tmp_path) and kills their shells afterwards."""
    tools: list[BashTool] = []

    def make(**kwargs: Any) -> BashTool:
        kwargs.setdefault("timeout_s", 20.0)
        kwargs.setdefault("cwd", str(tmp_path))
        tool = BashTool(**kwargs)
        tools.append(tool)
        return tool

    yield make
    for tool in tools:
        tool.close()


@pytest.fixture
def bash(make_bash: BashFactory) -> BashTool:
    return make_bash()


def run(tool: BashTool, command: str, tool_type: str = "bash_20250124") -> str:
    result = tool.call(tool_type, "bash", {"command": command}, None)
    assert isinstance(result, ToolResult)
    assert not result.is_error
    return result.text


@pytest.fixture
def editor() -> EditorTool:
    return EditorTool()


# --- editor helpers -------------------------------------------------------------------------

LEGACY = ["text_editor_20241022", "text_editor_20250124"]
CURRENT = ["text_editor_20250429", "text_editor_20250728"]
ALL = LEGACY + CURRENT
HEADER = "Here's the result of running `cat -n` on {}:\n"
REVIEW = "Review the changes and make sure they are as expected. Edit the file again if necessary."
REVIEW_INSERT = (
    "Review the changes and make sure they are as expected (correct indentation, no duplicate lines, etc)."
    " Edit the file again if necessary."
)


def name_of(tool_type: str) -> str:
    return "str_replace_editor" if tool_type in LEGACY else "str_replace_based_edit_tool"


def insert_key(tool_type: str) -> str:
    return "new_str" if tool_type in LEGACY else "insert_text"


def ok(editor: EditorTool, tool_type: str, *, definition: Any = None, **params: Any) -> str:
    result = editor.call(tool_type, name_of(tool_type), params, None, definition=definition)
    assert not result.is_error and result.image is None
    return result.text


def err(editor: EditorTool, tool_type: str, *, definition: Any = None, **params: Any) -> str:
    with pytest.raises(ToolError) as caught:
        editor.call(tool_type, name_of(tool_type), params, None, definition=definition)
    return caught.value.message


def cat_n(lines: list[str], first: int = 1) -> str:
    return "".join(f"{number:6}\t{line}\n" for number, line in enumerate(lines, first))


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample.mk"
    path.write_text("all: build\n\tgo build ./...\n\ntest:\n\tgo test ./...\n")
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / ".hidden" / "secret.txt").write_text("x")
    (root / "sub" / ".dotfile").write_text("x")
    (root / "sub" / "deeper" / "too-deep.txt").write_text("x")
    (root / "sub" / "b.txt").write_text("x")
    (root / "a.txt").write_text("x")
    (root / "name with 'quotes' $(touch pwned) *").write_text("x")
    return root


def numbered_file(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "numbers.txt"
    path.write_text("".join(f"line {i:05}\n" for i in range(1, count + 1)))  # 11 characters a line
    return path
