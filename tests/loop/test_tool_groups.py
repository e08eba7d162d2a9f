"""What each request declares: tool definitions and the beta header per tool group (TOOLS.md §1),
the display size in API space, the system prompt, and the model. Tools run in the in-process
FakeSandbox."""

from __future__ import annotations

import pytest

from core.models import TOOL_GROUPS
from tests.fake_api import FakeAnthropicAPI, reply, text
from tests.loop.conftest import FakeSandbox, Runner

EXPECTED = {
    "computer_use_20241022": (
        "computer_20241022",
        "bash_20241022",
        "text_editor_20241022",
        "str_replace_editor",
        "computer-use-2024-10-22",
    ),
    "computer_use_20250124_legacy_editor": (
        "computer_20250124",
        "bash_20250124",
        "text_editor_20250124",
        "str_replace_editor",
        "computer-use-2025-01-24",
    ),
    "computer_use_20250429": (
        "computer_20250124",
        "bash_20250124",
        "text_editor_20250429",
        "str_replace_based_edit_tool",
        "computer-use-2025-01-24",
    ),
    "computer_use_20250124": (
        "computer_20250124",
        "bash_20250124",
        "text_editor_20250728",
        "str_replace_based_edit_tool",
        "computer-use-2025-01-24",
    ),
    "computer_use_20251124": (
        "computer_20251124",
        "bash_20250124",
        "text_editor_20250728",
        "str_replace_based_edit_tool",
        "computer-use-2025-11-24",
    ),
    "computer_use_20260801": (
        "computer_toolset_20260801",
        "bash_20250124",
        "text_editor_20250728",
        "str_replace_based_edit_tool",
        None,
    ),
}


def test_every_tool_group_is_covered() -> None:
    assert set(EXPECTED) == set(TOOL_GROUPS)


@pytest.mark.parametrize("group", sorted(EXPECTED))
def test_tools_and_beta_per_group(group: str, api: FakeAnthropicAPI, run: Runner) -> None:
    computer, bash, editor, editor_name, beta = EXPECTED[group]
    api.enqueue(reply(text("done")))
    sandbox = FakeSandbox(api_size=(1280, 800))
    model = "claude-opus-4-8" if beta is None else "claude-sonnet-4-6"  # §10.1: who takes the toolset
    assert run(tools=group, sandbox=sandbox, model=model).state == "succeeded"
    request = api.requests[0]
    tools = request.body["tools"]
    assert tools[1:3] == [{"type": bash, "name": "bash"}, {"type": editor, "name": editor_name}]
    assert [tool["name"] for tool in tools[3:]] == ["declare_infeasible", "request_approval"]  # every run
    assert request.betas == ([beta] if beta else [])
    if beta is None:
        assert tools[0] == {"type": computer}
        return
    expected = {"type": computer, "name": "computer", "display_width_px": 1280, "display_height_px": 800}
    if computer == "computer_20251124":
        expected["enable_zoom"] = True
    assert tools[0] == expected


def test_the_model_table_picks_the_group(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(reply(text("done")))
    run(model="claude-opus-4-5-20251101")
    request = api.requests[0]
    assert request.body["model"] == "claude-opus-4-5-20251101"
    assert request.betas == ["computer-use-2025-11-24"]


def test_an_unknown_tool_group_fails_without_a_request(api: FakeAnthropicAPI, run: Runner) -> None:
    result = run(tools="computer_use_19990101")
    assert (result.state, result.stop_reason) == ("failed", "invalid task")
    assert "computer_use_19990101" in (result.error or "") and api.requests == []


def test_the_system_prompt_describes_this_sandbox(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(reply(text("done")))
    run(network="internet", system_prompt_suffix="Answer in French.")
    (system,) = api.requests[0].body["system"]
    prompt = system["text"]
    assert "Debian" in prompt and "no sudo" in prompt and "`user`" in prompt
    assert "Firefox ESR" in prompt and "LibreOffice Calc" in prompt and "1024x768" in prompt
    assert "The internet is reachable" in prompt
    assert "Today's date is Saturday, March 14, 2026." in prompt
    assert prompt.endswith("\n\nAnswer in French.")
    assert system["cache_control"] == {"type": "ephemeral"}


def test_an_offline_task_is_told_there_is_no_network(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(reply(text("done")))
    run(network="none")
    assert "There is no network access" in api.requests[0].body["system"][0]["text"]


def test_the_credential_and_version_headers_are_sent(api: FakeAnthropicAPI, run: Runner) -> None:
    api.enqueue(reply(text("done")))
    run()
    headers = api.requests[0].headers
    credential = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
    assert credential == "test-key" and headers["anthropic-version"]
