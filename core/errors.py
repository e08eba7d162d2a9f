"""Every failure nightshift raises, of both planes, under one root (``NightshiftError``), and one
place (``is_retryable``) that decides retries.

Tool failures are *not* exceptions: they go back to the model as ``is_error`` tool results. Bad
task files are not exceptions of this tree either: they are reported as line-numbered problems.
"""

from __future__ import annotations


class NightshiftError(Exception):
    """Root of every infrastructure failure nightshift raises."""


class SandboxError(NightshiftError):
    """The sandbox could not be started, or its executor channel broke."""


class SandboxStartError(SandboxError):
    """The container did not start or its executor never answered."""


class SandboxGoneError(SandboxError):
    """The container died or the channel closed mid-run."""


class ToolTimeoutError(SandboxError):
    """The executor did not answer a tool call within the worker-side deadline."""


class ModelAPIError(NightshiftError):
    """The Messages API answered with an error the loop cannot continue past."""

    def __init__(self, message: str, *, status: int | None = None, kind: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


class EgressUnavailable(SandboxError):
    """The fleet's egress proxy is not running or not ready: an allowlisted run cannot start (it
    never falls back to an open network). Not retried: a proxy that will not come up stays down."""


class ConfigError(NightshiftError):
    """The worker is not configured for what the run needs (e.g. no API key for a Claude task)."""


class StoreError(NightshiftError):
    """The artifact store refused or could not be reached."""


class RunNotFound(NightshiftError, LookupError):
    """No run record exists for the id."""


class SetupFailed(NightshiftError):
    """A file could not be placed or a setup command failed before the agent started."""


class MissingSecret(NightshiftError):
    """A secret the task names is not in the worker's environment."""


class ApprovalError(NightshiftError):
    """An approval decision that cannot be taken: no run waits for one, or it was already decided."""


class EnqueueError(NightshiftError):
    """Sending a run to the broker failed; ``run_ids`` were enqueued before it, ``failed`` is the
    run recorded as failed."""

    def __init__(self, message: str, run_ids: list[str], failed: str) -> None:
        super().__init__(message)
        self.run_ids = run_ids
        self.failed = failed


# ModelAPIError.kind for a 2xx whose body is not a Messages API response (a proxy's error page,
# a truncated body): transient, so retried like a 5xx.
INVALID_RESPONSE = "invalid_response"

RETRYABLE_HTTP_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
# Error types of a streamed ``error`` event (after the 200) that are worth another request: the
# same errors a status would make retryable (overloaded 529, api_error 5xx, rate limit 429).
RETRYABLE_STREAM_ERRORS = frozenset({"overloaded_error", "api_error", "rate_limit_error", "timeout_error"})


def is_retryable(exc: BaseException) -> bool:
    """The one place that decides whether a failure is worth trying again."""
    import anthropic  # local import keeps this module light for the scheduler-side tools

    if isinstance(exc, anthropic.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, anthropic.APIStatusError):
        hint = should_retry_header(exc)
        if hint is not None:  # the server's own verdict wins over the status, both ways
            return hint
        if exc.status_code < 400:  # an ``error`` event in a stream that had answered 200
            return _error_type(exc) in RETRYABLE_STREAM_ERRORS
        return exc.status_code in RETRYABLE_HTTP_STATUSES or exc.status_code >= 500
    if isinstance(exc, ModelAPIError):
        return exc.status in RETRYABLE_HTTP_STATUSES or exc.kind == INVALID_RESPONSE
    return isinstance(exc, SandboxStartError | StoreError)


def _error_type(exc: BaseException) -> str | None:
    body = getattr(exc, "body", None)
    error = body.get("error") if isinstance(body, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    return kind if isinstance(kind, str) else None


def should_retry_header(exc: BaseException) -> bool | None:
    """The response's ``x-should-retry`` (``true``/``false``), or None when it sent none."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    value = headers.get("x-should-retry") if headers is not None else None
    if not isinstance(value, str) or value.strip().lower() not in ("true", "false"):
        return None
    return value.strip().lower() == "true"


_IMAGE_LIMIT_HINTS = ("image", "pixel")


def is_image_rejection(exc: BaseException) -> bool:
    """A 400 about image size or count: the loop repairs it (prune, downscale) and tries once more
    instead of failing the run."""
    import anthropic

    if not isinstance(exc, anthropic.APIStatusError) or exc.status_code not in (400, 413):
        return False
    message = api_error_message(exc).lower()
    return any(hint in message for hint in _IMAGE_LIMIT_HINTS)


def api_error_message(exc: BaseException) -> str:
    """The API's own error message (``error.message`` of the body), else the exception text."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return str(exc)
