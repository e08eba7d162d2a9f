"""The worker side of the computer toolset, held to the ``anthropic`` SDK's own toolset machinery
(``anthropic.tools.computer`` and its tool runner) as the oracle: the member list, the texts,
``configs`` (task file ``computer: {disable: [...]}``), the ``confirm`` hook for keyboard input,
a ``computer`` call without ``toolset_name``, and a member of another toolset family."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest
from anthropic.lib.tools._beta_runner import malformed_toolset_call_result
from anthropic.types.beta import BetaComputerMemberName, BetaToolUseBlock

from core.toolset import COMPUTER_MEMBERS
from sandbox_image.executor.texts import ACKNOWLEDGMENTS, acknowledgment
from scheduler.taskfile import Checks, load_text
from scheduler.yamlfile import InvalidFile
from tests.fake_api import FakeAnthropicAPI, reply, text, tool_use
from tests.fake_usage import strip_markers
from tests.loop.conftest import FakeSandbox, RecordingHooks, Runner
from tests.toolset_oracle import sdk_result, sdk_text
from workers.agent.toolrun import NOT_EXECUTED
from workers.hooks import HookChain, Hooks

TOOLSET_MODEL = "claude-opus-4-8"
ZOOM_MODEL = "claude-opus-4-6"  # computer_20251124


def member(name: str, **tool_input: object) -> dict[str, Any]:
    return tool_use(name, dict(tool_input), toolset=True)


def answers(api: FakeAnthropicAPI, request: int = 1) -> dict[str, dict[str, Any]]:
    return {a["tool_use_id"]: a for a in strip_markers(api.requests[request].messages[-1]["content"])}


def texts(answer: dict[str, Any]) -> str:
    return "".join(b["text"] for b in answer["content"] if b["type"] == "text")


class Keyboard(RecordingHooks):
    """Declines ``type``, fails on ``hold_key``, approves the rest; records what it was asked."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def confirm(self, step: int, tool_use: dict[str, Any]) -> bool:
        name = tool_use["name"] if tool_use.get("toolset_name") else tool_use["input"]["action"]
        self.asked.append(name)
        if name == "hold_key":
            raise RuntimeError("the approval service is down")
        return name != "type"


def test_the_member_list_is_the_sdks() -> None:
    assert set(COMPUTER_MEMBERS) == set(get_args(BetaComputerMemberName))


@pytest.mark.parametrize("name", sorted(ACKNOWLEDGMENTS))
def test_acknowledgments_are_the_sdks(name: str) -> None:
    fields = {"text": "ctrl+{duration}", "duration": 2.0, "scroll_direction": "left"}
    tool_input = {"text": "ctrl+{duration}", "duration": 2, "scroll_direction": "left", "scroll_amount": 1,
                  "coordinate": [1, 1], "start_coordinate": [0, 0]}
    assert acknowledgment(name, fields) == sdk_text(name, tool_input)


def test_disabled_members_go_out_as_configs_and_are_refused(
    api: FakeAnthropicAPI, run: Runner, sandbox: FakeSandbox
) -> None:
    zoom, click = member("zoom", region=[0, 0, 10, 10]), member("left_click", coordinate=[1, 1])
    api.enqueue(reply(zoom, click), reply(text("done")))
    assert run(model=TOOLSET_MODEL, computer={"disable": ["zoom"]}).state == "succeeded"
    assert api.requests[0].body["tools"][0] == {
        "type": "computer_toolset_20260801",
        "configs": {"zoom": {"enabled": False}},
    }
    assert sandbox.calls == []
    got = answers(api)
    oracle = sdk_result("zoom", {"region": [0, 0, 10, 10]}, configs={"zoom": {"enabled": False}})
    assert got[zoom["id"]] | {"tool_use_id": "toolu_oracle"} == oracle
    assert texts(got[click["id"]]) == NOT_EXECUTED


def test_a_dated_version_drops_enable_zoom_when_zoom_is_off(api: FakeAnthropicAPI, run: Runner) -> None:
    zoom = tool_use("computer", {"action": "zoom", "region": [0, 0, 10, 10]})
    api.enqueue(reply(zoom), reply(text("done")))
    run(model=ZOOM_MODEL, computer={"disable": ["zoom"]})
    assert "enable_zoom" not in api.requests[0].body["tools"][0]
    assert texts(answers(api)[zoom["id"]]) == sdk_text("zoom", {}, configs={"zoom": {"enabled": False}})


