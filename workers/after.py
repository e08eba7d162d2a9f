"""What happens after the agent, while the sandbox still answers: outputs are collected, then the
checks run (not for a cancelled run: someone asked it to stop), within ``after_agent_max_s``."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core.settings import Settings
from core.spec import TaskSpec
from core.states import RunState, Verdict
from workers.artifacts.attempt import RunArtifacts
from workers.checks import CheckRunner, skipped_check, verdict
from workers.outcome import RunResult
from workers.outputs import Collector, Outputs
from workers.sandbox.sandbox import Sandbox


@dataclass
class AfterAgent:
    outputs: Outputs = field(default_factory=Outputs)
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict | None:
        return verdict(self.checks)

    def result_fields(self) -> dict[str, Any]:
        """What result.json carries beside the outcome."""
        return {"outputs": self.outputs.as_dict(), "checks": self.checks, "verdict": self.verdict}

    def record_fields(self) -> dict[str, Any]:
        """What the run record carries (outputs are in the manifest and result.json)."""
        return {"verdict": self.verdict, "checks": self.checks}


def after_agent(
    spec: TaskSpec, sandbox: Sandbox, artifacts: RunArtifacts, settings: Settings,
    outcome: RunResult, secrets: Iterable[str],
) -> AfterAgent:
    deadline = time.monotonic() + settings.after_agent_max_s
    outputs = Collector(sandbox, artifacts, settings, deadline).collect(spec.outputs)
    if outcome.state == RunState.CANCELLED:
        return AfterAgent(outputs, [skipped_check(check, "the run was cancelled") for check in spec.checks])
    checks = CheckRunner(sandbox, settings, deadline, secrets).run_all(spec.checks)
    return AfterAgent(outputs, checks)


def not_run(spec: TaskSpec, reason: str) -> AfterAgent:
    """The sandbox could not be asked (it never started, or the run hit its time limit)."""
    outputs = Outputs()
    for pattern in spec.outputs:
        outputs.skip(reason, pattern=pattern)
    return AfterAgent(outputs, [skipped_check(check, reason) for check in spec.checks])
