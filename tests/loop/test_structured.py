"""Structured results: with an output_schema the loop offers submit_result and declare_infeasible,
validates submissions with jsonschema, and ends the run on a valid answer or a declared
infeasibility. Tools run in the in-process FakeSandbox."""

from __future__ import annotations

from typing import Any

from tests.fake_api import FakeAnthropicAPI, reply, text, tool_use
from tests.fake_usage import strip_markers
from tests.loop.conftest import Runner

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"price": {"type": "number"}, "currency": {"type": "string", "enum": ["EUR", "USD"]}},
    "required": ["price", "currency"],
    "additionalProperties": False,
}


def tool_names(api: FakeAnthropicAPI) -> list[str]:
    return [tool.get("name") or tool["type"] for tool in api.requests[0].body["tools"]]


def test_the_result_tools_are_offered_with_the_schema(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(reply(tool_use("submit_result", {"price": 12.5, "currency": "EUR"})))
    run(output_schema=SCHEMA)
    assert tool_names(api)[-3:] == ["submit_result", "declare_infeasible", "request_approval"]
    assert api.requests[0].body["tools"][-3]["input_schema"] == SCHEMA
    assert "submit_result" in api.requests[0].body["system"][0]["text"]


def test_without_a_schema_only_declare_infeasible_is_offered(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(reply(text("done")))
    run()
    assert "submit_result" not in tool_names(api)
    assert tool_names(api)[-2:] == ["declare_infeasible", "request_approval"]
    assert "declare_infeasible" in api.requests[0].body["system"][0]["text"]


def test_a_run_without_a_schema_can_end_infeasible(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(reply(tool_use("declare_infeasible", {"reason": "The file does not exist."})))
    result = run()
    assert (result.state, result.stop_reason) == ("infeasible", "declare_infeasible")
    assert result.result == {"reason": "The file does not exist."}


def test_a_valid_submission_is_the_result(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(reply(text("Found it."), tool_use("submit_result", {"price": 12.5, "currency": "EUR"})))
    result = run(output_schema=SCHEMA)
    assert (result.state, result.stop_reason) == ("succeeded", "submit_result")
    assert result.result == {"price": 12.5, "currency": "EUR"}
    assert len(api.requests) == 1


def test_an_invalid_submission_goes_back_to_the_model(api: FakeAnthropicAPI, run: Runner) -> None:
    wrong = tool_use("submit_result", {"price": "twelve", "currency": "EUR"})
    api.enqueue(reply(wrong), reply(tool_use("submit_result", {"price": 12, "currency": "USD"})))
    result = run(output_schema=SCHEMA)
    assert result.state == "succeeded" and result.result == {"price": 12, "currency": "USD"}
    (answer,) = strip_markers(api.requests[1].messages[-1]["content"])
    assert answer["tool_use_id"] == wrong["id"] and answer["is_error"] is True
    message = answer["content"][0]["text"]
    assert message.startswith("The result does not match the required schema at price:")
    assert "'twelve' is not of type 'number'" in message


def test_declaring_the_task_infeasible_is_a_distinct_outcome(api: FakeAnthropicAPI, run: Runner) -> None:
    reason = "The shop page requires a login we do not have."
    api.enqueue(reply(tool_use("declare_infeasible", {"reason": reason})))
    result = run(output_schema=SCHEMA)
    assert (result.state, result.stop_reason) == ("infeasible", "declare_infeasible")
    assert result.result == {"reason": reason} and result.error is None


def test_infeasible_without_a_reason_is_refused(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(
        reply(tool_use("declare_infeasible", {"reason": "  "})),
        reply(tool_use("submit_result", {"price": 1, "currency": "EUR"})),
    )
    result = run(output_schema=SCHEMA)
    assert result.state == "succeeded"
    (answer,) = strip_markers(api.requests[1].messages[-1]["content"])
    assert answer["is_error"] is True


def test_a_schema_that_is_not_an_object_is_wrapped(api: FakeAnthropicAPI, run: Runner) -> None:
    schema = {"type": "array", "items": {"type": "string"}}
    api.enqueue(reply(tool_use("submit_result", {"result": ["a", "b"]})))
    result = run(output_schema=schema)
    assert result.result == ["a", "b"]
    wrapped = api.requests[0].body["tools"][-3]["input_schema"]
    assert wrapped == {"type": "object", "properties": {"result": schema}, "required": ["result"]}


def test_ending_the_turn_without_submitting_is_nudged_then_fails(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(
        reply(text("The price is 12 EUR.")), reply(text("As I said, 12 EUR.")), reply(text("12 EUR!"))
    )
    result = run(output_schema=SCHEMA)
    assert (result.state, result.stop_reason) == ("failed", "no result submitted")
    assert len(api.requests) == 3
    assert "submit_result" in api.requests[1].messages[-1]["content"][0]["text"]


def test_an_invalid_schema_fails_before_any_request(api: FakeAnthropicAPI, run: Runner) -> None:
    result = run(output_schema={"type": "object", "properties": {"x": {"type": "bogus"}}})
    assert (result.state, result.stop_reason) == ("failed", "invalid task")
    assert "output_schema" in (result.error or "") and api.requests == []
