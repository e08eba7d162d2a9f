"""The one hooks interface: every side effect of a run (transcript, metrics, progress,
cancellation) hangs off it, never inline in the loop. Defaults are no-ops.

``HookChain`` is how the runner combines them, and it keeps side effects on the side: a hook that
fails (Redis away for a progress event, a metrics sink down) is logged and the run goes on. What
ends a run still does: ``StopRun`` (a cancel or a budget seen by a hook) and Celery's soft time
limit pass through every hook call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import structlog
from celery.exceptions import SoftTimeLimitExceeded

from workers.agent.approval import AwaitApproval
from workers.outcome import StopRun
from workers.toolio import ToolOutput

P = ParamSpec("P")
T = TypeVar("T")
PROPAGATE: tuple[type[BaseException], ...] = (StopRun, SoftTimeLimitExceeded, AwaitApproval)
log = structlog.get_logger("nightshift.hooks")


@dataclass
class StepSummary:
    """One agent step: one model response (or one scripted call) and the tool calls it made."""

    step: int
    stop_reason: str | None
    tool_calls: int
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    model_ms: float = 0.0
    tools_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class Hooks:
    """Subclass and override what you need; the loop calls every method at its moment."""

    def on_request(self, step: int, request: dict[str, Any]) -> None:
        """Before each Messages API request (``request`` is the kwargs sent to the SDK)."""

    def on_response(self, step: int, response: dict[str, Any], elapsed_ms: float) -> None:
        """After each successful response (``response`` is the message as a dict)."""

    def on_api_headers(self, headers: dict[str, str]) -> None:
        """The headers of every Messages API response, errors included (rate-limit state)."""

    def on_tool_result(
        self, step: int, tool_use: dict[str, Any], output: ToolOutput, elapsed_ms: float
    ) -> None:
        """After each tool call, with the block the model sent and what the sandbox answered."""

    def on_step_end(self, summary: StepSummary) -> None:
        """After the step's tool results are collected."""

    def on_wait(self, reason: str, wait_s: float) -> None:
        """When the run waits (retry backoff, fleet rate limiter)."""

    def on_approval(self, step: int, event: dict[str, Any]) -> None:
        """When the run asks a human (``kind: requested``) and when the decision arrives
        (``kind: decided``: decision, by, at, note)."""

    def on_setup_step(self, report: dict[str, Any]) -> None:
        """After each setup step before the agent: number, kind, step, ok, exit status, duration,
        output (workers/setup.py)."""

    def cancel_requested(self) -> str | None:
        """Checked before every step: a non-empty reason stops the run as ``cancelled``."""
        return None

    def confirm(self, step: int, tool_use: dict[str, Any]) -> bool:
        """Before keyboard input runs (computer ``type``, ``key``, ``hold_key``, any generation):
        True runs it; anything else refuses it with the SDK's text; an exception refuses it as a
        failed prompt (``StopRun`` ends the run, e.g. to wait for a human's approval)."""
        return True

    def gate(self, step: int, tool_use: dict[str, Any]) -> None:
        """Before every computer action the task allows (after ``confirm``): an approval policy
        raises ``AwaitApproval`` to hold it; any other exception refuses it as a failed prompt."""


class HookChain(Hooks):
    """Fans every call out to several hooks, in order; one hook's failure never stops the others
    or the run (see the module's docstring)."""

    def __init__(self, *hooks: Hooks) -> None:
        self.hooks = list(hooks)

    def on_request(self, step: int, request: dict[str, Any]) -> None:
        for hook in self.hooks:
            _guarded(hook.on_request, step, request)

    def on_response(self, step: int, response: dict[str, Any], elapsed_ms: float) -> None:
        for hook in self.hooks:
            _guarded(hook.on_response, step, response, elapsed_ms)

    def on_api_headers(self, headers: dict[str, str]) -> None:
        for hook in self.hooks:
            _guarded(hook.on_api_headers, headers)

    def on_tool_result(
        self, step: int, tool_use: dict[str, Any], output: ToolOutput, elapsed_ms: float
    ) -> None:
        for hook in self.hooks:
            _guarded(hook.on_tool_result, step, tool_use, output, elapsed_ms)

    def on_step_end(self, summary: StepSummary) -> None:
        for hook in self.hooks:
            _guarded(hook.on_step_end, summary)

    def on_wait(self, reason: str, wait_s: float) -> None:
        for hook in self.hooks:
            _guarded(hook.on_wait, reason, wait_s)

    def on_approval(self, step: int, event: dict[str, Any]) -> None:
        for hook in self.hooks:
            _guarded(hook.on_approval, step, event)

    def on_setup_step(self, report: dict[str, Any]) -> None:
        for hook in self.hooks:
            _guarded(hook.on_setup_step, report)

    def confirm(self, step: int, tool_use: dict[str, Any]) -> bool:
        """Every hook must approve (the first refusal wins); a failing hook is not skipped but
        raises, so the call fails closed."""
        return all(hook.confirm(step, tool_use) is True for hook in self.hooks)

    def gate(self, step: int, tool_use: dict[str, Any]) -> None:
        """Every hook in turn; a failing hook is not skipped but raises, so the call fails closed."""
        for hook in self.hooks:
            hook.gate(step, tool_use)

    def cancel_requested(self) -> str | None:
        """The first hook's reason; a hook that cannot tell (Redis away) is asked again next step."""
        for hook in self.hooks:
            reason = _guarded(hook.cancel_requested)
            if reason:
                return reason
        return None


def _guarded(method: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T | None:
    try:
        return method(*args, **kwargs)
    except PROPAGATE:
        raise
    except Exception as exc:
        log.warning("hook failed; the run goes on", hook=getattr(method, "__qualname__", repr(method)),
                    error=f"{type(exc).__name__}: {exc}")
        return None
