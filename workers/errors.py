"""Infrastructure failures: one root, and one place (``is_retryable``) that decides retries.

Tool failures are *not* exceptions: they go back to the model as ``is_error`` tool results.
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


class StoreError(NightshiftError):
    """The artifact store refused or could not be reached."""


class RunNotFound(NightshiftError):
    """No run record exists for the id."""


class LeaseHeld(NightshiftError):
    """Another delivery of the same run attempt holds its lease."""


RETRYABLE_HTTP_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def is_retryable(exc: BaseException) -> bool:
    """The one place that decides whether a failure is worth trying again."""
    import anthropic  # local import keeps this module light for the scheduler-side tools

    if isinstance(exc, anthropic.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, anthropic.APIStatusError):
        return exc.status_code in RETRYABLE_HTTP_STATUSES or exc.status_code >= 500
    if isinstance(exc, ModelAPIError):
        return exc.status in RETRYABLE_HTTP_STATUSES
    return isinstance(exc, SandboxStartError | StoreError)
