"""Side effects stay on the side: a failing hook is logged and the run goes on, while what ends a
run (a StopRun raised by a hook, Celery's soft time limit) still ends it. Played with the script
agent through a HookChain, as the runner combines its hooks."""

from __future__ import annotations

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from structlog.testing import capture_logs

from core.states import RunState
from tests.workers.test_script_agent import Recorder, spec
from workers.agent.script import run_script
from workers.hooks import HookChain, Hooks, StepSummary
from workers.outcome import StopRun


class Counting(Hooks):
    def __init__(self) -> None:
        self.steps: list[int] = []

    def on_step_end(self, summary: StepSummary) -> None:
        self.steps.append(summary.step)


class Failing(Hooks):
    """A progress/metrics hook whose backend is away."""

    def on_step_end(self, summary: StepSummary) -> None:
        raise ConnectionError("metrics sink unreachable")

    def cancel_requested(self) -> str | None:
        raise ConnectionError("redis unreachable")


class Raising(Hooks):
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def on_step_end(self, summary: StepSummary) -> None:
        raise self.exc


def test_a_failing_hook_is_logged_and_the_run_and_the_other_hooks_go_on() -> None:
    counting = Counting()
    with capture_logs() as logs:
        result = run_script(spec("a", "b", "c"), Recorder(), HookChain(Failing(), counting))
    assert (result.state, result.steps) == (RunState.SUCCEEDED, 3)
    assert counting.steps == [1, 2, 3]
    failures = [entry for entry in logs if entry["event"] == "hook failed; the run goes on"]
    assert len(failures) == 3 + 3  # every step's progress and every step's cancel check
    assert "metrics sink unreachable" in failures[1]["error"] and "Failing" in failures[1]["hook"]


def test_a_stop_raised_by_a_hook_still_ends_the_run() -> None:
    stop = StopRun(RunState.CANCELLED, "cancelled by request")
    with pytest.raises(StopRun):
        run_script(spec("a", "b"), Recorder(), HookChain(Raising(stop), Counting()))


def test_the_soft_time_limit_passes_through_every_hook() -> None:
    with pytest.raises(SoftTimeLimitExceeded):
        run_script(spec("a"), Recorder(), HookChain(Counting(), Raising(SoftTimeLimitExceeded())))


def test_a_cancel_any_hook_reports_is_seen_even_when_another_cannot_tell() -> None:
    class Cancelling(Hooks):
        def cancel_requested(self) -> str | None:
            return "cancelled by request"

    result = run_script(spec("a", "b"), Recorder(), HookChain(Failing(), Cancelling()))
    assert (result.state, result.stop_reason, result.steps) == (RunState.CANCELLED, "cancelled by request", 0)
