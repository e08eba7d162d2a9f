"""One delivery of ``nightshift.run``: lease the run, start its sandbox, play the agent, record the
outcome, and remove the container in every outcome. A run always ends with a recorded state and
its artifacts; a finished run is never run again. A run that asks for a human's approval pauses
(workers/approval/pause.py): its container is kept, frozen, and this delivery ends; a later delivery of
the paused run (a decision, or its deadline) resumes the same attempt in the same container."""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from typing import Any

import structlog
from celery.exceptions import SoftTimeLimitExceeded

from core import labels, redact
from core.errors import MissingSecret, NightshiftError, is_retryable
from core.events import EventType
from core.models import ModelConfig, ToolGroup
from core.records import RunRecord
from core.redact import Redactor
from core.settings import Settings
from core.spec import TaskSpec
from core.states import RunState, StopReason, error_kind
from workers import metrics
from workers.after import AfterAgent, after_agent, not_run
from workers.agent.approval import AwaitApproval
from workers.agent.model_client import model_config_for
from workers.agent.screen import image_tier_for
from workers.agent.script import run_script
from workers.agent.toolspec import tool_group
from workers.approval import pause
from workers.approval.policy import policy_hooks
from workers.artifacts.attempt import REPORT, RunArtifacts
from workers.artifacts.index import write_index
from workers.artifacts.report import render
from workers.artifacts.transcript import TranscriptHook
from workers.carryover import remaining, run_totals, spent_before
from workers.fleet.cancel import CancelWatcher
from workers.fleet.lease import Lease, hold_for_retry, lease_wait_s
from workers.fleet.ratelimit import Limits, RateLimiter, RateLimitHook
from workers.hooks import HookChain, Hooks
from workers.outcome import RunResult
from workers.progress import ProgressHook
from workers.runtime import Runtime
from workers.sandbox.egress import Admission
from workers.sandbox.pool import Shape, start_for_run
from workers.sandbox.sandbox import Sandbox
from workers.setup import run_setup

EGRESS_LOG = "egress.jsonl"


class RetryRun(Exception):
    """This attempt hit a transient infrastructure failure; run the task again as a new attempt."""

    def __init__(self, cause: NightshiftError, countdown_s: float) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.countdown_s = countdown_s


class LeaseBusy(Exception):
    """Another delivery holds the run's lease (alive, or dead and not yet expired): try again when
    it would have expired, rather than dropping this delivery."""

    def __init__(self, run_id: str, countdown_s: float) -> None:
        super().__init__(f"run {run_id}: another worker holds the lease; retrying in {countdown_s:.1f}s")
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
        return _leased(rt, run_id, lambda: Attempt(rt, record, resuming=True).run())
    if rt.records.cancel_requested(run_id):
        rt.records.transition(run_id, RunState.CANCELLED, record.attempt,
                              stop_reason=StopReason.CANCELLED_BY_REQUEST)
        return {"run_id": run_id, "state": RunState.CANCELLED}
    return _leased(rt, run_id, lambda: Attempt(rt, record).run())


