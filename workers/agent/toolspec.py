"""The tool definitions and beta header a request carries, per tool group (TOOLS.md §1), and the
routing of a ``tool_use`` block back to the definition the sandbox must run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.models import TOOL_GROUPS, TOOLSET_TYPE, ModelConfig, ToolGroup
from core.spec import TaskSpec
from core.toolset import TOOLSET_NAME
from workers.agent.approval import approval_tool
from workers.agent.structured import ResultContract, infeasible_tool

ZOOM_COMPUTER = "computer_20251124"
MAX_CHARACTERS_EDITOR = "text_editor_20250728"


def tool_group(spec: TaskSpec, config: ModelConfig) -> ToolGroup:
    """The task's tool group, else the model's; an unknown name is a task error."""
    name = spec.tools or config.tools
    if name not in TOOL_GROUPS:
        raise ValueError(f"unknown tool group {name!r}; known: {', '.join(sorted(TOOL_GROUPS))}")
    return TOOL_GROUPS[name]


@dataclass(frozen=True)
class ToolSpec:
    group: ToolGroup
    api_size: tuple[int, int]
    contract: ResultContract | None = None
    editor_max_characters: int | None = None
    disabled: frozenset[str] = frozenset()  # computer members/actions the task switched off

    def definitions(self) -> list[dict[str, Any]]:
        """The ``tools`` list: computer (or the toolset entry), bash, editor, then the client tools
        (``declare_infeasible`` always, ``submit_result`` before it with an output schema,
        ``request_approval`` last)."""
        tools = [self._computer(), {"type": self.group.bash, "name": "bash"}, self._editor()]
        tools.extend(self.contract.tool_definitions() if self.contract is not None else [infeasible_tool()])
        tools.append(approval_tool())
        return tools

    def betas(self) -> list[str]:
        return [self.group.beta] if self.group.beta else []

    def _computer(self) -> dict[str, Any]:
        if self.group.is_toolset:
            return self._toolset()
        width, height = self.api_size
        tool: dict[str, Any] = {
            "type": self.group.computer,
            "name": "computer",
            "display_width_px": width,
            "display_height_px": height,
        }
        if self.group.computer == ZOOM_COMPUTER and "zoom" not in self.disabled:
            tool["enable_zoom"] = True
        return tool

    def _toolset(self) -> dict[str, Any]:
        """The toolset entry; members the task switched off go in ``configs`` (the SDK's way)."""
        entry: dict[str, Any] = {"type": TOOLSET_TYPE}
        if self.disabled:
            entry["configs"] = {name: {"enabled": False} for name in sorted(self.disabled)}
        return entry

    def _editor(self) -> dict[str, Any]:
        """The editor definition; the same dict goes to the sandbox, so the executor honours
        ``max_characters`` exactly as advertised to the model."""
        tool: dict[str, Any] = {"type": self.group.editor, "name": self.group.editor_name}
        if self.editor_max_characters and self.group.editor == MAX_CHARACTERS_EDITOR:
            tool["max_characters"] = self.editor_max_characters
        return tool

    def route(self, block: dict[str, Any]) -> dict[str, Any] | None:
        """The ``tool`` argument for ``ToolExecutor.call``; None for a name this group lacks."""
        name = block.get("name")
        if is_toolset_member(block):
            return {"type": TOOLSET_TYPE, "name": name} if self.group.is_toolset else None
        if block.get("toolset_name") is not None:  # a member of a family this run does not serve
            return None
        if name == "computer" and not self.group.is_toolset:
            return {"type": self.group.computer, "name": "computer"}
        if name == "bash":
            return {"type": self.group.bash, "name": "bash"}
        if name == self.group.editor_name:
            return self._editor()
        return None


def is_toolset_member(block: dict[str, Any]) -> bool:
    return block.get("toolset_name") == TOOLSET_NAME
