"""The script agent: plays a task's listed tool calls through the same sandbox, hooks, transcript
and storage as a model would, with no model. For smoke and regression runs, replays, and demos on
machines without an API key."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from core.models import ModelConfig
from core.spec import ScriptStep, TaskSpec
from core.states import RunState, StopReason, budget_exhausted, step_failed
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
) -> RunResult:
    tools = ToolSpec(tool_group(spec, ModelConfig()), sandbox.api_size)
    started = clock()
    outputs: list[dict[str, Any]] = []
    for index, step in enumerate(spec.steps, start=1):
        stop = _should_stop(spec, hooks, index, clock() - started)
        if stop is not None:
            return _ended(stop, index - 1, outputs)
        output = _play(tools, sandbox, hooks, index, step)
        outputs.append({"step": index, "tool": step.name, "text": output.text, "is_error": output.is_error})
        if output.is_error:
            return _ended((RunState.FAILED, step_failed(index, step.name, output.text)), index, outputs)
    return RunResult(RunState.SUCCEEDED, StopReason.SCRIPT_COMPLETE, steps=len(spec.steps),
                     result={"steps": outputs})


def _should_stop(spec: TaskSpec, hooks: Hooks, index: int, elapsed_s: float) -> tuple[RunState, str] | None:
    reason = hooks.cancel_requested()
    if reason:
        return RunState.CANCELLED, reason
    if index > spec.budgets.max_steps:
        return RunState.BUDGET_EXHAUSTED, budget_exhausted("max_steps")
    if elapsed_s >= spec.budgets.max_wall_s:
        return RunState.BUDGET_EXHAUSTED, budget_exhausted("max_wall_s")
    return None


def _play(tools: ToolSpec, sandbox: ToolExecutor, hooks: Hooks, index: int, step: ScriptStep) -> ToolOutput:
    tool_use = {"type": "tool_use", "id": f"script_{index:04d}", "name": step.name, "input": step.input}
    if step.toolset_name:
        tool_use["toolset_name"] = step.toolset_name
    definition = tools.route(tool_use)
    began = time.monotonic()
    if definition is None:
        output = ToolOutput.error(f"Tool {step.name} is invalid")
    else:
        output = sandbox.call(definition, step.input)
    elapsed_ms = (time.monotonic() - began) * 1000
    hooks.on_tool_result(index, tool_use, output, elapsed_ms)
    hooks.on_step_end(StepSummary(step=index, stop_reason="tool_use", tool_calls=1, tools_ms=elapsed_ms))
    return output


def _ended(stop: tuple[RunState, str], steps: int, outputs: list[dict[str, Any]]) -> RunResult:
    state, reason = stop
    error = reason if state == RunState.FAILED else None
    return RunResult(state=state, stop_reason=reason, steps=steps, result={"steps": outputs}, error=error)