def _leased(rt: Runtime, run_id: str, play: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Play under the run's lease; a busy lease (the worker that paused the run may still be
    letting it go) sends this delivery back for when it would have expired."""
    lease = Lease(rt.redis, run_id, rt.settings.lease_ttl_s)
    if not lease.acquire():
        raise LeaseBusy(run_id, lease_wait_s(rt.redis, run_id) + 0.5)
    lease.start_heartbeat()
    try:
        return play()
    finally:
        lease.release()


class Attempt:
    """Attempt N+1 of a run: its own artifact prefix, so a dead attempt's artifacts are kept.

    Its one ``Redactor`` (the task's secret values and the worker's own credentials) is built here
    and sits at every boundary bytes leave by: the artifacts, the records and events in Redis, and
    (through the context) every log line of this attempt."""

    def __init__(self, rt: Runtime, record: RunRecord, *, resuming: bool = False) -> None:
        self.rt = rt
        self.run_id = record.run_id
        self.resuming = resuming  # the paused attempt goes on: same number, prefix, container
        self.attempt = record.attempt if resuming else record.attempt + 1
        self.resume = pause.load(rt, self.run_id) if resuming else None
        # earlier attempts' spending: their budgets are the run's (a resumed attempt's own so far
        # is carried by its agent state)
        self.spent = pause.spent_before(self.resume) if self.resume else spent_before(record)
        self.spec = remaining(TaskSpec.model_validate_json(record.spec_json), self.spent)
        self.secrets = {name: os.environ[name] for name in self.spec.secrets if name in os.environ}
        self.redactor = Redactor([*self.secrets.values(), *worker_credentials(rt.settings)])
        self.records = rt.records.redacted(self.redactor)
        self.progress = ProgressHook(self.records, self.run_id, spent_before(record))
        self.artifacts = RunArtifacts.for_attempt(rt.store, rt.settings, self.run_id, self.attempt,
                                                  self.redactor)
        # an allowlisted sandbox's place at the egress proxy (a paused one keeps it)
        self.admission: Admission | None = pause.admission(self.resume) if self.resume else None
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
        with structlog.contextvars.bound_contextvars(attempt=self.attempt), redact.active(self.redactor):
            return self._run()

    def _run(self) -> dict[str, Any]:
        resumed = pause.resumed(self.records, self.run_id, self.attempt, self.resume, self.rt.hostname)
        moved = resumed if self.resuming else self.records.transition(
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

    def _outcome(self) -> RunResult | None:
        """How the attempt ended; None when it paused for an approval."""
        try:
            secrets = self._secrets()
            with ExitStack() as stack:
                stack.callback(self._close_egress)  # after the sandbox stopped: its tunnels are logged
                sandbox = self._sandbox()
                stack.callback(self._release, sandbox)
                if self.resume is None:
                    self._admit(sandbox)
                watcher = stack.enter_context(CancelWatcher(self.records, self.run_id, sandbox.stop))
                try:
                    outcome = self._prepare_and_play(sandbox)
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

    def _prepare_and_play(self, sandbox: Sandbox) -> RunResult:
        """The agent's part; a failure that will not be retried still leaves the sandbox to the
        outputs and checks."""
        try:
            hooks = self._hooks(sandbox)
            if self.resume is None:
                self._prepare(sandbox, hooks)
            return self._play(sandbox, hooks)
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
        self.records.event(self.run_id, EventType.RETRYING, attempt=self.attempt, error=str(exc))
        countdown_s = settings.retry_delay_s * self.attempt
        hold_for_retry(self.rt.redis, self.run_id, countdown_s + settings.lease_ttl_s)
        raise RetryRun(self._redacted(exc), countdown_s)

    def _redacted(self, exc: NightshiftError) -> NightshiftError:
        """``exc`` with a redacted message: Celery logs the cause of a retry on its own."""
        text = self.redactor.text(str(exc))
        if text == str(exc):
            return exc
        clean = copy.copy(exc)
        clean.args = (text,)
        return clean

    def _secrets(self) -> dict[str, str]:
        missing = [name for name in self.spec.secrets if name not in self.secrets]
        if missing:
            raise MissingSecret(f"secrets not set in the worker's environment: {', '.join(missing)}")
        return self.secrets

    def _sandbox(self) -> Sandbox:
        return pause.reattach(self.rt, self.resume) if self.resume else self._start_sandbox()

    def _start_sandbox(self) -> Sandbox:
        """Claim a warm sandbox of the run's shape, else start one; an allowlisted run always starts
        its own on the egress network, its proxy made ready first (no proxy, no run: it never falls
        back to an open network). Secrets never go into a container's environment (_prepare)."""
        width, height = self.spec.display_size
        deadline = int(time.time() + self.spec.budgets.max_wall_s + self.rt.settings.time_limit_grace_s)
        sandbox_labels = labels.for_attempt(self.run_id, self.attempt, deadline, self.rt.hostname,
                                            self.rt.settings.queue_name)
        rt, began = self.rt, time.monotonic()
        if self.spec.network_mode == "allowlist":
            env = rt.egress.proxy_env(rt.egress.ensure())
            sandbox = rt.launcher.start(run_id=self.run_id, width=width, height=height,
                                        network=rt.egress.name, labels=sandbox_labels, env=env,
                                        image=self.spec.image)
            warm = False
        else:
            shape = Shape(self.spec.image or rt.settings.sandbox_image, width, height,
                          self.spec.network_mode == "internet")
            sandbox, warm = start_for_run(rt.launcher, rt.redis, rt.hostname, shape, sandbox_labels)
        metrics.SANDBOX_START_SECONDS.observe(time.monotonic() - began)
        self.records.update(self.run_id, container_id=sandbox.container_id)
        self.records.event(self.run_id, EventType.SANDBOX, warm=warm, attempt=self.attempt,
                           container=sandbox.container_id[:12])
        return sandbox

    def _admit(self, sandbox: Sandbox) -> None:
        """Give an allowlisted sandbox its rules at the proxy, before anything in it runs."""
        if not isinstance(self.spec.network, str):
            self.admission = self.rt.egress.admit(sandbox.container, self.run_id, self.spec.network.rules())

    def _close_egress(self) -> None:
        """Write what the sandbox reached (or tried to) as egress.jsonl, then drop its rules (a
        paused sandbox keeps them: the resumed attempt closes them)."""
        if self.admission is None or self.paused is not None:
            return
        self.rt.egress.release(self.admission)
        lines = [json.dumps(entry, sort_keys=True) for entry in self.rt.egress.requests(self.admission)]
        data = "".join(f"{line}\n" for line in lines).encode()
        self.artifacts.put(EGRESS_LOG, data, "application/x-ndjson")

    def _prepare(self, sandbox: Sandbox, hooks: Hooks) -> None:
        if self.secrets:  # the shells' environment, never the container's (a pooled one predates the run)
            sandbox.set_env(self.secrets)
        for index, file in enumerate(self.spec.files):
            sandbox.put_file(file.dest, self.records.input_file(self.run_id, index), file.mode)
        sandbox.wait_ready()
        if self.spec.agent == "claude":
            sandbox.use_image_tier(image_tier_for(self._model_config()))
        run_setup(sandbox, self.spec.setup, self._group().bash, hooks)

    def _group(self) -> ToolGroup:
        return tool_group(self.spec, self._model_config())

    def _release(self, sandbox: Sandbox) -> None:
        """Remove the sandbox, unless the run paused in it: then let it go, frozen, for whichever
        worker of this machine resumes it (SandboxLauncher.attach)."""
        if self.paused is None:
            sandbox.stop()
        else:
            sandbox.release()

    def _pause_context(self) -> pause.PauseContext:
        assert self.transcript is not None and self.hooks is not None
        return pause.PauseContext(self.rt, self.run_id, self.attempt, self.spec, self.artifacts,
                                  self.transcript, self.hooks, self.redactor, self.records,
                                  self.spent, self.admission)

    def _model_config(self) -> ModelConfig:
        """The script agent has no model: the default config's tool group serves it."""
        if self.spec.agent == "script":
            return ModelConfig()
        model = self.spec.model or self.rt.settings.default_model
        return model_config_for(model, self.rt.settings, self.rt.redis)

    def _hooks(self, sandbox: Sandbox) -> Hooks:
        progress = self.progress  # logs carry run_id from the context
        s = self.rt.settings
        limits = Limits(s.rate_requests_per_min, s.rate_input_tokens_per_min, s.rate_output_tokens_per_min)
        self.transcript = TranscriptHook(self.artifacts)
        limiter = RateLimitHook(RateLimiter(self.rt.redis, limits), progress)
        model = self.spec.model or s.default_model if self.spec.agent == "claude" else "script"
        policy = policy_hooks(self.spec.approval, sandbox, s.approval_page_settle_s)
        self.hooks = HookChain(self.transcript, progress, limiter, metrics.MetricsHook(model), *policy)
        return self.hooks

    def _play(self, sandbox: Sandbox, hooks: Hooks) -> RunResult:
        resumption = None
        if self.resume is None:
            self.records.transition(self.run_id, RunState.RUNNING, self.attempt)
        else:
            ended = self._restore(self.resume)
            if ended is not None:
                return ended
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
        return resume.ended()

    def _finish(self, outcome: RunResult) -> RunResult:
        """Record how the attempt ended (a cancel seen meanwhile wins) and return that."""
        if outcome.state != RunState.CANCELLED and self.records.cancel_requested(self.run_id):
            outcome = replace(outcome, state=RunState.CANCELLED, stop_reason=StopReason.CANCELLED_BY_REQUEST,
                              error=None)
        # a step cut short (its sandbox removed by a cancel) must not hide the steps played before it
        outcome = replace(outcome, steps=max(outcome.steps, self.progress.steps))
        after = self.after or not_run(self.spec, f"the sandbox was not available ({outcome.stop_reason})")
        summary = outcome.to_dict() | after.result_fields() | {
            "run_id": self.run_id, "attempt": self.attempt, "batch_id": self.batch_id,
            "wall_s": round(time.monotonic() - self.started, 3)}
        self.artifacts.finalize(summary, report=lambda read: render(read, self.run_id))
        fields = _record_fields(outcome) | run_totals(self.spent, outcome) | after.record_fields() | {
            "report_url": self.artifacts.url(REPORT)}
        self.records.transition(self.run_id, outcome.state, self.attempt, **fields)
        self._index()
        metrics.RUNS_FINISHED.labels(outcome.state, after.verdict or "").inc()
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


def worker_credentials(settings: Settings) -> list[str]:
    """The worker's own secrets: redacted from every run too, should a tool or error echo them."""
    held = (settings.anthropic_api_key, settings.s3_secret_access_key, settings.api_token)
    return [value.get_secret_value() for value in held if value is not None]


def _record_fields(outcome: RunResult) -> dict[str, Any]:
    return {
        "stop_reason": outcome.stop_reason,
        "error": outcome.error,
        "result": outcome.result,
        "usage": outcome.usage,
        "cost_usd": outcome.cost_usd,
        "steps": outcome.steps,
    }
