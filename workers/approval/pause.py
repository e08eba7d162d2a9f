"""A run paused for a human's approval holds no worker: pause it, and resume it on any worker of
the machine its sandbox lives on.

Pausing: the current screen is stored for the approver, the agent's state (redacted like every
other byte that leaves the worker), the transcript's and the artifacts' state go to Redis
(``keys.run_paused``), the worker lets the sandbox go (``Sandbox.release``: it stops listening on
the executor's socket, whose executor keeps redialling) and the container is frozen (``docker
pause``: no CPU, memory kept), the run moves to ``needs_approval`` and the request is opened on the
machine's queue (``core.broker.host_queue``); the Celery task ends.

Resuming (a decision or the deadline re-sent the run there): the container is unpaused and taken
over (``SandboxLauncher.attach`` listens afresh at its socket; the executor's next dial finds it),
the states restored, and the pending call answered with the decision.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any

import docker.errors
import structlog
from docker.models.containers import Container

from core import keys
from core.approvals import ApprovalRequest, Approvals
from core.broker import host_queue
from core.errors import ApprovalError
from core.models import TOOLSET_TYPE, ToolGroup
from core.records import Records
from core.redact import Redactor
from core.spec import TaskSpec
from core.states import Decision, RunState, StopReason
from workers.agent.approval import AwaitApproval, Resumption, Ruling
from workers.artifacts.attempt import RunArtifacts
from workers.artifacts.transcript import TranscriptHook
from workers.carryover import Spent
from workers.hooks import Hooks
from workers.outcome import RunResult
from workers.runtime import Runtime
from workers.sandbox.egress import Admission
from workers.sandbox.sandbox import Sandbox

log = structlog.get_logger("nightshift.pause")
FREEZE_TRIES = 5
FREEZE_RETRY_S = 0.2


@dataclass(frozen=True)
class Paused:
    """Where the paused run stands, for the runner to report."""

    run_id: str
    deadline: float
    frozen: bool  # docker pause took (see ``freeze``)


@dataclass
class PauseContext:
    rt: Runtime
    run_id: str
    attempt: int
    spec: TaskSpec
    artifacts: RunArtifacts
    transcript: TranscriptHook
    hooks: Hooks
    redactor: Redactor
    records: Records  # redacted
    spent: Spent  # earlier attempts': the resumed attempt's budgets start from the same
    admission: Admission | None  # an allowlisted sandbox keeps its rules at the proxy while paused


def pause(ctx: PauseContext, sandbox: Sandbox, group: ToolGroup, request: AwaitApproval) -> Paused:
    """Persist, freeze the container, record ``needs_approval``, open the request, call the webhook."""
    rt, now = ctx.rt, time.time()
    deadline = now + (ctx.spec.approval.timeout_s or rt.settings.approval_timeout_s)
    screenshot = _screenshot(sandbox, group, ctx.artifacts, request.step)
    ctx.hooks.on_approval(request.step, {"kind": "requested", "what": request.asked.what,
                                         "why": request.asked.why, "deadline": deadline,
                                         "screenshot": screenshot})
    state = {"agent": {**request.state, "tool_use": request.tool_use}, "paused_at": now,
             "artifacts": ctx.artifacts.snapshot(), "transcript": ctx.transcript.snapshot(),
             "image_tier": sandbox.image_tier, "spent": list(ctx.spent),
             "paused_s_before": ctx.records.get(ctx.run_id).paused_s,
             "admission": asdict(ctx.admission) if ctx.admission else None}
    rt.redis.set(keys.run_paused(ctx.run_id), json.dumps(ctx.redactor.deep(state), separators=(",", ":")))
    sandbox.release()
    _keep_claim(rt, sandbox.container_id, deadline - now)
    frozen = freeze(sandbox.container)
    ctx.records.transition(ctx.run_id, RunState.NEEDS_APPROVAL, ctx.attempt, expect=(RunState.RUNNING,))
    open_request(ctx, sandbox, request, deadline, screenshot)
    return Paused(ctx.run_id, deadline, frozen)


def _keep_claim(rt: Runtime, container_id: str, wait_s: float) -> None:
    """A warm sandbox's claim (workers/sandbox/pool.py) outlives the wait, so that neither the pool
    keeper nor the reaper takes it for an unclaimed one."""
    claim = keys.pool_claim(container_id)
    ttl = rt.redis.ttl(claim)
    if ttl > 0:
        rt.redis.expire(claim, int(ttl + wait_s))


def freeze(container: Container, tries: int = FREEZE_TRIES) -> bool:
    """``docker pause``, tried again a few times: on cgroup v1 a process spinning under its CPU
    quota can make the freezer give up ("unable to freeze"). If it never takes, the run still waits
    (its container idles, unfrozen) rather than fail: False."""
    for attempt in range(1, tries + 1):
        try:
            container.pause()
            return True
        except docker.errors.APIError as exc:
            log.warning("docker pause failed", attempt=attempt, error=str(exc))
            time.sleep(FREEZE_RETRY_S * attempt)
    return False


def open_request(ctx: PauseContext, sandbox: Sandbox, request: AwaitApproval, deadline: float,
                 screenshot: str | None) -> None:
    rt = ctx.rt
    approval = ApprovalRequest(
        run_id=ctx.run_id, name=ctx.spec.name, what=ctx.redactor.text(request.asked.what),
        why=ctx.redactor.text(request.asked.why),
        step=request.step, tool_use_id=str(request.tool_use.get("id")), requested_at=time.time(),
        deadline=deadline, host=rt.hostname, queue=host_queue(rt.settings, rt.hostname),
        container_id=sandbox.container_id, max_wall_s=ctx.spec.budgets.max_wall_s,
        screenshot_url=ctx.artifacts.url(screenshot) if screenshot else None,
    )
    Approvals(rt.redis).open(approval)
    _webhook(rt, approval)


def _screenshot(sandbox: Sandbox, group: ToolGroup, artifacts: RunArtifacts, step: int) -> str | None:
    """The screen the approver sees, stored beside the run's screenshots (None if it failed)."""
    if group.is_toolset:
        tool, tool_input = {"type": TOOLSET_TYPE, "name": "screenshot"}, {}
    else:
        tool, tool_input = {"type": group.computer, "name": "computer"}, {"action": "screenshot"}
    try:
        output = sandbox.call(tool, tool_input)
    except Exception as exc:
        log.warning("approval screenshot failed", error=str(exc))
        return None
    if output.image is None:
        return None
    name = f"approvals/step-{step:04d}.{'jpg' if output.media_type == 'image/jpeg' else 'png'}"
    artifacts.put(name, output.image, output.media_type or "image/png")
    return name


