"""Fleet hooks: per-step progress into the run's event stream, and cancellation from Redis."""

from __future__ import annotations

from dataclasses import asdict

import structlog

from core.events import EventType
from core.records import Records
from core.states import StopReason
from workers.hooks import Hooks, StepSummary


class ProgressHook(Hooks):
    """One progress event (and one log line) per step; waits are visible too."""

    def __init__(self, records: Records, run_id: str) -> None:
        self.records = records
        self.run_id = run_id
        self.log = structlog.get_logger("nightshift.run")

    def on_step_end(self, summary: StepSummary) -> None:
        fields = {k: v for k, v in asdict(summary).items() if k != "extra" and v not in (None, 0, 0.0)}
        fields["step"] = summary.step
        self.records.event(self.run_id, EventType.STEP, **fields)
        self.records.update(self.run_id, steps=summary.step)

    def on_wait(self, reason: str, wait_s: float) -> None:
        self.log.info("waiting", reason=reason, wait_s=round(wait_s, 2))
        self.records.event(self.run_id, EventType.WAIT, reason=reason, wait_s=round(wait_s, 2))

    def cancel_requested(self) -> str | None:
        return StopReason.CANCELLED_BY_REQUEST if self.records.cancel_requested(self.run_id) else None
