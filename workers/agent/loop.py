"""The agent loop: one computer-use session against the Messages API.

``run_session`` is a plain function a Celery task calls. It takes every collaborator as an
argument (the Anthropic client, the sandbox, the hooks, the clock) and never raises: whatever
happens, it returns a ``RunResult`` whose state is succeeded, failed, budget_exhausted,
infeasible or cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from structlog.typing import FilteringBoundLogger

from core.errors import NightshiftError
from core.models import ModelConfig
from core.settings import Settings
from core.spec import TaskSpec
from core.states import RunState, StopReason, budget_exhausted, error_kind, unexpected_stop
from workers.agent.approval import CONFIRM, AwaitApproval, Resumption
from workers.agent.blocks import final_text, response_to_params, tool_result, tool_uses, user_text
from workers.agent.caching import (
    CachePolicy,
    drop_all_but_newest,
    prune_images,
    system_blocks,
    with_breakpoints,
)
from workers.agent.context import ContextOptions, context_plan
from workers.agent.images import downscale_images
from workers.agent.model_client import AnthropicClient
from workers.agent.prompts import system_prompt
from workers.agent.refusal import encodable, refusal
from workers.agent.requester import Requester
from workers.agent.retry import Backoff
from workers.agent.screen import step_down
from workers.agent.structured import ResultContract
from workers.agent.thinking import effective_thinking, thinking_body
from workers.agent.toolgate import computer_action, declined
from workers.agent.toolrun import ToolRunner, Turn
from workers.agent.toolspec import ToolSpec, tool_group
from workers.agent.usage import Accounts, Usage
from workers.clock import SYSTEM_CLOCK, Clock
from workers.hooks import Hooks, StepSummary
from workers.outcome import RunResult, StopRun
from workers.toolio import ToolExecutor, ToolOutput

DEFAULT_MODEL: str = Settings.model_fields["default_model"].default
SUBMIT_NUDGE = (
    "The task is not finished until you call `submit_result` with the answer (or "
    "`declare_infeasible` with a reason). Please do that now."
)
CONTINUE_NUDGE = "Your last response was cut off by the max_tokens limit. Continue, more concisely."


@dataclass(frozen=True)
class LoopOptions:
    """Knobs that are not part of the task: API retry policy, timeouts, caching policy."""

    default_model: str = DEFAULT_MODEL
    backoff: Backoff = field(default_factory=Backoff)
    api_timeout_s: float = 600.0
    cache: CachePolicy = field(default_factory=CachePolicy)
    max_submit_nudges: int = 2
    editor_max_characters: int | None = None
    context: ContextOptions = field(default_factory=ContextOptions)
    stream: bool = False  # read responses as server-sent events (settings.api_stream: on)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> LoopOptions:
        options = cls(
            default_model=settings.default_model,
            backoff=Backoff(max_attempts=settings.api_max_retries + 1),
            api_timeout_s=settings.api_timeout_s,
            editor_max_characters=settings.editor_max_characters,
            context=ContextOptions.from_settings(settings),
            stream=settings.api_stream,
        )
        return replace(options, **overrides)


def run_session(
    spec: TaskSpec,
    sandbox: ToolExecutor,
    client: AnthropicClient,
    hooks: Hooks,
    *,
    model_config: ModelConfig,
    options: LoopOptions | None = None,
    settings: Settings | None = None,
    clock: Clock = SYSTEM_CLOCK,
    log: FilteringBoundLogger | None = None,
    resume: Resumption | None = None,
) -> RunResult:
    """Run ``spec`` with ``client`` (``anthropic.Anthropic``/``AnthropicBedrock``/``AnthropicVertex``,
    built with ``max_retries=0``) against ``sandbox``. ``options`` wins over ``settings``; ``log``
    is a structlog logger (the runner binds ``run_id`` and ``attempt`` in structlog's context).
    A ``request_approval`` call raises ``AwaitApproval`` (with the session's state); ``resume``
    goes on from such a state with the decision as the pending call's answer."""
    opts = options or (LoopOptions.from_settings(settings) if settings else LoopOptions())
    logger = log or structlog.get_logger("nightshift.loop")
    try:
        session = Session(spec, sandbox, client, hooks, model_config, opts, clock, logger)
    except ValueError as exc:  # includes InvalidOutputSchema
        return RunResult(RunState.FAILED, StopReason.INVALID_TASK, error=str(exc))
    except Exception as exc:  # e.g. the sandbox died before the first request
        logger.warning("run failed before the first request", error=str(exc))
        return RunResult(RunState.FAILED, error_kind(exc), error=f"{error_kind(exc)}: {exc}")
    if resume is not None:
        session.restore(resume)
    return session.run()


class Session:
    """The state of one run: history, usage, steps. ``run`` drives it to a terminal state."""

    def __init__(
        self,
        spec: TaskSpec,
        sandbox: ToolExecutor,
        client: AnthropicClient,
        hooks: Hooks,
        config: ModelConfig,
        options: LoopOptions,
        clock: Clock,
        log: FilteringBoundLogger,
    ) -> None:
        if spec.agent != "claude" or not spec.prompt:
            raise ValueError("run_session plays agent: claude tasks with a prompt")
        self.spec, self.hooks, self.config, self.options = spec, hooks, config, options
        self.clock, self.log = clock, log
        self.group = tool_group(spec, config)
        self.context = context_plan(config, spec, options.cache, options.context)
        contract = ResultContract(spec.output_schema) if spec.output_schema is not None else None
        api_size = sandbox.api_size
        disabled = frozenset(spec.computer.disable)
        self.tools = ToolSpec(self.group, api_size, contract, options.editor_max_characters, disabled)
        self.runner = ToolRunner(self.tools, sandbox, hooks, clock)
        self.sandbox = sandbox
        self.started = clock.monotonic()
        deadline = self.started + spec.budgets.max_wall_s
        timeout_s = options.api_timeout_s
        self.requester = Requester(client, hooks, clock, options.backoff, deadline, timeout_s, log,
                                   stream=options.stream)
        self.accounts = Accounts(config)
        self.steps = 0
        self.nudges = 0
        self.stop_details: Any = None
        self.messages: list[dict[str, Any]] = [user_text(spec.prompt)]
        self.static = self._static_request(api_size)

    # --- the loop ---------------------------------------------------------------------------------

    def run(self) -> RunResult:
        try:
            while True:
                self._check_stop()
                result = self._step()
                if result is not None:
                    return result
        except StopRun as stop:
            return self._ended(stop.state, stop.stop_reason, error=stop.error)
        except AwaitApproval as pause:  # the runner pauses the run; this state goes on later
            pause.state.update(self.snapshot())
            raise
        except NightshiftError as exc:
            self.log.warning("run failed", error=str(exc), kind=type(exc).__name__)
            return self._ended(RunState.FAILED, error_kind(exc), error=f"{error_kind(exc)}: {exc}")
        except Exception as exc:  # never let a bug escape: the caller must record a state
            self.log.exception("loop crashed")
            return self._ended(RunState.FAILED, StopReason.INTERNAL_ERROR, error=f"{error_kind(exc)}: {exc}")

    def _check_stop(self) -> None:
        reason = self.hooks.cancel_requested()
        if reason:
            raise StopRun(RunState.CANCELLED, reason)
        elapsed_s = self.clock.monotonic() - self.started
        budget = self.accounts.exhausted(self.spec.budgets, steps=self.steps, elapsed_s=elapsed_s)
        if budget:
            raise StopRun(RunState.BUDGET_EXHAUSTED, budget_exhausted(budget))

    def _step(self) -> RunResult | None:
        if not self.context.append_only:  # binding models: never edit an earlier turn
            prune_images(self.messages, self.context.cache)
        body, model_ms = self.requester.send(self.steps + 1, self._request, self._repair_images)
        self.steps += 1
        self.hooks.on_response(self.steps, body, model_ms)
        step_usage = self.accounts.add(body.get("usage"))
        content = response_to_params(body["content"])
        stop_reason = body.get("stop_reason")
        self.stop_details = body.get("stop_details")
        turn, result = self._handle(stop_reason, content)
        summary = self._summary(stop_reason, step_usage, turn, model_ms)
        self.hooks.on_step_end(summary)
        self._log_step(summary)
        return result

    def _summary(self, stop_reason: Any, usage: Usage, turn: Turn, model_ms: float) -> StepSummary:
        return StepSummary(
            step=self.steps,
            stop_reason=stop_reason if isinstance(stop_reason, str) else None,
            tool_calls=turn.calls,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cost_usd=usage.cost_usd(self.config),
            model_ms=model_ms,
            tools_ms=turn.tools_ms,
        )

    def _handle(self, stop_reason: Any, content: list[dict[str, Any]]) -> tuple[Turn, RunResult | None]:
        if stop_reason == "tool_use" and tool_uses(content):
            return self._tool_turn(content)
        if stop_reason in ("end_turn", "stop_sequence", "tool_use"):
            return Turn(), self._final_answer(content)
        if stop_reason == "max_tokens":
            return self._cut_off(content)
        if stop_reason == "pause_turn":
            self._append_assistant(content)
            return Turn(), None
        if stop_reason == "refusal":
            error, details = refusal(self.stop_details)
            return Turn(), self._ended(RunState.FAILED, StopReason.REFUSAL, result=details, error=error)
        if stop_reason == "model_context_window_exceeded":
            error = "the conversation no longer fits the model's context window"
            return Turn(), self._ended(RunState.FAILED, StopReason.CONTEXT_WINDOW_EXCEEDED, error=error)
        error = f"the API returned stop_reason {stop_reason!r}, which this loop does not handle"
        return Turn(), self._ended(RunState.FAILED, unexpected_stop(stop_reason), error=error)

    def _tool_turn(
        self, content: list[dict[str, Any]], cut_off_id: str | None = None
    ) -> tuple[Turn, RunResult | None]:
        self._append_assistant(content)
        turn = self.runner.run_turn(self.steps, tool_uses(content), cut_off_id=cut_off_id)
        if turn.submitted:
            return turn, self._ended(RunState.SUCCEEDED, StopReason.SUBMIT_RESULT, result=turn.answer)
        if turn.infeasible is not None:
            reason = turn.infeasible
            infeasible = {"reason": reason}
            return turn, self._ended(RunState.INFEASIBLE, StopReason.DECLARE_INFEASIBLE, result=infeasible)
        self.messages.append({"role": "user", "content": turn.results})
        return turn, None

    def _final_answer(self, content: list[dict[str, Any]]) -> RunResult | None:
        if self.tools.contract is None:
            return self._ended(RunState.SUCCEEDED, StopReason.END_TURN, result={"text": final_text(content)})
        if self.nudges >= self.options.max_submit_nudges:
            error = "the model ended its turn without calling submit_result"
            return self._ended(RunState.FAILED, StopReason.NO_RESULT, error=error)
        self.nudges += 1
        self._append_assistant(content)
        self.messages.append(user_text(SUBMIT_NUDGE))
        return None

    def _cut_off(self, content: list[dict[str, Any]]) -> tuple[Turn, RunResult | None]:
        if not content:
            error = "the response hit max_tokens before producing any content; raise max_tokens"
            return Turn(), self._ended(RunState.FAILED, StopReason.MAX_TOKENS, error=error)
        if tool_uses(content):  # every complete call runs; a half-written last one is answered
            return self._cut_tool_turn(content)
        self._append_assistant(content)
        self.messages.append(user_text(CONTINUE_NUDGE))
        return Turn(), None

    def _cut_tool_turn(self, content: list[dict[str, Any]]) -> tuple[Turn, RunResult | None]:
        last = content[-1]
        cut_off_id = last.get("id") if last.get("type") == "tool_use" else None
        turn, result = self._tool_turn(content, cut_off_id=cut_off_id)
        if result is None and cut_off_id is None:
            self.messages[-1]["content"].append({"type": "text", "text": CONTINUE_NUDGE})
        return turn, result

    def _append_assistant(self, content: list[dict[str, Any]]) -> None:
        if content:
            self.messages.append({"role": "assistant", "content": encodable(content)})

    # --- pausing for an approval ------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The session as JSON, taken at a ``request_approval`` call (its assistant turn is the last
        message; the pending results are in the pause's state)."""
        return {"messages": self.messages, "steps": self.steps, "nudges": self.nudges,
                "usage": self.accounts.usage.as_dict(), "cost_usd": self.accounts.cost_usd,
                "elapsed_s": self.clock.monotonic() - self.started, "static": self.static}

    def restore(self, resume: Resumption) -> None:
        """Go on from ``snapshot``: the same request prefix (byte-stable for the cache), and the
        pending turn answered with the decision."""
        state = resume.state
        self.messages, self.steps, self.nudges = state["messages"], state["steps"], state["nudges"]
        self.accounts.usage = Usage(**state["usage"])
        self.accounts.cost_usd = float(state["cost_usd"])
        self.static = state["static"]
        self.started = self.clock.monotonic() - resume.elapsed_s
        self.requester.deadline = self.started + self.spec.budgets.max_wall_s
        block = state["tool_use"]
        answer = self._confirmed(block, resume.answer) if state.get("kind") == CONFIRM else resume.answer
        self.hooks.on_tool_result(self.steps, block, answer, 0.0)
        answered = tool_result(block, answer)
        self.messages.append({"role": "user", "content": [*state["before"], answered, *state["after"]]})

    def _confirmed(self, block: dict[str, Any], ruling: ToolOutput) -> ToolOutput:
        """A keyboard call the approval policy held: approved, it runs; denied, the SDK's refusal."""
        if not ruling.is_error:
            return self.runner.run_confirmed(self.steps, block)
        return ToolOutput.error(f"{declined(str(computer_action(block)))} ({ruling.text})")

    # --- requests ---------------------------------------------------------------------------------

    def _static_request(self, api_size: tuple[int, int]) -> dict[str, Any]:
        """Everything but the messages; built once, so tools and system stay byte-identical."""
        prompt = system_prompt(self.spec, group=self.group, api_size=api_size, today=self.clock.today())
        max_tokens = self.spec.max_tokens or self.config.max_tokens
        thinking = effective_thinking(self.spec, self.config)
        extra, max_tokens = thinking_body(thinking, max_tokens, drop_block=self.context.drop_block)
        extra.update(self.context.body)
        request: dict[str, Any] = {
            "model": self.spec.model or self.options.default_model,
            "max_tokens": max_tokens,
            "system": system_blocks(prompt, self.context.cache),
            "tools": self.tools.definitions(),
        }
        betas = [*self.tools.betas(), *self.context.betas]
        if betas:
            request["betas"] = betas
        if extra:
            request["extra_body"] = extra
        return request

    def _request(self) -> dict[str, Any]:
        return {**self.static, "messages": with_breakpoints(self.messages, self.context.cache)}

    def _repair_images(self) -> bool:
        if self.context.append_only:  # pruning or shrinking would invalidate thinking blocks
            return False
        stepped = self._step_down_screen()
        pruned = drop_all_but_newest(self.messages)
        shrunk = downscale_images(self.messages)
        return bool(stepped or pruned or shrunk)

    def _step_down_screen(self) -> bool:
        """After an image rejection on the high tier: standard-tier screenshots from now on, and the
        tools and system prompt declare the smaller screen (coordinates follow it)."""
        if not step_down(self.sandbox):
            return False
        api_size = self.sandbox.api_size
        self.tools = self.runner.spec = replace(self.tools, api_size=api_size)
        self.static = self._static_request(api_size)
        self.log.warning("images rejected on the high tier: screenshots stepped down", api_size=api_size)
        return True

    # --- endings and logging ------------------------------------------------------------------------

    def _ended(
        self, state: RunState, stop_reason: str, *, result: Any = None, error: str | None = None
    ) -> RunResult:
        return RunResult(
            state=state,
            stop_reason=stop_reason,
            result=result,
            usage=self.accounts.usage.as_dict(),
            cost_usd=round(self.accounts.cost_usd, 6),
            steps=self.steps,
            error=error,
        )

    def _log_step(self, summary: StepSummary) -> None:
        self.log.info(
            "agent step",
            step=summary.step,
            stop_reason=summary.stop_reason,
            tool_calls=summary.tool_calls,
            input_tokens=summary.input_tokens,
            output_tokens=summary.output_tokens,
            cache_read_tokens=summary.cache_read_tokens,
            cache_write_tokens=summary.cache_write_tokens,
            cost_usd=round(summary.cost_usd, 6),
            total_cost_usd=round(self.accounts.cost_usd, 6),
            model_ms=round(summary.model_ms, 1),
            tools_ms=round(summary.tools_ms, 1),
        )
