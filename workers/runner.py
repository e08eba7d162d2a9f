"""One delivery of ``nightshift.run``: lease the run, start its sandbox, play the agent, record the
outcome, and remove the container in every outcome. A run always ends with a recorded state and
its artifacts; a finished run is never run again. A run that asks for a human's approval pauses
(workers/pause.py): its container is kept, frozen, and this delivery ends; a later delivery of
the paused run (a decision, or its deadline) resumes the same attempt in the same container."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import structlog
from celery.exceptions import SoftTimeLimitExceeded

from core import labels
from core.errors import MissingSecret, NightshiftError, SetupFailed, is_retryable
from core.events import EventType
from core.models import ModelConfig, ToolGroup
from core.records import RunRecord
from core.spec import TaskSpec
from core.states import Decision, RunState, StopReason, error_kind
from workers import pause
from workers.after import AfterAgent, after_agent, not_run
from workers.agent.approval import AwaitApproval
from workers.agent.model_client import model_config_for
from workers.agent.screen import image_tier_for
from workers.agent.script import run_script
from workers.agent.toolspec import tool_group
from workers.approval_policy import ApprovalPolicy
from workers.artifacts.attempt import REPORT, RunArtifacts
from workers.artifacts.index import write_index
from workers.artifacts.report import render
from workers.artifacts.transcript import TranscriptHook
from workers.fleet.cancel import CancelWatcher
from workers.fleet.lease import Lease, hold_for_retry
from workers.fleet.ratelimit import Limits, RateLimiter, RateLimitHook
from workers.hooks import HookChain, Hooks
from workers.outcome import RunResult
from workers.progress import ProgressHook
from workers.runtime import Runtime
from workers.sandbox.sandbox import Sandbox


class RetryRun(Exception):
    """This attempt hit a transient infrastructure failure; run the task again as a new attempt."""

    def __init__(self, cause: NightshiftError, countdown_s: float) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.countdown_s = countdown_s


def execute_run(run_id: str, rt: Runtime) -> dict[str, Any]:
    """Every log line of this delivery carries ``run_id`` (and ``attempt`` once it is known)."""
    with structlog.contextvars.bound_contextvars(run_id=run_id):
        return _execute(run_id, rt)


def _execute(run_id: str, rt: Runtime) -> dict[str, Any]:
    record = rt.records.get(run_id)
    if record.terminal:
        return {"run_id": run_id, "state": record.state, "skipped": "already finished"}
    if record.state == RunState.NEEDS_APPROVAL:  # a decision (or the deadline) sent it here
        return _leased(rt, run_id, lambda: Attempt(rt, record, resuming=True).run(), rt.settings.lease_ttl_s)
    if rt.records.cancel_requested(run_id):
        rt.records.transition(run_id, RunState.CANCELLED, record.attempt,
                              stop_reason=StopReason.CANCELLED_BY_REQUEST)
        return {"run_id": run_id, "state": RunState.CANCELLED}
    return _leased(rt, run_id, lambda: Attempt(rt, record).run())


def _leased(
    rt: Runtime, run_id: str, play: Callable[[], dict[str, Any]], patience_s: float = 0.0
) -> dict[str, Any]:
    """Play under the run's lease. A resume waits up to ``patience_s`` for it: the worker that
    paused the run may still be letting it go."""
    lease = Lease(rt.redis, run_id, rt.settings.lease_ttl_s)
    give_up = time.monotonic() + patience_s
    while not lease.acquire():
        if time.monotonic() >= give_up:
            return {"run_id": run_id, "skipped": "another worker holds the lease"}
        time.sleep(0.2)
    lease.start_heartbeat()
    try:
        return play()
    finally:
        lease.release()


class Attempt:
    """Attempt N+1 of a run: its own artifact prefix, so a dead attempt's artifacts are kept."""

    def __init__(self, rt: Runtime, record: RunRecord, *, resuming: bool = False) -> None:
        self.rt = rt
        self.run_id = record.run_id
        self.resuming = resuming  # the paused attempt goes on: same number, prefix, container
        self.attempt = record.attempt if resuming else record.attempt + 1
        self.spec = TaskSpec.model_validate_json(record.spec_json)
        self.artifacts = RunArtifacts.for_attempt(rt.store, rt.settings, self.run_id, self.attempt)
        self.resume = pause.load(rt, self.run_id) if resuming else None
        if self.resume is not None:
            self.artifacts.restore(self.resume.state["artifacts"])
        self.paused: pause.Paused | None = None
        self.transcript: TranscriptHook | None = None
        self.hooks: Hooks | None = None
        self.log = structlog.get_logger("nightshift.run")
        self.started = time.monotonic()
        self.batch_id = record.batch_id
        self.after: AfterAgent | None = None  # set once outputs and checks have run

    def run(self) -> dict[str, Any]:
        with structlog.contextvars.bound_contextvars(attempt=self.attempt):
            return self._run()

    def _run(self) -> dict[str, Any]:
        moved = self._resumed() if self.resuming else self.rt.records.transition(
            self.run_id, RunState.STARTING, self.attempt, worker=self.rt.hostname,
            artifact_prefix=self.artifacts.prefix, artifact_url=self.artifacts.url(),
        )
        if not moved:  # cancelled or finished since we looked: never play it
            return {"run_id": self.run_id, "skipped": "the run moved on before this attempt started"}
        played = self._outcome()
        if played is None:
            return {"run_id": self.run_id, "attempt": self.attempt, "state": RunState.NEEDS_APPROVAL}
        outcome = self._finish(played)
        if self.resuming:
            pause.finished(self.rt, self.run_id)
        return {"run_id": self.run_id, "attempt": self.attempt, "state": outcome.state}

    def _resumed(self) -> bool:
        """Back to ``running`` after a decision; a timed-out run stays paused until it ends."""
        if self.resume is None:  # its request or state is gone: nothing can go on
            lost = StopReason.APPROVAL_LOST
            self.rt.records.transition(self.run_id, RunState.FAILED, self.attempt,
                                       expect=(RunState.NEEDS_APPROVAL,), stop_reason=lost, error=lost)
            return False
        if self.resume.ends:
            return True
        return self.rt.records.transition(self.run_id, RunState.RUNNING, self.attempt,
                                          expect=(RunState.NEEDS_APPROVAL,), worker=self.rt.hostname)

    def _outcome(self) -> RunResult | None:
        """How the attempt ended; None when it paused for an approval."""
        try:
            secrets = self._secrets()
            with ExitStack() as stack:
                sandbox = self._sandbox(secrets)
                stack.callback(self._release, sandbox)
                watcher = stack.enter_context(CancelWatcher(self.rt.records, self.run_id, sandbox.stop))
                try:
                    outcome = self._prepare_and_play(sandbox, secrets)
                except AwaitApproval as request:
                    watcher.__exit__()
                    self.paused = pause.pause(self._pause_context(), sandbox, self._group(), request)
                    return None
                if outcome.state == RunState.CANCELLED:  # honoured: keep the sandbox for the outputs
                    watcher.__exit__()
                self.after = after_agent(self.spec, sandbox, self.artifacts, self.rt.settings, outcome,
                                         secrets.values())
                return outcome
        except SoftTimeLimitExceeded:
            return RunResult(RunState.FAILED, StopReason.TIME_LIMIT, error="the run passed its time limit")
        except NightshiftError as exc:
            self._retry_if_transient(exc)
            self.log.warning("run failed", error=str(exc), kind=type(exc).__name__)
            return RunResult(RunState.FAILED, error_kind(exc), error=str(exc))
        except Exception as exc:  # a bug must still end the run recorded, never stranded "running"
            self.log.exception("run failed on an unexpected error")
            error = f"{type(exc).__name__}: {exc}"
            return RunResult(RunState.FAILED, StopReason.INTERNAL_ERROR, error=error)

    def _prepare_and_play(self, sandbox: Sandbox, secrets: dict[str, str]) -> RunResult:
        """The agent's part; a failure that will not be retried still leaves the sandbox to the
        outputs and checks."""
        try:
            if self.resume is None:
                self._prepare(sandbox)
            return self._play(sandbox, secrets)
        except NightshiftError as exc:
            if self._will_retry(exc):
                raise
            self.log.warning("run failed", error=str(exc), kind=type(exc).__name__)
            return RunResult(RunState.FAILED, error_kind(exc), error=str(exc))

    def _will_retry(self, exc: NightshiftError) -> bool:
        return is_retryable(exc) and self.attempt < self.rt.settings.max_attempts

    def _retry_if_transient(self, exc: NightshiftError) -> None:
        settings = self.rt.settings
        if not self._will_retry(exc):
            return
        self.log.warning("attempt failed, will retry", error=str(exc), kind=type(exc).__name__)
        self.artifacts.finalize({"run_id": self.run_id, "attempt": self.attempt, "state": EventType.RETRYING,
                                 "error": str(exc)})
        self.rt.records.event(self.run_id, EventType.RETRYING, attempt=self.attempt, error=str(exc))
        countdown_s = settings.retry_delay_s * self.attempt
        hold_for_retry(self.rt.redis, self.run_id, countdown_s + settings.lease_ttl_s)
        raise RetryRun(exc, countdown_s)

    def _secrets(self) -> dict[str, str]:
        missing = [name for name in self.spec.secrets if name not in os.environ]
        if missing:
            raise MissingSecret(f"secrets not set in the worker's environment: {', '.join(missing)}")
        return {name: os.environ[name] for name in self.spec.secrets}

    def _sandbox(self, secrets: dict[str, str]) -> Sandbox:
        return pause.reattach(self.rt, self.resume) if self.resume else self._start_sandbox(secrets)

    def _start_sandbox(self, secrets: dict[str, str]) -> Sandbox:
        width, height = self.spec.display_size
        deadline = int(time.time() + self.spec.budgets.max_wall_s + self.rt.settings.time_limit_grace_s)
        sandbox_labels = labels.for_attempt(self.run_id, self.attempt, deadline, self.rt.hostname,
                                            self.rt.settings.queue_name)
        sandbox = self.rt.launcher.start(
            run_id=self.run_id, width=width, height=height, network=self.spec.network == "internet",
            labels=sandbox_labels, env=secrets, image=self.spec.image,
        )
        self.rt.records.update(self.run_id, container_id=sandbox.container_id)
        return sandbox

    def _prepare(self, sandbox: Sandbox) -> None:
        for index, file in enumerate(self.spec.files):
            sandbox.put_file(file.dest, self.rt.records.input_file(self.run_id, index), file.mode)
        sandbox.wait_ready()
        if self.spec.agent == "claude":
            sandbox.use_image_tier(image_tier_for(self._model_config()))
        group = self._group()
        for number, command in enumerate(self.spec.setup, start=1):
            output = sandbox.call({"type": group.bash, "name": "bash"}, {"command": command})
            if output.is_error or output.exit_status != 0:
                raise SetupFailed(f"setup command {number} failed: {output.text[-2000:]}")

    def _group(self) -> ToolGroup:
        return tool_group(self.spec, self._model_config())

    def _release(self, sandbox: Sandbox) -> None:
        """Remove the sandbox, unless the run paused in it (then it waits, frozen, for a decision)."""
        if self.paused is None:
            sandbox.stop()

    def _pause_context(self) -> pause.PauseContext:
        assert self.transcript is not None and self.hooks is not None
        return pause.PauseContext(self.rt, self.run_id, self.attempt, self.spec, self.artifacts,
                                  self.transcript, self.hooks)

    def _model_config(self) -> ModelConfig:
        """The script agent has no model: the default config's tool group serves it."""
        if self.spec.agent == "script":
            return ModelConfig()
        model = self.spec.model or self.rt.settings.default_model
        return model_config_for(model, self.rt.settings, self.rt.redis)

    def _hooks(self, secrets: dict[str, str], sandbox: Sandbox) -> Hooks:
        progress = ProgressHook(self.rt.records, self.run_id)  # logs carry run_id from the context
        s = self.rt.settings
        limits = Limits(s.rate_requests_per_min, s.rate_input_tokens_per_min, s.rate_output_tokens_per_min)
        self.transcript = TranscriptHook(self.artifacts, secrets=list(secrets.values()))
        limiter = RateLimitHook(RateLimiter(self.rt.redis, limits), progress)
        policy = [ApprovalPolicy(self.spec.approval, sandbox)] if self.spec.approval.before else []
        self.hooks = HookChain(self.transcript, progress, limiter, *policy)
        return self.hooks

    def _play(self, sandbox: Sandbox, secrets: dict[str, str]) -> RunResult:
        hooks = self._hooks(secrets, sandbox)
        resumption = None
        if self.resume is None:
            self.rt.records.transition(self.run_id, RunState.RUNNING, self.attempt)
        else:
            timed_out = self._restore(self.resume)
            if timed_out is not None:
                return timed_out
            resumption = self.resume.resumption(self.spec.approval.count_wall_while_paused)
        if self.spec.agent == "script":
            return run_script(self.spec, sandbox, hooks, resume=resumption)
        from workers.agent.loop import run_session

        return run_session(self.spec, sandbox, self.rt.model_client, hooks, model_config=self._model_config(),
                           settings=self.rt.settings, resume=resumption)

    def _restore(self, resume: pause.Resume) -> RunResult | None:
        """The transcript goes on and records the decision; a timed-out or cancelled run ends here."""
        assert self.transcript is not None and self.hooks is not None
        self.transcript.restore(resume.state["transcript"])
        self.hooks.on_approval(resume.request.step, resume.decided_event())
        if not resume.ends:
            return None
        if resume.request.decision == Decision.CANCELLED:
            steps = int(resume.request.step)
            return RunResult(RunState.CANCELLED, StopReason.CANCELLED_BY_REQUEST, steps=steps)
        error = f"no decision by the approval deadline ({resume.request.what})"
        return RunResult(RunState.FAILED, StopReason.APPROVAL_TIMED_OUT, error=error,
                         steps=int(resume.request.step))

    def _finish(self, outcome: RunResult) -> RunResult:
        """Record how the attempt ended (a cancel seen meanwhile wins) and return that."""
        if outcome.state != RunState.CANCELLED and self.rt.records.cancel_requested(self.run_id):
            outcome = RunResult(RunState.CANCELLED, StopReason.CANCELLED_BY_REQUEST, steps=outcome.steps,
                                usage=outcome.usage, cost_usd=outcome.cost_usd, result=outcome.result)
        after = self.after or not_run(self.spec, f"the sandbox was not available ({outcome.stop_reason})")
        summary = outcome.to_dict() | after.result_fields() | {
            "run_id": self.run_id, "attempt": self.attempt, "batch_id": self.batch_id,
            "wall_s": round(time.monotonic() - self.started, 3)}
        self.artifacts.finalize(summary, report=lambda read: render(read, self.run_id))
        fields = _record_fields(outcome) | after.record_fields() | {"report_url": self.artifacts.url(REPORT)}
        self.rt.records.transition(self.run_id, outcome.state, self.attempt, **fields)
        self._index()
        self.log.info("run finished", state=outcome.state, stop_reason=outcome.stop_reason,
                      steps=outcome.steps, cost_usd=outcome.cost_usd, verdict=after.verdict)
        return outcome


    def _index(self) -> None:
        """Re-render the batch's index.html now that this run has ended (never fatal)."""
        if self.batch_id is None:
            return
        try:
            write_index(self.rt.redis, self.rt.store, self.batch_id)
        except Exception as exc:
            self.log.warning("batch index not written", batch_id=self.batch_id, error=str(exc))


def _record_fields(outcome: RunResult) -> dict[str, Any]:
    return {
        "stop_reason": outcome.stop_reason,
        "error": outcome.error,
        "result": outcome.result,
        "usage": outcome.usage,
        "cost_usd": outcome.cost_usd,
        "steps": outcome.steps,
    }
