"""Fixtures for the agent-loop tests: the fake Messages API server with the real SDK pointed at it,
an in-process sandbox (no container: it answers tool calls from a script or with a generated
screenshot), a clock that never really sleeps, a directory-backed artifact sink, and hooks that
record every call."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import pytest
import structlog
from PIL import Image

from core.catalog import resolve_model
from core.spec import TaskSpec
from tests.fake_api import FakeAnthropicAPI
from workers.agent.loop import LoopOptions, run_session
from workers.agent.retry import Backoff
from workers.hooks import Hooks, StepSummary
from workers.outcome import RunResult
from workers.toolio import ToolOutput

MODEL = "claude-sonnet-4-6"
# streamed, as the workers read responses (settings.api_stream)
FAST = LoopOptions(backoff=Backoff(base_s=0.001, max_s=0.01, max_attempts=4), stream=True)


def png(size: tuple[int, int] = (1024, 768), shade: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (shade % 256, 100, 150)).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def make_spec(**overrides: Any) -> TaskSpec:
    fields: dict[str, Any] = {"name": "loop-test", "prompt": "Open the settings dialog.", "model": MODEL}
    return TaskSpec(**(fields | overrides))


@dataclass
class Call:
    tool: dict[str, Any]
    input: Any
    screenshot: bool | None


class FakeSandbox:
    """An in-process ToolExecutor for loop-logic tests (no container). Scripted outputs (or
    exceptions) are used first; otherwise computer calls return a fresh screenshot (toolset
    members only when ``screenshot`` is True) and other tools return "ok"."""

    def __init__(self, api_size: tuple[int, int] = (1024, 768)) -> None:
        self.api_size = api_size
        self.calls: list[Call] = []
        self.script: deque[ToolOutput | BaseException] = deque()

    def call(self, tool: dict[str, Any], tool_input: Any, *, screenshot: bool | None = None) -> ToolOutput:
        self.calls.append(Call(tool, tool_input, screenshot))
        if self.script:
            item = self.script.popleft()
            if isinstance(item, BaseException):
                raise item
            return item
        return self._default(tool, screenshot)

    def _default(self, tool: dict[str, Any], screenshot: bool | None) -> ToolOutput:
        kind = str(tool.get("type", ""))
        wants_image = screenshot if kind.startswith("computer_toolset") else screenshot is not False
        if kind.startswith("computer") and wants_image:
            return ToolOutput(image=png(self.api_size, len(self.calls)), media_type="image/png")
        return ToolOutput(text="ok")


class FakeClock:
    """Monotonic time that only moves when the loop sleeps (or a test advances it)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def today(self) -> dt.date:
        return dt.date(2026, 3, 14)


class DirSink:
    """A directory-backed ArtifactSink, for the transcript tests."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, name: str, data: bytes, content_type: str) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def append_line(self, name: str, line: str) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def events(self) -> list[dict[str, Any]]:
        lines = (self.root / "transcript.jsonl").read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines]


@dataclass
class RecordingHooks(Hooks):
    """Records every hook call; ``cancel_at_request`` makes cancel_requested fire before that
    request number (1-based)."""

    cancel_at_request: int | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    tool_results: list[tuple[dict[str, Any], ToolOutput]] = field(default_factory=list)
    steps: list[StepSummary] = field(default_factory=list)
    waits: list[tuple[str, float]] = field(default_factory=list)
    cancel_checks: int = 0

    def on_request(self, step: int, request: dict[str, Any]) -> None:
        self.requests.append(request)

    def on_response(self, step: int, response: dict[str, Any], elapsed_ms: float) -> None:
        self.responses.append(response)

    def on_tool_result(
        self, step: int, tool_use: dict[str, Any], output: ToolOutput, elapsed_ms: float
    ) -> None:
        self.tool_results.append((tool_use, output))

    def on_step_end(self, summary: StepSummary) -> None:
        self.steps.append(summary)

    def on_wait(self, reason: str, wait_s: float) -> None:
        self.waits.append((reason, wait_s))

    def cancel_requested(self) -> str | None:
        self.cancel_checks += 1
        if self.cancel_at_request is not None and len(self.requests) + 1 >= self.cancel_at_request:
            return "cancelled by test"
        return None


@pytest.fixture
def api() -> Iterator[FakeAnthropicAPI]:
    with FakeAnthropicAPI() as server:
        yield server


@pytest.fixture
def client(api: FakeAnthropicAPI) -> Iterator[anthropic.Anthropic]:
    sdk = anthropic.Anthropic(api_key="test-key", base_url=api.base_url, max_retries=0)
    yield sdk
    sdk.close()


@pytest.fixture
def sandbox() -> FakeSandbox:
    return FakeSandbox()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hooks() -> RecordingHooks:
    return RecordingHooks()


Runner = Callable[..., RunResult]


@pytest.fixture
def run(client: anthropic.Anthropic, sandbox: FakeSandbox, clock: FakeClock, hooks: RecordingHooks) -> Runner:
    """run(**spec_fields, options=..., hooks=..., sandbox=...) plays one session."""

    def play(*, options: LoopOptions = FAST, **overrides: Any) -> RunResult:
        chosen_hooks = overrides.pop("hooks", hooks)
        chosen_sandbox = overrides.pop("sandbox", sandbox)
        resume = overrides.pop("resume", None)
        spec = make_spec(**overrides)
        config = resolve_model(spec.model or MODEL)
        with structlog.contextvars.bound_contextvars(run_id="test-run"):  # as the runner binds it
            return run_session(
                spec, chosen_sandbox, client, chosen_hooks, model_config=config, options=options, clock=clock,
                resume=resume,
            )

    return play
