"""Setup steps in task files: commands, ``open`` and ``launch`` load; every mistake names its
field and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.setup_steps import SetupKind
from scheduler.taskfile import Checks, load_file
from scheduler.yamlfile import InvalidFile
from tests.scheduler.conftest import write
from tests.scheduler.test_taskfile import SCRIPT_TASK, problems_of

STEPS = """\
setup:
  - echo plain
  - run: echo explicit
  - open: {path: /home/user/report.docx, wait_for_window: "report\\\\.docx - LibreOffice", timeout_s: 90}
  - launch: {command: xterm}
"""


def test_commands_open_and_launch_steps_load_with_their_defaults(checks: Checks, tmp_path: Path) -> None:
    (task,) = load_file(write(tmp_path / "t.yaml", SCRIPT_TASK + STEPS), checks)
    steps = task.spec.setup
    assert [s.kind for s in steps] == [SetupKind.RUN, SetupKind.RUN, SetupKind.OPEN, SetupKind.LAUNCH]
    assert (steps[0].run, steps[1].run) == ("echo plain", "echo explicit")
    assert steps[2].open is not None and steps[2].open.wait_for_window == r"report\.docx - LibreOffice"
    assert steps[2].open.timeout_s == 90
    launch = steps[3].launch
    assert launch is not None and (launch.wait_for_window, launch.timeout_s) == (None, 60)


@pytest.mark.parametrize(
    ("step", "field", "message"),
    [
        ("  - open: {path: report.docx}", "setup[0].open.path", "path must be an absolute path without '..'"),
        ("  - launch: {command: xterm, wait_for_window: '(unclosed'}", "setup[0].launch.wait_for_window",
         "wait_for_window is not a valid regular expression: "
         "missing ), unterminated subpattern at position 0"),
        ("  - launch: {command: xterm, timeout_s: 0}", "setup[0].launch.timeout_s",
         "Input should be greater than 0"),
        ("  - {open: {path: /a}, launch: {command: xterm}}", "setup[0]",
         "a setup step is a command, or a mapping with exactly one of run, open, launch"),
    ],
)
def test_a_bad_step_names_its_field_and_line(
    checks: Checks, tmp_path: Path, step: str, field: str, message: str
) -> None:
    with pytest.raises(InvalidFile) as exc:
        load_file(write(tmp_path / "t.yaml", SCRIPT_TASK + "setup:\n" + step + "\n"), checks)
    assert problems_of(exc) == [(6, field, message)]


def test_an_unknown_key_in_a_step_names_the_allowed_ones(checks: Checks, tmp_path: Path) -> None:
    with pytest.raises(InvalidFile) as exc:
        load_file(write(tmp_path / "t.yaml", SCRIPT_TASK + "setup:\n  - open: {path: /a, wait: x}\n"), checks)
    ((line, field, message),) = problems_of(exc)
    assert (line, field) == (6, "setup[0].open.wait")
    assert message == "unknown field (allowed here: path, timeout_s, wait_for_window)"
