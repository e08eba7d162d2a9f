"""The client tool ``request_approval``: a run asks a human before a consequential action.

Offered to every Claude run; the script agent plays it like a model. The call does not get an
answer at once: ``AwaitApproval`` carries the request (what, why) and the agent's state out of the
loop, the runner pauses the sandbox and frees the worker, and when a human decides, a worker
resumes the run and answers the pending call with ``decision_output``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.approvals import REQUEST_APPROVAL
from core.states import Decision
from workers.toolio import ToolOutput

CONFIRM = "confirm"  # a pause's kind when the task's policy held a keyboard call (the confirm hook)
MAX_TEXT = 2000  # characters of `what` and `why` shown to the approver

_DESCRIPTION = (
    "Ask a human to approve an action with real-world consequences before you take it: accepting "
    "terms of service, cookies or any other agreement that needs affirmative consent, payments or "
    "other financial transactions, sending messages or emails, submitting forms that create or "
    "change something outside this computer. Say exactly what you want to do (`what`) and why "
    "the task needs it (`why`); the approver sees them with the current screen. The task waits "
    "until they decide; the result says whether you may go ahead, with their note. If it is "
    "denied, do not take the action: find another way or declare the task infeasible."
)
_SCHEMA = {
    "type": "object",
    "properties": {
        "what": {"type": "string", "description": "The action you want to take, specifically."},
        "why": {"type": "string", "description": "Why the task needs it."},
    },
    "required": ["what", "why"],
}
NEEDS_WHAT = "request_approval needs a non-empty `what` (the action) and `why` (the reason)."


def approval_tool() -> dict[str, Any]:
    return {"name": REQUEST_APPROVAL, "description": _DESCRIPTION, "input_schema": _SCHEMA}


@dataclass(frozen=True)
class Asked:
    """What the approver is shown."""

    what: str
    why: str


def asked(tool_input: Any) -> Asked | None:
    """The request in a ``request_approval`` input; None when it is not a valid one."""
    if not isinstance(tool_input, dict):
        return None
    what, why = tool_input.get("what"), tool_input.get("why")
    if not (isinstance(what, str) and what.strip() and isinstance(why, str) and why.strip()):
        return None
    return Asked(what.strip()[:MAX_TEXT], why.strip()[:MAX_TEXT])


@dataclass
class AwaitApproval(Exception):
    """Raised by the agent at a ``request_approval`` call: the run pauses here. ``state`` is
    everything the agent needs to go on (JSON); ``tool_use`` is the call to answer on resume."""

    asked: Asked
    tool_use: dict[str, Any]
    step: int
    state: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(f"approval requested: {self.asked.what}")


@dataclass(frozen=True)
class Ruling:
    """A human's decision as the resumed agent receives it."""

    decision: Decision
    by: str
    note: str | None = None

    def output(self) -> ToolOutput:
        """The pending call's answer: approved is a plain result; denied is an error the model
        must not act against."""
        note = f" Note: {self.note}" if self.note else ""
        if self.decision == Decision.APPROVED:
            return ToolOutput(text=f"Approved by {self.by}. You may go ahead.{note}")
        return ToolOutput.error(f"Denied by {self.by}. Do not take this action.{note}")


@dataclass(frozen=True)
class Resumption:
    """What a resumed agent starts from: the state it paused with, the answer to its pending call,
    and how much of its wall-time budget is used (the pause counted only if the task says so)."""

    state: dict[str, Any]
    answer: ToolOutput
    elapsed_s: float
