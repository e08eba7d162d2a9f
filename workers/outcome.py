"""How a run ended: the one value ``run_session`` (and the script agent) returns.

``state`` is one of the terminal run states. ``stop_reason`` is a short human-readable cause
(``"end_turn"``, ``"budget: max_steps"``, ``"refusal"`` …); ``error`` holds the failure message when
the run failed. ``usage`` holds cumulative token counts (keys of ``workers.agent.usage.Usage``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

RunState = Literal["succeeded", "failed", "budget_exhausted", "infeasible", "cancelled"]
RUN_STATES: tuple[str, ...] = ("succeeded", "failed", "budget_exhausted", "infeasible", "cancelled")


@dataclass(frozen=True)
class RunResult:
    state: str  # one of RUN_STATES
    stop_reason: str
    result: Any = None  # the validated structured answer, {"text": ...}, or None
    usage: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0
    steps: int = 0
    error: str | None = None

    def __post_init__(self) -> None:
        if self.state not in RUN_STATES:
            raise ValueError(f"unknown run state {self.state!r}; expected one of {RUN_STATES}")

    @property
    def ok(self) -> bool:
        return self.state == "succeeded"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