def _webhook(rt: Runtime, approval: ApprovalRequest) -> None:
    """Tell someone a run waits (never fatal: the request is listed by ``nightshift approvals``)."""
    url = rt.settings.approval_webhook_url
    if not url:
        return
    body = json.dumps({"event": "approval_requested", **approval.as_dict()}).encode()
    post = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(post, timeout=rt.settings.approval_webhook_timeout_s):
            pass
    except (OSError, urllib.error.URLError) as exc:
        log.warning("approval webhook failed", url=url, error=str(exc))


# --- resuming ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resume:
    """What the resuming worker found: the decision and the paused state."""

    request: ApprovalRequest
    state: dict[str, Any]

    @property
    def ends(self) -> bool:
        """Nobody decided (deadline, cancel): the run ends here instead of going on."""
        return self.request.decision not in (Decision.APPROVED, Decision.DENIED)

    def resumption(self, count_wall_while_paused: bool) -> Resumption:
        agent = self.state["agent"]
        elapsed = float(agent.get("elapsed_s", 0.0))
        if count_wall_while_paused:
            elapsed += time.time() - float(self.state["paused_at"])
        decision = self.request.decision or Decision.TIMED_OUT
        ruling = Ruling(decision, self.request.decided_by or "", self.request.note)
        return Resumption(agent, ruling.output(), elapsed)

    def ended(self) -> RunResult | None:
        """How a run nobody decided for ends: cancelled, or failed at the deadline (None: it goes on)."""
        if not self.ends:
            return None
        steps = int(self.request.step)
        if self.request.decision == Decision.CANCELLED:
            return RunResult(RunState.CANCELLED, StopReason.CANCELLED_BY_REQUEST, steps=steps)
        error = f"no decision by the approval deadline ({self.request.what})"
        return RunResult(RunState.FAILED, StopReason.APPROVAL_TIMED_OUT, error=error, steps=steps)

    def decided_event(self) -> dict[str, Any]:
        r = self.request
        return {"kind": "decided", "decision": r.decision, "by": r.decided_by, "at": r.decided_at,
                "note": r.note}


def load(rt: Runtime, run_id: str) -> Resume | None:
    """The paused run's request and state; None when either is gone (nothing to resume)."""
    request = Approvals(rt.redis).get(run_id)
    raw = rt.redis.get(keys.run_paused(run_id))
    if request is None or raw is None:
        return None
    return Resume(request, json.loads(raw))


def resumed(records: Records, run_id: str, attempt: int, resume: Resume | None, worker: str) -> bool:
    """Back to ``running`` after a decision, the time it waited added to ``paused_s`` (the sandbox's
    deadline moves by as much); a timed-out run stays paused until it ends; a run whose request or
    state is gone fails (nothing can go on)."""
    if resume is None:
        lost = StopReason.APPROVAL_LOST
        records.transition(run_id, RunState.FAILED, attempt, expect=(RunState.NEEDS_APPROVAL,),
                           stop_reason=lost, error=lost)
        return False
    if resume.ends:
        return True
    waited_s = time.time() - float(resume.state["paused_at"])
    paused_s = float(resume.state.get("paused_s_before", 0.0)) + waited_s
    return records.transition(run_id, RunState.RUNNING, attempt, expect=(RunState.NEEDS_APPROVAL,),
                              worker=worker, paused_s=round(paused_s, 3))


def spent_before(resume: Resume) -> Spent:
    """What the attempts before the paused one spent (the paused one's own is in its agent state)."""
    usage, cost = resume.state.get("spent") or ({}, 0.0)
    return dict(usage), float(cost)


def admission(resume: Resume) -> Admission | None:
    held = resume.state.get("admission")
    return Admission(**held) if held else None


def reattach(rt: Runtime, resume: Resume) -> Sandbox:
    """Unpause the run's container and take it over (its executor redials the fresh socket);
    ApprovalError (not retried: the run's state lived in that container) if it is gone."""
    try:
        container = rt.docker.containers.get(resume.request.container_id)
        if container.status == "paused":
            container.unpause()
    except docker.errors.NotFound as exc:
        raise ApprovalError(f"{StopReason.APPROVAL_LOST} ({resume.request.container_id[:12]})") from exc
    sandbox = rt.launcher.attach(container)
    tier = resume.state.get("image_tier")
    if tier:
        sandbox.use_image_tier(tier)
    return sandbox


def finished(rt: Runtime, run_id: str) -> None:
    """The decision was consumed: forget the request and the paused state."""
    Approvals(rt.redis).close(run_id)
    rt.redis.delete(keys.run_paused(run_id))
