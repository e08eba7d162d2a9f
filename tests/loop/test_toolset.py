"""computer_toolset_20260801 batches: members run in order with one trailing screenshot, the first
failure halts the batch, later members get the exact "Not executed" text, every member result
echoes toolset_name, and bash/editor calls in the same turn still run. Tools run in the in-process
FakeSandbox (a scripted failure stands in for a real one)."""

from __future__ import annotations

from tests.fake_api import FakeAnthropicAPI, reply, text, tool_use
from tests.fake_usage import strip_markers
from tests.loop.conftest import FakeSandbox, Runner
from workers.agent.toolrun import NOT_EXECUTED
from workers.toolio import ToolOutput

TOOLSET_MODEL = "claude-opus-4-8"
TOOLSET = {"type": "computer_toolset_20260801"}


def member(name: str, **tool_input: object) -> dict[str, object]:
    return tool_use(name, dict(tool_input), toolset=True)


def test_toolset_is_declared_without_a_beta(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(reply(text("done")))
    run(model=TOOLSET_MODEL)
    request = api.requests[0]
    assert request.body["tools"][0] == TOOLSET
    assert "anthropic-beta" not in request.headers


def test_a_batch_takes_one_screenshot_after_the_last_member(
    api: FakeAnthropicAPI, run: Runner, sandbox: FakeSandbox
) -> None:
    batch = [
        member("left_click", coordinate=[10, 10]),
        member("type", text="hello"),
        member("key", text="Return"),
    ]
    api.enqueue(reply(*batch), reply(text("done")))
    assert run(model=TOOLSET_MODEL).state == "succeeded"
    assert [c.tool for c in sandbox.calls] == [{**TOOLSET, "name": n} for n in ("left_click", "type", "key")]
    assert [c.screenshot for c in sandbox.calls] == [False, False, True]
    answers = strip_markers(api.requests[1].messages[-1]["content"])
    assert all(a["toolset_name"] == "computer" for a in answers)
    assert [[b["type"] for b in a["content"]] for a in answers] == [["text"], ["text"], ["image"]]


def test_a_failure_in_the_middle_halts_the_rest_of_the_batch(
    api: FakeAnthropicAPI, run: Runner, sandbox: FakeSandbox
) -> None:
    click, typing = member("left_click", coordinate=[1, 2]), member("type", text="x")
    bash = tool_use("bash", {"command": "date"})
    key, shot = member("key", text="Return"), member("screenshot")
    sandbox.script.extend(
        [
            ToolOutput(text="OK"),
            ToolOutput.error("no window has keyboard focus"),
            ToolOutput(text="Sat Mar 14"),
        ]
    )
    api.enqueue(reply(click, typing, bash, key, shot), reply(text("done")))
    assert run(model=TOOLSET_MODEL).state == "succeeded"
    assert [c.tool["name"] for c in sandbox.calls] == ["left_click", "type", "bash"]
    answers = {a["tool_use_id"]: a for a in strip_markers(api.requests[1].messages[-1]["content"])}
    assert list(answers) == [click["id"], typing["id"], bash["id"], key["id"], shot["id"]]
    assert answers[typing["id"]] == {
        "type": "tool_result",
        "tool_use_id": typing["id"],
        "is_error": True,
        "toolset_name": "computer",
        "content": [{"type": "text", "text": "no window has keyboard focus"}],
    }
    for later in (key, shot):
        assert answers[later["id"]]["content"] == [{"type": "text", "text": NOT_EXECUTED}]
        assert answers[later["id"]]["is_error"] is True and answers[later["id"]]["toolset_name"] == "computer"
    assert answers[bash["id"]] == {
        "type": "tool_result",
        "tool_use_id": bash["id"],
        "content": [{"type": "text", "text": "Sat Mar 14"}],
    }


def test_member_results_contain_only_text_and_image(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(reply(member("cursor_position")), reply(text("done")))
    run(model=TOOLSET_MODEL)
    (answer,) = strip_markers(api.requests[1].messages[-1]["content"])
    assert {b["type"] for b in answer["content"]} <= {"text", "image"}
