"""Sending one Messages API request: retries with backoff for what ``is_retryable`` allows, every
wait reported through ``hooks.on_wait`` and bounded by the run's wall-clock deadline, and one
repair attempt when the API rejects the request's images.

The client is built with ``max_retries=0``: every wait is ours, so it is visible, cancellable and
counted against ``max_wall_s``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import anthropic
import structlog
from anthropic.lib.streaming import BetaMessageStreamManager, MessageStreamManager
from anthropic.resources.beta.messages import Messages as BetaMessages
from structlog.typing import FilteringBoundLogger

from core.errors import (
    INVALID_RESPONSE,
    ModelAPIError,
    api_error_message,
    is_image_rejection,
    is_retryable,
)
from core.states import RunState, StopReason, budget_exhausted
from workers.agent.blocks import in_api_order
from workers.agent.model_client import AnthropicClient
from workers.agent.retry import Backoff
from workers.clock import Clock
from workers.hooks import Hooks
from workers.outcome import StopRun

MIN_TIMEOUT_S = 1.0


@dataclass
class Requester:
    client: AnthropicClient
    hooks: Hooks
    clock: Clock
    backoff: Backoff
    deadline: float  # clock.monotonic() value at which max_wall_s is used up
    timeout_s: float
    log: FilteringBoundLogger | None = None
    stream: bool = False  # the SDK's stream helpers: no long request hangs on one read timeout

    def send(
        self, step: int, build: Callable[[], dict[str, Any]], repair: Callable[[], bool]
    ) -> tuple[dict[str, Any], float]:
        """The response body and the model time in ms. ``build`` makes the request kwargs (again
        after a repair); ``repair`` prunes or shrinks images and says whether anything changed."""
        retry, repaired = 0, False
        while True:
            request = build()
            self.hooks.on_request(step, request)
            began = self.clock.monotonic()
            try:
                return self._create(request), (self.clock.monotonic() - began) * 1000
            except Exception as exc:  # every failure is classified below, none escapes unclassified
                self._report_headers(getattr(exc, "response", None))
                if is_image_rejection(exc) and not repaired:
                    repaired = True
                    if repair():
                        self._warn("images rejected; pruned/downscaled and retrying", exc)
                        continue
                retry += 1
                self._wait_or_stop(retry, exc)

    def _create(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.stream:
            return self._streamed(request)
        messages = self.client.beta.messages if "betas" in request else self.client.messages
        raw = messages.with_raw_response.create(**request, timeout=self._timeout())
        self._report_headers(raw)
        try:
            body = raw.json()
        except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than JSON decodes
            message = "the API answered with a body that is not JSON"
            raise ModelAPIError(message, kind=INVALID_RESPONSE) from exc
        if not isinstance(body, dict) or not isinstance(body.get("content"), list):
            raise ModelAPIError("the API answered without a content list", kind=INVALID_RESPONSE)
        return body

    def _timeout(self) -> float:
        return max(MIN_TIMEOUT_S, min(self.timeout_s, self.deadline - self.clock.monotonic()))

    def _streamed(self, request: dict[str, Any]) -> dict[str, Any]:
        """The response read as server-sent events and rebuilt by the SDK: the same body as
        ``create`` gives (tool inputs complete once their block is), an ``error`` event after the
        200 raised as the SDK's APIStatusError (``is_retryable`` reads its type)."""
        try:
            with self._open_stream(request) as stream:
                self._report_headers(stream.response)
                final = stream.get_final_message()
        except anthropic.APIError:
            raise
        except (ValueError, RecursionError, AssertionError) as exc:  # events that rebuild no message
            why = f"the API's stream did not make a message: {exc}"
            raise ModelAPIError(why, kind=INVALID_RESPONSE) from exc
        body: dict[str, Any] = final.model_dump(mode="json", exclude_none=True)
        return {**body, "content": [in_api_order(block) for block in body.get("content", [])]}

    def _open_stream(
        self, request: dict[str, Any]
    ) -> BetaMessageStreamManager[Any] | MessageStreamManager[Any]:
        if "betas" in request:  # one resource on every platform's client; the SDK types it per client
            beta = cast(BetaMessages, self.client.beta.messages)
            return beta.stream(**request, timeout=self._timeout())
        return self.client.messages.stream(**request, timeout=self._timeout())

    def _report_headers(self, response: Any) -> None:
        headers = getattr(response, "headers", None)
        if headers is not None:
            self.hooks.on_api_headers({k.lower(): v for k, v in headers.items()})

    def _wait_or_stop(self, retry: int, exc: Exception) -> None:
        message = describe(exc)
        if not is_retryable(exc):
            raise StopRun(RunState.FAILED, StopReason.API_ERROR, message) from exc
        if retry >= self.backoff.max_attempts:
            message = f"gave up after {retry} attempts: {message}"
            raise StopRun(RunState.FAILED, StopReason.API_ERROR, message) from exc
        wait_s = self.backoff.delay_s(retry, exc)
        if self.clock.monotonic() + wait_s >= self.deadline:
            message = f"while retrying: {message}"
            raise StopRun(RunState.BUDGET_EXHAUSTED, budget_exhausted("max_wall_s"), message) from exc
        reason = self.hooks.cancel_requested()
        if reason:
            raise StopRun(RunState.CANCELLED, reason) from exc
        self._warn(f"retrying in {wait_s:.2f}s", exc)
        self.hooks.on_wait(f"api retry {retry}: {message}", wait_s)
        self.clock.sleep(wait_s)

    def _warn(self, event: str, exc: Exception) -> None:
        log = self.log or structlog.get_logger("nightshift.loop")
        log.warning(event, error=describe(exc))


def describe(exc: BaseException) -> str:
    """One line naming the failure: HTTP status and error type with the API's own message."""
    if isinstance(exc, anthropic.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error")
        kind = (error.get("type") if isinstance(error, dict) else None) or type(exc).__name__
        return f"HTTP {exc.status_code} {kind}: {api_error_message(exc)}"
    if isinstance(exc, anthropic.APIConnectionError):
        return f"{type(exc).__name__}: {exc}"
    return f"{type(exc).__name__}: {exc}"
