"""The words a run is described by: its states and why it stopped. Spelled once, here.

Both are ``StrEnum``: a member *is* its string, so records, JSON, Redis and the HTTP API carry the
plain value (``"succeeded"``) and comparisons with plain strings keep working.
"""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    """Where a run is: ``queued → starting → running → [needs_approval → running] → one terminal
    state``."""

    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    BUDGET_EXHAUSTED = "budget_exhausted"
    INFEASIBLE = "infeasible"
    CANCELLED = "cancelled"
    # A pause: the run waits for a human's decision with its container paused and no worker;
    # a decision moves it back to ``running`` (or its deadline ends it ``failed``).
    NEEDS_APPROVAL = "needs_approval"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


def run_state(value: str) -> RunState:
    """The state named ``value``; a clear ``ValueError`` for a name that is not one."""
    try:
        return RunState(value)
    except ValueError:
        raise ValueError(f"unknown state {value!r}; one of {', '.join(RunState)}") from None


ACTIVE = frozenset({RunState.QUEUED, RunState.STARTING, RunState.RUNNING})
PAUSED = frozenset({RunState.NEEDS_APPROVAL})  # neither active (no worker) nor final
TERMINAL = frozenset(set(RunState) - ACTIVE - PAUSED)
# How a run can end (what an agent or the runner returns).
OUTCOMES = TERMINAL
# A worker owns a run in these states: the reaper resumes them when no worker holds the lease.
IN_FLIGHT = (RunState.STARTING, RunState.RUNNING)


class Verdict(StrEnum):
    """What a run's checks say, beside its state; a run without checks (or whose checks could not
    run) has no verdict (None)."""

    PASSED = "passed"
    FAILED = "failed"


class StopReason(StrEnum):
    """Why a run stopped, when it is one of the fixed causes. Causes that carry a detail (which
    budget, which step, which error) are built by the functions below, so they read the same
    everywhere."""

    # the model's own stop reasons (Messages API ``stop_reason``)
    END_TURN = "end_turn"
    MAX_TOKENS = "max_tokens"
    REFUSAL = "refusal"
    CONTEXT_WINDOW_EXCEEDED = "model_context_window_exceeded"
    # the loop's structured endings
    SUBMIT_RESULT = "submit_result"
    DECLARE_INFEASIBLE = "declare_infeasible"
    NO_RESULT = "no result submitted"
    SCRIPT_COMPLETE = "script complete"
    # failures and interruptions
    API_ERROR = "api_error"
    INVALID_TASK = "invalid task"
    INTERNAL_ERROR = "internal_error"
    TIME_LIMIT = "time limit"
    CANCELLED = "cancelled"
    CANCELLED_BY_REQUEST = "cancelled by request"
    ENQUEUE_FAILED = "enqueue_failed"
    # human approvals
    APPROVAL_TIMED_OUT = "approval timed out"
    APPROVAL_LOST = "approval lost: its paused sandbox is gone"


class Decision(StrEnum):
    """What a human (or the deadline) decided about a run waiting in ``needs_approval``."""

    APPROVED = "approved"
    DENIED = "denied"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"  # the run was cancelled while it waited


BUDGET_PREFIX = "budget: "


def budget_exhausted(budget: str) -> str:
    """``budget: max_steps`` and the like: which budget ran out."""
    return f"{BUDGET_PREFIX}{budget}"


def unexpected_stop(api_stop_reason: str | None) -> str:
    return f"unexpected stop_reason: {api_stop_reason}"


def step_failed(index: int, name: str, text: str) -> str:
    """A script step that answered with an error."""
    return f"step {index} ({name}) failed: {text}"


def error_kind(exc: BaseException) -> str:
    """An infrastructure failure stops a run with the name of its error type."""
    return type(exc).__name__