def test_the_confirm_hook_guards_keyboard_input(
    api: FakeAnthropicAPI, run: Runner, sandbox: FakeSandbox
) -> None:
    hooks = Keyboard()
    batch = [member("key", text="Return"), member("left_click"), member("type", text="secret")]
    batch.append(member("wait"))
    api.enqueue(reply(*batch), reply(text("done")))
    assert run(model=TOOLSET_MODEL, hooks=hooks).state == "succeeded"
    assert hooks.asked == ["key", "type"]  # never for a click; nothing after the refusal
    assert [c.tool["name"] for c in sandbox.calls] == ["key", "left_click"]
    got = answers(api)
    assert texts(got[batch[2]["id"]]) == sdk_text("type", {"text": "secret"}, confirm=lambda c: False)
    assert got[batch[2]["id"]]["is_error"] and texts(got[batch[3]["id"]]) == NOT_EXECUTED


def test_a_failing_confirm_refuses_and_dated_versions_ask_too(api: FakeAnthropicAPI, run: Runner) -> None:
    hooks = Keyboard()
    hold = tool_use("computer", {"action": "hold_key", "text": "shift", "duration": 1})
    api.enqueue(reply(hold), reply(text("done")))
    run(model=ZOOM_MODEL, hooks=hooks)

    def broken(context: Any) -> bool:
        raise RuntimeError("down")

    assert hooks.asked == ["hold_key"]
    oracle = sdk_text("hold_key", {"text": "shift", "duration": 1}, confirm=broken)
    assert texts(answers(api)[hold["id"]]) == oracle


def test_hook_chains_fail_closed() -> None:
    class No(Hooks):
        def confirm(self, step: int, tool_use: dict[str, Any]) -> bool:
            return False

    assert HookChain(Hooks(), Hooks()).confirm(1, {}) is True
    assert HookChain(Hooks(), No()).confirm(1, {}) is False
    with pytest.raises(RuntimeError):
        HookChain(Hooks(), Keyboard()).confirm(1, {"toolset_name": "computer", "name": "hold_key"})


@pytest.mark.parametrize(
    "tool_input",
    [
        {"action": "left_click", "coordinate": [5, 5]},
        {"actions": [{"action": "left_click"}, {"action": "type", "text": "x"}]},
        {"actions": [{"action": f"a{i}"} for i in range(13)]},
        {"actions": "left_click"},
        {"actions": [3]},
        {"actions": []},
        {},
    ],
)
def test_a_computer_call_without_toolset_name_halts_the_batch(
    api: FakeAnthropicAPI, run: Runner, sandbox: FakeSandbox, tool_input: dict[str, Any]
) -> None:
    first, bad = member("mouse_move", coordinate=[1, 1]), tool_use("computer", tool_input)
    later = member("screenshot")
    bash = tool_use("bash", {"command": "true"})
    api.enqueue(reply(first, bad, bash, later), reply(text("done")))
    assert run(model=TOOLSET_MODEL).state == "succeeded"
    assert [c.tool["name"] for c in sandbox.calls] == ["mouse_move", "bash"]
    got = answers(api)
    oracle = malformed_toolset_call_result(BetaToolUseBlock(**{**bad, "caller": None}))
    assert got[bad["id"]] == {**oracle, "content": [{"type": "text", "text": oracle["content"]}]}
    assert "toolset_name" not in got[bad["id"]]
    assert texts(got[later["id"]]) == NOT_EXECUTED


def test_a_member_of_another_family_echoes_its_toolset_name(
    api: FakeAnthropicAPI, run: Runner, sandbox: FakeSandbox
) -> None:
    browse = {**tool_use("navigate", {"url": "https://example.com"}), "toolset_name": "browser"}
    api.enqueue(reply(browse), reply(text("done")))
    assert run(model=TOOLSET_MODEL).state == "succeeded"
    answer = answers(api)[browse["id"]]
    assert answer["toolset_name"] == "browser" and answer["is_error"] is True
    assert texts(answer) == "Error: Toolset 'browser' member 'navigate' not found"
    assert sandbox.calls == []


def test_the_task_file_names_an_unknown_member(tmp_path: Path, checks: Checks) -> None:
    task = "name: t\nprompt: hi\ncomputer:\n  disable: [zoom, teleport]\n"
    with pytest.raises(InvalidFile) as exc:
        load_text(task, "t.yaml", tmp_path, checks)
    ((problem),) = exc.value.problems
    assert problem.line == 4 and problem.field == "computer.disable"
    assert "unknown computer member 'teleport'" in problem.message
    (loaded,) = load_text("name: t\nprompt: hi\ncomputer: {disable: [zoom]}\n", "t.yaml", tmp_path, checks)
    assert loaded.spec.computer.disable == ["zoom"]


@pytest.fixture
def checks() -> Checks:
    from core.settings import Settings

    return Checks(Settings(), environ={})
