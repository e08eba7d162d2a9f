"""The loop against a real sandbox container (nightshift-sandbox image, started through
workers/sandbox/) for the screenshot/click path: real screenshots go into the requests, real
executor errors come back as text-only error results, toolset batches halt at a real failure,
and a budget stop keeps the last real screenshot. The API is still the local fake server."""

from __future__ import annotations

import base64
import io
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from core.settings import Settings
from tests.fake_api import FakeAnthropicAPI, Recorded, Reply, reply, text, tool_use
from tests.fake_usage import strip_markers
from tests.loop.conftest import FAST, DirSink, Runner
from workers.agent.caching import IMAGE_MARKER
from workers.agent.toolrun import NOT_EXECUTED
from workers.artifacts.transcript import TranscriptHook
from workers.sandbox.launcher import SandboxLauncher
from workers.sandbox.sandbox import Sandbox

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def desktop(docker_client: Any, sandbox_image: str) -> Iterator[Sandbox]:
    with tempfile.TemporaryDirectory(prefix="ns-loop-sock-") as sockets:
        settings = Settings.model_validate(
            {
                "sandbox_image": sandbox_image,
                "sandbox_socket_dir": Path(sockets),
                "sandbox_start_timeout_s": 60.0,
                "sandbox_ready_timeout_s": 60.0,
                "tool_timeout_s": 60.0,
            }
        )
        sandbox = SandboxLauncher(docker_client, settings).start(
            "loop-test", 1024, 768, labels={"nightshift.test": "1"}
        )
        try:
            sandbox.wait_ready()
            yield sandbox
        finally:
            sandbox.stop()


def answers(request: Recorded) -> list[dict[str, Any]]:
    return list(strip_markers(request.messages[-1]["content"]))


def image_size(block: dict[str, Any]) -> tuple[int, int]:
    data = base64.b64decode(block["source"]["data"])
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def test_screenshot_then_click(api: FakeAnthropicAPI, run: Runner, desktop: Sandbox) -> None:
    api.enqueue(
        reply(text("Let me look."), tool_use("computer", {"action": "screenshot"})),
        reply(tool_use("computer", {"action": "left_click", "coordinate": [512, 300]})),
        reply(text("Clicked the desktop.")),
    )
    result = run(sandbox=desktop)
    assert result.state == "succeeded", result
    assert all(r.rejected is None for r in api.requests)
    assert api.requests[0].body["tools"][0]["display_width_px"] == 1024
    (shot,) = answers(api.requests[1])
    assert shot["content"][-1]["type"] == "image" and image_size(shot["content"][-1]) == (1024, 768)
    older, newest = api.requests[2].messages[2], api.requests[2].messages[4]
    assert older["content"][0]["content"][-1] == {"type": "text", "text": IMAGE_MARKER}
    assert newest["content"][0]["content"][-1]["type"] == "image"


def test_a_real_executor_error_is_text_only(api: FakeAnthropicAPI, run: Runner, desktop: Sandbox) -> None:
    api.enqueue(reply(tool_use("computer", {"action": "mouse_move"})), reply(text("oops")))
    assert run(sandbox=desktop).state == "succeeded"
    (answer,) = answers(api.requests[1])
    assert answer["is_error"] is True
    assert answer["content"] == [{"type": "text", "text": "coordinate is required for mouse_move"}]


def test_toolset_batch_halts_at_a_real_failure(api: FakeAnthropicAPI, run: Runner, desktop: Sandbox) -> None:
    move = tool_use("mouse_move", {"coordinate": [20, 20]}, toolset=True)
    click = tool_use("left_click", {"coordinate": [5000, 10]}, toolset=True)
    key = tool_use("key", {"text": "Escape"}, toolset=True)
    shot = tool_use("screenshot", {}, toolset=True)
    api.enqueue(reply(move, click, key, shot), reply(text("done")))
    assert run(sandbox=desktop, model="claude-opus-4-8").state == "succeeded"
    results = answers(api.requests[1])
    assert [r["tool_use_id"] for r in results] == [move["id"], click["id"], key["id"], shot["id"]]
    assert all(r["toolset_name"] == "computer" for r in results)
    assert "is_error" not in results[0]
    assert results[1]["content"] == [{"type": "text", "text": "Coordinates 5000, 10 are out of bounds"}]
    for later in results[2:]:
        assert later["is_error"] is True and later["content"] == [{"type": "text", "text": NOT_EXECUTED}]


def test_toolset_batch_ends_with_one_real_screenshot(
    api: FakeAnthropicAPI, run: Runner, desktop: Sandbox
) -> None:
    batch = [
        tool_use("mouse_move", {"coordinate": [30, 30]}, toolset=True),
        tool_use("cursor_position", {}, toolset=True),
    ]
    api.enqueue(reply(*batch), reply(text("done")))
    assert run(sandbox=desktop, model="claude-opus-4-8").state == "succeeded"
    first, last = answers(api.requests[1])
    assert [b["type"] for b in first["content"]] == ["text"]
    assert [b["type"] for b in last["content"]] == ["text", "image"]
    assert "30" in last["content"][0]["text"]


def test_a_budget_stop_keeps_the_last_real_screenshot(
    api: FakeAnthropicAPI, run: Runner, desktop: Sandbox, tmp_path: Path
) -> None:
    def clicking(request: Recorded) -> Reply:
        step = len(request.messages)
        return reply(tool_use("computer", {"action": "left_click", "coordinate": [400 + step, 300]}))

    api.responder = clicking
    sink = DirSink(tmp_path)
    hook = TranscriptHook(sink)
    result = run(sandbox=desktop, hooks=hook, budgets={"max_steps": 3})
    assert (result.state, result.stop_reason) == ("budget_exhausted", "budget: max_steps")
    assert hook.last_screenshot == "screenshots/0003.png"
    with Image.open(tmp_path / "screenshots/0003.png") as image:
        assert image.size == (1024, 768)


def test_a_structured_result_after_a_real_screenshot(
    api: FakeAnthropicAPI, run: Runner, desktop: Sandbox
) -> None:
    schema = {"type": "object", "properties": {"panel": {"type": "string"}}, "required": ["panel"]}
    api.enqueue(
        reply(tool_use("computer", {"action": "screenshot"})),
        reply(tool_use("submit_result", {"panel": "bottom"})),
    )
    result = run(sandbox=desktop, output_schema=schema)
    assert (result.state, result.result) == ("succeeded", {"panel": "bottom"})


def test_the_editor_honours_the_max_characters_the_model_was_told(
    api: FakeAnthropicAPI, run: Runner, desktop: Sandbox
) -> None:
    long_file = "\n".join(f"line {n}" for n in range(1, 400))
    api.enqueue(
        reply(tool_use("str_replace_based_edit_tool",
                       {"command": "create", "path": "/tmp/long.txt", "file_text": long_file})),
        reply(tool_use("str_replace_based_edit_tool", {"command": "view", "path": "/tmp/long.txt"})),
        reply(text("Seen.")),
    )
    result = run(sandbox=desktop, options=replace(FAST, editor_max_characters=200))

    assert result.state == "succeeded", result
    editor = next(t for t in api.requests[0].body["tools"] if t["type"] == "text_editor_20250728")
    assert editor["max_characters"] == 200
    (view,) = answers(api.requests[2])
    shown = view["content"][0]["text"]
    assert "<response clipped>" in shown
    assert "line 1\n" in shown and "line 399" not in shown
