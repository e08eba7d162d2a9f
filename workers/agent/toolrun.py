"""One turn's tool calls: run every ``tool_use`` block in order through the sandbox and answer all
of them, with matching ids, in one list of ``tool_result`` blocks.

Toolset batches (``computer_toolset_20260801``): members run in order with no screenshot except
after the last member; the first failing member halts the batch and every later member is
answered with ``NOT_EXECUTED``. bash and editor calls in the same turn run normally. Before a
computer call reaches the sandbox, toolgate.py refuses what the task switched off, what the
``confirm`` hook declines, and malformed calls, in the SDK's words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.approvals import REQUEST_APPROVAL
from core.toolset import TOOLSET_NAME
from sandbox_image.executor.texts import shown
from workers.agent.approval import NEEDS_WHAT, AwaitApproval, asked
from workers.agent.blocks import tool_result
from workers.agent.structured import DECLARE_INFEASIBLE, SUBMIT_RESULT, infeasible_reason
from workers.agent.toolgate import (
    MAX_INPUT_DEPTH,
    TOO_DEEP,
    ask_confirm,
    ask_gate,
    computer_action,
    depth,
    disabled,
    malformed_call,
    toolset_not_found,
)
from workers.agent.toolspec import ToolSpec, is_toolset_member
from workers.clock import Clock
from workers.hooks import Hooks
from workers.toolio import ToolExecutor, ToolOutput

NOT_EXECUTED = "Not executed: an earlier computer action in this turn failed."
CUT_OFF = (
    "This tool call was cut off because your response reached the max_tokens limit, so it was "
    "not executed. Send it again as a shorter call (for example, type long text in several "
    "smaller calls)."
)
NOT_AN_OBJECT = "Tool input must be a JSON object."
AFTER_APPROVAL = (
    "Not executed: it came after request_approval in the same turn. Send it again after the decision."
)


@dataclass
class Turn:
    """What one turn of tool calls produced."""

    results: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    tools_ms: float = 0.0
    submitted: bool = False  # a valid submit_result ended the task
    answer: Any = None
    infeasible: str | None = None

    @property
    def finished(self) -> bool:
        return self.submitted or self.infeasible is not None


class ToolRunner:
    def __init__(self, spec: ToolSpec, sandbox: ToolExecutor, hooks: Hooks, clock: Clock) -> None:
        self.spec = spec
        self.sandbox = sandbox
        self.hooks = hooks
        self.clock = clock
        self.step = 0

    def run_turn(self, step: int, blocks: list[dict[str, Any]], *, cut_off_id: str | None = None) -> Turn:
        """Answer every block; ``cut_off_id`` names a half-written call that must not run.
        Sandbox infrastructure errors (``core.errors.SandboxError``) propagate to the loop."""
        turn, self.step = Turn(), step
        last_member = _last_member_id([b for b in blocks if b.get("id") != cut_off_id])
        halted = False
        for index, block in enumerate(blocks):
            if block.get("name") == REQUEST_APPROVAL and block.get("id") != cut_off_id:
                self._ask(step, block, turn, blocks[index + 1:])
            if block.get("id") == cut_off_id or (halted and is_toolset_member(block)):
                output = ToolOutput.error(CUT_OFF if block.get("id") == cut_off_id else NOT_EXECUTED)
                self.hooks.on_tool_result(step, block, output, 0.0)
            else:
                output = self._paused_call(step, blocks, index, turn, block.get("id") == last_member)
                halted = halted or (output.is_error and self._halts(block))
            if turn.finished:
                break
            turn.results.append(tool_result(block, output))
        return turn

    def _ask(self, step: int, block: dict[str, Any], turn: Turn, rest: list[dict[str, Any]]) -> None:
        """A valid ``request_approval`` pauses the run here (the calls after it are answered as not
        run); an invalid one is answered as an error by ``_dispatch``."""
        request = asked(block.get("input"))
        if request is None:
            return
        raise AwaitApproval(request, block, step, self._pending(step, turn, rest))

    def _paused_call(
        self, step: int, blocks: list[dict[str, Any]], index: int, turn: Turn, screenshot_last: bool
    ) -> ToolOutput:
        """A call; the ``confirm`` hook may pause the run at it (an approval policy)."""
        try:
            return self._call(step, blocks[index], turn, screenshot_last=screenshot_last)
        except AwaitApproval as pause:
            pause.state.update(self._pending(step, turn, blocks[index + 1:]))
            raise

    def _pending(self, step: int, turn: Turn, rest: list[dict[str, Any]]) -> dict[str, Any]:
        """The turn around a paused call: the results before it, and the calls after it answered
        as not run."""
        after = []
        for later in rest:
            output = ToolOutput.error(AFTER_APPROVAL)
            self.hooks.on_tool_result(step, later, output, 0.0)
            after.append(tool_result(later, output))
        return {"before": turn.results, "after": after}

    def run_confirmed(self, step: int, block: dict[str, Any]) -> ToolOutput:
        """The keyboard call a human approved: it runs now, with no further confirm."""
        tool = self.spec.route(block)
        if tool is None:
            return ToolOutput.error(self._unrouted(block))
        screenshot = True if is_toolset_member(block) else None
        return self.sandbox.call(tool, block.get("input") or {}, screenshot=screenshot)

    def _call(self, step: int, block: dict[str, Any], turn: Turn, *, screenshot_last: bool) -> ToolOutput:
        began = self.clock.monotonic()
        output = self._dispatch(block, turn, screenshot_last)
        elapsed_ms = (self.clock.monotonic() - began) * 1000
        turn.tools_ms += elapsed_ms
        turn.calls += 1
        self.hooks.on_tool_result(step, block, output, elapsed_ms)
        return output

    def _halts(self, block: dict[str, Any]) -> bool:
        """A failed toolset member, or a ``computer`` call that lacks its ``toolset_name``."""
        return is_toolset_member(block) or (self.spec.group.is_toolset and block.get("name") == TOOLSET_NAME)

    def _dispatch(self, block: dict[str, Any], turn: Turn, screenshot_last: bool) -> ToolOutput:
        name, tool_input = block.get("name"), block.get("input")
        if name == REQUEST_APPROVAL:
            return ToolOutput.error(NEEDS_WHAT)
        if name == DECLARE_INFEASIBLE or (self.spec.contract is not None and name == SUBMIT_RESULT):
            return self._structured(name, tool_input, turn)
        tool = self.spec.route(block)
        if tool is None:
            return ToolOutput.error(self._unrouted(block))
        if not isinstance(tool_input, dict):
            return ToolOutput.error(NOT_AN_OBJECT)
        refusal = self._refusal(block, tool_input)
        if refusal is not None:
            return refusal
        screenshot = screenshot_last if is_toolset_member(block) else None
        return self.sandbox.call(tool, tool_input, screenshot=screenshot)

    def _unrouted(self, block: dict[str, Any]) -> str:
        if block.get("toolset_name") is not None:
            return toolset_not_found(block)
        if self.spec.group.is_toolset and block.get("name") == TOOLSET_NAME:
            return malformed_call(block)
        return f"Tool {shown(block.get('name'))} is invalid"

    def _refusal(self, block: dict[str, Any], tool_input: dict[str, Any]) -> ToolOutput | None:
        if depth(tool_input) > MAX_INPUT_DEPTH:
            return ToolOutput.error(TOO_DEEP)
        action = computer_action(block)
        if action is None:
            return None
        if action in self.spec.disabled:
            return ToolOutput.error(disabled(action))
        refused = ask_confirm(self.hooks, self.step, block, action)
        return refused or ask_gate(self.hooks, self.step, block, action)

    def _structured(self, name: str, tool_input: Any, turn: Turn) -> ToolOutput:
        if name == DECLARE_INFEASIBLE:
            reason = infeasible_reason(tool_input)
            if reason is None:
                return ToolOutput.error("declare_infeasible needs a non-empty `reason`.")
            turn.infeasible = reason
            return ToolOutput(text="Task declared infeasible.")
        assert self.spec.contract is not None
        answer, problem = self.spec.contract.validate(tool_input)
        if problem is not None:
            return ToolOutput.error(problem)
        turn.submitted, turn.answer = True, answer
        return ToolOutput(text="Result accepted.")


def _last_member_id(blocks: list[dict[str, Any]]) -> str | None:
    members = [block.get("id") for block in blocks if is_toolset_member(block)]
    return members[-1] if members else None
