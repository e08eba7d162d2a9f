"""Checks of a task against this fleet that its schema cannot make: the wall-clock cap, and the
tool names a script's steps play (a misspelt tool fails at validation, not at run time)."""

from __future__ import annotations

from core.approvals import REQUEST_APPROVAL
from core.models import TOOL_GROUPS, ModelConfig, ToolGroup
from core.settings import Settings
from core.spec import ScriptStep, TaskSpec
from core.states import StopReason
from core.toolset import COMPUTER_MEMBERS, TOOLSET_NAME

STRUCTURED = (StopReason.SUBMIT_RESULT.value, StopReason.DECLARE_INFEASIBLE.value)


def wall_problem(spec: TaskSpec, settings: Settings) -> str | None:
    cap = settings.max_wall_s_cap
    if spec.budgets.max_wall_s <= cap:
        return None
    return (f"max_wall_s {spec.budgets.max_wall_s:g} is above this fleet's cap of {cap} s "
            "(NIGHTSHIFT_MAX_WALL_S_CAP): the workers' time limits would end the run first")


def step_tool_problem(spec: TaskSpec, step: ScriptStep) -> str | None:
    """Why ``step`` names no tool this script can play (None: it does)."""
    group = TOOL_GROUPS.get(spec.tools or ModelConfig().tools)
    if group is None:  # reported as an unknown tool group already
        return None
    known = known_tools(group, step.toolset_name)
    if step.name in known:
        return None
    return f"unknown tool {step.name!r} for tool group {group.name}; known: {', '.join(known)}"


def known_tools(group: ToolGroup, toolset_name: str | None) -> list[str]:
    if toolset_name is not None:
        return list(COMPUTER_MEMBERS) if toolset_name == TOOLSET_NAME and group.is_toolset else []
    computer = [] if group.is_toolset else ["computer"]
    return [*computer, "bash", group.editor_name, *STRUCTURED, REQUEST_APPROVAL]
