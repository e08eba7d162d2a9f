"""How a run ended: the one value ``run_session`` (and the script agent) returns.

``state`` is one of the run states a run can end in (``core.states.OUTCOMES``). ``stop_reason`` is a
short human-readable cause (a ``StopReason`` or one built by ``core.states``); ``error`` holds the
failure message when the run failed. ``usage`` holds cumulative token counts (keys of
``workers.agent.usage.Usage``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from core.states import OUTCOMES, RunState


class StopRun(Exception):
    """Ends the run with a state it can end in; raised from deep inside a step (or a hook), caught
    by the agent. Control flow, not a failure: hooks never swallow it."""

    def __init__(self, state: RunState, stop_reason: str, error: str | None = None) -> None:
        super().__init__(stop_reason)
        self.state = state
        self.stop_reason = stop_reason
        self.error = error


@dataclass(frozen=True)
class RunResult:
    state: RunState  # one of OUTCOMES
    stop_reason: str
    result: Any = None  # the validated structured answer, {"text": ...}, or None
    usage: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0
    steps: int = 0
    error: str | None = None

    def __post_init__(self) -> None:
        state = RunState(self.state)  # a plain string is accepted and typed; an unknown one is not
        if state not in OUTCOMES:
            raise ValueError(f"{state!r} is not a state a run ends in; expected one of {sorted(OUTCOMES)}")
        object.__setattr__(self, "state", state)

    @property
    def ok(self) -> bool:
        return self.state == RunState.SUCCEEDED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
