"""Task files: the contract example loads as written; every problem names file, line and field;
one bad task anywhere means nothing loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings
from scheduler.taskfile import Checks, load_file, load_files, load_text
from scheduler.yamlfile import InvalidFile
from tests.scheduler.conftest import EXAMPLE_BATCH, ROOT, write

SCRIPT_TASK = """\
name: smoke
agent: script
steps:
  - {name: computer, input: {action: screenshot}}
"""


def problems_of(exc: pytest.ExceptionInfo[InvalidFile]) -> list[tuple[int | None, str, str]]:
    return [(p.line, p.field, p.message) for p in exc.value.problems]


def test_the_contract_example_loads_as_written(checks: Checks) -> None:
    hello, release = load_file(EXAMPLE_BATCH, checks)

    assert hello.spec.name == "hello-desktop" and hello.spec.agent == "script"
    assert [step.name for step in hello.spec.steps] == [
        "computer",
        "bash",
        "str_replace_based_edit_tool",
        "computer",
    ]
    assert hello.spec.budgets.max_steps == 10 and hello.inputs == {}
    assert release.spec.model == "claude-sonnet-5-5"
    assert release.spec.output_schema is not None and release.spec.output_schema["required"] == [
        "title",
        "date",
    ]
    pdf = (ROOT / "examples" / "report.pdf").read_bytes()
    assert release.inputs == {"/home/user/Documents/report.pdf": pdf}
    assert pdf.startswith(b"%PDF-")
    assert release.spec.files[0].src == str(ROOT / "examples" / "report.pdf")
    assert (hello.line, release.line) == (2, 12)


def test_the_example_loads_from_any_working_directory(
    checks: Checks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    tasks = load_file(EXAMPLE_BATCH, checks)
    assert len(tasks[1].inputs) == 1


def test_a_file_may_hold_one_task_without_a_tasks_list(checks: Checks, tmp_path: Path) -> None:
    (task,) = load_file(write(tmp_path / "one.yaml", SCRIPT_TASK), checks)
    assert task.spec.name == "smoke"


def test_an_invalid_value_names_its_field_and_line(checks: Checks, tmp_path: Path) -> None:
    text = SCRIPT_TASK + "budgets:\n  max_wall_s: 60\n  max_steps: 0\n"
    with pytest.raises(InvalidFile) as exc:
        load_file(write(tmp_path / "t.yaml", text), checks)
    assert problems_of(exc) == [(7, "budgets.max_steps", "Input should be greater than or equal to 1")]
    assert str(exc.value).startswith(f"{tmp_path / 't.yaml'}:7: budgets.max_steps: ")


def test_an_unknown_field_is_an_error_naming_the_allowed_ones(checks: Checks, tmp_path: Path) -> None:
    text = "tasks:\n  - name: a\n    agent: script\n    colour: red\n    steps: [{name: bash}]\n"
    with pytest.raises(InvalidFile) as exc:
        load_file(write(tmp_path / "t.yaml", text), checks)
    ((line, field, message),) = problems_of(exc)
    assert (line, field) == (4, "tasks[0].colour")
    assert message.startswith("unknown field") and "prompt" in message


def test_an_unknown_nested_field_names_the_nested_fields(checks: Checks, tmp_path: Path) -> None:
    text = SCRIPT_TASK + "budgets: {max_stepz: 3}\n"
    with pytest.raises(InvalidFile) as exc:
        load_file(write(tmp_path / "t.yaml", text), checks)
    ((line, field, message),) = problems_of(exc)
    assert (line, field) == (5, "budgets.max_stepz")
    assert "max_steps" in message and "prompt" not in message


def test_an_unknown_model_lists_the_known_prefixes(checks: Checks, tmp_path: Path) -> None:
    text = "name: q\nprompt: hi\nmodel: gpt-4o\n"
    with pytest.raises(InvalidFile) as exc:
        load_file(write(tmp_path / "t.yaml", text), checks)
    ((line, field, message),) = problems_of(exc)
    assert (line, field) == (3, "model")
    assert "gpt-4o" in message and "claude-sonnet-4-5" in message and "claude-opus-4-1" in message


def test_a_dated_model_id_matches_its_prefix(checks: Checks, tmp_path: Path) -> None:
    (task,) = load_file(
        write(tmp_path / "t.yaml", "name: q\nprompt: hi\nmodel: claude-opus-4-6-20260205\n"), checks
    )
    assert task.spec.model == "claude-opus-4-6-20260205"


def test_a_model_from_settings_is_known(tmp_path: Path) -> None:
    settings = Settings(model_configs={"claude-next": {"tools": "computer_use_20251124"}})
    (task,) = load_file(
        write(tmp_path / "t.yaml", "name: q\nprompt: hi\nmodel: claude-next\n"), Checks(settings)
    )
    assert task.spec.model == "claude-next"


def test_an_unknown_tool_group_is_an_error(checks: Checks, tmp_path: Path) -> None:
    with pytest.raises(InvalidFile) as exc:
        load_file(write(tmp_path / "t.yaml", SCRIPT_TASK + "tools: computer_20250124\n"), checks)
    ((line, field, message),) = problems_of(exc)
    assert (line, field) == (5, "tools") and "computer_use_20250124" in message


def test_a_secret_missing_from_the_environment_is_an_error_unless_skipped(
    settings: Settings, tmp_path: Path
) -> None:
    path = write(tmp_path / "t.yaml", "name: q\nprompt: hi\nsecrets:\n  - GITHUB_TOKEN\n  - SITE_PASSWORD\n")
    with pytest.raises(InvalidFile) as exc:
        load_file(path, Checks(settings, environ={"GITHUB_TOKEN": "x"}))
    ((line, field, message),) = problems_of(exc)
    assert (
        (line, field) == (5, "secrets[1]") and "SITE_PASSWORD" in message and "--no-check-secrets" in message
    )

    assert load_file(path, Checks(settings, environ={"GITHUB_TOKEN": "x", "SITE_PASSWORD": "y"}))
    assert load_file(path, Checks(settings, check_secrets=False, environ={}))


def test_input_files_resolve_against_the_task_file(checks: Checks, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.csv").write_bytes(b"a,b\n1,2\n")
    text = "name: q\nprompt: hi\nfiles: [{src: data/in.csv, dest: /home/user/in.csv, mode: 0600}]\n"
    (task,) = load_file(write(tmp_path / "t.yaml", text), checks)
    assert task.inputs == {"/home/user/in.csv": b"a,b\n1,2\n"}
    assert task.spec.files[0].src == str(tmp_path / "data" / "in.csv") and task.spec.files[0].mode == 0o600


def test_a_missing_input_file_is_a_clear_error(checks: Checks, tmp_path: Path) -> None:
    text = "name: q\nprompt: hi\nfiles:\n  - src: nowhere.pdf\n    dest: /home/user/x.pdf\n"
    with pytest.raises(InvalidFile) as exc:
        load_file(write(tmp_path / "t.yaml", text), checks)
    ((line, field, message),) = problems_of(exc)
    assert (line, field) == (4, "files[0].src") and "nowhere.pdf" in message and "not found" in message


def test_an_input_file_above_the_size_limit_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(b"x" * 3000)
    text = "name: q\nprompt: hi\nfiles: [{src: big.bin, dest: /tmp/big.bin}]\n"
    settings = Settings(input_file_max_mb=0.001)
    with pytest.raises(InvalidFile) as exc:
        load_file(write(tmp_path / "t.yaml", text), Checks(settings))
    assert "limit per file" in problems_of(exc)[0][2]


def test_an_invalid_output_schema_is_an_error(checks: Checks, tmp_path: Path) -> None:
    with pytest.raises(InvalidFile) as exc:
        load_file(write(tmp_path / "t.yaml", "name: q\nprompt: hi\noutput_schema: {type: objekt}\n"), checks)
    ((line, field, message),) = problems_of(exc)
    assert (line, field) == (3, "output_schema") and "JSON Schema" in message


def test_syntax_errors_and_duplicate_keys_name_the_line(checks: Checks, tmp_path: Path) -> None:
    with pytest.raises(InvalidFile) as exc:
        load_file(write(tmp_path / "a.yaml", "name: q\nprompt: [unclosed\n"), checks)
    assert "not valid YAML" in str(exc.value)
    with pytest.raises(InvalidFile) as exc:
        load_file(write(tmp_path / "b.yaml", "name: q\nprompt: hi\nname: r\n"), checks)
    assert problems_of(exc) == [(3, "name", "duplicate key")]


def test_every_problem_of_every_file_is_reported_and_nothing_loads(checks: Checks, tmp_path: Path) -> None:
    good = write(tmp_path / "good.yaml", SCRIPT_TASK)
    bad = write(
        tmp_path / "bad.yaml", "tasks:\n  - name: a\n    prompt: hi\n    network: wide\n  - {name: b}\n"
    )
    with pytest.raises(InvalidFile) as exc:
        load_files([good, bad], checks)
    assert [(p.source, p.line, p.field) for p in exc.value.problems] == [
        (str(bad), 4, "tasks[0].network"),
        (str(bad), 5, "tasks[1]"),
    ]


def test_text_sent_over_http_may_not_name_local_files(checks: Checks) -> None:
    plain = Checks(checks.settings, environ={}, allow_files=False)
    assert load_text(SCRIPT_TASK, "body", None, plain)
    with pytest.raises(InvalidFile) as exc:
        load_text("name: q\nprompt: hi\nfiles: [{src: /etc/hostname, dest: /tmp/h}]\n", "body", None, plain)
    assert problems_of(exc)[0][1] == "files[0].src"


def test_anchors_and_aliases_work_but_an_alias_bomb_is_refused(checks: Checks, tmp_path: Path) -> None:
    shared = (
        "tasks:\n"
        "  - name: a\n    prompt: hi\n    budgets: &b {max_steps: 5}\n"
        "  - {name: b, prompt: hi, budgets: *b}\n"
    )
    first, second = load_file(write(tmp_path / "ok.yaml", shared), checks)
    assert first.spec.budgets == second.spec.budgets

    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdefg":
        previous = chr(ord(level) - 1)
        bomb += f"{level}: &{level} [{', '.join(['*' + previous] * 10)}]\n"
    with pytest.raises(InvalidFile, match="too large once YAML aliases are expanded"):
        load_file(write(tmp_path / "bomb.yaml", bomb), checks)
