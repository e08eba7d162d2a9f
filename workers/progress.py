"""Fleet hooks: per-step progress into the run's event stream, and cancellation from Redis."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import structlog

from core.events import EventType
from core.records import Records
from core.states import StopReason
from workers.hooks import Hooks, StepSummary

TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


class ProgressHook(Hooks):
    """One progress event (and one log line) per step; waits are visible too. The record's usage
    and cost are the run's (earlier attempts' ``spent`` plus this one's), updated every step, so a
    worker that dies leaves what its attempt spent for the next attempt's budgets."""

    def __init__(
        self, records: Records, run_id: str, spent: tuple[dict[str, Any], float] = ({}, 0.0)
    ) -> None:
        self.records = records
        self.run_id = run_id
        self.log = structlog.get_logger("nightshift.run")
        self.steps = 0  # steps this attempt completed
        self.usage = {k: int(v) for k, v in spent[0].items()}
        self.cost_usd = spent[1]

    def on_step_end(self, summary: StepSummary) -> None:
        fields = {k: v for k, v in asdict(summary).items() if k != "extra" and v not in (None, 0, 0.0)}
        fields["step"] = summary.step
        self.steps = max(self.steps, summary.step)
        for name in TOKENS:
            self.usage[name] = self.usage.get(name, 0) + int(getattr(summary, name))
        self.cost_usd += summary.cost_usd
        self.records.event(self.run_id, EventType.STEP, **fields)
        self.records.update(self.run_id, steps=summary.step, usage=self.usage,
                            cost_usd=round(self.cost_usd, 6))

    def on_wait(self, reason: str, wait_s: float) -> None:
        self.log.info("waiting", reason=reason, wait_s=round(wait_s, 2))
        self.records.event(self.run_id, EventType.WAIT, reason=reason, wait_s=round(wait_s, 2))

    def cancel_requested(self) -> str | None:
        return StopReason.CANCELLED_BY_REQUEST if self.records.cancel_requested(self.run_id) else None
