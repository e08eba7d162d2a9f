"""The script agent: plays a task's listed tool calls through the same sandbox, hooks, transcript
and storage as a model would, with no model. For smoke and regression runs, replays, and demos on
machines without an API key.

``submit_result`` and ``declare_infeasible`` steps end the run as a model's calls would (the
submission validated against the task's ``output_schema`` when it has one), so a recorded run
replays with the same outcome. A ``request_approval`` step pauses the run as a model's call would
(``AwaitApproval``); ``resume`` plays on from the step after it with the decision as its answer
(a denial is an error answer, so the script fails at that step, recorded)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from core.approvals import REQUEST_APPROVAL
from core.models import ModelConfig
from core.spec import ScriptStep, TaskSpec
from core.states import RunState, StopReason, budget_exhausted, step_failed
from workers.agent.approval import NEEDS_WHAT, AwaitApproval, Resumption, asked
from workers.agent.structured import DECLARE_INFEASIBLE, SUBMIT_RESULT, ResultContract, infeasible_reason
from workers.agent.toolrun import Turn
from workers.agent.toolspec import ToolSpec, tool_group
from workers.hooks import Hooks, StepSummary
from workers.outcome import RunResult
from workers.toolio import ToolExecutor, ToolOutput


def run_script(
    spec: TaskSpec,
    sandbox: ToolExecutor,
    hooks: Hooks,
    *,
    clock: Callable[[], float] = time.monotonic,
    resume: Resumption | None = None,
) -> RunResult:
    tools = ToolSpec(tool_group(spec, ModelConfig()), sandbox.api_size)
    started = clock() - (resume.elapsed_s if resume else 0.0)
    outputs: list[dict[str, Any]] = list(resume.state["outputs"]) if resume else []
    first = int(resume.state["index"]) + 1 if resume else 1
    contract = ResultContract(spec.output_schema) if spec.output_schema is not None else None
    if resume is not None:
        ended = _answer_pending(spec, hooks, resume, outputs)
        if ended is not None:
            return ended
    for index, step in enumerate(spec.steps[first - 1:], start=first):
        stop = _should_stop(spec, hooks, index, clock() - started)
        if stop is not None:
            return _ended(stop, index - 1, outputs)
        _ask_if_approval(step, index, outputs, clock() - started)
        turn = Turn()
        output = _play(tools, sandbox, hooks, index, step, (contract, turn))
        ended = _record(outputs, index, step, output)
        if ended is not None:
            return ended
        if turn.finished:
            return _structured_end(turn, index)
    return RunResult(RunState.SUCCEEDED, StopReason.SCRIPT_COMPLETE, steps=len(spec.steps),
                     result={"steps": outputs})


def _record(
    outputs: list[dict[str, Any]], index: int, step: ScriptStep, output: ToolOutput
) -> RunResult | None:
    outputs.append({"step": index, "tool": step.name, "text": output.text, "is_error": output.is_error})
    if output.is_error:
        return _ended((RunState.FAILED, step_failed(index, step.name, output.text)), index, outputs)
    return None


def _ask_if_approval(step: ScriptStep, index: int, outputs: list[dict[str, Any]], elapsed_s: float) -> None:
    request = asked(step.input) if step.name == REQUEST_APPROVAL else None
    if request is not None:
        tool_use = {"type": "tool_use", "id": f"script_{index:04d}", "name": step.name, "input": step.input}
        state = {"index": index, "outputs": outputs, "elapsed_s": elapsed_s}
        raise AwaitApproval(request, tool_use, index, state)


def _answer_pending(
    spec: TaskSpec, hooks: Hooks, resume: Resumption, outputs: list[dict[str, Any]]
) -> RunResult | None:
    """The paused step's answer (the decision), recorded as that step's result."""
    index = int(resume.state["index"])
    hooks.on_tool_result(index, resume.state["tool_use"], resume.answer, 0.0)
    hooks.on_step_end(StepSummary(step=index, stop_reason="tool_use", tool_calls=1))
    return _record(outputs, index, spec.steps[index - 1], resume.answer)


def _should_stop(spec: TaskSpec, hooks: Hooks, index: int, elapsed_s: float) -> tuple[RunState, str] | None:
    reason = hooks.cancel_requested()
    if reason:
        return RunState.CANCELLED, reason
    if index > spec.budgets.max_steps:
        return RunState.BUDGET_EXHAUSTED, budget_exhausted("max_steps")
    if elapsed_s >= spec.budgets.max_wall_s:
        return RunState.BUDGET_EXHAUSTED, budget_exhausted("max_wall_s")
    return None


def _play(
    tools: ToolSpec, sandbox: ToolExecutor, hooks: Hooks, index: int, step: ScriptStep,
    structured: tuple[ResultContract | None, Turn],
) -> ToolOutput:
    tool_use = {"type": "tool_use", "id": f"script_{index:04d}", "name": step.name, "input": step.input}
    if step.toolset_name:
        tool_use["toolset_name"] = step.toolset_name
    definition = tools.route(tool_use)
    began = time.monotonic()
    if step.name in (SUBMIT_RESULT, DECLARE_INFEASIBLE):
        output = _structured(step, *structured)
    elif step.name == REQUEST_APPROVAL:  # only an invalid request gets here
        output = ToolOutput.error(NEEDS_WHAT)
    elif definition is None:
        output = ToolOutput.error(f"Tool {step.name} is invalid")
    else:
        output = sandbox.call(definition, step.input)
    elapsed_ms = (time.monotonic() - began) * 1000
    hooks.on_tool_result(index, tool_use, output, elapsed_ms)
    hooks.on_step_end(StepSummary(step=index, stop_reason="tool_use", tool_calls=1, tools_ms=elapsed_ms))
    return output


def _structured(step: ScriptStep, contract: ResultContract | None, turn: Turn) -> ToolOutput:
    """A submission or a declared infeasibility, answered as the loop answers a model."""
    if step.name == DECLARE_INFEASIBLE:
        turn.infeasible = infeasible_reason(step.input)
        if turn.infeasible is None:
            return ToolOutput.error("declare_infeasible needs a non-empty `reason`.")
        return ToolOutput(text="Task declared infeasible.")
    answer, problem = contract.validate(step.input) if contract is not None else (step.input, None)
    if problem is not None:
        return ToolOutput.error(problem)
    turn.submitted, turn.answer = True, answer
    return ToolOutput(text="Result accepted.")


def _structured_end(turn: Turn, steps: int) -> RunResult:
    if turn.submitted:
        return RunResult(RunState.SUCCEEDED, StopReason.SUBMIT_RESULT, steps=steps, result=turn.answer)
    return RunResult(RunState.INFEASIBLE, StopReason.DECLARE_INFEASIBLE, steps=steps,
                     result={"reason": turn.infeasible})


def _ended(stop: tuple[RunState, str], steps: int, outputs: list[dict[str, Any]]) -> RunResult:
    state, reason = stop
    error = reason if state == RunState.FAILED else None
    return RunResult(state=state, stop_reason=reason, steps=steps, result={"steps": outputs}, error=error)

