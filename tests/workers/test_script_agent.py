"""The script agent plays listed tool calls in order and ends with a recorded outcome. These
tests exercise its own logic with a recording executor; the fleet tests play scripts through real
sandboxes."""

from __future__ import annotations

from typing import Any

from core.spec import TaskSpec
from workers.agent.script import run_script
from workers.hooks import Hooks
from workers.toolio import ToolOutput


class Recorder:
    api_size = (1024, 768)

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[tuple[dict[str, Any], Any]] = []
        self.fail_on = fail_on

    def call(self, tool: dict[str, Any], tool_input: Any, *, screenshot: bool | None = None) -> ToolOutput:
        self.calls.append((tool, tool_input))
        if tool_input.get("command") == self.fail_on:
            return ToolOutput.error("boom")
        return ToolOutput(text="ok")


def spec(*commands: str, **fields: Any) -> TaskSpec:
    steps = [{"name": "bash", "input": {"command": c}} for c in commands]
    return TaskSpec.model_validate({"name": "s", "agent": "script", "steps": steps, **fields})


def test_steps_run_in_order_against_the_groups_tool_versions() -> None:
    sandbox = Recorder()
    result = run_script(spec("a", "b"), sandbox, Hooks())
    assert result.state == "succeeded" and result.steps == 2
    assert sandbox.calls == [({"type": "bash_20250124", "name": "bash"}, {"command": c}) for c in "ab"]


def test_a_failing_step_fails_the_run_and_stops_there() -> None:
    sandbox = Recorder(fail_on="b")
    result = run_script(spec("a", "b", "c"), sandbox, Hooks())
    assert (result.state, result.steps, len(sandbox.calls)) == ("failed", 2, 2)
    assert result.error == "step 2 (bash) failed: boom"


def test_an_unknown_tool_name_is_an_error_result_not_a_crash() -> None:
    task = TaskSpec.model_validate({"name": "s", "agent": "script", "steps": [{"name": "nope"}]})
    result = run_script(task, Recorder(), Hooks())
    assert result.state == "failed" and "Tool nope is invalid" in (result.error or "")


def test_max_steps_ends_the_run_budget_exhausted() -> None:
    result = run_script(spec("a", "b", "c", budgets={"max_steps": 2}), Recorder(), Hooks())
    assert (result.state, result.stop_reason, result.steps) == ("budget_exhausted", "budget: max_steps", 2)


def test_a_cancel_stops_before_the_next_step() -> None:
    class CancelAfterOne(Hooks):
        seen = 0

        def cancel_requested(self) -> str | None:
            self.seen += 1
            return "stop" if self.seen > 1 else None

    sandbox = Recorder()
    result = run_script(spec("a", "b"), sandbox, CancelAfterOne())
    assert (result.state, len(sandbox.calls)) == ("cancelled", 1)


def structured(*steps: tuple[str, dict[str, Any]], **fields: Any) -> TaskSpec:
    calls = [{"name": "bash", "input": {"command": "a"}}] + [{"name": n, "input": i} for n, i in steps]
    return TaskSpec.model_validate({"name": "s", "agent": "script", "steps": calls, **fields})


SCHEMA = {"type": "object", "required": ["title"], "properties": {"title": {"type": "string"}}}


def test_a_scripted_submit_result_ends_the_run_with_the_validated_answer_like_a_model() -> None:
    steps = (("submit_result", {"title": "Q3"}), ("bash", {"command": "never"}))
    task = structured(*steps, output_schema=SCHEMA)
    sandbox = Recorder()
    result = run_script(task, sandbox, Hooks())
    assert (result.state, result.stop_reason, result.result, result.steps) == (
        "succeeded", "submit_result", {"title": "Q3"}, 2)
    assert len(sandbox.calls) == 1  # the step after the submission never runs


def test_a_scripted_submission_that_breaks_the_schema_fails_the_run() -> None:
    task = structured(("submit_result", {"title": 3}), output_schema=SCHEMA)
    result = run_script(task, Recorder(), Hooks())
    assert result.state == "failed"
    assert "does not match the required schema at title" in (result.error or "")


def test_a_scripted_declare_infeasible_ends_the_run_infeasible_with_its_reason() -> None:
    result = run_script(structured(("declare_infeasible", {"reason": "no such file"})), Recorder(), Hooks())
    assert (result.state, result.stop_reason, result.result) == (
        "infeasible", "declare_infeasible", {"reason": "no such file"})
    empty = run_script(structured(("declare_infeasible", {"reason": " "})), Recorder(), Hooks())
    assert empty.state == "failed" and "non-empty `reason`" in (empty.error or "")
