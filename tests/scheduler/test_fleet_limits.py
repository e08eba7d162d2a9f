"""Validation that protects the fleet: a wall-clock budget the workers' time limits would cut short,
a script step naming a tool nobody can play, and budgets given as booleans or strings are all
rejected before anything is enqueued, with the file's line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings
from scheduler.taskfile import Checks, load_file
from scheduler.yamlfile import InvalidFile
from tests.scheduler.conftest import write

TASK = """\
name: limits
agent: script
budgets: {budgets}
steps:
  - {{name: computer, input: {{action: screenshot}}}}
  - {{name: {tool}, input: {{command: "echo hi"}}}}
"""


def load(tmp_path: Path, checks: Checks, budgets: str = "{max_steps: 5}", tool: str = "bash") -> list[tuple]:
    path = write(tmp_path / "t.yaml", TASK.format(budgets=budgets, tool=tool))
    with pytest.raises(InvalidFile) as exc:
        load_file(path, checks)
    return [(p.line, p.field, p.message) for p in exc.value.problems]


def test_max_wall_s_above_the_fleets_cap_is_rejected_naming_the_cap(tmp_path: Path) -> None:
    checks = Checks(Settings(max_wall_s_cap=5400), check_secrets=False)

    ((line, where, message),) = load(tmp_path, checks, budgets="{max_wall_s: 79200}")

    assert (line, where) == (3, "budgets.max_wall_s")
    assert "5400" in message and "NIGHTSHIFT_MAX_WALL_S_CAP" in message
    at_cap = TASK.format(budgets="{max_wall_s: 5400}", tool="bash")
    assert load_file(write(tmp_path / "ok.yaml", at_cap), checks)


def test_a_script_step_naming_an_unknown_tool_is_rejected_with_field_and_line(tmp_path: Path) -> None:
    checks = Checks(Settings(), check_secrets=False)

    ((line, where, message),) = load(tmp_path, checks, tool="bsh")

    assert (line, where) == (6, "steps[1].name")
    assert "unknown tool 'bsh'" in message and "bash" in message


@pytest.mark.parametrize("budgets", ["{max_steps: true}", "{max_steps: '10'}", "{max_cost_usd: true}"])
def test_budgets_are_strict_numbers_never_booleans_or_strings(tmp_path: Path, budgets: str) -> None:
    checks = Checks(Settings(), check_secrets=False)

    ((line, where, message),) = load(tmp_path, checks, budgets=budgets)

    assert line == 3 and where.startswith("budgets.max_")
    assert "valid" in message
