"""Two things the loop keeps from a response that it cannot pass on as it came: a refusal's
``stop_details`` (type, category, explanation), which go into the run's result, record and error,
and a ``tool_use`` input nested too deeply for any JSON encoder, which goes back into the history
as an empty object (its call is answered with an ``is_error`` result, toolgate.py)."""

from __future__ import annotations

from typing import Any

from workers.agent.toolgate import MAX_INPUT_DEPTH, depth

REFUSED = "the model refused to continue the task"


def refusal(stop_details: Any) -> tuple[str, dict[str, Any] | None]:
    """The run's error line and result for a ``refusal`` stop, keeping the API's reason."""
    if not isinstance(stop_details, dict):
        return REFUSED, None
    category, explanation = stop_details.get("category"), stop_details.get("explanation")
    reason = "; ".join(f"{k}: {v}" for k, v in (("category", category), ("explanation", explanation)) if v)
    return (f"{REFUSED} ({reason})" if reason else REFUSED), {"stop_details": stop_details}


def encodable(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``content`` with every over-deep ``tool_use`` input replaced by ``{}``."""
    return [_flattened(block) for block in content]


def _flattened(block: dict[str, Any]) -> dict[str, Any]:
    if block.get("type") != "tool_use" or depth(block.get("input")) <= MAX_INPUT_DEPTH:
        return block
    return {**block, "input": {}}
