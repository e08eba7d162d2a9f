"""What stands between a computer ``tool_use`` and the sandbox, in the words of the ``anthropic``
SDK's computer toolset (``anthropic.tools.computer``), which models of the toolset generation
read: a member the task switched off (``configs``), the ``confirm`` hook for keyboard input, a
``computer`` call without ``toolset_name`` in a toolset turn, a member of a toolset family this
run does not serve, and an input nested too deep to encode.

Each check returns the refusal (an ``is_error`` ToolOutput), or None to run the call. A refusal
of a toolset member halts the rest of its batch, as any failing member does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.toolset import CONFIRM_REQUIRED, TOOLSET_NAME
from sandbox_image.executor.texts import quoted_name
from workers.hooks import PROPAGATE, Hooks
from workers.toolio import ToolOutput

MAX_NAMED_ACTIONS = 10
MAX_INPUT_DEPTH = 100  # far beyond any real tool input; far below what the encoders handle
TOO_DEEP = f"Tool input is nested too deeply (more than {MAX_INPUT_DEPTH} levels); send a flat object."


def disabled(name: str) -> str:
    return (
        f"The '{name}' action is not permitted by this application's permissions "
        "and cannot be used in this session."
    )


def declined(name: str) -> str:
    return f"The user did not grant permission to run '{name}'. Do not retry it unless the user asks you to."


def confirm_failed(name: str) -> str:
    return (
        f"Permission to run '{name}' could not be obtained (the confirmation prompt failed). "
        "Do not retry it unless the user asks you to."
    )


def toolset_not_found(block: Mapping[str, Any]) -> str:
    family, name = quoted_name(block.get("toolset_name")), quoted_name(block.get("name"))
    return f"Error: Toolset '{family}' member '{name}' not found"


def malformed_call(block: Mapping[str, Any]) -> str:
    """A call named after the toolset with no ``toolset_name``: the SDK's text, naming the
    actions it carries but repeating nothing else of the input."""
    detail = _malformed_detail(block.get("input"))
    family = quoted_name(block.get("name"))
    return f"Error: the '{family}' toolset could not run this call{detail}; nothing in the batch was executed"


def _malformed_detail(tool_input: Any) -> str:
    tool_input = tool_input if isinstance(tool_input, Mapping) else {}
    if "actions" not in tool_input:
        action = tool_input.get("action")
        if isinstance(action, str):
            return f": the call has no 'actions' list (action: '{quoted_name(action)}')"
        return ": the call has no 'actions' list"
    return _actions_detail(tool_input["actions"])


def _actions_detail(actions: Any) -> str:
    if isinstance(actions, str):
        return ": 'actions' is text, not a list of actions"
    if not isinstance(actions, list):
        return ": 'actions' is not a list of actions"
    if not actions:
        return ": the 'actions' list is empty"
    names: list[str] = []
    for index, entry in enumerate(actions):
        name = entry.get("action") if isinstance(entry, Mapping) else None
        if not isinstance(name, str):
            return f": action {index} must be an object with a string 'action' field"
        names.append(f"'{quoted_name(name)}'")
    more = len(names) - MAX_NAMED_ACTIONS
    listed = ", ".join(names[:MAX_NAMED_ACTIONS]) + (f", and {more} more" if more > 0 else "")
    return f": its actions could not be run as sent (actions: {listed})"


def depth(value: Any, limit: int = MAX_INPUT_DEPTH) -> int:
    """How deep ``value`` nests, counted without recursion and no further than ``limit + 1``."""
    deepest, stack = 0, [(value, 1)]
    while stack and deepest <= limit:
        node, level = stack.pop()
        if isinstance(node, Mapping | list):
            deepest = max(deepest, level)
            children = node.values() if isinstance(node, Mapping) else node
            stack.extend((child, level + 1) for child in children)
    return deepest


def computer_action(block: Mapping[str, Any]) -> str | None:
    """The member (toolset) or action (dated versions) a computer call asks for."""
    if block.get("toolset_name") == TOOLSET_NAME:
        return str(block.get("name"))
    tool_input = block.get("input")
    action = tool_input.get("action") if isinstance(tool_input, Mapping) else None
    return action if block.get("name") == "computer" and isinstance(action, str) else None


def ask_gate(hooks: Hooks, step: int, block: dict[str, Any], action: str) -> ToolOutput | None:
    """The ``gate`` hook before any computer action; a hook that fails refuses the call."""
    try:
        hooks.gate(step, block)
    except PROPAGATE:
        raise
    except Exception:
        return ToolOutput.error(confirm_failed(action))
    return None


def ask_confirm(hooks: Hooks, step: int, block: dict[str, Any], action: str) -> ToolOutput | None:
    """The ``confirm`` hook for keyboard input; a hook that fails refuses the call (fails closed)."""
    if action not in CONFIRM_REQUIRED:
        return None
    try:
        approved = hooks.confirm(step, block)
    except PROPAGATE:
        raise
    except Exception:
        return ToolOutput.error(confirm_failed(action))
    return None if approved is True else ToolOutput.error(declined(action))
