"""The transcript writer (a Hooks subclass) over a directory-backed ArtifactSink: one JSON event per
request/response/tool result, screenshots as files referenced by name, no base64, secrets
redacted, and request events that hold only what is new. Tools run in the in-process
FakeSandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from core.redact import REDACTED, Redactor
from tests.fake_api import FakeAnthropicAPI, Recorded, Reply, error, reply, text, tool_use
from tests.loop.conftest import DirSink, FakeSandbox, Runner
from workers.artifacts.attempt import RunArtifacts
from workers.artifacts.store import LocalStore
from workers.artifacts.transcript import TranscriptHook
from workers.hooks import HookChain
from workers.toolio import ToolOutput

SECRET = "hunter2-Sup3rSecret"


@pytest.fixture
def sink(tmp_path: Path) -> DirSink:
    return DirSink(tmp_path)


def script_three_screenshots(api: FakeAnthropicAPI) -> None:
    for step in range(3):
        api.enqueue(reply(text(f"step {step}"), tool_use("computer", {"action": "screenshot"})))
    api.enqueue(reply(text(f"Logged in with {SECRET}.")))


def test_events_screenshots_and_no_base64(api: FakeAnthropicAPI, run: Runner, sink: DirSink) -> None:
    script_three_screenshots(api)
    hook = TranscriptHook(sink)
    assert run(hooks=hook).state == "succeeded"
    events = sink.events()
    kinds = [e["event"] for e in events]
    assert kinds.count("request") == 4 and kinds.count("response") == 4
    assert kinds.count("tool_result") == 3 and kinds.count("step_end") == 4
    shots = [e["image"] for e in events if e["event"] == "tool_result"]
    assert shots == ["screenshots/0001.png", "screenshots/0002.png", "screenshots/0003.png"]
    assert (sink.root / "screenshots/0003.png").read_bytes().startswith(b"\x89PNG")
    raw = (sink.root / "transcript.jsonl").read_text()
    assert "iVBORw0KGgo" not in raw  # the base64 of a PNG header
    assert hook.last_screenshot == "screenshots/0003.png"


def test_request_events_hold_only_what_is_new(api: FakeAnthropicAPI, run: Runner, sink: DirSink) -> None:
    script_three_screenshots(api)
    run(hooks=TranscriptHook(sink))
    requests = [e for e in sink.events() if e["event"] == "request"]
    assert "setup" in requests[0] and all("setup" not in e for e in requests[1:])
    assert requests[0]["setup"]["tools"][0]["type"] == "computer_20251124"
    assert [len(e["new_messages"]) for e in requests] == [1, 2, 2, 2]
    assert [e["message_count"] for e in requests] == [1, 3, 5, 7]
    image = requests[1]["new_messages"][1]["content"][0]["content"][0]
    assert image == {"type": "image", "file": "screenshots/0001.png"}


def test_secrets_are_redacted_everywhere(api: FakeAnthropicAPI, run: Runner, tmp_path: Path) -> None:
    """The transcript written through the run's artifacts (the one redaction boundary)."""
    sandbox = FakeSandbox()
    sandbox.script.append(ToolOutput(text=f"password is {SECRET}"))
    api.enqueue(reply(tool_use("bash", {"command": f"echo {SECRET}"})), reply(text(f"It is {SECRET}")))
    artifacts = RunArtifacts(LocalStore(tmp_path), "run/", redactor=Redactor([SECRET, ""]))
    run(hooks=TranscriptHook(artifacts), sandbox=sandbox, prompt=f"Log in with {SECRET}")
    raw = (tmp_path / "run" / "transcript.jsonl").read_text()
    assert SECRET not in raw
    assert raw.count(REDACTED) >= 4


def test_waits_are_recorded(api: FakeAnthropicAPI, run: Runner, sink: DirSink) -> None:
    api.enqueue(error(529, "Overloaded", headers={"retry-after": "3"}), reply(text("done")))
    run(hooks=TranscriptHook(sink))
    (wait,) = [e for e in sink.events() if e["event"] == "wait"]
    assert wait["wait_s"] == 3.0 and "529" in wait["reason"]


def test_a_budget_stop_keeps_the_transcript_and_last_screenshot(
    api: FakeAnthropicAPI, run: Runner, sink: DirSink
) -> None:
    def clicking(request: Recorded) -> Reply:
        return reply(tool_use("computer", {"action": "left_click", "coordinate": [3, 4]}))

    api.responder = clicking
    hook = TranscriptHook(sink)
    result = run(hooks=hook, budgets={"max_steps": 2})
    assert result.state == "budget_exhausted"
    hook.finish(result)
    end = sink.events()[-1]
    assert end["event"] == "end" and end["state"] == "budget_exhausted"
    assert end["last_screenshot"] == "screenshots/0002.png"
    assert (sink.root / end["last_screenshot"]).exists()


def test_one_log_line_per_step(api: FakeAnthropicAPI, run: Runner, sink: DirSink) -> None:
    script_three_screenshots(api)
    with capture_logs(processors=[merge_contextvars]) as logs:
        run(hooks=HookChain(TranscriptHook(sink)))
    steps = [entry for entry in logs if entry["event"] == "agent step"]
    assert [entry["step"] for entry in steps] == [1, 2, 3, 4]
    assert steps[0]["tool_calls"] == 1 and steps[-1]["stop_reason"] == "end_turn"
    assert all(entry["run_id"] == "test-run" for entry in steps)
    assert {"input_tokens", "output_tokens", "cost_usd", "model_ms", "tools_ms"} <= set(steps[0])
